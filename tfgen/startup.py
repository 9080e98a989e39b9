"""TensorFlow imported with its native start-up lines hidden, for the CLIs.

Importing TensorFlow prints lines from its C++ libraries straight to the
process's stderr (oneDNN custom operations, CPU instruction sets, "All log
messages before absl::InitializeLog()"), which ``TF_CPP_MIN_LOG_LEVEL`` does
not filter: they come before absl's logging starts. Later C++ log lines are
filtered by it, and a quiet CLI sets it to 3 unless the user has set it. A CLI would show
them above its progress bar or its one-line error. The CLIs set
``TFGEN_QUIET_STARTUP=1`` (unless ``--verbose``); ``import tfgen`` then
imports TensorFlow with file descriptor 2 pointed at a temporary file, and
shows what was captured only if the import fails. Library users who import
tfgen themselves see TensorFlow's output as usual.

Pure Python; imports nothing of tfgen.
"""

import importlib
import importlib.util
import os
import sys
import tempfile

QUIET_STARTUP_VARIABLE = "TFGEN_QUIET_STARTUP"
INSTALL_TENSORFLOW = (
    "tfgen needs TensorFlow, and none is installed. Install tfgen with the build for this machine: "
    "pip install -e '.[cpu]' (or '.[gpu]' with an NVIDIA GPU) in a checkout of tfgen, "
    "or pip install 'tensorflow-cpu>=2.16' / 'tensorflow[and-cuda]>=2.16' yourself."
)


def import_tensorflow():
    """Import TensorFlow, quietly when :data:`QUIET_STARTUP_VARIABLE` is set."""
    if importlib.util.find_spec("tensorflow") is None:
        raise ModuleNotFoundError(INSTALL_TENSORFLOW, name="tensorflow")
    if os.environ.get(QUIET_STARTUP_VARIABLE) != "1" or "tensorflow" in sys.modules:
        importlib.import_module("tensorflow")

        return
    # Its C++ logs after start-up too (e.g. oneDNN's "DT_INT64 only on platforms with AVX-512" at
    # the first step): what goes wrong reaches Python as an exception; --verbose shows them all.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            importlib.import_module("tensorflow")
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode("utf-8", "replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
