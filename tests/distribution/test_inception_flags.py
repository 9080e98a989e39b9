"""The missing-Inception-weights error names flags that the command in use has.

Each command is run for real (offline, empty Keras cache) in a process that
then lists the flags that command defined: every ``--flag`` the message
names must be one of them (``train.py --fid --inception-weights X`` used to
be the advice, and an unknown flag).
"""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from absl import flags

from tests.scripts import REPO
from tfgen.features import inception

RUNNER = """
import json, os, runpy, sys
script, args = sys.argv[1], sys.argv[2:]
sys.argv = [script, *args]
try:
    runpy.run_path(script, run_name="__main__")
except SystemExit as stop:
    code = stop.code
from absl import flags
print("FLAGS " + json.dumps({"code": code, "flags": sorted(flags.FLAGS)}))
"""


def _run(script, args, tmp_path):
    """(exit code, stderr, the flags the script defined)."""
    env = dict(
        os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=REPO,
        KERAS_HOME=str(tmp_path / "keras"), HOME=str(tmp_path),
    )  # fmt: skip
    completed = subprocess.run(
        [sys.executable, "-c", RUNNER, os.path.join(REPO, script), *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=400,
    )  # fmt: skip
    line = [ln for ln in completed.stdout.splitlines() if ln.startswith("FLAGS ")]
    assert line, completed.stderr[-3000:]
    result = json.loads(line[-1][len("FLAGS ") :])
    return result["code"], completed.stderr, set(result["flags"])


def _named_flags(message):
    return set(re.findall(r"(?<![\w-])--([a-z][a-z0-9-]*)", message))


def test_train_fid_names_trains_flags(tmp_path):
    code, stderr, defined = _run(
        "train.py", ["--dataset", "digits:3", "--runs-dir", str(tmp_path / "runs"), "--fid"], tmp_path
    )
    assert code not in (0, None) and "inception_v3_weights_tf_dim_ordering_tf_kernels.h5" in stderr, stderr[-2000:]
    named = _named_flags(stderr)
    assert {"fid-weights", "fid-features"} <= named, stderr[-2000:]
    assert named <= defined, f"named but not train.py flags: {named - defined}"
    assert "inception-weights" not in defined and "inception-weights" not in named


def test_train_fid_with_a_missing_weights_file_names_trains_flag(tmp_path):
    missing = str(tmp_path / "absent.h5")
    code, stderr, defined = _run(
        "train.py",
        ["--dataset", "digits:3", "--runs-dir", str(tmp_path / "runs"), "--fid", "--fid-weights", missing],
        tmp_path,
    )
    assert code not in (0, None) and "absent.h5" in stderr and "(from --fid-weights)" in stderr, stderr[-2000:]
    assert _named_flags(stderr) <= defined


def test_evaluate_names_evaluates_flags(tmp_path):
    from PIL import Image

    (tmp_path / "fake").mkdir()
    for i in range(3):
        Image.fromarray(np.full((16, 16, 3), 40 * i, np.uint8)).save(tmp_path / "fake" / f"{i}.png")
    code, stderr, defined = _run(
        "evaluate.py", ["--generated-folder", str(tmp_path / "fake"), "--real", "digits"], tmp_path
    )
    assert code == 2 and "inception_v3_weights_tf_dim_ordering_tf_kernels.h5" in stderr, stderr[-2000:]
    named = _named_flags(stderr)
    assert {"inception-weights", "features"} <= named and named <= defined, (named, stderr[-2000:])
    assert "fid-weights" not in named


@pytest.fixture
def flag_registry(monkeypatch):
    """A fresh absl registry standing for the command's (the advice reads absl's FLAGS)."""
    registry = flags.FlagValues()
    monkeypatch.setattr(flags, "FLAGS", registry)
    return registry


def test_the_advice_follows_the_defined_flags(flag_registry, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("HOME", str(tmp_path))
    # From Python (no command's flags): weights_path= and both commands' spellings.
    with pytest.raises(FileNotFoundError) as info:
        inception.find_inception_weights()
    message = str(info.value)
    assert "weights_path=" in message and 'features="efficientnet_lite0"' in message
    # (--offline: the suite runs offline, and the error says how downloads were turned off.)
    assert {"inception-weights", "features", "fid", "fid-weights", "fid-features", "offline"} == _named_flags(message)
    assert "evaluate.py: --inception-weights PATH" in message and "train.py --fid: --fid-weights PATH" in message

    flags.DEFINE_string("fid-weights", None, "", flag_values=flag_registry)
    flags.DEFINE_string("fid-features", "inception", "", flag_values=flag_registry)
    with pytest.raises(FileNotFoundError) as info:
        inception.find_inception_weights()
    assert _named_flags(str(info.value)) == {"fid-weights", "fid-features", "offline"}
    assert inception.weights_flag_advice() == "--fid-weights PATH"
    assert inception.offline_features_advice() == "--fid-features efficientnet_lite0"

    # A file that is not InceptionV3 weights: the same spelling.
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="--fid-features efficientnet_lite0"):
        inception._has_classifier(str(bad))
