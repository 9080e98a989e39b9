"""What a run survives: damaged checkpoints, a lost index file, divergence,
a second trainer on the same folder, dangerous names (on the toy GAN)."""

import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from tfgen.runs import RunLockedError
from tfgen.training.trainer import TrainingDiverged

from .test_trainer import learned_weights
from .test_trainer import run_config as trainer_run_config
from .toy_gan import ToyConfig, ToyTrainer


def run_config(tmp_path, **overrides):
    """test_trainer's toy run, 6 steps long with a checkpoint every 2."""
    return trainer_run_config(tmp_path, **{"steps": 6, "sample_every": 100, **overrides})


def checkpoints(tmp_path):
    return os.path.join(str(tmp_path), "toy", "checkpoints")


def values(variables):
    return [np.array(v.numpy()) for v in variables]


def trained_to(tmp_path, steps):
    """A finished toy run of ``steps`` (checkpoints every 2) and its state at ``steps - 2``."""
    earlier = ToyTrainer(ToyConfig(), run_config(tmp_path, name="earlier", steps=steps - 2), quiet=True)
    earlier.fit()
    ToyTrainer(ToyConfig(), run_config(tmp_path, steps=steps), quiet=True).fit()
    return values(earlier.generator_ema.variables) + values(earlier.g_optimizer.variables)


