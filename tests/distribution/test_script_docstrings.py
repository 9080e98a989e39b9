"""The example commands of the root scripts' docstrings (their --help) keep
their line breaks: a backslash-newline in a non-raw docstring joins two
lines into one ("... digits:9         --num-shots 10 ...")."""

import ast
import os
import re

import pytest

from tests.scripts import REPO, run_script

SCRIPTS = [f"tfgen/commands/{verb}.py" for verb in ("train", "generate", "evaluate", "benchmark")]


def _docstring(script):
    with open(os.path.join(REPO, script), encoding="utf-8") as f:
        return ast.get_docstring(ast.parse(f.read()), clean=False) or ""


def _source_lines_of_docstring(script):
    """The docstring as written in the file: one line per source line."""
    with open(os.path.join(REPO, script), encoding="utf-8") as f:
        source = f.read()
    node = ast.parse(source).body[0]
    return source.splitlines()[node.lineno - 1 : node.end_lineno]


@pytest.mark.parametrize("script", SCRIPTS)
def test_docstring_lines_are_the_source_lines(script):
    # Reference: the file's own lines. A swallowed newline makes the docstring shorter.
    assert len(_docstring(script).split("\n")) == len(_source_lines_of_docstring(script))


@pytest.mark.parametrize("script", SCRIPTS)
def test_continued_commands_continue_on_an_indented_line(script):
    lines = _docstring(script).splitlines()
    for i, line in enumerate(lines):
        assert not re.search(r"\S {5,}--", line.strip()), f"{script}: two lines run together: {line!r}"
        if line.rstrip().endswith("\\"):
            assert lines[i + 1].startswith("        --"), (line, lines[i + 1])


def test_generate_help_shows_each_example_command_on_its_own_lines():
    completed = run_script("generate.py", "--help")
    text = completed.stdout + completed.stderr
    starts = [ln for ln in text.splitlines() if ln.strip().startswith("python generate.py")]
    expected = [ln for ln in _source_lines_of_docstring("tfgen/commands/generate.py") if ln.strip().startswith("python generate.py")]
    assert len(starts) == len(expected) == 5, starts
    for shown, written in zip(starts, expected):
        assert shown.strip() == written.strip().lstrip('r"').strip()
    assert "digits:9 \\\n        --num-shots 10" in text  # the StyleGAN example, as written
