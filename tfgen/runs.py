"""The run folder, in one module: what a run may be called,
what ``--override`` may delete, how two training processes are kept out of
one folder, its config, the checks before resuming it, the training
metric's log and ``best/``, and loading a generator back from it.

Its layout (every entry's name) and whether it is finished are
:class:`tfgen.run_folder.RunFolder`'s; this module uses it. A run lives in
``<runs_dir>/<name>/``: ``config.json`` with a top-level
``"family"`` key, ``checkpoints/``, ``samples/``, ``logs/``, the final
``generator.weights.h5`` / ``generator_ema.weights.h5`` /
``discriminator.weights.h5``, with ``--snapshot-every`` ``snapshots/``, with
``--fid`` ``metrics.jsonl`` and ``best/``, for L2L-GAN ``stages/`` and ``gems/``; an adapted run
(:func:`tfgen.adaptation.save_adapted`) holds ``config.json`` and its
generator's weights.

- **Names** (:func:`tfgen.checks.check_run_name`): a run name is one plain folder name, so
  ``--name`` can never point outside ``--runs-dir`` (no ``/``, ``.``, ``..``,
  absolute paths or drives). The parent folder is chosen with ``--runs-dir``.
- **Override** (:func:`clear_run_folder`): tfgen only deletes folders it made.
  The folder must resolve (symbolic links followed) to a folder strictly
  inside the runs folder and must look like a run (:func:`is_run_folder`);
  anything else is refused with a message and left untouched. The contents
  are deleted, the folder and its lock file stay.
- **Config** (:func:`save_run_config`, :func:`load_run_config`):
  ``{"family", "model", "run"}``; the family's config class comes from
  :mod:`tfgen.registry`.
- **Adopting** (:func:`check_not_foreign`): a folder that tfgen did not make
  (:func:`is_run_folder` says no) is never trained into, so ``--override``
  can never delete it.
- **Resuming** (:func:`check_resumable`): a run folder whose settings that
  cannot change on resume (the architecture, the data, the seed, ...) differ
  from the new ones is refused with advice instead of a shape error or a
  silent change; the other settings take effect and ``config.json`` records
  each change with its step (:func:`save_run_config`'s ``changes``).
- **Finished** (:meth:`RunFolder.write_finished_record`, :meth:`RunFolder.finished_at`): when
  a run writes its final weights it records their step and checksums in
  ``finished.json``; a run is finished only while those files are unchanged,
  so a run stopped between its last checkpoint and its weights writes them
  on the next run.
- **Loading** (:func:`load_generator`): a run folder, a weights file with its
  ``config.json`` beside it, or a ``.keras`` archive. An unfinished run
  folder loads its newest snapshot or checkpoint, ``step=`` any saved step.
- **Snapshots** (:func:`write_snapshot`): with ``snapshot_every`` the
  trainer writes the sampling generator's weights to ``snapshots/`` while
  training, keeping the newest ``keep_snapshots``.
- **Lock** (:class:`RunLock`): one training process per run folder. The lock
  is an OS file lock (``flock``) on ``<run_dir>/.lock``, so the OS drops it
  when the process dies, however it dies: a crashed run never blocks the next
  one; its leftover lock file is taken over with a warning.

Pure Python at import (no TensorFlow), so CLIs can check a run before
importing TF; loading weights imports Keras when it is asked for.
"""

import dataclasses
import datetime
import json
import os
import shutil
import socket
import time
import warnings

from tfgen.config import RunConfig, ema_decay_of
from tfgen.files import WEIGHTS_SUFFIX, read_json_or_none as _read_json, write_json_atomic
from tfgen.registry import get_family, import_networks
from tfgen.errors import InputError

# The folder's names live in tfgen.run_folder; re-exported here, where they were first.
from tfgen.run_folder import (  # noqa: F401
    BEST_DIR,
    BEST_RECORD,
    CHECKPOINT_DIR,
    CONFIG_FILE,
    DISCRIMINATOR_WEIGHTS,
    EMA_WEIGHTS,
    FINISHED_RECORD,
    GEMS_DIR,
    LOCK_FILE,
    LOGS_DIR,
    METRICS_LOG,
    RAW_WEIGHTS,
    SAMPLES_DIR,
    SNAPSHOT_DIR,
    STAGES_DIR,
    RunFolder,
)

try:
    import fcntl
except ImportError:  # Windows: see RunLock._acquire_exclusive_create
    fcntl = None