def damage_truncate(prefix):
    data = prefix + ".data-00000-of-00001"
    with open(data, "r+b") as f:
        f.truncate(os.path.getsize(data) // 2)


def damage_index(prefix):
    with open(prefix + ".index", "wb") as f:
        f.write(b"not an index")


def damage_checksum(prefix):
    """Flip bytes inside the stored tensors: sizes stay, the CRC no longer matches."""
    data = prefix + ".data-00000-of-00001"
    with open(data, "r+b") as f:
        content = bytearray(f.read())
        for i in range(len(content) // 3, len(content) // 3 + 64):
            content[i] ^= 0xFF
        f.seek(0)
        f.write(content)


def damage_index_file_names_missing_step(prefix):
    folder = os.path.dirname(prefix)
    tf.compat.v1.train.update_checkpoint_state(folder, os.path.join(folder, "ckpt-99"))
    for name in os.listdir(folder):
        if name.startswith("ckpt-6."):
            os.remove(os.path.join(folder, name))


@pytest.mark.parametrize(
    "damage", [damage_truncate, damage_index, damage_checksum, damage_index_file_names_missing_step]
)
def test_an_unreadable_latest_checkpoint_falls_back_to_the_newest_intact_one(tmp_path, damage):
    expected = trained_to(tmp_path, 6)
    damage(os.path.join(checkpoints(tmp_path), "ckpt-6"))
    resumed = ToyTrainer(ToyConfig(), run_config(tmp_path, steps=8), quiet=True)
    if damage is damage_index_file_names_missing_step:
        assert resumed.restore() == 4  # ckpt-99 named but absent, ckpt-6 gone
    else:
        with pytest.warns(UserWarning, match=r"ckpt-6 cannot be read .*moved to .*unreadable"):
            assert resumed.restore() == 4
        assert sorted(os.listdir(os.path.join(checkpoints(tmp_path), "unreadable")))
    resumed.release()
    for a, b in zip(expected, values(resumed.generator_ema.variables) + values(resumed.g_optimizer.variables)):
        np.testing.assert_array_equal(a, b)
    assert tf.train.latest_checkpoint(checkpoints(tmp_path)).endswith("ckpt-4")
    resumed.fit()  # and it trains on, rotating its checkpoints again
    assert tf.train.latest_checkpoint(checkpoints(tmp_path)).endswith("ckpt-8")


def test_checkpoints_are_found_without_the_index_file(tmp_path):
    trained_to(tmp_path, 6)
    os.remove(os.path.join(checkpoints(tmp_path), "checkpoint"))
    trainer = ToyTrainer(ToyConfig(), run_config(tmp_path, steps=8), quiet=True)
    assert trainer.restore() == 6
    trainer.release()
    assert tf.train.latest_checkpoint(checkpoints(tmp_path)).endswith("ckpt-6")


def test_no_readable_checkpoint_is_a_clear_error(tmp_path):
    ToyTrainer(ToyConfig(), run_config(tmp_path, steps=4), quiet=True).fit()
    for step in (2, 4):
        if os.path.exists(os.path.join(checkpoints(tmp_path), f"ckpt-{step}.index")):
            damage_index(os.path.join(checkpoints(tmp_path), f"ckpt-{step}"))
    trainer = ToyTrainer(ToyConfig(), run_config(tmp_path, steps=8), quiet=True)
    with pytest.warns(UserWarning), pytest.raises(ValueError, match=r"None of the 2 checkpoints in .*toy.*--override"):
        trainer.fit()
    # The lock was given back: --override can start afresh at once.
    trainer = ToyTrainer(ToyConfig(), run_config(tmp_path, steps=2), quiet=True)
    trainer.fit(override=True)
    assert int(trainer.step.numpy()) == 2


def test_divergence_stops_the_run_and_keeps_the_healthy_files(tmp_path):
    ToyTrainer(ToyConfig(), run_config(tmp_path, steps=4), quiet=True).fit()
    run_dir = os.path.join(str(tmp_path), "toy")
    kept = {
        name: open(os.path.join(run_dir, name), "rb").read()
        for name in ("generator.weights.h5", "generator_ema.weights.h5", "discriminator.weights.h5")
    }
    diverging = ToyTrainer(ToyConfig(), run_config(tmp_path, steps=12), quiet=True)
    train_function = diverging.train_function

    def blows_up_at_step_7(batch):
        losses = train_function(batch)
        if int(diverging.step.numpy()) >= 7:
            for variable in diverging.generator.trainable_variables:
                variable.assign(variable * np.nan)
            losses["g_loss"] = losses["g_loss"] * np.nan
        return losses

    diverging.train_function = blows_up_at_step_7
    with pytest.raises(TrainingDiverged, match=r"diverged at step 7: .*g_loss=nan.*learning rate.*ckpt-6.*untouched"):
        diverging.fit()
    assert tf.train.latest_checkpoint(checkpoints(tmp_path)).endswith("ckpt-6")
    for name, content in kept.items():
        assert open(os.path.join(run_dir, name), "rb").read() == content, name
    # The last checkpoint is healthy: a sane learning rate resumes from it.
    healthy = ToyTrainer(ToyConfig(), run_config(tmp_path, steps=8), quiet=True)
    healthy.fit()
    assert all(np.isfinite(v).all() for v in values(healthy.generator.variables))


def test_a_non_finite_variable_is_never_checkpointed(tmp_path):
    trainer = ToyTrainer(ToyConfig(), run_config(tmp_path, steps=2), quiet=True)
    trainer.open_run()
    kernel = trainer.generator_ema.trainable_variables[0]
    kernel.assign(np.full(kernel.shape, np.inf, "float32"))
    with pytest.raises(TrainingDiverged, match="NaN or Inf"):
        trainer.save_checkpoint()
    trainer.release()
    assert not os.path.exists(os.path.join(checkpoints(tmp_path), "checkpoint"))


def test_a_second_trainer_on_a_running_folder_is_refused(tmp_path):
    import subprocess
    import sys
    import textwrap

    from tests.scripts import REPO

    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            sys.path.insert(0, {REPO!r})
            from tfgen.runs import RunLock
            with RunLock({os.path.join(str(tmp_path), "toy")!r}):
                print("locked", flush=True)
                time.sleep(60)
        """)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunLockedError, match=rf"in use by another training process \(pid {holder.pid}"):
            ToyTrainer(ToyConfig(), run_config(tmp_path), quiet=True).fit()
    finally:
        holder.kill()
        holder.wait()
    # Its process is dead: the lock is taken over.
    with pytest.warns(RuntimeWarning, match="taken over|takes it over"):
        ToyTrainer(ToyConfig(), run_config(tmp_path, steps=2), quiet=True).fit()


@pytest.mark.parametrize("name", ["..", ".", "a/b", "/tmp/x", ""])
def test_run_names_must_be_plain_folder_names(tmp_path, name):
    with pytest.raises(ValueError, match="plain folder name"):
        ToyTrainer(ToyConfig(), run_config(tmp_path, name=name), quiet=True)


def test_override_refuses_a_folder_that_is_not_a_run(tmp_path):
    precious = os.path.join(str(tmp_path), "toy")
    os.makedirs(precious)
    with open(os.path.join(precious, "thesis.tex"), "w") as f:
        f.write("years of work")
    for override in (True, False):  # neither deleted nor adopted
        with pytest.raises(ValueError, match="not a tfgen run folder.*thesis.tex.*--name"):
            ToyTrainer(ToyConfig(), run_config(tmp_path), quiet=True).fit(override=override)
        assert os.listdir(precious) == ["thesis.tex"]
    shutil.rmtree(precious)


def test_a_run_stopped_between_its_last_checkpoint_and_its_weights_writes_them_on_the_rerun(tmp_path, monkeypatch):
    ToyTrainer(ToyConfig(), run_config(tmp_path, steps=4), quiet=True).fit()
    extended = ToyTrainer(ToyConfig(), run_config(tmp_path, steps=6), quiet=True)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # as if the process died right after ckpt-6

    monkeypatch.setattr(extended, "write_final_outputs", killed)
    with pytest.raises(KeyboardInterrupt):
        extended.fit()
    monkeypatch.undo()
    assert tf.train.latest_checkpoint(checkpoints(tmp_path)).endswith("ckpt-6")

    rerun = ToyTrainer(ToyConfig(), run_config(tmp_path, steps=6), quiet=True)
    assert rerun.restore() == 6 and not rerun.is_finished(6)  # the files hold step 4's weights
    rerun.release()
    rerun = ToyTrainer(ToyConfig(), run_config(tmp_path, steps=6), quiet=True)
    rerun.fit()
    written = keras_weights(os.path.join(str(tmp_path), "toy", "generator_ema.weights.h5"), rerun)
    for a, b in zip(written, learned_weights(extended.generator_ema)):
        np.testing.assert_array_equal(a, b)
    again = ToyTrainer(ToyConfig(), run_config(tmp_path, steps=6), quiet=True)
    again.restore()
    assert again.is_finished(6)
    again.release()


def keras_weights(path, trainer):
    """The variables of a weights file, loaded into a fresh generator of ``trainer``'s kind."""
    generator = trainer.build_generator()
    generator.load_weights(path)
    return learned_weights(generator)


def test_a_config_without_anything_to_resume_is_replaced_not_compared(tmp_path):
    """A run that failed before its first checkpoint (e.g. a bad width) left a
    config.json: the corrected command starts, instead of 'holds a different model'."""
    first = ToyTrainer(ToyConfig(resolution=16), run_config(tmp_path), quiet=True)
    first.open_run()
    first.release()
    ToyTrainer(ToyConfig(resolution=8), run_config(tmp_path, steps=2), quiet=True).fit()
    with pytest.raises(ValueError, match=r"resolution: saved 8, now 16.*--override.*--name"):
        ToyTrainer(ToyConfig(resolution=16), run_config(tmp_path), quiet=True).fit()


def test_adding_or_removing_the_ema_generator_on_resume_is_refused_before_any_checkpoint_moves(tmp_path):
    ToyTrainer(ToyConfig(), run_config(tmp_path, steps=2), quiet=True).fit()
    with pytest.raises(ValueError, match=r"ema_decay: saved 0.9, now None.*EMA generator"):
        ToyTrainer(ToyConfig(ema_decay=None), run_config(tmp_path, steps=4), quiet=True).fit()
    assert not os.path.exists(os.path.join(checkpoints(tmp_path), "unreadable"))
    # Its value, unlike its presence, takes effect from the resumed step on.
    ToyTrainer(ToyConfig(ema_decay=0.5), run_config(tmp_path, steps=4), quiet=True).fit()


def test_a_new_learning_rate_on_resume_is_the_one_the_optimizer_uses(tmp_path, capsys):
    ToyTrainer(ToyConfig(), run_config(tmp_path, steps=2), quiet=True).fit()
    resumed = ToyTrainer(ToyConfig(learning_rate=1e-4), run_config(tmp_path, steps=4), quiet=False)
    assert resumed.restore() == 2
    rates = [v.numpy() for v in resumed.g_optimizer.variables if v.path.endswith("learning_rate")]
    assert rates == [np.float32(1e-4)]
    assert "learning_rate 0.01 -> 0.0001" in capsys.readouterr().out
    resumed.release()
    # The same command without the change restores the saved rate bit for bit (exact resume).
    plain = ToyTrainer(ToyConfig(), run_config(tmp_path, name="plain", steps=2), quiet=True)
    plain.fit()
    again = ToyTrainer(ToyConfig(), run_config(tmp_path, name="plain", steps=4), quiet=True)
    assert again.restore() == 2 and again._config_changes == []
    again.release()
