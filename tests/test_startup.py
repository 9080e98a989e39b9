"""tfgen.startup: the TensorFlow import, and what it says when there is none."""

import importlib.util

import pytest

from tfgen import startup


def test_without_tensorflow_the_import_says_which_extra_to_install(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "tensorflow" else real_find_spec(name, *a)
    )
    with pytest.raises(ModuleNotFoundError, match=r"pip install -e '\.\[cpu\]' \(or '\.\[gpu\]'") as error:
        startup.import_tensorflow()
    assert error.value.name == "tensorflow"