# What a run holds between taking its lock and writing config.json
# (Trainer.open_run makes samples/ first): all that a folder without a config
# may hold and still count as a run. Anything else may be the user's.
_STARTUP_FILES = (LOCK_FILE,)
_STARTUP_EMPTY_DIRS = (SAMPLES_DIR,)

# Fallback lock only: a lock file without readable owner for longer than this
# is from a process that died between creating and writing it.
_UNWRITTEN_LOCK_GRACE_S = 60.0


class RunLockedError(InputError):
    """Another live process holds the run folder's lock. A ValueError, so the
    CLIs print it as one clean line."""


# ------------------------------------------------------------- run folders


def is_run_folder(path):
    """True if ``path`` is a folder tfgen made for a run: it has a
    ``config.json`` with a ``"family"`` key, or it holds nothing but what a run
    creates before writing its config (the lock file, an empty ``samples/``)."""
    if not os.path.isdir(path):
        return False
    config = _read_json(RunFolder(path).config)
    if isinstance(config, dict) and "family" in config:
        return True
    for entry in os.scandir(path):
        if entry.name in _STARTUP_FILES and entry.is_file(follow_symlinks=False):
            continue
        if entry.name in _STARTUP_EMPTY_DIRS and entry.is_dir(follow_symlinks=False):
            if not os.listdir(entry.path):
                continue
        return False
    return True


def check_not_foreign(run_dir):
    """Refuse to train into a folder tfgen did not make (:func:`is_run_folder`):
    a run would adopt it, and ``--override`` would then delete its files."""
    if not os.path.lexists(run_dir) or is_run_folder(run_dir):
        return
    what = f"holds: {_describe_entries(run_dir)}" if os.path.isdir(run_dir) else "is not a folder"
    raise InputError(
        f"{run_dir!r} exists but is not a tfgen run folder (no {CONFIG_FILE} with a 'family' key; it "
        f"{what}). tfgen never trains into a folder it did not make: choose another --name or "
        "--runs-dir, or move that folder away."
    )


def _is_strictly_inside(path, parent):
    """True if ``path`` is below ``parent`` (both already resolved)."""
    path, parent = os.path.normcase(path), os.path.normcase(parent)
    try:
        return path != parent and os.path.commonpath([path, parent]) == parent
    except ValueError:  # different drives on Windows
        return False


def _describe_entries(path, limit=5):
    names = sorted(os.listdir(path))
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _why_not_clearable(run_dir, runs_dir):
    """Why ``run_dir`` may not be cleared, or None when it may."""
    real, real_runs = os.path.realpath(run_dir), os.path.realpath(runs_dir)
    link = " (it is a symbolic link)" if os.path.islink(run_dir) else ""
    if os.path.normcase(real) == os.path.normcase(real_runs):
        return f"it is the runs folder {runs_dir!r} itself{link}, not a run inside it"
    if _is_strictly_inside(real_runs, real):
        return f"it resolves to {real!r}{link}, which contains the runs folder {runs_dir!r}"
    if not _is_strictly_inside(real, real_runs):
        return f"it resolves to {real!r}{link}, outside the runs folder {real_runs!r}"
    if not os.path.isdir(real):
        return "it is not a folder"
    if not is_run_folder(real):
        return (
            f"it is not a tfgen run folder (no {CONFIG_FILE} with a 'family' key); "
            f"it holds: {_describe_entries(real)}"
        )
    return None


def clear_run_folder(run_dir, runs_dir):
    """What ``--override`` does: delete the contents of the run folder
    ``run_dir`` but keep the folder and its lock file (the running process
    holds the lock, so call this with the run's :class:`RunLock` held).

    Refuses (ValueError, nothing deleted) unless ``run_dir`` resolves to a
    folder strictly inside ``runs_dir`` that :func:`is_run_folder` accepts.
    A missing ``run_dir`` is left missing.
    """
    if not os.path.lexists(run_dir):
        return
    reason = _why_not_clearable(run_dir, runs_dir)
    if reason is not None:
        raise InputError(
            f"--override refused to delete {run_dir!r}: {reason}. tfgen only deletes "
            "its own run folders. Delete it by hand if you mean to, or choose another --name."
        )
    real = os.path.realpath(run_dir)
    entries = [entry for entry in os.scandir(real) if entry.name != LOCK_FILE]
    # config.json goes last: if deleting is interrupted, the folder still
    # counts as a run and the next --override finishes the job.
    entries.sort(key=lambda entry: entry.name == CONFIG_FILE)
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path)  # does not follow symbolic links inside it
        else:
            os.unlink(entry.path)  # a symbolic link is removed, never followed


