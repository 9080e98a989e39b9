"""Every import is declared in pyproject.toml, and the optional ones stay optional.

The imports are read from the source (ast); the import name -> distribution
name map is the installed packages' own (importlib.metadata), with a small
table for the optional packages that may not be installed here.
"""

import ast
import glob
import importlib.metadata
import os
import re
import sys

import pytest

from tests.scripts import REPO

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT_SCRIPTS = ["train.py", "generate.py", "evaluate.py", "benchmark.py"]
LOCAL = {"tfgen", "tests", "bench", "experiments", *(s[:-3] for s in ROOT_SCRIPTS)}
# Import names of optional packages that may be absent here -> their distribution.
NOT_INSTALLED_HERE = {
    "brisque": "brisque",
    "cv2": "opencv-python-headless",
    "tensorflow_datasets": "tensorflow-datasets",
    "skimage": "scikit-image",
    "matplotlib": "matplotlib",
    "jax": "jax",
    # Dev-only comparisons in their own venv (tests/features/test_fid_inception_vs_pytorch_fid.py).
    "torch": "torch",
    "pytorch_fid": "pytorch-fid",
    "torchvision": "torchvision",
}
# Declared but never imported by name: used through another package.
USED_INDIRECTLY = {"tensorboard": "tf.summary writes the runs' logs/ when it is installed (trainer.py)"}


def _normalise(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(requirement):
    return _normalise(re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement).group(1))


def _declared():
    with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)["project"]
    core = {_requirement_name(r) for r in project["dependencies"]}
    extras = {name: {_requirement_name(r) for r in reqs} for name, reqs in project["optional-dependencies"].items()}
    return core, extras


def _distribution(import_name):
    found = importlib.metadata.packages_distributions().get(import_name)
    if found:
        names = {_normalise(d) for d in found}
        # tensorflow-cpu and tensorflow both provide `tensorflow`.
        return "tensorflow" if names & {"tensorflow", "tensorflow-cpu"} else sorted(names)[0]
    assert import_name in NOT_INSTALLED_HERE, f"{import_name}: not installed and not in NOT_INSTALLED_HERE"
    return NOT_INSTALLED_HERE[import_name]


def _imports(paths):
    """{top-level import name: {(path, eager)}}; eager = a statement of the
    module's own body (not in a function, class, or try)."""
    found = {}
    for path in paths:
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read())
        eager_nodes = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in LOCAL:
                    found.setdefault(top, set()).add((os.path.relpath(path, REPO), id(node) in eager_nodes))
    return found


def _package_files():
    return [os.path.join(REPO, s) for s in ROOT_SCRIPTS] + glob.glob(
        os.path.join(REPO, "tfgen", "**", "*.py"), recursive=True
    )


def test_every_import_of_tfgen_and_the_scripts_is_declared():
    core, extras = _declared()
    tensorflow_extras = {"cpu", "gpu"}
    for name, places in sorted(_imports(_package_files()).items()):
        distribution = _distribution(name)
        eager = sorted(path for path, is_eager in places if is_eager)
        if distribution == "tensorflow":
            # TensorFlow comes with an extra ([cpu] or [gpu]), never by default.
            assert all(any(r.startswith("tensorflow") for r in extras[e]) for e in tensorflow_extras)
            continue
        if eager:
            assert distribution in core, f"{name} ({distribution}) imported at module level by {eager}: not a dependency"
        else:
            declared_in = [e for e, reqs in extras.items() if distribution in reqs]
            assert distribution in core or declared_in, f"{name} ({distribution}) is in no extra: {sorted(places)}"


def test_every_dependency_is_used():
    core, _ = _declared()
    imported = {_distribution(name) for name in _imports(_package_files())}
    unused = core - imported - set(USED_INDIRECTLY)
    assert not unused, f"declared but never imported: {sorted(unused)}"


def test_matplotlib_and_scikit_image_are_optional():
    core, extras = _declared()
    assert "matplotlib" not in core and "scikit-image" not in core
    assert "scikit-image" in extras["lfw"] and "matplotlib" in extras["fonts"]
    imports = _imports(_package_files())
    # matplotlib is never imported (its font folder is found with find_spec);
    # scikit-image only where the faces set is loaded, inside a function.
    assert "matplotlib" not in imports
    assert {path for path, _ in imports.get("skimage", ())} <= {os.path.join("tfgen", "data", "builtin.py")}
    assert not any(eager for _, eager in imports.get("skimage", ()))


def test_cpu_and_dev_extras_install_what_the_tests_import():
    core, extras = _declared()
    installed_by_cpu_dev = core | extras["cpu"] | extras["dev"] | {"tensorflow"}
    tests = glob.glob(os.path.join(REPO, "tests", "**", "*.py"), recursive=True)
    for name, places in sorted(_imports(tests).items()):
        distribution = _distribution(name)
        if name in ("torch", "torchvision", "pytorch_fid"):  # the dev-only comparison, run in a venv of its own
            assert {path for path, _ in places} == {os.path.join("tests", "features", "fid_inception_torch_reference.py")}
            continue
        assert distribution in installed_by_cpu_dev, f"tests import {name} ({distribution}): not in .[cpu,dev]: {sorted(places)[:3]}"
