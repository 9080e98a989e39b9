"""Sampling a run before it ends (issue 29): ``load_generator`` and
``generate.py --generator RUN`` on an unfinished run use its newest snapshot
or checkpoint, and ``step=`` / ``--step`` pick one.

A tiny FastGAN run is stopped by Ctrl-C after 5 of its 8 steps (checkpoints
at 2, 4 and the interrupted step 5, snapshots at 2 and 4). References come
another way: the interrupted trainer's own networks in memory, a snapshot
file loaded with plain Keras, and the checkpoint's copy of the same step.
"""

import os
import shutil
import warnings

import numpy as np
import pytest
from PIL import Image

from tfgen import sampling
from tfgen.config import RunConfig
from tfgen.families.fastgan.config import FastGANConfig
from tfgen.families.fastgan.trainer import FastGANTrainer
from tfgen.registry import get_family
from tfgen.runs import SavedStepWarning, load_generator, load_run_config, save_run_config, snapshot_path
from tfgen.training.checkpointing import restore_networks

from tests.scripts import run_script
from tests.training.toy_gan import interrupt_on_call

MODEL = FastGANConfig(resolution=64, ngf=4, ndf=4, batch_size=2, ema_decay=0.9)
IMAGES = dict(num_images=4, batch_size=2, seed=3)


def run_config(runs_dir, steps=8):
    return RunConfig(
        name="unfinished", runs_dir=str(runs_dir), data="digits:3", steps=steps, seed=0, flip=False,
        sample_every=1000, checkpoint_every=2, snapshot_every=2, log_every=1,
    )  # fmt: skip


def images(generator):
    return sampling.generate(generator, IMAGES["num_images"], batch_size=IMAGES["batch_size"], seed=IMAGES["seed"])


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """(run folder, images of the EMA and raw generators at step 5, from the trainer itself)."""
    trainer = FastGANTrainer(MODEL, run_config(tmp_path_factory.mktemp("runs")), quiet=True)
    interrupt_on_call(trainer, 6)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    assert int(trainer.step.numpy()) == 5
    return trainer.run_dir, images(trainer.generator_ema), images(trainer.generator)