# --------------------------------------------------------------------- lock


def _now():
    return datetime.datetime.now(datetime.timezone.utc).astimezone().isoformat(timespec="seconds")


def _describe_owner(owner):
    """'pid N on host H, started T' from a lock file's JSON (parts may be missing)."""
    if not isinstance(owner, dict):
        owner = {}
    return (
        f"pid {owner.get('pid', 'unknown')} on host {owner.get('host', 'unknown')}, "
        f"started {owner.get('started', 'unknown')}"
    )


def _pid_alive(pid):
    """Whether process ``pid`` on this host still runs (fallback lock only)."""
    if os.name == "nt":
        # os.kill(pid, 0) on Windows sends CTRL_C_EVENT: ask the kernel instead.
        import ctypes

        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return ctypes.get_last_error() == 5  # access denied: it exists
        code = ctypes.c_ulong()
        ok = kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        kernel32.CloseHandle(handle)
        return not ok or code.value == 259  # STILL_ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


class RunLock:
    """One training process per run folder: ``<run_dir>/.lock``.

    ``acquire()`` refuses a folder tfgen did not make (:func:`check_not_foreign`),
    creates the run folder if needed, takes the lock and writes
    ``{"pid", "host", "started"}`` into the file; it raises
    :class:`RunLockedError` while another process holds it. A lock file left
    by a process that died is taken over with a warning. ``release()`` removes
    the file. Use as ``with RunLock(run_dir): ...``.

    On POSIX the lock is ``flock`` on the open file: the OS releases it when
    the process exits or is killed. It is shared with children made by a bare
    ``fork`` (not with ``subprocess`` children: the descriptor is not inherited).
    """

    def __init__(self, run_dir):
        self.run_dir = run_dir
        self.path = RunFolder(run_dir).lock
        self._fd = None

    @property
    def held(self):
        return self._fd is not None

    def acquire(self):
        if self.held:
            raise RuntimeError(f"The lock {self.path!r} is already held by this RunLock.")
        check_not_foreign(self.run_dir)  # every run lifecycle takes its folder here
        os.makedirs(self.run_dir, exist_ok=True)
        if fcntl is not None:
            fd, previous = self._acquire_flock()
        else:
            fd, previous = self._acquire_exclusive_create()
        self._fd = fd
        self._write_owner()
        if previous is not None:
            warnings.warn(
                f"Run folder {self.run_dir!r}: the previous training process "
                f"({_describe_owner(previous)}) ended without releasing its lock; "
                "this process takes it over.",
                RuntimeWarning,
                stacklevel=2,
            )
        return self

    def release(self):
        """Remove the lock file and unlock; a no-op when not held."""
        if not self.held:
            return
        fd, self._fd = self._fd, None
        ours = False
        try:
            ours = self._path_is(fd)  # never remove a lock file someone else made since
            if ours and fcntl is not None:
                # Unlink before unlocking: a process that opened the old file
                # meanwhile sees it is gone (_path_is) and retries on a new one.
                os.unlink(self.path)
        finally:
            os.close(fd)  # closing drops the flock
        if ours and fcntl is None:
            os.unlink(self.path)  # Windows cannot remove a file that is still open

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc_info):
        self.release()

    def _path_is(self, fd):
        """Whether self.path still names the file open as ``fd``."""
        try:
            on_disk = os.stat(self.path)
        except FileNotFoundError:
            return False
        mine = os.fstat(fd)
        return (on_disk.st_dev, on_disk.st_ino) == (mine.st_dev, mine.st_ino)

    def _acquire_flock(self):
        """Returns (fd, owner JSON of a dead previous holder or None)."""
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise self._locked_error(_read_json(self.path)) from None
            except BaseException:
                os.close(fd)
                raise
            if self._path_is(fd):
                break
            # The holder released (removed the file) between our open and
            # flock: this lock is on a dead file, so start again on a new one.
            os.close(fd)
        # The holder removes the file on release, so content here is from a
        # process that died holding the lock (the OS dropped its flock).
        previous = _read_json(self.path)
        return fd, previous if isinstance(previous, dict) and "pid" in previous else None

    def _acquire_exclusive_create(self):
        """Fallback without fcntl: the file's existence is the lock, and a file
        whose pid no longer runs is stale. Two processes taking over the same
        stale file at the same instant can race; flock has no such gap."""
        while True:
            try:
                return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644), None
            except FileExistsError:
                pass
            owner = _read_json(self.path)
            if not self._is_stale(owner):
                raise self._locked_error(owner)
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                continue  # another process took it first: check that one
            return fd, owner if isinstance(owner, dict) and "pid" in owner else None

    def _is_stale(self, owner):
        if isinstance(owner, dict) and isinstance(owner.get("pid"), int):
            if owner.get("host") != socket.gethostname():
                return False  # cannot see processes on other hosts: assume it runs
            return not _pid_alive(owner["pid"])
        try:  # not written yet, or its writer died before writing
            return time.time() - os.path.getmtime(self.path) > _UNWRITTEN_LOCK_GRACE_S
        except FileNotFoundError:
            return True

    def _write_owner(self):
        owner = {"pid": os.getpid(), "host": socket.gethostname(), "started": _now()}
        data = json.dumps(owner).encode("utf-8")
        os.ftruncate(self._fd, 0)
        os.lseek(self._fd, 0, os.SEEK_SET)
        os.write(self._fd, data)

    def _locked_error(self, owner):
        return RunLockedError(
            f"Run folder {self.run_dir!r} is in use by another training process "
            f"({_describe_owner(owner)}). Wait for it to finish, or choose another --name."
        )


