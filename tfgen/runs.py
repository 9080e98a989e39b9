"""Run-folder safety rules: what a run may be called, what ``--override`` may
delete, and how two training processes are kept out of one run folder.

A run lives in ``<runs_dir>/<name>/`` (``config.json`` with a top-level
``"family"`` key, ``checkpoints/``, ``samples/``, ``logs/``, ``*.weights.h5``).

- **Names** (:func:`check_run_name`): a run name is one plain folder name, so
  ``--name`` can never point outside ``--runs-dir`` (no ``/``, ``.``, ``..``,
  absolute paths or drives). The parent folder is chosen with ``--runs-dir``.
- **Override** (:func:`clear_run_folder`): tfgen only deletes folders it made.
  The folder must resolve (symbolic links followed) to a folder strictly
  inside the runs folder and must look like a run (:func:`is_run_folder`);
  anything else is refused with a message and left untouched. The contents
  are deleted, the folder and its lock file stay.
- **Lock** (:class:`RunLock`): one training process per run folder. The lock
  is an OS file lock (``flock``) on ``<run_dir>/.lock``, so the OS drops it
  when the process dies, however it dies: a crashed run never blocks the next
  one; its leftover lock file is taken over with a warning.

Pure Python (no TensorFlow), so CLIs can check a run before importing TF.
"""

import datetime
import json
import os
import shutil
import socket
import time
import warnings

try:
    import fcntl
except ImportError:  # Windows: see RunLock._acquire_exclusive_create
    fcntl = None

LOCK_FILE = ".lock"
CONFIG_FILE = "config.json"  # same name as tfgen.sampling.CONFIG_FILE (importing that imports TF)

# What a run holds between taking its lock and writing config.json
# (Trainer.open_run makes samples/ first): all that a folder without a config
# may hold and still count as a run. Anything else may be the user's.
_STARTUP_FILES = (LOCK_FILE,)
_STARTUP_EMPTY_DIRS = ("samples",)

# Fallback lock only: a lock file without readable owner for longer than this
# is from a process that died between creating and writing it.
_UNWRITTEN_LOCK_GRACE_S = 60.0


class RunLockedError(ValueError):
    """Another live process holds the run folder's lock. A ValueError, so the
    CLIs print it as one clean line."""


# ----------------------------------------------------------------- run names


def check_run_name(name):
    """Return ``name`` if it is a plain folder name, else raise ValueError."""
    separators = [sep for sep in ("/", os.sep, os.altsep) if sep]
    plain = (
        isinstance(name, str)
        and name not in ("", ".", "..")
        and not any(sep in name for sep in separators)
        and "\0" not in name
        and not os.path.isabs(name)
        and not os.path.splitdrive(name)[0]  # Windows "C:run" is drive-relative
    )
    if not plain:
        raise ValueError(
            "Run name must be a plain folder name inside the runs folder "
            f"(no '/', '.', '..' or absolute path). Received: name={name!r}. "
            "To keep runs in another folder, choose it with --runs-dir and pass "
            "only the run's own folder name as --name."
        )
    return name


# ------------------------------------------------------------- run folders


def _read_json(path):
    """The JSON value in ``path``, or None when it is missing or not JSON."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def is_run_folder(path):
    """True if ``path`` is a folder tfgen made for a run: it has a
    ``config.json`` with a ``"family"`` key, or it holds nothing but what a run
    creates before writing its config (the lock file, an empty ``samples/``)."""
    if not os.path.isdir(path):
        return False
    config = _read_json(os.path.join(path, CONFIG_FILE))
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
        raise ValueError(
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

    ``acquire()`` creates the run folder if needed, takes the lock and writes
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
        self.path = os.path.join(run_dir, LOCK_FILE)
        self._fd = None

    @property
    def held(self):
        return self._fd is not None

    def acquire(self):
        if self.held:
            raise RuntimeError(f"The lock {self.path!r} is already held by this RunLock.")
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
