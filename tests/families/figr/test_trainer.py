"""Reptile meta-training (FIGR, Algorithm 1) and adaptation (Algorithm 2)."""

import dataclasses
import hashlib
import os
import shutil
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
from tfgen.families.figr.batched import _COMPILED_LOOPS, BatchedInnerLoop, draw_noise
from tfgen.adaptation import adapt_run
from tfgen.families.figr.trainer import ReptileTrainer

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


def one_step_and_expected_working_weights(trainer):
    """Run one trainer step on one batch; return Phi before it, Phi after it
    and the W the step's inner loop reached, computed apart from the trainer
    with the noise it drew (the seed generator's next seed)."""
    config = trainer.model_config
    batch = next(iter(trainer.data.dataset))
    phi = weights(trainer.generator.trainable_variables), weights(trainer.discriminator.trainable_variables)
    clone = keras.random.SeedGenerator(0)
    clone.state.assign(trainer.seed_generator.state.value)
    noise = draw_noise(
        clone.next(), steps=config.inner_steps, tasks=config.tasks_per_step, shots=config.shots,
        latent_dim=config.latent_dim,
    )  # fmt: skip
    real = tf.reshape(batch, [config.tasks_per_step, config.shots] + batch.shape[1:].as_list())
    loop = BatchedInnerLoop(trainer.generator, trainer.discriminator, config)
    g_w, d_w, _, _ = tf.function(loop.run)(real, noise)
    losses = trainer.train_function(next(iter(trainer.distribute(tf.data.Dataset.from_tensors(batch)))))
    assert all(np.isfinite(float(v)) for v in losses.values())
    after = weights(trainer.generator.trainable_variables), weights(trainer.discriminator.trainable_variables)
    return phi, after, ([w.numpy() for w in g_w], [w.numpy() for w in d_w])


def test_outer_sgd_step_is_reptile_interpolation(tmp_path):
    # With plain SGD at rate eps, the outer step on gradient mean(Phi - W) is
    # Phi + eps mean(W - Phi): Reptile's update, checked for every variable.
    eps = 0.5
    trainer = make_trainer(tmp_path, meta_optimizer="sgd", meta_learning_rate=eps, tasks_per_step=2)
    assert trainer.class_split.test == ("9",)
    phi, after, working = one_step_and_expected_working_weights(trainer)
    for network in range(2):
        moved = max(float(np.max(np.abs(w - p[None]))) for w, p in zip(working[network], phi[network]))
        assert moved > 1e-5  # the inner loop moved W
        for before, w, now in zip(phi[network], working[network], after[network]):
            np.testing.assert_allclose(now, before + eps * np.mean(w - before[None], axis=0), atol=1e-6)


@pytest.mark.slow  # the outer optimizer is a Keras one; SGD's test checks Phi - W
def test_outer_adam_step_applies_adam_to_phi_minus_w(tmp_path):
    trainer = make_trainer(tmp_path, meta_learning_rate=1e-2)
    phi, after, working = one_step_and_expected_working_weights(trainer)
    # Keras' Adam on copies of Phi with the gradient Phi - W, computed apart.
    copies = [keras.Variable(p) for p in phi[0]]
    reference = keras.optimizers.Adam(learning_rate=1e-2)
    reference.apply_gradients([(tf.constant(p - w[0]), c) for p, w, c in zip(phi[0], working[0], copies)])
    for expected, actual in zip(copies, after[0]):
        np.testing.assert_allclose(actual, expected.numpy(), atol=1e-6)


def test_meta_training_writes_the_run_and_resumes(meta_run, tmp_path):
    run_dir = shutil.copytree(meta_run, tmp_path / "figr")  # resuming writes into the folder
    for name in ("config.json", "generator.weights.h5", "discriminator.weights.h5"):
        assert os.path.isfile(os.path.join(run_dir, name)), name
    assert os.path.isfile(os.path.join(run_dir, "samples", "final.png"))
    resumed = make_trainer(tmp_path, name="figr", steps=3)
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
    adapted = adapt_run(meta_run, shots, steps=3, seed=0).generator
    assert _digest(meta_run) == before
    moved = [
        float(np.max(np.abs(a.numpy() - b.numpy())))
        for a, b in zip(adapted.trainable_variables, meta_generator.trainable_variables)
    ]
    assert max(moved) > 1e-5
    traces = sum(f.experimental_get_tracing_count() for f in _COMPILED_LOOPS.values())
    again = adapt_run(meta_run, shots, steps=3, seed=0).generator  # deterministic for a seed
    np.testing.assert_array_equal(generate(adapted, 4), generate(again, 4))
    # The second adaptation reused the first one's compiled inner loop.
    assert sum(f.experimental_get_tracing_count() for f in _COMPILED_LOOPS.values()) == traces


