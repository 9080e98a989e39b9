"""--time-budget (tfgen.training.time_budget and the shared Trainer loop): a
fake clock that advances 10 s per step stands in for the wall clock, so the
step a budget stops at is known in advance."""

import os
import subprocess
import sys

import pytest

from tfgen.checks import parse_duration
from tfgen.config import RunConfig
from tfgen.errors import InputError
from tfgen.families.fastgan.config import FastGANConfig
from tfgen.families.fastgan.trainer import FastGANTrainer
from tfgen.runs import finished_at
from tfgen.training.time_budget import TIME_RECORD, format_duration, record_seconds, seconds_at

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SECONDS_PER_STEP = 10.0


@pytest.mark.parametrize(
    "text, seconds",
    [("90s", 90), ("30m", 1800), ("1h", 3600), ("1h30m", 5400), ("1.5h", 5400), ("45", 45), (" 2m 3s ", 123)],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "0s", "-1m", "abc", "1x", "inf", "1h30", "m"])
def test_bad_durations_are_refused(text):
    with pytest.raises(InputError, match="time_budget must be a positive duration"):
        parse_duration(text)


def test_format_duration():
    assert format_duration(12.34) == "12.3s"
    assert format_duration(1800) == "30m 0s"
    assert format_duration(3725) == "1h 2m 5s"


def test_the_record_keeps_earlier_steps_and_drops_later_ones(tmp_path):
    run_dir = str(tmp_path)
    assert seconds_at(run_dir, 5) == 0.0  # nothing recorded
    record_seconds(run_dir, 3, 30.0)
    record_seconds(run_dir, 6, 60.0)
    assert seconds_at(run_dir, 6) == 60.0 and seconds_at(run_dir, 3) == 30.0
    assert seconds_at(run_dir, 5) == 30.0  # no entry of its own: the newest before it
    record_seconds(run_dir, 4, 41.0)  # resumed from 3 and saved again: 6 belonged to the lost future
    assert seconds_at(run_dir, 6) == 41.0 and seconds_at(run_dir, 4) == 41.0


def test_run_config_checks_the_budget():
    RunConfig(time_budget="30m").validate()
    with pytest.raises(InputError, match="time_budget must be a positive duration"):
        RunConfig(time_budget="soon").validate()
    with pytest.raises(InputError, match="multi-worker"):
        RunConfig(time_budget="30m", strategy="multiworker").validate()


# ------------------------------------------------------- the loop, fake clock


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def make_trainer(tmp_path, budget, *, steps=0, checkpoint_every=1000, clock=None, discriminator="fastgan"):
    config = FastGANConfig(resolution=64, latent_dim=16, ngf=4, ndf=4, batch_size=2, discriminator=discriminator,
                           projected_resolution=128 if discriminator == "projected" else 224)  # fmt: skip
    run = RunConfig(name="budget", runs_dir=str(tmp_path), data="digits:3", steps=steps, time_budget=budget,
                    sample_every=1000, checkpoint_every=checkpoint_every, log_every=1, flip=False)  # fmt: skip
    trainer = FastGANTrainer(config, run, quiet=True)
    clock = clock or FakeClock()
    trainer.clock = clock
    step_function = trainer.train_function

    def timed_step(batch):  # every step takes 10 s of the fake clock
        clock.now += SECONDS_PER_STEP
        return step_function(batch)

    trainer.train_function = timed_step
    return trainer


def test_a_budget_stops_trains_on_when_raised_and_is_a_total(tmp_path, capsys):
    trainer = make_trainer(tmp_path, "25s")
    run_dir = trainer.fit()
    assert int(trainer.step.numpy()) == 3  # 10, 20, 30 >= 25 s
    assert finished_at(run_dir, 3, trainer.final_weights())
    assert seconds_at(run_dir, 3) == 30.0
    assert os.path.isfile(os.path.join(run_dir, TIME_RECORD))

    # The same budget again: nothing to do, nothing written.
    again = make_trainer(tmp_path, "25s")
    again.quiet = False
    again.fit()
    assert int(again.step.numpy()) == 3
    assert "has finished (3 steps, 30.0s of its 25.0s time budget); nothing to do" in capsys.readouterr().out

    # A larger budget trains on for the difference: 40, 50 >= 45 s.
    more = make_trainer(tmp_path, "45s")
    more.quiet = False
    more.fit()
    assert int(more.step.numpy()) == 5 and seconds_at(run_dir, 5) == 50.0
    out = capsys.readouterr().out
    assert "resuming at step 3; steps for 45.0s of training time (30.0s spent)" in out
    assert "time budget of 45.0s spent at step 5 (2 steps in 20.0s this time, 50.0s of training in all)" in out


def test_steps_end_the_run_first_when_they_come_first(tmp_path):
    trainer = make_trainer(tmp_path, "1h", steps=4)
    trainer.fit()
    assert int(trainer.step.numpy()) == 4


def test_a_run_stopped_between_checkpoints_resumes_with_the_time_of_its_checkpoint(tmp_path):
    class Killed(Exception):
        pass

    trainer = make_trainer(tmp_path, "100s", checkpoint_every=2)
    step_function = trainer.train_function

    def dies_at_step_5(batch):
        if int(trainer.step.numpy()) == 4:
            raise Killed  # as a kill after checkpoint 4, during step 5
        return step_function(batch)

    trainer.train_function = dies_at_step_5
    with pytest.raises(Killed):
        trainer.fit()
    run_dir = trainer.run_dir
    assert seconds_at(run_dir, 4) == 40.0

    resumed = make_trainer(tmp_path, "100s", checkpoint_every=2)
    resumed.fit()
    # 40 s recorded at step 4, 60 s more: steps 5 to 10. The time of the lost
    # step 5 is not counted twice.
    assert int(resumed.step.numpy()) == 10 and seconds_at(run_dir, 10) == 100.0


def test_the_budget_counts_the_projected_discriminators_steps_too(tmp_path):
    trainer = make_trainer(tmp_path, "15s", discriminator="projected")
    trainer.fit()
    assert int(trainer.step.numpy()) == 2


# ------------------------------------------------------------------- the CLI


def train(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=REPO)
    return subprocess.run([sys.executable, os.path.join(REPO, "train.py"), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip


def test_cli_refuses_a_bad_budget_and_families_with_stages_of_their_own(tmp_path):
    bad = train("--time-budget", "soon", "--runs-dir", str(tmp_path))
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines()[-1].startswith("error: time_budget must be a positive duration")
    staged = train("--model", "l2l", "--time-budget", "1m", "--runs-dir", str(tmp_path))
    assert staged.returncode == 2 and "--model l2l trains in stages of its own" in staged.stderr


def test_cli_trains_the_projected_discriminator_for_a_budget(tmp_path):
    args = ["--discriminator", "projected", "--projected-resolution", "128", "--ngf", "4", "--ndf", "4",
            "--batch-size", "2", "--time-budget", "2s", "--runs-dir", str(tmp_path), "--name", "cli"]  # fmt: skip
    completed = train(*args)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "time budget of 2.0s spent at step" in completed.stdout, completed.stdout[-2000:]
    run_dir = os.path.join(tmp_path, "cli")
    for name in ("generator.weights.h5", "generator_ema.weights.h5", "discriminator.weights.h5", "finished.json"):
        assert os.path.isfile(os.path.join(run_dir, name))
    again = train(*args)
    assert again.returncode == 0 and "nothing to do" in again.stdout, again.stdout[-2000:]
