"""The shared training loop (tfgen.training.trainer), on a toy GAN."""

import glob
import json
import os
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfgen.config import RunConfig
from tfgen.errors import InputError
from tfgen.runs import check_resumable
from tfgen.training.devices import precision_policy
from tfgen.training.trainer import ReplicaSeedGenerator, resolve_total_steps

from tests.scripts import run_result_script

from .toy_gan import ToyConfig, ToyTrainer, interrupt_on_call



def run_config(tmp_path, **overrides):
    values = dict(
        name="toy", runs_dir=str(tmp_path), steps=3, seed=1, sample_every=2, checkpoint_every=2, log_every=1
    )
    values.update(overrides)
    return RunConfig(**values)


def numpy_weights(variables):
    return [np.array(v.numpy()) for v in variables]


def learned_weights(model):
    """Weights and BatchNorm statistics; not the noise seed states, which
    .weights.h5 files do not carry."""
    return numpy_weights([v for v in model.variables if "seed_generator" not in v.path])


def first_batch(trainer):
    return next(iter(trainer.distribute(trainer.data.dataset)))


def test_step_updates_weights_and_ema_by_the_formula(tmp_path):
    trainer = ToyTrainer(ToyConfig(ema_decay=0.9), run_config(tmp_path), quiet=True)
    G, G_ema, D = trainer.generator, trainer.generator_ema, trainer.discriminator
    # G_ema starts as an exact copy of G.
    for a, b in zip(numpy_weights(G.variables), numpy_weights(G_ema.variables)):
        np.testing.assert_array_equal(a, b)
    ema_before = numpy_weights(G_ema.trainable_variables)
    g_before, d_before = numpy_weights(G.trainable_variables), numpy_weights(D.trainable_variables)

    losses = trainer.train_function(first_batch(trainer))

    assert set(losses) == {"d_loss", "g_loss", "z_mean"}
    assert all(v.dtype == tf.float32 and v.shape == () and np.isfinite(v.numpy()) for v in losses.values())
    assert int(trainer.step.numpy()) == 1
    g_after = numpy_weights(G.trainable_variables)
    assert all(not np.allclose(a, b) for a, b in zip(g_before, g_after))
    assert all(not np.allclose(a, b) for a, b in zip(d_before, numpy_weights(D.trainable_variables)))
    # ema = decay * ema + (1 - decay) * w, with w the weights after this step's update.
    for ema_old, w, ema_new in zip(ema_before, g_after, numpy_weights(G_ema.trainable_variables)):
        np.testing.assert_allclose(ema_new, 0.9 * ema_old + 0.1 * w, rtol=1e-6, atol=1e-7)
    # Buffers (BatchNorm moving statistics, seed states) are copied, not averaged.
    moving_mean = G.get_layer("bn").moving_mean.numpy()
    assert not np.allclose(moving_mean, 0.0)
    for a, b in zip(numpy_weights(G.non_trainable_variables), numpy_weights(G_ema.non_trainable_variables)):
        np.testing.assert_array_equal(a, b)


def test_no_ema_generator_when_decay_is_none(tmp_path):
    trainer = ToyTrainer(ToyConfig(ema_decay=None), run_config(tmp_path), quiet=True)
    assert trainer.generator_ema is None
    assert trainer.sampling_generator is trainer.generator
    assert not any(name.startswith("generator_ema") for name in trainer.checkpoint_objects())


def test_bfloat16_builds_mixed_models_and_restores_the_policy(tmp_path):
    trainer = ToyTrainer(ToyConfig(), run_config(tmp_path, mixed_precision="bfloat16"), quiet=True)
    assert keras.mixed_precision.global_policy().name == "float32"
    assert trainer.generator.get_layer("dense").compute_dtype == "bfloat16"
    assert trainer.generator.get_layer("dense").kernel.dtype == "float32"
    losses = trainer.train_function(first_batch(trainer))
    assert all(v.dtype == tf.float32 and np.isfinite(v.numpy()) for v in losses.values())