def load(run_dir, **options):
    """(generator, the one SavedStepWarning's text)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        generator = load_generator(run_dir, **options)
    notes = [str(w.message) for w in caught if issubclass(w.category, SavedStepWarning)]
    assert len(notes) == 1, notes
    return generator, notes[0]


def test_the_run_is_unfinished_with_snapshots_and_checkpoints(interrupted):
    run_dir, _, _ = interrupted
    assert sorted(os.listdir(os.path.join(run_dir, "snapshots"))) == [
        "generator_ema_step_0000002.weights.h5", "generator_ema_step_0000004.weights.h5"
    ]  # fmt: skip
    assert not os.path.exists(os.path.join(run_dir, "generator_ema.weights.h5"))


def test_an_unfinished_run_loads_its_newest_checkpoint(interrupted):
    run_dir, ema_images, raw_images = interrupted
    generator, note = load(run_dir)
    assert note == f"{run_dir} is unfinished (step 5 of 8): using its checkpoint of step 5 (generator_ema restored)"
    np.testing.assert_array_equal(images(generator), ema_images)
    generator, note = load(run_dir, ema=False)
    assert note.endswith("using its checkpoint of step 5 (generator restored)")
    np.testing.assert_array_equal(images(generator), raw_images)


def test_a_step_picks_its_snapshot_which_matches_the_checkpoint_of_that_step(interrupted):
    run_dir, ema_images, _ = interrupted
    generator, note = load(run_dir, step=4)
    assert note == f"{run_dir}: using its snapshot of step 4"
    # The snapshot file read by plain Keras into a generator built from the config.
    family, model_config, _ = load_run_config(run_dir)
    by_keras = get_family(family).build_generator(model_config)
    by_keras.load_weights(snapshot_path(run_dir, 4, ema=True))
    # The EMA generator as the checkpoint of step 4 holds it.
    from_checkpoint = get_family(family).build_generator(model_config)
    assert restore_networks(os.path.join(run_dir, "checkpoints", "ckpt-4"), {"generator_ema": from_checkpoint}) is None
    step4 = images(generator)
    np.testing.assert_array_equal(step4, images(by_keras))
    np.testing.assert_array_equal(step4, images(from_checkpoint))
    assert not np.array_equal(step4, ema_images)  # step 5 differs
    # Where there is no snapshot of the step, its checkpoint.
    generator, note = load(run_dir, step=5)
    assert note == f"{run_dir}: using its checkpoint of step 5 (generator_ema restored)"
    np.testing.assert_array_equal(images(generator), ema_images)
    # A snapshot file loads on its own too (its run's config.json is one folder up).
    np.testing.assert_array_equal(images(load_generator(snapshot_path(run_dir, 4, ema=True))), step4)


def test_a_missing_step_lists_the_steps_there_are(interrupted):
    run_dir, _, _ = interrupted
    with pytest.raises(ValueError, match="no generator_ema of step 3") as error:
        load_generator(run_dir, step=3)
    assert "snapshots of steps 2, 4; checkpoints of steps 2, 4, 5" in str(error.value)
    with pytest.raises(ValueError, match="not a run folder"):
        load_generator(snapshot_path(run_dir, 4, ema=True), step=4)


def test_a_run_with_nothing_saved_yet_says_so(tmp_path):
    save_run_config(str(tmp_path / "config.json"), "fastgan", MODEL, RunConfig(name="empty"))
    with pytest.raises(FileNotFoundError, match="no snapshot in snapshots/ and no checkpoint"):
        load_generator(str(tmp_path))


def test_a_finished_run_loads_its_final_weights_unless_a_step_is_asked_for(interrupted, tmp_path):
    run_dir = shutil.copytree(interrupted[0], tmp_path / "unfinished")
    trainer = FastGANTrainer(MODEL, run_config(tmp_path, steps=6), quiet=True)
    trainer.fit()
    final = images(trainer.generator_ema)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SavedStepWarning)  # no note: the final weights, as before
        np.testing.assert_array_equal(images(load_generator(str(run_dir))), final)
    generator, note = load(str(run_dir), step=6)
    assert note == f"{run_dir}: using its final weights, of step 6"
    np.testing.assert_array_equal(images(generator), final)
    generator, note = load(str(run_dir), step=4)
    assert note == f"{run_dir}: using its snapshot of step 4"


# ------------------------------------------------------------ generate.py


def generate(run_dir, out, *extra):
    return run_script(
        "generate.py", f"--generator={run_dir}", f"--output-dir={out}", *extra,
        *(f"--{name.replace('_', '-')}={value}" for name, value in IMAGES.items()),
    )  # fmt: skip


def warning_lines(result):
    """stderr's ``warning:`` lines (the progress bar shares stderr)."""
    return [line for line in result.stderr.splitlines() if line.startswith("warning:")]


def pngs(out):
    return np.stack([np.asarray(Image.open(out / f"{i:06d}.png")) for i in range(IMAGES["num_images"])])


def test_generate_on_an_unfinished_run_says_which_weights_in_one_line(interrupted, tmp_path):
    run_dir, ema_images, _ = interrupted
    result = generate(run_dir, tmp_path / "latest")
    assert result.returncode == 0, result.stderr
    assert warning_lines(result) == [
        f"warning: {run_dir} is unfinished (step 5 of 8): using its checkpoint of step 5 (generator_ema restored)"
    ]
    np.testing.assert_array_equal(pngs(tmp_path / "latest"), ema_images)

    result = generate(run_dir, tmp_path / "step4", "--step=4")
    assert result.returncode == 0, result.stderr
    assert warning_lines(result) == [f"warning: {run_dir}: using its snapshot of step 4"]
    np.testing.assert_array_equal(pngs(tmp_path / "step4"), images(load_generator(snapshot_path(run_dir, 4, ema=True))))


def test_generate_with_a_missing_step_is_one_clean_line(interrupted, tmp_path):
    run_dir, _, _ = interrupted
    result = generate(run_dir, tmp_path / "out", "--step=7")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "no generator_ema of step 7" in lines[0] and "checkpoints of steps 2, 4, 5" in lines[0]
    assert not (tmp_path / "out").exists()