def test_adapt_api_takes_a_class_and_saves_a_loadable_run(meta_run, tmp_path):
    import tfgen
    from tfgen.adaptation import save_adapted

    adaptation = adapt_run(meta_run, "digits:9", steps=2)
    out = save_adapted(adaptation, tmp_path / "adapted")
    reloaded = load_generator(out)
    np.testing.assert_array_equal(generate(adaptation.generator, 4), generate(reloaded, 4))
    # tfgen.adapt is the same adaptation, its generator alone.
    np.testing.assert_array_equal(generate(tfgen.adapt(meta_run, "digits:9", steps=2), 4), generate(reloaded, 4))


def test_adaptation_input_errors(meta_run, tmp_path):
    with pytest.raises(ValueError, match=r"uint8 images \[n, 32, 32, 1\]"):
        adapt_run(meta_run, np.zeros((4, 32, 32, 3), np.uint8))
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        adapt_run(tmp_path, np.zeros((4, 32, 32, 1), np.uint8))


# Runs in a fresh process: the CPU must be split before TensorFlow starts.
_MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    import numpy as np
    from tfgen.config import RunConfig
    from tfgen.families.figr.batched import _COMPILED_LOOPS, BatchedInnerLoop, draw_noise
    from tfgen.families.figr.config import FIGRConfig
    from tfgen.families.figr.trainer import ReptileTrainer

    config = FIGRConfig(width=4, latent_dim=8, inner_steps=2, tasks_per_step=2,
                        meta_optimizer="sgd", meta_learning_rate=0.5)
    trainer = ReptileTrainer(config, RunConfig(runs_dir=sys.argv[1], steps=1, strategy="mirrored"), quiet=True)
    batch = next(iter(trainer.data.dataset))
    phi = [v.numpy().copy() for v in trainer.generator.trainable_variables]
    # Each replica's W, computed apart: its task alone, with the noise of
    # its global index (replica r runs task r).
    clone = keras.random.SeedGenerator(0)
    clone.state.assign(trainer.seed_generator.state.value)
    seed = clone.next()
    loop = BatchedInnerLoop(trainer.generator, trainer.discriminator, config)
    run = tf.function(loop.run)  # traced once for both tasks
    working = []
    for task in range(2):
        noise = draw_noise(seed, steps=2, tasks=1, shots=config.shots, latent_dim=8, first_task=task)
        real = batch[task * config.shots:(task + 1) * config.shots][None]
        working.append([w[0].numpy() for w in run(real, noise)[0]])
    trainer.train_function(next(iter(trainer.distribute(tf.data.Dataset.from_tensors(batch)))))
    expected = [p + 0.5 * ((a - p) + (b - p)) / 2 for p, a, b in zip(phi, *working)]
    result = {
        "replicas": trainer.num_replicas,
        "tasks_differ": max(float(np.max(np.abs(a - b))) for a, b in zip(*working)),
        "error": max(float(np.max(np.abs(e - v.numpy()))) for e, v in zip(expected, trainer.generator.trainable_variables)),
    }
    try:
        ReptileTrainer(FIGRConfig(width=4, latent_dim=8, tasks_per_step=3),
                       RunConfig(runs_dir=sys.argv[1], strategy="mirrored"), quiet=True)
    except ValueError as e:
        result["odd_tasks_error"] = str(e)
    print("RESULT " + json.dumps(result))
    """
)


@pytest.mark.slow  # 122 s in CI (the slowest test); run with -m slow. Single-device Reptile steps stay in CI.
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