def test_float16_wraps_optimizers_in_loss_scaling(tmp_path):
    trainer = ToyTrainer(ToyConfig(), run_config(tmp_path, mixed_precision="float16"), quiet=True)
    assert isinstance(trainer.g_optimizer, keras.optimizers.LossScaleOptimizer)
    assert isinstance(trainer.d_optimizer, keras.optimizers.LossScaleOptimizer)
    d_before = numpy_weights(trainer.discriminator.trainable_variables)
    losses = trainer.train_function(first_batch(trainer))
    assert all(np.isfinite(v.numpy()) for v in losses.values())
    d_after = numpy_weights(trainer.discriminator.trainable_variables)
    assert all(not np.allclose(a, b) for a, b in zip(d_before, d_after))


def test_a_method_without_loss_scaling_refuses_float16(tmp_path):
    class NoLossScaling(ToyTrainer):
        supports_float16 = False

    with pytest.raises(InputError, match="no loss scaling.*bfloat16"):
        NoLossScaling(ToyConfig(), run_config(tmp_path, mixed_precision="float16"), quiet=True)
    assert os.listdir(tmp_path) == []  # refused before anything was written
    NoLossScaling(ToyConfig(), run_config(tmp_path, mixed_precision="bfloat16"), quiet=True)


def test_precision_policy_is_restored_after_an_error():
    with pytest.raises(RuntimeError):
        with precision_policy("bfloat16"):
            assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
            raise RuntimeError("boom")
    assert keras.mixed_precision.global_policy().name == "float32"


def test_fit_writes_the_run_folder(tmp_path):
    run_dir = ToyTrainer(ToyConfig(), run_config(tmp_path), quiet=True).fit()
    assert run_dir == os.path.join(str(tmp_path), "toy")
    with open(os.path.join(run_dir, "config.json")) as f:
        saved = json.load(f)
    assert saved["family"] == "toy" and saved["model"]["resolution"] == 8 and saved["run"]["steps"] == 3
    for name in ("generator.weights.h5", "generator_ema.weights.h5", "discriminator.weights.h5"):
        assert os.path.isfile(os.path.join(run_dir, name)), name
    assert sorted(os.listdir(os.path.join(run_dir, "samples"))) == ["final.png", "step_0000002.png"]
    assert glob.glob(os.path.join(run_dir, "logs", "events.out.tfevents.*"))
    checkpoint = tf.train.latest_checkpoint(os.path.join(run_dir, "checkpoints"))
    assert checkpoint.endswith("ckpt-3")
    # No temporary files are left behind by the atomic writes.
    assert not [p for p in glob.glob(os.path.join(run_dir, "**"), recursive=True) if ".tmp" in p]


def test_rerun_resumes_exactly_where_the_run_stopped(tmp_path):
    first = ToyTrainer(ToyConfig(), run_config(tmp_path, steps=2), quiet=True)
    first.fit()
    saved = {
        "G": numpy_weights(first.generator.variables),
        "G_ema": numpy_weights(first.generator_ema.variables),
        "opt": numpy_weights(first.g_optimizer.variables),
        "rng": first.seed_generator.state.numpy(),
    }

    second = ToyTrainer(ToyConfig(), run_config(tmp_path, steps=4), quiet=True)
    assert second.open_run() == 2
    for key, model in (("G", second.generator), ("G_ema", second.generator_ema)):
        for a, b in zip(saved[key], numpy_weights(model.variables)):
            np.testing.assert_array_equal(a, b)
    for a, b in zip(saved["opt"], numpy_weights(second.g_optimizer.variables)):
        np.testing.assert_array_equal(a, b)  # Adam moments and iteration count
    np.testing.assert_array_equal(saved["rng"], second.seed_generator.state.numpy())

    second.fit()
    assert int(second.step.numpy()) == 4
    assert int(second.g_optimizer.iterations.numpy()) == 4
    checkpoints = os.path.join(str(tmp_path), "toy", "checkpoints")
    assert tf.train.latest_checkpoint(checkpoints).endswith("ckpt-4")


