"""Run-folder safety: names, what --override may delete, the run lock."""

import json
import os
import signal
import subprocess
import sys
import warnings

import pytest

from tfgen import runs
from tfgen.checks import check_run_name
from tfgen.runs import LOCK_FILE, RunLock, RunLockedError, clear_run_folder, is_run_folder

# The child loads tfgen/runs.py by path: importing the tfgen package would
# import TensorFlow (seconds); runs.py alone is pure Python.
_HOLD_LOCK = """
import importlib.util, sys, time
spec = importlib.util.spec_from_file_location("runs", sys.argv[1])
runs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(runs)
runs.RunLock(sys.argv[2]).acquire()
print("locked", flush=True)
time.sleep(60)
"""


@pytest.fixture
def lock_holder(tmp_path):
    """Start a process that holds the lock of a run folder; yields the Popen."""
    children = []

    def start(run_dir):
        child = subprocess.Popen(
            [sys.executable, "-c", _HOLD_LOCK, runs.__file__, str(run_dir)],
            stdout=subprocess.PIPE,
            text=True,
        )
        children.append(child)
        assert child.stdout.readline().strip() == "locked"
        return child

    yield start
    for child in children:
        if child.poll() is None:
            child.kill()
        child.wait()
        child.stdout.close()


def make_run(path, *, family="fastgan"):
    """A folder shaped like a finished tfgen run."""
    for sub in ("checkpoints", "samples", "logs"):
        os.makedirs(path / sub)
    (path / "config.json").write_text(json.dumps({"family": family, "model": {}, "run": {}}))
    (path / "checkpoints" / "ckpt-1.index").write_text("x")
    (path / "samples" / "step_0000500.png").write_text("x")
    (path / "logs" / "events.out").write_text("x")
    (path / "generator.weights.h5").write_text("x")
    return path


def tree(path):
    """Every file and folder below ``path``, relative to it."""
    names = []
    for root, dirs, files in os.walk(path):
        names += [os.path.relpath(os.path.join(root, name), path) for name in dirs + files]
    return sorted(names)


# ----------------------------------------------------------------- names


@pytest.mark.parametrize("name", ["..", ".", "", "a/b", "/tmp/run", "a\0b", os.path.join("a", "b")])
def test_check_run_name_rejects_paths(name):
    with pytest.raises(ValueError, match=r"plain folder name.*Received: name=.*--runs-dir"):
        check_run_name(name)


def test_check_run_name_rejects_absolute_path(tmp_path):
    with pytest.raises(ValueError, match="plain folder name"):
        check_run_name(str(tmp_path / "run"))


@pytest.mark.parametrize("name", [" ", " run", ".hidden", "...", "-x", "_x", "\u00a0run"])
def test_check_run_name_wants_a_letter_or_digit_first(name):
    with pytest.raises(ValueError, match=r"start with a letter or digit.*Received: name="):
        check_run_name(name)


@pytest.mark.parametrize("name", ["my_run-1", "fastgan_default", "run.v2", "2024-01_run", "a..b"])
def test_check_run_name_accepts_plain_names(name):
    assert check_run_name(name) == name


# ------------------------------------------------------------ run folders


def test_is_run_folder(tmp_path):
    assert is_run_folder(make_run(tmp_path / "run"))
    empty = tmp_path / "empty"
    (empty / "samples").mkdir(parents=True)
    (empty / LOCK_FILE).write_text("")
    assert is_run_folder(empty)  # what a run holds before its config.json
    (empty / "samples" / "mine.png").write_text("x")
    assert not is_run_folder(empty)
    no_family = tmp_path / "no_family"
    no_family.mkdir()
    (no_family / "config.json").write_text('{"name": "my app"}')
    assert not is_run_folder(no_family)
    (no_family / "config.json").write_text("not json")
    assert not is_run_folder(no_family)
    assert not is_run_folder(tmp_path / "missing")


def test_clear_run_folder_deletes_contents_but_keeps_folder_and_lock(tmp_path):
    runs_dir = tmp_path / "runs"
    run = make_run(runs_dir / "my_run")
    with RunLock(str(run)):  # --override runs with the lock held
        clear_run_folder(str(run), str(runs_dir))
        assert tree(run) == [LOCK_FILE]
        assert json.loads((run / LOCK_FILE).read_text())["pid"] == os.getpid()
        clear_run_folder(str(run), str(runs_dir))  # an emptied run is still a run
    assert tree(run) == []


def test_clear_run_folder_missing_folder_is_a_no_op(tmp_path):
    clear_run_folder(str(tmp_path / "runs" / "new"), str(tmp_path / "runs"))
    assert not (tmp_path / "runs").exists()


def test_clear_run_folder_refuses_runs_dir_itself(tmp_path):
    runs_dir = make_run(tmp_path / "runs")  # even when it looks like a run
    before = tree(runs_dir)
    for run_dir in (runs_dir, runs_dir / "checkpoints" / ".."):
        with pytest.raises(ValueError, match="runs folder .* itself.*only deletes its own run folders"):
            clear_run_folder(str(run_dir), str(runs_dir))
    assert tree(runs_dir) == before