# ------------------------------------------------------------- config.json


def save_run_config(path, family, model, run, *, changes=()):
    """Write ``{"family", "model", "run"}`` as JSON, atomically, with
    ``"changes"``: the settings changed on resume, ``[{"step", "changed":
    {field: [before, after]}}]`` (:func:`check_resumable`), when there are any."""
    payload = {"family": family, "model": dataclasses.asdict(model), "run": dataclasses.asdict(run)}
    if changes:
        payload["changes"] = list(changes)
    write_json_atomic(path, payload, indent=2, sort_keys=True)


def _from_dict(cls, values):
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise InputError(f"Unknown {cls.__name__} fields {sorted(unknown)} in config.json.")
    return cls(**values)


def load_run_config(path):
    """Read a config.json written by :func:`save_run_config` (or the run
    folder holding it). Returns ``(family, model_config, run_config)``."""
    if os.path.isdir(path):
        path = RunFolder(path).config
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"No config.json at {path!r}: pass a run folder made by train.py "
            "(runs/<name>) or a path to its config.json."
        )
    with open(path) as f:
        try:
            payload = json.load(f)
        except json.JSONDecodeError as e:
            raise InputError(f"{path!r} is not valid JSON ({e}).") from None
    family = payload.get("family")
    try:
        config_class = get_family(family).config_class
    except ValueError as e:
        raise InputError(f"{path!r} names model family {family!r}. {e}") from None
    model = _from_dict(config_class, payload.get("model", {}))
    run = _from_dict(RunConfig, payload.get("run", {}))
    return family, model, run


# ------------------------------------------------------- loading generators


def _describe(family, model_config):
    return get_family(family).describe_generator(model_config)


def _build_generator(family, model_config):
    return get_family(family).build_generator(model_config)


def _load_weights_into_new_generator(family, model_config, weights_path, origin):
    from tfgen.weights import load_weights_checked

    generator = _build_generator(family, model_config)
    load_weights_checked(
        generator,
        weights_path,
        expected=f"{_describe(family, model_config)} ({origin})",
        advice=(
            "Load it with the config.json of the run that wrote it (keep both in one folder), "
            "or, for a bare weights file, pass the resolution it was trained at."
        ),
    )
    return generator


def _load_keras_archive(path):
    import keras

    import_networks()  # registers every family's classes with Keras

    try:
        model = keras.saving.load_model(path, compile=False)
    except Exception as e:  # Keras raises many types for a bad archive
        first_line = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise InputError(f"Could not load the Keras archive {path!r}: {first_line}") from e
    if getattr(model, "latent_dim", None) is None:
        raise InputError(
            f"{path!r} holds {type(model).__name__} {model.name!r}, not a generator "
            "(no latent_dim). Pass a generator's .keras file, its .weights.h5 or its run folder."
        )
    return model


