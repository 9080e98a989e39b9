"""License and version: a LICENSE file, license metadata that `pip show`
prints, and the version written once (tfgen/_version.py)."""

import ast
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from tests.scripts import REPO

tomllib = pytest.importorskip("tomllib")  # Python 3.11+


def _pyproject():
    with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)


def _version_written():
    """The version as written in tfgen/_version.py, read without importing tfgen."""
    with open(os.path.join(REPO, "tfgen", "_version.py"), encoding="utf-8") as f:
        tree = ast.parse(f.read())
    values = [
        node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and [t.id for t in node.targets] == ["__version__"]
    ]
    assert len(values) == 1
    return values[0]


def test_license_file_is_mit_for_the_contributors():
    with open(os.path.join(REPO, "LICENSE"), encoding="utf-8") as f:
        text = f.read()
    assert text.startswith("MIT License\n")
    assert "Copyright (c) 2026 tfgen contributors" in text
    assert "THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND" in text


def test_pyproject_declares_the_license_and_reads_the_version():
    project = _pyproject()["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    assert "version" not in project and "version" in project["dynamic"]
    dynamic = _pyproject()["tool"]["setuptools"]["dynamic"]
    assert dynamic["version"] == {"attr": "tfgen._version.__version__"}


def test_the_version_is_written_once():
    import tfgen

    assert tfgen.__version__ == _version_written()
    # Nowhere else in the package, its metadata or the root scripts.
    candidates = [os.path.join(REPO, "pyproject.toml")]
    candidates += [os.path.join(REPO, n) for n in os.listdir(REPO) if n.endswith(".py")]
    for root, dirs, files in os.walk(os.path.join(REPO, "tfgen")):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        candidates += [os.path.join(root, n) for n in files if n.endswith(".py")]
    hits = []
    for path in candidates:
        with open(path, encoding="utf-8") as f:
            if f'"{_version_written()}"' in f.read():
                hits.append(os.path.relpath(path, REPO))
    assert hits == [os.path.join("tfgen", "_version.py")]


def test_the_built_wheel_carries_license_and_version_and_pip_show_prints_them(tmp_path):
    """Build the wheel from a copy of the package (pip's isolated build gets
    setuptools from the index), install it into a folder, ask pip show."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "LICENSE", "README.md"):
        shutil.copy(os.path.join(REPO, name), source / name)
    shutil.copytree(os.path.join(REPO, "tfgen"), source / "tfgen", ignore=shutil.ignore_patterns("__pycache__"))
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "wheel"), str(source)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if built.returncode != 0 and "No matching distribution found for setuptools" in built.stderr:
        pytest.skip("no package index reachable for the build's setuptools")
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (tmp_path / "wheel").iterdir()
    version = _version_written()
    assert wheel.name == f"tfgen-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read(f"tfgen-{version}.dist-info/METADATA").decode()
        license_text = archive.read(f"tfgen-{version}.dist-info/licenses/LICENSE").decode()
        names = archive.namelist()
    assert "License-Expression: MIT" in metadata.splitlines() and "License-File: LICENSE" in metadata
    assert f"Version: {version}" in metadata.splitlines()
    assert "2026 tfgen contributors" in license_text and "tfgen/_version.py" in names
    # The commands are in the wheel, and `tfgen` is its console script.
    assert {f"tfgen/commands/{verb}.py" for verb in ("train", "generate", "evaluate", "benchmark")} <= set(names)
    with zipfile.ZipFile(wheel) as archive:
        entry_points = archive.read(f"tfgen-{version}.dist-info/entry_points.txt").decode()
    assert "[console_scripts]" in entry_points and "tfgen = tfgen.commands:main" in entry_points

    site = tmp_path / "site"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-3000:]
    shown = subprocess.run(
        [sys.executable, "-m", "pip", "show", "tfgen"],
        capture_output=True, text=True, timeout=120, env=dict(os.environ, PYTHONPATH=str(site)),
    )  # fmt: skip
    lines = shown.stdout.splitlines()
    assert f"Location: {site}" in lines, shown.stdout
    assert f"Version: {version}" in lines
    # pip >= 25.1 prints the PEP 639 License-Expression (older pips do not read it).
    assert "License-Expression: MIT" in lines or "License: MIT" in lines, shown.stdout

    # From another folder, the installed command's help: exit 0, grouped, without TensorFlow.
    helped = subprocess.run(
        [sys.executable, "-X", "importtime", str(site / "bin" / "tfgen"), "train", "--help"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(site)),
    )  # fmt: skip
    assert helped.returncode == 0, helped.stderr[-3000:]
    assert helped.stdout.startswith("usage: tfgen train") and "\ntraining:\n" in helped.stdout
    imported = {line.split("|")[-1].strip() for line in helped.stderr.splitlines() if line.startswith("import time:")}
    assert "tfgen.command_help" in imported and "tensorflow" not in imported and "keras" not in imported
