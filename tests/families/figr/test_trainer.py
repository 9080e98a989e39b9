"""Reptile meta-training (FIGR, Algorithm 1) and adaptation (Algorithm 2)."""

import dataclasses
import hashlib
import os
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.scripts import run_result_script
from tfgen.config import RunConfig
from tfgen.families.figr.config import FIGRConfig
from tfgen.data.episodes import load_shots
from tfgen.runs import load_generator
from tfgen.sampling import generate
from tfgen.training.ema import copy_weights
from tfgen.families.figr.trainer import InnerLoop, InnerOptimizer, ReptileTrainer, adapt_to_shots

TINY = dict(width=4, latent_dim=8, inner_steps=2, adapt_steps=2)


def weights(variables):
    return [v.numpy().copy() for v in variables]


def make_trainer(tmp_path, name="figr", steps=2, **config):
    model_config = FIGRConfig(**{**TINY, **config})
    run_config = RunConfig(name=name, runs_dir=str(tmp_path), data="digits", steps=steps, sample_every=100)
    return ReptileTrainer(model_config, run_config, quiet=True)


@pytest.fixture(scope="module")
def meta_run(tmp_path_factory):
    """A finished 2-iteration meta-training run (shared by the adaptation tests)."""
    runs = tmp_path_factory.mktemp("runs")
    trainer = make_trainer(runs)
    return trainer.fit()


def test_outer_sgd_step_is_reptile_interpolation(tmp_path):
    # With plain SGD at rate eps, the outer step on gradient Phi - W is
    # Phi + eps (W - Phi): Reptile's update, checked for every variable.
    eps = 0.5
    trainer = make_trainer(tmp_path, meta_optimizer="sgd", meta_learning_rate=eps)
    assert trainer.class_split.test == ("9",)
    meta = trainer.generator.trainable_variables + trainer.discriminator.trainable_variables
    working = trainer.working_generator.trainable_variables + trainer.working_critic.trainable_variables
    phi = weights(meta)
    losses = trainer.train_function(next(iter(trainer.distribute(trainer.data.dataset))))
    assert all(np.isfinite(float(v)) for v in losses.values())
    w = weights(working)  # W after the inner loop (kept until the next step)
    assert max(float(np.max(np.abs(a - b))) for a, b in zip(w, phi)) > 1e-5  # the inner loop moved W
    for before, adapted, after in zip(phi, w, weights(meta)):
        np.testing.assert_allclose(after, before + eps * (adapted - before), atol=1e-6)


def test_outer_adam_step_applies_adam_to_phi_minus_w(tmp_path):
    trainer = make_trainer(tmp_path, meta_learning_rate=1e-2)
    phi = weights(trainer.generator.trainable_variables)
    trainer.train_function(next(iter(trainer.distribute(trainer.data.dataset))))
    w = weights(trainer.working_generator.trainable_variables)
    # Keras' Adam on copies of Phi with the gradient Phi - W, computed apart.
    copies = [keras.Variable(p) for p in phi]
    reference = keras.optimizers.Adam(learning_rate=1e-2)
    reference.apply_gradients([(tf.constant(p - a), c) for p, a, c in zip(phi, w, copies)])
    for expected, actual in zip(copies, trainer.generator.trainable_variables):
        np.testing.assert_allclose(actual.numpy(), expected.numpy(), atol=1e-6)


def test_inner_loop_leaves_the_meta_weights_untouched(tmp_path):
    trainer = make_trainer(tmp_path)
    phi = weights(trainer.generator.variables + trainer.discriminator.variables)
    for meta, working in ((trainer.generator, trainer.working_generator), (trainer.discriminator, trainer.working_critic)):
        copy_weights(working, meta)
    inner = InnerLoop(trainer.working_generator, trainer.working_critic, trainer.model_config, keras.random.SeedGenerator(1))
    task = next(iter(trainer.data.dataset))
    d_loss, g_loss = tf.function(lambda batch: inner.run(batch, 3))(task)
    assert np.isfinite(float(d_loss)) and np.isfinite(float(g_loss))
    after = weights(trainer.generator.variables + trainer.discriminator.variables)
    assert all(np.array_equal(a, b) for a, b in zip(phi, after))
    moved = weights(trainer.working_generator.variables)
    assert any(not np.array_equal(a, b) for a, b in zip(moved, phi))


def test_inner_adam_matches_keras_adam_and_resets():
    gradients = [np.random.default_rng(i).normal(size=(3, 2)).astype("float32") for i in range(3)]
    ours = keras.Variable(np.ones((3, 2), "float32"))
    theirs = keras.Variable(np.ones((3, 2), "float32"))
    inner = InnerOptimizer("adam", 1e-2, [ours])
    reference = keras.optimizers.Adam(learning_rate=1e-2, beta_1=0.0, beta_2=0.9, epsilon=1e-8)
    for g in gradients:
        inner.apply([tf.constant(g)])
        reference.apply_gradients([(tf.constant(g), theirs)])
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6, atol=1e-7)
    inner.reset()
    assert float(inner.iterations.numpy()) == 0.0
    assert all(not np.any(m.numpy()) and not np.any(v.numpy()) for m, v in inner.moments)


def test_inner_sgd_step_and_bad_kind():
    variable = keras.Variable(np.ones((2,), "float32"))
    InnerOptimizer("sgd", 0.1, [variable]).apply([tf.constant([1.0, -2.0])])
    np.testing.assert_allclose(variable.numpy(), [0.9, 1.2], rtol=1e-6)
    with pytest.raises(ValueError, match="'sgd' or 'adam'"):
        InnerOptimizer("rmsprop", 0.1, [variable])


