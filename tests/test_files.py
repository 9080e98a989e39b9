"""tfgen.files: atomic JSON/text writes and JSON reads with a default."""

import json
import os

import pytest

from tfgen.files import read_json, write_json_atomic, write_text_atomic


def test_json_round_trip_keeps_non_ascii_and_creates_folders(tmp_path):
    path = str(tmp_path / "a" / "b" / "x.json")
    content = {"class": "greek/ω", "values": [1, 2.5, None]}
    write_json_atomic(path, content)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    assert "ω" in text  # not escaped
    assert json.loads(text) == content
    assert read_json(path) == content
    assert not os.path.exists(path + ".tmp")


def test_read_json_default_for_missing_file(tmp_path):
    assert read_json(str(tmp_path / "none.json"), {"seconds": 0.0}) == {"seconds": 0.0}
    assert read_json(str(tmp_path / "none.json")) is None


def test_failed_write_leaves_the_old_file_whole(tmp_path):
    path = str(tmp_path / "x.json")
    write_json_atomic(path, {"old": 1})
    with pytest.raises(TypeError):
        write_json_atomic(path, {"bad": object()})  # not serialisable: fails before the replace
    assert read_json(path) == {"old": 1}


def test_write_text_replaces(tmp_path):
    path = str(tmp_path / "r.md")
    write_text_atomic(path, "one")
    write_text_atomic(path, "two")
    with open(path) as f:
        assert f.read() == "two"