def load_generator(path, *, ema=True, resolution=None, mixed_precision="off", step=None):
    """Rebuild a trained generator from ``path``.

    ``path`` may be:

    * a run folder (``runs/<name>``) with ``config.json`` and
      ``generator_ema.weights.h5`` (``ema=True``) or ``generator.weights.h5``
      (``ema=False``; also the fallback, with a warning, when the EMA file
      is missing; families trained without an EMA, such as FIGR and the
      DCGANs, always load ``generator.weights.h5``);
    * a ``.weights.h5`` file with the run's ``config.json`` beside it (or, for
      a snapshot in ``<run>/snapshots/``, in the run folder); without one,
      ``resolution`` builds a FastGAN generator with default widths;
    * a ``.keras`` archive (``model.save("...keras")``).

    An unfinished run folder (no final weights yet: still training, or
    stopped) loads its newest saved generator: a snapshot
    (``snapshots/``, RunConfig.snapshot_every) or the generator restored
    from a checkpoint (the EMA one, unless ``ema=False``), whichever is of the
    later step (the snapshot at a tie); a :class:`SavedStepWarning` says which, in one line.
    ``step`` picks the snapshot, checkpoint or final weights of that step
    instead (a run folder only; a ValueError lists the steps there are).

    ``mixed_precision``: ``"off"`` (float32), ``"bfloat16"``, ``"float16"``
    or ``"auto"`` (:func:`tfgen.training.devices.choose_precision`): the
    generator is built under that Keras policy, so it computes in that
    precision with float32 weights and float32 images out (bfloat16 generates
    about twice as fast on CPUs with AMX; the images differ slightly from
    float32's). A ``.keras`` archive keeps the policy it was saved with.

    Raises FileNotFoundError when nothing loadable is there, ValueError when
    the weights do not fit the configured model (nothing is loaded then).
    """
    from tfgen.training.devices import precision_policy, resolve_precision

    setting, _ = resolve_precision(mixed_precision)
    with precision_policy(setting):
        return _load_generator(path, ema=ema, resolution=resolution, step=step)


def _load_generator(path, *, ema, resolution, step=None):
    path = os.fspath(path)
    if os.path.basename(path) == CONFIG_FILE and os.path.isfile(path):
        path = os.path.dirname(path) or "."
    if path.endswith(".keras"):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"Keras archive not found: {path!r}.")
        return _load_keras_archive(path)

    if os.path.isdir(path):
        folder = RunFolder(path)
        config_path, ema_path, raw_path = folder.config, folder.ema_weights, folder.raw_weights
        if not os.path.isfile(config_path):
            raise FileNotFoundError(
                f"{path!r} is not a run folder: it has no {CONFIG_FILE}. Expected "
                f"{CONFIG_FILE} and {EMA_WEIGHTS} (or {RAW_WEIGHTS}) as written by train.py, "
                "or pass a .weights.h5 / .keras file."
            )
        family, model_config, run_config = load_run_config(config_path)
        # Families trained without an EMA copy (FIGR, DCGAN, ...) have only the raw weights.
        ema = ema and ema_decay_of(model_config) is not None
        weights_path = ema_path if ema else raw_path
        if not os.path.isfile(weights_path):
            if ema and os.path.isfile(raw_path):
                warnings.warn(
                    f"{ema_path!r} not found; loading the raw generator weights {raw_path!r} instead.",
                    stacklevel=2,
                )
                weights_path = raw_path
            else:
                weights_path = None  # unfinished: a snapshot or a checkpoint
        _check_resolution_agrees(resolution, model_config, config_path)
        if step is None and weights_path is not None:
            return _load_weights_into_new_generator(family, model_config, weights_path, f"from {config_path}")
        return _load_saved_generator(
            path, family, model_config, run_config, ema=ema, step=step, final_weights=weights_path
        )

    if step is not None:
        raise InputError(
            f"step={step} picks a snapshot or checkpoint of a run folder; {path!r} is not a run folder. "
            "Pass the run folder (runs/<name>), or leave the step out."
        )
    if path.endswith(WEIGHTS_SUFFIX):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"Weights file not found: {path!r}.")
        folder = os.path.dirname(path)
        if os.path.basename(os.path.abspath(folder)) == SNAPSHOT_DIR and not os.path.isfile(
            RunFolder(folder).config
        ):
            folder = os.path.dirname(os.path.abspath(folder))  # a snapshot: its run's config.json
        config_path = RunFolder(folder).config
        if os.path.isfile(config_path):
            family, model_config, _ = load_run_config(config_path)
            _check_resolution_agrees(resolution, model_config, config_path)
            origin = f"from {config_path}"
        elif resolution is not None:
            # A bare .weights.h5 is the flagship's (the reference's files have no config).
            family, model_config = "fastgan", get_family("fastgan").config_class(resolution=int(resolution))
            origin = f"default widths at resolution {int(resolution)}"
        else:
            raise FileNotFoundError(
                f"No {CONFIG_FILE} beside {path!r}, so the generator it belongs to is unknown. "
                f"Put the run's {CONFIG_FILE} next to it, pass the run folder, or give the "
                "resolution (generate.py --resolution) to build a FastGAN generator with "
                "default widths."
            )
        return _load_weights_into_new_generator(family, model_config, path, origin)

    if os.path.isfile(path):
        raise InputError(
            f"Cannot load a generator from {path!r}: expected a run folder, a {WEIGHTS_SUFFIX} "
            "file (Keras 3 model.save_weights) or a .keras archive (model.save)."
        )
    raise FileNotFoundError(
        f"Nothing to load at {path!r}: expected a run folder (with {CONFIG_FILE} and "
        f"{EMA_WEIGHTS} or {RAW_WEIGHTS}), a {WEIGHTS_SUFFIX} file or a .keras archive."
    )