def test_clear_run_folder_refuses_a_parent(tmp_path):
    runs_dir = tmp_path / "runs"
    make_run(runs_dir / "my_run")
    before = tree(tmp_path)
    with pytest.raises(ValueError, match="contains the runs folder.*another --name"):
        clear_run_folder(str(runs_dir / ".."), str(runs_dir))
    with pytest.raises(ValueError, match="contains the runs folder"):
        clear_run_folder(str(tmp_path), str(runs_dir))
    assert tree(tmp_path) == before


def test_clear_run_folder_refuses_symlink_out_of_runs_dir(tmp_path):
    outside = make_run(tmp_path / "elsewhere")  # a run, but not in this runs folder
    runs_dir = tmp_path / "runs"
    runs_dir.mkdir()
    os.symlink(outside, runs_dir / "escape")
    before = tree(outside)
    with pytest.raises(ValueError, match="symbolic link.*outside the runs folder"):
        clear_run_folder(str(runs_dir / "escape"), str(runs_dir))
    assert tree(outside) == before


def test_clear_run_folder_refuses_user_folder(tmp_path):
    runs_dir = tmp_path / "runs"
    mine = runs_dir / "thesis"
    (mine / "chapters").mkdir(parents=True)
    (mine / "chapters" / "one.tex").write_text("x")
    (mine / "notes.txt").write_text("x")
    before = tree(mine)
    with pytest.raises(ValueError, match=r"not a tfgen run folder.*holds: chapters, notes.txt.*by hand"):
        clear_run_folder(str(mine), str(runs_dir))
    assert tree(mine) == before


def test_clear_run_folder_removes_symlinks_without_following_them(tmp_path):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "data.txt").write_text("x")
    runs_dir = tmp_path / "runs"
    run = make_run(runs_dir / "my_run")
    os.symlink(precious, run / "linked_data")
    clear_run_folder(str(run), str(runs_dir))
    assert tree(run) == [] and tree(precious) == ["data.txt"]


# --------------------------------------------------------------------- lock


def test_lock_writes_owner_and_release_removes_file(tmp_path):
    run_dir = tmp_path / "runs" / "my_run"
    with RunLock(str(run_dir)) as lock:  # creates the run folder
        owner = json.loads((run_dir / LOCK_FILE).read_text())
        assert owner["pid"] == os.getpid() and owner["host"] and owner["started"]
        assert lock.held
    assert not lock.held
    assert not (run_dir / LOCK_FILE).exists()
    lock.release()  # releasing twice is harmless
    with RunLock(str(run_dir)):  # and the run can be locked again, without warning
        pass


def test_lock_refused_while_another_process_holds_it(tmp_path, lock_holder):
    run_dir = tmp_path / "my_run"
    child = lock_holder(run_dir)
    expected = rf"in use by another training process \(pid {child.pid} on host"
    with pytest.raises(RunLockedError, match=expected):
        RunLock(str(run_dir)).acquire()
    assert json.loads((run_dir / LOCK_FILE).read_text())["pid"] == child.pid  # left alone


def test_lock_refused_for_second_lock_in_same_process(tmp_path):
    with RunLock(str(tmp_path)):
        with pytest.raises(RunLockedError, match=rf"pid {os.getpid()}.*choose another --name"):
            RunLock(str(tmp_path)).acquire()
        assert (tmp_path / LOCK_FILE).exists()  # the refused lock removed nothing


def test_stale_lock_of_killed_process_is_taken_over(tmp_path, lock_holder):
    run_dir = tmp_path / "my_run"
    child = lock_holder(run_dir)
    child.send_signal(signal.SIGKILL)  # dies holding the lock: the file stays
    child.wait()
    assert (run_dir / LOCK_FILE).exists()
    with pytest.warns(RuntimeWarning, match=rf"pid {child.pid}.*ended without releasing"):
        lock = RunLock(str(run_dir)).acquire()
    assert json.loads((run_dir / LOCK_FILE).read_text())["pid"] == os.getpid()
    lock.release()
    assert not (run_dir / LOCK_FILE).exists()


def test_release_leaves_a_lock_file_it_does_not_own(tmp_path):
    lock = RunLock(str(tmp_path)).acquire()
    os.unlink(tmp_path / LOCK_FILE)  # someone removed it by hand...
    (tmp_path / LOCK_FILE).write_text('{"pid": 1}')  # ...and another lock appeared
    lock.release()
    assert (tmp_path / LOCK_FILE).read_text() == '{"pid": 1}'


def test_fallback_lock_without_fcntl(tmp_path, monkeypatch, lock_holder):
    monkeypatch.setattr(runs, "fcntl", None)
    with RunLock(str(tmp_path / "a")):
        with pytest.raises(RunLockedError, match=rf"pid {os.getpid()}"):
            RunLock(str(tmp_path / "a")).acquire()
    assert not (tmp_path / "a" / LOCK_FILE).exists()
    # A dead pid on this host is stale: taken over with a warning.
    child = lock_holder(tmp_path / "b")
    child.kill()
    child.wait()
    with pytest.warns(RuntimeWarning, match=rf"pid {child.pid}"):
        RunLock(str(tmp_path / "b")).acquire().release()
    # A freshly created lock file not yet written counts as held.
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / LOCK_FILE).write_text("")
    with warnings.catch_warnings(), pytest.raises(RunLockedError, match="pid unknown"):
        warnings.simplefilter("error")
        RunLock(str(tmp_path / "c")).acquire()