def test_meta_training_writes_the_run_and_resumes(tmp_path):
    run_dir = make_trainer(tmp_path, name="resume", steps=2).fit()
    for name in ("config.json", "generator.weights.h5", "discriminator.weights.h5"):
        assert os.path.isfile(os.path.join(run_dir, name)), name
    assert os.path.isfile(os.path.join(run_dir, "samples", "final.png"))
    resumed = make_trainer(tmp_path, name="resume", steps=3)
    assert resumed.open_run() == 2
    generator = load_generator(run_dir)
    assert generate(generator, 3).shape == (3, 32, 32, 1)


def test_bad_settings_are_refused(tmp_path):
    with pytest.raises(ValueError, match="bfloat16"):
        ReptileTrainer(FIGRConfig(**TINY), RunConfig(runs_dir=str(tmp_path), mixed_precision="float16"), quiet=True)
    with pytest.raises(ValueError, match="inner_optimizer"):
        FIGRConfig(inner_optimizer="rmsprop").validate()
    with pytest.raises(ValueError, match="resolution"):
        FIGRConfig(resolution=48).validate()


def _digest(folder):
    return {
        name: hashlib.sha256(open(os.path.join(folder, name), "rb").read()).hexdigest()
        for name in ("generator.weights.h5", "discriminator.weights.h5", "config.json")
    }


def test_adaptation_changes_a_copy_and_never_the_meta_weights(meta_run):
    before = _digest(meta_run)
    meta_generator = load_generator(meta_run)
    shots = load_shots("digits:9", shots=4, resolution=32, channels=1, seed=0)
    adapted = adapt_to_shots(meta_run, shots, steps=3, seed=0).generator
    assert _digest(meta_run) == before
    moved = [
        float(np.max(np.abs(a.numpy() - b.numpy())))
        for a, b in zip(adapted.trainable_variables, meta_generator.trainable_variables)
    ]
    assert max(moved) > 1e-5
    again = adapt_to_shots(meta_run, shots, steps=3, seed=0).generator  # deterministic for a seed
    np.testing.assert_array_equal(generate(adapted, 4), generate(again, 4))


def test_adapt_api_takes_a_class_and_saves_a_loadable_run(meta_run, tmp_path):
    import tfgen
    from tfgen.adaptation import adapt_run, save_adapted

    adaptation = adapt_run(meta_run, "digits:9", steps=2)
    out = save_adapted(adaptation, tmp_path / "adapted")
    reloaded = load_generator(out)
    np.testing.assert_array_equal(generate(adaptation.generator, 4), generate(reloaded, 4))
    # tfgen.adapt is the same adaptation, its generator alone.
    np.testing.assert_array_equal(generate(tfgen.adapt(meta_run, "digits:9", steps=2), 4), generate(reloaded, 4))


def test_adaptation_input_errors(meta_run, tmp_path):
    with pytest.raises(ValueError, match=r"uint8 images \[n, 32, 32, 1\]"):
        adapt_to_shots(meta_run, np.zeros((4, 32, 32, 3), np.uint8))
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        adapt_to_shots(tmp_path, np.zeros((4, 32, 32, 1), np.uint8))


# Runs in a fresh process: the CPU must be split before TensorFlow starts.
_MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import numpy as np
    from tfgen.config import RunConfig
    from tfgen.families.figr.config import FIGRConfig
    from tfgen.families.figr.trainer import ReptileTrainer

    config = FIGRConfig(width=4, latent_dim=8, inner_steps=2, tasks_per_step=2,
                        meta_optimizer="sgd", meta_learning_rate=0.5)
    trainer = ReptileTrainer(config, RunConfig(runs_dir=sys.argv[1], steps=1, strategy="mirrored"), quiet=True)
    meta = trainer.generator.trainable_variables
    phi = [v.numpy().copy() for v in meta]
    trainer.train_function(next(iter(trainer.distribute(trainer.data.dataset))))
    local = trainer.strategy.experimental_local_results
    replicas = [[local(v.value)[r].numpy() for v in trainer.working_generator.trainable_variables] for r in range(2)]
    expected = [p + 0.5 * ((a - p) + (b - p)) / 2 for p, a, b in zip(phi, *replicas)]
    result = {
        "replicas": trainer.num_replicas,
        "tasks_differ": max(float(np.max(np.abs(a - b))) for a, b in zip(*replicas)),
        "error": max(float(np.max(np.abs(e - v.numpy()))) for e, v in zip(expected, meta)),
    }
    try:
        ReptileTrainer(FIGRConfig(width=4, latent_dim=8, tasks_per_step=3),
                       RunConfig(runs_dir=sys.argv[1], strategy="mirrored"), quiet=True)
    except ValueError as e:
        result["odd_tasks_error"] = str(e)
    print("RESULT " + json.dumps(result))
    """
)


def test_each_replica_adapts_to_its_own_task_and_the_outer_step_averages(tmp_path):
    result = run_result_script(_MIRRORED_SCRIPT, tmp_path)
    assert result["replicas"] == 2
    assert result["tasks_differ"] > 1e-6  # two tasks, two different W
    assert result["error"] < 1e-6  # Phi + eps * mean_r (W_r - Phi)
    assert "divisible by the number of replicas (2)" in result["odd_tasks_error"]


def test_config_batch_is_tasks_times_shots():
    config = FIGRConfig(shots=5, tasks_per_step=3)
    assert config.batch_size == 15
    assert "batch_size" not in dataclasses.asdict(config)