def test_override_starts_afresh(tmp_path):
    ToyTrainer(ToyConfig(), run_config(tmp_path, steps=2), quiet=True).fit()
    trainer = ToyTrainer(ToyConfig(), run_config(tmp_path, steps=1), quiet=True)
    assert trainer.open_run(override=True) == 0
    assert not os.listdir(os.path.join(str(tmp_path), "toy", "samples"))
    trainer.fit()
    assert int(trainer.step.numpy()) == 1


def test_keyboard_interrupt_saves_a_checkpoint(tmp_path, capsys):
    trainer = ToyTrainer(ToyConfig(), run_config(tmp_path, steps=10, checkpoint_every=100), quiet=True)
    interrupt_on_call(trainer, 3)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    checkpoints = os.path.join(str(tmp_path), "toy", "checkpoints")
    assert tf.train.latest_checkpoint(checkpoints).endswith("ckpt-2")
    out = capsys.readouterr().out
    assert "Interrupted at step 2" in out and checkpoints in out
    assert ToyTrainer(ToyConfig(), run_config(tmp_path, steps=10), quiet=True).open_run() == 2


def test_refuses_to_resume_a_different_architecture(tmp_path):
    ToyTrainer(ToyConfig(resolution=8), run_config(tmp_path, steps=1), quiet=True).fit()
    trainer = ToyTrainer(ToyConfig(resolution=16), run_config(tmp_path, steps=1), quiet=True)
    with pytest.raises(ValueError, match=r"resolution: saved 8, now 16.*--override.*--name"):
        trainer.open_run()
    # Non-architecture changes (here the learning rate) resume fine.
    config = ToyConfig(resolution=8, learning_rate=1e-3)
    assert ToyTrainer(config, run_config(tmp_path, steps=1), quiet=True).open_run() == 1


def test_check_resumable_compares_family(tmp_path):
    ToyTrainer(ToyConfig(), run_config(tmp_path, steps=1), quiet=True).fit()
    with pytest.raises(ValueError, match="family: saved 'toy', now 'fastgan'"):
        check_resumable(os.path.join(str(tmp_path), "toy"), "fastgan", ToyConfig(), run_config(tmp_path), ("resolution",))


def test_initial_weights_load_into_generator_and_ema(tmp_path):
    source = ToyTrainer(ToyConfig(), run_config(tmp_path, name="source", steps=1), quiet=True)
    source.fit()
    source_dir = os.path.join(str(tmp_path), "source")
    overrides = dict(
        name="finetune",
        generator_weights=os.path.join(source_dir, "generator.weights.h5"),
        discriminator_weights=os.path.join(source_dir, "discriminator.weights.h5"),
    )
    trainer = ToyTrainer(ToyConfig(), run_config(tmp_path, **overrides), quiet=True)
    for model in (trainer.generator, trainer.generator_ema):
        for a, b in zip(learned_weights(source.generator), learned_weights(model)):
            np.testing.assert_array_equal(a, b)
    for a, b in zip(learned_weights(source.discriminator), learned_weights(trainer.discriminator)):
        np.testing.assert_array_equal(a, b)

    with pytest.raises(ValueError, match=r"generator\.weights\.h5.*resolution=16"):
        ToyTrainer(ToyConfig(resolution=16), run_config(tmp_path, **overrides), quiet=True)
    with pytest.raises(FileNotFoundError):
        ToyTrainer(ToyConfig(), run_config(tmp_path, generator_weights="missing.weights.h5"), quiet=True)


def test_total_steps_from_steps_or_epochs():
    assert resolve_total_steps(RunConfig(steps=7, epochs=3), steps_per_epoch=5) == 7
    assert resolve_total_steps(RunConfig(steps=0, epochs=3), steps_per_epoch=5) == 15
    with pytest.raises(ValueError, match="--steps.*--epochs"):
        resolve_total_steps(RunConfig(steps=0, epochs=0), steps_per_epoch=5)