class SavedStepWarning(UserWarning):
    """Says which saved generator :func:`load_generator` took from a run folder
    other than its final weights (an unfinished run's snapshot or checkpoint,
    or the one of the step asked for): one line, which the CLIs print as is."""


def snapshot_path(run_dir, step, *, ema):
    """``<run_dir>/snapshots/generator_ema_step_0001000.weights.h5`` (``ema``)
    or ``.../generator_step_0001000.weights.h5`` (:meth:`RunFolder.snapshot`)."""
    return RunFolder(run_dir).snapshot(step, ema=ema)


def find_snapshots(run_dir, *, ema):
    """``{step: path}`` of the run's snapshots of the EMA generator (``ema``)
    or the raw one (:meth:`RunFolder.find_snapshots`)."""
    return RunFolder(run_dir).find_snapshots(ema=ema)


def write_snapshot(run_dir, network, step, *, ema, keep):
    """Write ``network``'s weights as the snapshot of ``step`` (atomically:
    :func:`tfgen.weights.save_weights_atomic`), then delete the oldest
    snapshots of its kind beyond the newest ``keep``. Returns its path."""
    from tfgen.weights import save_weights_atomic

    path = snapshot_path(run_dir, step, ema=ema)
    save_weights_atomic(network, path)
    snapshots = find_snapshots(run_dir, ema=ema)
    for old in list(snapshots)[: max(len(snapshots) - keep, 0)]:
        os.remove(snapshots[old])
    return path


def _checkpoint_steps(run_dir):
    """``{step: prefix}`` of the run's checkpoints, newest first."""
    from tfgen.training.checkpointing import find_checkpoints

    return dict(find_checkpoints(RunFolder(run_dir).checkpoints))


def _planned_length(run_config):
    """``" of 800"``, ``" of 3 epochs"``, ``" of 800 or a 30m time budget"``, or ``""``."""
    parts = []
    if run_config.steps:
        parts.append(str(run_config.steps))
    elif run_config.epochs:
        parts.append(f"{run_config.epochs} epochs")
    if run_config.time_budget:
        parts.append(f"a {run_config.time_budget} time budget")
    return " of " + " or ".join(parts) if parts else ""


def _describe_steps(snapshots, checkpoints, finished):
    """``"snapshots of steps 200, 400; checkpoints of steps 400, 600"``."""
    parts = [
        f"{what} of steps {', '.join(map(str, sorted(steps)))}"
        for what, steps in (("snapshots", snapshots), ("checkpoints", checkpoints))
        if steps
    ]
    if finished is not None:
        parts.append(f"final weights of step {finished}")
    return "; ".join(parts) or "none"


