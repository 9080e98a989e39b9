"""The tfgen command (tfgen/commands): verbs, ``python -m tfgen``, the root
shims, and a ``--help`` that shows the chosen model's flags in groups with
its defaults, exits 0 and never imports TensorFlow."""

import dataclasses
import json
import os
import re
import subprocess
import sys

import pytest

from tests.scripts import REPO
from tfgen.cli import flag_name, setting_fields
from tfgen.config import RUN_PRESETS, RunConfig
from tfgen.registry import family_names, get_family

# Runs a verb's help in-process and reports whether TensorFlow got imported.
HELP_IN_PROCESS = """
import json, os, sys
os.environ["TFGEN_DEFER_IMPORTS"] = "1"  # as the command and the shims set it
from tfgen.commands import main
try:
    main(["tfgen", *sys.argv[1:]])
except SystemExit as stop:
    code = stop.code
print("RESULT " + json.dumps({"code": code, "tensorflow": "tensorflow" in sys.modules,
                              "keras": "keras" in sys.modules}))
"""


def _help(*args):
    completed = subprocess.run(
        [sys.executable, "-c", HELP_IN_PROCESS, *args],
        cwd=REPO, env=dict(os.environ, PYTHONPATH=REPO), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    result = json.loads([ln for ln in completed.stdout.splitlines() if ln.startswith("RESULT ")][-1][7:])
    return result, completed.stdout


def _python_m(*args, cwd=REPO):
    return subprocess.run(
        [sys.executable, "-m", "tfgen", *args],
        cwd=cwd, env=dict(os.environ, PYTHONPATH=REPO), capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def _sections(text):
    """{section title: the flag names listed under it} of a help text."""
    sections, title = {}, None
    for line in text.splitlines():
        if re.match(r"^\S.*:$", line):
            title = line[:-1]
            sections[title] = []
        elif title and (m := re.match(r"^  --(?:\[no\])?([\w-]+)", line)):
            sections[title].append(m.group(1))
    return sections


@pytest.mark.parametrize("verb", ["train", "generate", "evaluate", "benchmark", "export"])
def test_help_exits_0_without_importing_tensorflow(verb):
    result, text = _help(verb, "--help")
    assert result == {"code": 0, "tensorflow": False, "keras": False}
    assert text.startswith(f"usage: tfgen {verb}")
    # absl's own flags (logging, tests, TPUs) are not the user's business.
    for absl_flag in ("--logtostderr", "--test_srcdir", "--only_check_args", "--pdb_post_mortem", "--tpu"):
        assert absl_flag not in text


@pytest.mark.parametrize("model", ["fastgan", "figr", "stylegan", "shotmorph"])
def test_train_help_shows_the_models_own_flags_grouped_with_its_defaults(model):
    _, text = _help("train", "--model", model, "--help")
    sections = _sections(text)
    listed = {name for names in sections.values() for name in names}
    family = get_family(model)
    # Reference: the family's config fields and the run's, as the flags are defined.
    own = {flag_name(f.name) for f in setting_fields(family.config_class)}
    run = {flag_name(f.name) for f in setting_fields(RunConfig)}
    assert own | run <= listed
    others = {flag_name(f.name) for name in family_names() for f in setting_fields(get_family(name).config_class)}
    assert not (others - own - run) & listed, "another model's flags are shown"
    assert {"data", f"model (--model {model})", "training", "evaluation", "run"} <= set(sections)
    assert "train-classes" not in own or "train-classes" in sections["few-shot"]
    assert "fid" in sections["evaluation"] and "steps" in sections["training"]
    # Each default shown is the model's: its presets, else the field's default.
    defaults = {**RUN_PRESETS, **family.presets}
    for field in dataclasses.fields(family.config_class):
        if field.name in ("resolution", "batch_size") and flag_name(field.name) in own:
            value = defaults.get(field.name, field.default)
            entry = text.split(f"  --{flag_name(field.name)}=INT\n", 1)[1].split("\n  --", 1)[0]
            assert f"(default: {value})" in " ".join(entry.split()), (field.name, entry)


def test_python_m_tfgen_lists_the_verbs_and_refuses_an_unknown_one():
    bare = _python_m()
    assert bare.returncode == 2 and "usage: tfgen VERB" in bare.stdout
    for verb in ("train", "generate", "evaluate", "benchmark", "export"):
        assert f"  {verb}" in bare.stdout
    unknown = _python_m("trian")
    assert unknown.returncode == 2 and "unknown verb 'trian'" in unknown.stderr
    version = _python_m("--version")
    from tfgen._version import __version__

    assert version.returncode == 0 and version.stdout.strip() == f"tfgen {__version__}"


TINY_RUN = ["--dataset", "digits:3", "--ngf", "4", "--ndf", "4", "--batch-size", "2", "--steps", "2",
            "--sample-every", "2", "--checkpoint-every", "2", "--name", "r", "--quiet"]  # fmt: skip


def _arrays(path):
    import h5py
    import numpy as np

    found = {}
    with h5py.File(path) as f:
        f.visititems(lambda name, item: found.setdefault(name, np.asarray(item)) if isinstance(item, h5py.Dataset) else None)
    return found


@pytest.fixture(scope="module")
def verb_run(tmp_path_factory):
    """A tiny FastGAN run trained by ``python -m tfgen train`` from another folder."""
    folder = tmp_path_factory.mktemp("verb")
    completed = _python_m("train", *TINY_RUN, "--runs-dir", str(folder / "runs"), cwd=folder)
    assert completed.returncode == 0, completed.stderr[-2000:]
    # TensorFlow's start-up lines stay hidden, as with the script.
    assert "oneDNN custom operations are on" not in completed.stderr and "absl::InitializeLog" not in completed.stderr
    return folder / "runs" / "r"


def test_python_m_tfgen_train_trains_as_the_root_script_does(verb_run, tmp_path):
    import numpy as np

    by_shim = subprocess.run(
        [sys.executable, os.path.join(REPO, "train.py"), *TINY_RUN, "--runs-dir", str(tmp_path / "shim")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert by_shim.returncode == 0, by_shim.stderr[-2000:]
    verb, shim = _arrays(verb_run / "generator_ema.weights.h5"), _arrays(tmp_path / "shim" / "r" / "generator_ema.weights.h5")
    assert verb.keys() == shim.keys() and all(np.array_equal(verb[k], shim[k]) for k in verb)


def test_tfgen_export_writes_a_saved_model_that_serves_generate_images_without_tfgen(verb_run, tmp_path):
    import numpy as np

    import tfgen
    from tests.scripts import run_result_script
    from tests.test_export import FRESH_PROCESS, assert_same_images
    from tfgen.export import NOISE_SIGNATURE, serving_inputs

    exported = _python_m("export", str(verb_run), "--format", "saved_model", "--output", str(tmp_path / "saved_model"))
    assert exported.returncode == 0 and "Exported" in exported.stdout, exported.stderr[-2000:]
    tflite = _python_m("export", str(verb_run), "--format", "tflite")
    assert tflite.returncode == 0 and os.path.getsize(verb_run / "export" / "tflite.tflite") > 0, tflite.stderr[-2000:]
    generator = tfgen.load_generator(str(verb_run))
    np.savez(tmp_path / "inputs.npz", **serving_inputs(generator, 5, seed=3))
    result = run_result_script(FRESH_PROCESS, str(tmp_path))
    assert result["tfgen_imported"] is False
    assert_same_images(np.load(tmp_path / "images.npz")[NOISE_SIGNATURE], tfgen.generate(generator, 5, batch_size=5, seed=3))
    missing = _python_m("export")
    assert missing.returncode == 2 and "Give one run folder" in missing.stderr


def test_the_root_shims_do_not_pass_the_deferral_to_the_processes_they_start():
    completed = subprocess.run(
        [sys.executable, "-c", "import os, sys; sys.path.insert(0, '.'); import generate; "
         "print('TFGEN_DEFER_IMPORTS' in os.environ)"],
        cwd=REPO, env={k: v for k, v in os.environ.items() if k != "TFGEN_DEFER_IMPORTS"},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert completed.returncode == 0 and completed.stdout.strip().splitlines()[-1] == "False", completed.stderr


def test_a_library_import_still_registers_the_networks_with_keras():
    completed = subprocess.run(
        [sys.executable, "-c", "import sys, tfgen; import keras; "
         "print('tensorflow' in sys.modules, keras.saving.get_registered_object('tfgen>FastGANGenerator') is not None)"],
        cwd=REPO, env=dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3"),
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert completed.stdout.split() == ["True", "True"], completed.stderr[-2000:]