def test_xla_needs_the_default_strategy(tmp_path):
    with pytest.raises(ValueError, match="xla=True needs strategy='default'"):
        ToyTrainer(ToyConfig(), run_config(tmp_path, xla=True, strategy="mirrored"), quiet=True)


def test_xla_step_matches_the_plain_step(tmp_path):
    config = ToyConfig(objective="regression")
    plain = ToyTrainer(config, run_config(tmp_path), quiet=True)
    compiled = ToyTrainer(config, run_config(tmp_path, xla=True), quiet=True)
    batch = first_batch(plain)
    loss_plain = plain.train_function(batch)["loss"].numpy()
    loss_xla = compiled.train_function(batch)["loss"].numpy()
    np.testing.assert_allclose(loss_xla, loss_plain, rtol=1e-5)
    for a, b in zip(learned_weights(plain.discriminator), learned_weights(compiled.discriminator)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_replica_seed_generator_matches_keras_outside_replicas():
    ours, reference = ReplicaSeedGenerator(3), keras.random.SeedGenerator(3)
    np.testing.assert_array_equal(ours.next().numpy(), reference.next().numpy())


# Runs in a fresh process: the CPU must be split into two logical devices
# before TensorFlow initialises.
_MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    import numpy as np
    from tfgen.config import RunConfig
    from toy_gan import ToyConfig, ToyTrainer

    def weights(variables):
        return [v.numpy().copy() for v in variables]

    def one_step(strategy, objective):
        run = RunConfig(name=strategy + objective, runs_dir=sys.argv[1], steps=1, strategy=strategy)
        trainer = ToyTrainer(ToyConfig(objective=objective), run, quiet=True)
        before = weights(trainer.generator.trainable_variables + trainer.discriminator.trainable_variables)
        batch = next(iter(trainer.distribute(trainer.data.dataset)))
        losses = {k: float(v) for k, v in trainer.train_function(batch).items()}
        after = weights(trainer.generator.trainable_variables + trainer.discriminator.trainable_variables)
        return trainer, before, after, losses

    result = {}
    trainer, before, after, losses = one_step("mirrored", "gan")
    result["replicas"] = trainer.num_replicas
    result["gan_losses"] = losses
    result["all_weights_changed"] = all(not np.allclose(a, b) for a, b in zip(before, after))
    draws = trainer.strategy.run(lambda: keras.random.normal((4,), seed=trainer.seed_generator))
    draws = [d.numpy() for d in trainer.strategy.experimental_local_results(draws)]
    result["replica_draws_differ"] = not np.allclose(draws[0], draws[1])

    # The deterministic objective (SGD on mean(D(real)^2)): two replicas of
    # half a batch must make the same update as one device on the whole batch.
    _, mirrored_before, mirrored_after, _ = one_step("mirrored", "regression")
    _, default_before, default_after, _ = one_step("default", "regression")
    result["same_start"] = all(np.array_equal(a, b) for a, b in zip(mirrored_before, default_before))
    result["update_size"] = max(float(np.max(np.abs(a - b))) for a, b in zip(default_before, default_after))
    result["update_difference"] = max(
        float(np.max(np.abs(a - b))) for a, b in zip(mirrored_after, default_after))
    try:
        ToyTrainer(ToyConfig(batch_size=3), RunConfig(runs_dir=sys.argv[1], strategy="mirrored"), quiet=True)
    except ValueError as e:
        result["odd_batch_error"] = str(e)
    print("RESULT " + json.dumps(result))
    """
)


def test_mirrored_strategy_over_two_cpu_devices(tmp_path):
    result = run_result_script(_MIRRORED_SCRIPT, tmp_path, extra_path=[os.path.dirname(__file__)])
    assert result["replicas"] == 2
    assert all(np.isfinite(v) for v in result["gan_losses"].values())
    assert result["all_weights_changed"]
    assert result["replica_draws_differ"]
    assert result["same_start"]
    assert result["update_size"] > 1e-4
    assert result["update_difference"] < 1e-6 * max(1.0, result["update_size"])
    assert "divisible by the number of replicas (2)" in result["odd_batch_error"]
