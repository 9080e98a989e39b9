"""tfgen.train: the example of docs/training_api.md as written (train, watch,
stop, resume), its weights against an uninterrupted run's, and the settings
it refuses."""

import json
import os
import re
import subprocess
import sys

import pytest

from tests.scripts import REPO
from tfgen.errors import InputError

# The docs' example, then the same run without the stop, compared array by array.
SCRIPT = """
import json, re, sys
import numpy as np
source = open(sys.argv[1], encoding="utf-8").read()
example = re.search(r"```python\\n(.*?)```", source, re.S).group(1)
namespace = {}
exec(compile(example, "docs/training_api.md", "exec"), namespace)
import tfgen, h5py

straight = tfgen.train(**dict(namespace["settings"], name="straight"))

def arrays(path):
    found = {}
    with h5py.File(path) as f:
        f.visititems(lambda name, item: found.setdefault(name, np.asarray(item)) if isinstance(item, h5py.Dataset) else None)
    return found

same = {}
for weights in ("generator.weights.h5", "generator_ema.weights.h5", "discriminator.weights.h5"):
    a, b = arrays(f"{namespace['run_dir']}/{weights}"), arrays(f"{straight}/{weights}")
    same[weights] = a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
print("RESULT " + json.dumps({"same": same, "images": list(namespace["images"].shape),
                              "first": sorted(namespace["first"].g_losses), "again": sorted(namespace["again"].g_losses),
                              "keras": namespace["seen"]}))
"""


def test_the_docs_example_trains_stops_resumes_and_ends_as_an_uninterrupted_run(tmp_path):
    script = tmp_path / "example.py"
    script.write_text(SCRIPT)
    completed = subprocess.run(
        [sys.executable, str(script), os.path.join(REPO, "docs", "training_api.md")],
        cwd=tmp_path, env=dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="2"),
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    lines = [ln for ln in completed.stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, completed.stderr[-3000:]
    result = json.loads(lines[-1][len("RESULT "):])
    assert "stopped at step 6" in completed.stdout and "resumed at step 6 and trained to 12" in completed.stdout
    assert result["first"] == list(range(1, 7)) and result["again"] == list(range(7, 13))
    assert result["keras"] == list(range(7, 13))
    assert result["same"] == dict.fromkeys(["generator.weights.h5", "generator_ema.weights.h5",
                                            "discriminator.weights.h5"], True)  # fmt: skip
    assert result["images"] == [16, 64, 64, 3]


def test_an_unknown_setting_is_refused_with_the_models_settings():
    import tfgen

    with pytest.raises(InputError, match=r"model='fastgan' has no setting inner_steps\. Its settings: .*\bngf\b"):
        tfgen.train("digits:3", inner_steps=3)


def test_tfgen_train_and_the_command_make_the_same_configs():
    from tfgen.run_settings import make_configs
    from tfgen.registry import get_family
    from tfgen.training.api import _split_settings

    family = get_family("fastgan")
    model, run = make_configs(family, "digits:3", *_split_settings(family, {"time_budget": "5m"}), steps_given=False)
    # Reference: the command line's reading of the same flags.
    command = subprocess.run(
        [sys.executable, "-c", "import sys; sys.argv = ['train.py', '--time-budget', '5m']; "
         "from tfgen.cli import parse_flags; from tfgen.commands import train; parse_flags(sys.argv); "
         "import dataclasses, json; m, r = train.configs_from_flags(); "
         "print('RESULT ' + json.dumps([dataclasses.asdict(m), dataclasses.asdict(r)]))"],
        cwd=REPO, env=dict(os.environ, PYTHONPATH=REPO, TFGEN_DEFER_IMPORTS="1"), capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    import dataclasses

    line = [ln for ln in command.stdout.splitlines() if ln.startswith("RESULT ")]
    assert line, command.stderr[-2000:]
    expected_model, expected_run = json.loads(line[-1][len("RESULT "):])
    assert json.loads(json.dumps(dataclasses.asdict(model))) == expected_model
    assert json.loads(json.dumps(dataclasses.asdict(run))) == expected_run
    assert run.steps == 0 and run.time_budget == "5m"  # the budget alone says how long
