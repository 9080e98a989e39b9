"""Running the repository's front-door scripts (train.py, generate.py) as a user would,
and test scripts that need a fresh process."""

import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_script(script, *args, timeout=300, env=None):
    """``python <repo>/<script> args...`` from the repo root; returns the CompletedProcess.
    ``env`` adds to (or overrides) the environment."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=REPO, **(env or {}))
    return subprocess.run(
        [sys.executable, os.path.join(REPO, script), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_result_script(source, tmp_path, *, extra_path=(), timeout=400):
    """Run the Python ``source`` in a fresh process (``sys.argv[1]`` = ``tmp_path``) and
    return the JSON it prints on its last ``RESULT {...}`` line.

    For checks that must configure TensorFlow before it starts, such as
    splitting the CPU into logical devices for ``tf.distribute``.
    """
    script = os.path.join(tmp_path, "result_script.py")
    with open(script, "w") as f:
        f.write(source)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env["PYTHONPATH"] = os.pathsep.join([*extra_path, REPO, env.get("PYTHONPATH", "")])
    completed = subprocess.run(
        [sys.executable, script, str(tmp_path)], capture_output=True, text=True, env=env, timeout=timeout
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    line = [ln for ln in completed.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT ") :])