def _load_saved_generator(run_dir, family, model_config, run_config, *, ema, step, final_weights):
    """The generator of an unfinished run (``step`` None: its newest snapshot
    or checkpoint) or of the saved ``step``; warns which it took."""
    from tfgen.training.checkpointing import restore_networks

    snapshots = find_snapshots(run_dir, ema=ema)
    checkpoints = _checkpoint_steps(run_dir)
    finished = RunFolder(run_dir).finished_step(final_weights) if final_weights is not None else None
    origin = f"from {RunFolder(run_dir).config}"
    network = "generator_ema" if ema else "generator"
    if step is not None:
        step = int(step)
        if step == finished:
            warnings.warn(SavedStepWarning(f"{run_dir}: using its final weights, of step {step}"), stacklevel=4)
            return _load_weights_into_new_generator(family, model_config, final_weights, origin)
        if step not in snapshots and step not in checkpoints:
            raise InputError(
                f"Run folder {run_dir!r} holds no {network} of step {step}. It holds "
                f"{_describe_steps(snapshots, checkpoints, finished)}: pass one of those steps "
                "(train.py keeps the newest --keep-snapshots snapshots and the newest checkpoints)."
            )
        candidates = [step]
        head = f"{run_dir}: using its"
    else:
        candidates = sorted(set(snapshots) | set(checkpoints), reverse=True)
        if not candidates:
            raise FileNotFoundError(
                f"Run folder {run_dir!r} has no generator weights yet: no final {EMA_WEIGHTS if ema else RAW_WEIGHTS}, "
                f"no snapshot in {SNAPSHOT_DIR}/ and no checkpoint in {CHECKPOINT_DIR}/. train.py writes a "
                "checkpoint every --checkpoint-every steps (and snapshots with --snapshot-every) and the "
                "weights when training finishes; wait for the first, or resume the run."
            )
        newest = max([*candidates, *find_snapshots(run_dir, ema=not ema)])
        head = f"{run_dir} is unfinished (step {newest}{_planned_length(run_config)}): using its"
    failures = []
    for candidate in candidates:
        if candidate in snapshots:
            generator = _load_weights_into_new_generator(family, model_config, snapshots[candidate], origin)
            what = "snapshot"
        else:
            generator = _build_generator(family, model_config)
            reason = restore_networks(checkpoints[candidate], {network: generator})
            if reason is not None:
                # A damaged checkpoint, or one a training run rotated away meanwhile.
                failures.append(f"{os.path.basename(checkpoints[candidate])}: {reason}")
                continue
            what = "checkpoint"
        note = f" ({network} restored)" if what == "checkpoint" else ""
        note += f"; newer checkpoints cannot be read ({'; '.join(failures)})" if failures else ""
        warnings.warn(SavedStepWarning(f"{head} {what} of step {candidate}{note}"), stacklevel=4)
        return generator
    raise InputError(
        f"Run folder {run_dir!r}: the {network} cannot be read from its checkpoint"
        f"{'s' if len(failures) > 1 else ''} ({'; '.join(failures[:3])}). Resume the run to write new ones."
    )


def _check_resolution_agrees(resolution, model_config, config_path):
    if resolution is not None and int(resolution) != model_config.resolution:
        raise InputError(
            f"resolution={resolution} disagrees with {config_path!r} "
            f"(resolution={model_config.resolution}). Leave the resolution out: the run's "
            "config already says how to build its generator."
        )


# ------------------------------------------------------------------ resuming


def read_run_config_json(run_dir):
    """The raw ``config.json`` payload of a run folder, or None if there is none."""
    path = RunFolder(run_dir).config
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as e:
            raise InputError(
                f"{path!r} is not valid JSON ({e}). Pass --override to start the run afresh."
            ) from None


# RunConfig fields a resumed run keeps: they decide its data, their order and
# its starting weights, which a checkpoint has already consumed.
FIXED_RUN_FIELDS = ("data", "seed", "flip", "generator_weights", "discriminator_weights")
# Model fields whose None-ness decides whether a network exists (and is in
# the checkpoint): their value may change on resume, their presence may not.
NETWORK_SWITCHES = {"ema_decay": "the EMA generator"}
# What changes on every extension or move of a run: not reported as a change.
_UNREPORTED_FIELDS = ("steps", "epochs", "name", "runs_dir")
# What a run folder holds before it holds anything to resume.
_NO_STATE_ENTRIES = (CONFIG_FILE, LOCK_FILE, SAMPLES_DIR, LOGS_DIR)


def holds_training_state(run_dir):
    """Whether ``run_dir`` holds work a rerun resumes (checkpoints, readable or
    moved aside, final weights, stages, ...), not only a config.json written
    by a run that failed before its first checkpoint."""
    if not os.path.isdir(run_dir):
        return False
    return any(entry.name not in _NO_STATE_ENTRIES for entry in os.scandir(run_dir))


def check_resumable(run_dir, family, model_config, run_config, fixed_fields):
    """Refuse to resume a run with settings that cannot change on resume;
    return the settings that change, ``{field: [before, after]}``.

    ``fixed_fields``: the model-config fields that shape the networks, the
    checkpoint's state or the data; with :data:`FIXED_RUN_FIELDS` and
    :data:`NETWORK_SWITCHES` they must equal the saved ones, since a
    checkpoint only fits what it was written for (comparing first turns a
    cryptic shape error or a silently ignored flag into advice). Every other
    difference takes effect from the resumed step on. A folder with nothing
    to resume (:func:`holds_training_state`) is not compared: its config.json
    is simply replaced.
    """
    saved = read_run_config_json(run_dir)
    if saved is None or not holds_training_state(run_dir):
        return {}
    new_model, new_run = dataclasses.asdict(model_config), dataclasses.asdict(run_config)
    saved_model, saved_run = saved.get("model", {}), saved.get("run", {})
    if saved.get("family") != family:
        differences = [f"family: saved {saved.get('family')!r}, now {family!r}"]
    else:
        fixed = [(field, saved_model, new_model) for field in fixed_fields if field in new_model]
        fixed += [(field, saved_run, new_run) for field in FIXED_RUN_FIELDS]
        differences = [
            f"{field}: saved {old.get(field)!r}, now {new[field]!r}"
            for field, old, new in fixed
            if old.get(field) != new[field]
        ]
        differences += [
            f"{field}: saved {saved_model.get(field)!r}, now {new_model[field]!r} (decides whether {network} exists)"
            for field, network in NETWORK_SWITCHES.items()
            if field in new_model and (saved_model.get(field) is None) != (new_model[field] is None)
        ]
    if differences:
        raise InputError(
            f"Run folder {run_dir!r} was trained with other settings that cannot change on resume "
            f"({'; '.join(differences)}), so its checkpoint cannot be resumed with them. Run it "
            "with its saved settings, pass --override to delete it and start afresh, or choose "
            "another --name."
        )
    changes = {}
    for old, new in ((saved_model, new_model), (saved_run, new_run)):
        for field, value in new.items():
            if field not in _UNREPORTED_FIELDS and field in old and old[field] != value:
                changes[field] = [old[field], value]
    return changes


def describe_changes(changes):
    """``"a 1 -> 2, b 'x' -> 'y'"`` of :func:`check_resumable`'s changes."""
    return ", ".join(f"{field} {before!r} -> {after!r}" for field, (before, after) in changes.items())


# ------------------------------------------------------------ finished runs


# The finished record is RunFolder's (finished_at, write_finished_record,
# forget_finished); these keep the functions' old names.


def forget_finished(run_dir):
    """:meth:`RunFolder.forget_finished` of ``run_dir``."""
    RunFolder(run_dir).forget_finished()


def write_finished_record(run_dir, step, filenames):
    """:meth:`RunFolder.write_finished_record` of ``run_dir``."""
    RunFolder(run_dir).write_finished_record(step, filenames)


def finished_at(run_dir, step, filenames):
    """:meth:`RunFolder.finished_at` of ``run_dir``."""
    return RunFolder(run_dir).finished_at(step, filenames)


# ------------------------------------------------------ the training metric


def append_metrics_log(run_dir, record):
    """One JSON line per measurement in ``<run>/metrics.jsonl``."""
    with open(RunFolder(run_dir).metrics_log, "a") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")


def write_best(run_dir, networks, record):
    """The weights of ``networks`` ({filename: model}) and ``record`` in ``<run>/best/``.

    The record is written last: a ``metric.json`` that exists describes
    complete weights files.
    """
    from tfgen.weights import save_weights_atomic

    run = RunFolder(run_dir)
    best = RunFolder(run.best)  # best/ holds a config.json and weights files, as a run folder does
    os.makedirs(best.run_dir, exist_ok=True)
    record_path = run.best_record
    if os.path.exists(record_path):
        os.remove(record_path)  # the old record no longer describes the files
    shutil.copyfile(run.config, best.config)
    for filename, model in networks.items():
        save_weights_atomic(model, best.path(filename))
    write_json_atomic(record_path, record, indent=2, sort_keys=True)
    return best.run_dir
