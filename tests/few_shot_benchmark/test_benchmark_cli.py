"""benchmark.py as a user runs it (subprocesses): one tiny cDCGAN base on
digits with 0 and 9 held out, every reference row, then the same command
again (everything reused), and a clean error for classes too small.

About 50 s on two busy cores: the first invocation (judge, base, two
adaptations) is most of it; the other two start Python and TensorFlow and
read caches."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from tests.scripts import run_script
from tests.test_train_cli import error_message

ROWS = ("real", "augmented_shots", "copies", "cdcgan")
CLASSES = ("0", "9")
GRID_SLUGS = {"real": "real", "augmented_shots": "augmented-shots", "copies": "copies", "cdcgan": "cdcgan"}


def benchmark_args(out_dir):
    return (
        "--data", "digits", "--methods", "cdcgan", "--classes", ",".join(CLASSES), "--per-base", "2",
        "--seeds", "0", "--shot-sweep", "2", "--num-images", "30", "--judge-epochs", "2",
        "--train-flags", "--steps 4 --width 8 --batch-size 16", "--out-dir", str(out_dir), "--quiet",
    )  # fmt: skip


def mtimes(folder):
    found = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            found[os.path.relpath(path, folder)] = os.stat(path).st_mtime_ns
    return found


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """(out dir, completed process, results.json) of the first invocation."""
    out_dir = tmp_path_factory.mktemp("benchmark") / "out"
    completed = run_script("benchmark.py", *benchmark_args(out_dir), timeout=400)
    assert completed.returncode == 0, completed.stderr[-3000:]
    with open(out_dir / "results.json") as f:
        return out_dir, completed, json.load(f)


def test_every_row_is_scored_on_every_class(first_run):
    out_dir, completed, result = first_run
    episodes = result["episodes"]
    assert sorted((e["method"], e["class"]) for e in episodes) == sorted(
        (row, name) for row in ROWS for name in CLASSES
    )
    assert all(e["seed"] == 0 and e["num_images"] == 30 for e in episodes)
    for e in episodes:
        for key in ("fd_floor", "fd_ratio", "judge_accuracy", "judge_accuracy_ratio", "novelty", "pixel_copies",
                    "diversity_ratio", "seconds"):  # fmt: skip
            assert np.isfinite(e[key]), (e["method"], e["class"], key)
    assert all(e["shots"] == 4 for e in episodes)
    by_row = {(e["method"], e["class"]): e for e in episodes}
    for name in CLASSES:
        assert by_row["real", name]["fd_ratio"] == 1.0
        assert by_row["real", name]["judge_accuracy_ratio"] == 1.0
        assert by_row["real", name]["fd_floor"] == by_row["real", name]["real_fd"] / by_row["real", name]["floor_fd"]
        assert by_row["copies", name]["pixel_copies"] == 1.0 and by_row["real", name]["pixel_copies"] == 0.0
        assert by_row["real", name]["diversity_ratio"] == 1.0
        assert by_row["copies", name]["novelty"] == 0.0
        assert by_row["real", name]["base"] is None
    # One base without 0 and 9, trained by train.py with the extra flags.
    assert result["held_out"] == [list(CLASSES)]
    (base,) = result["bases"]
    assert by_row["cdcgan", "0"]["base"] == by_row["cdcgan", "9"]["base"] == base
    assert result["bases"][base]["held_out"] == list(CLASSES) and result["bases"][base]["model"] == "cdcgan"
    with open(out_dir / "bases" / base / "config.json") as f:
        config = json.load(f)
    assert config["family"] == "cdcgan" and config["model"]["width"] == 8 and config["model"]["batch_size"] == 16
    assert config["model"]["num_classes"] == 9  # digits 1..8 plus the free slot
    assert set(result["summary"]) == set(ROWS)
    assert result["judge"]["epochs"] == 2
    # --shot-sweep 2: every row scored again on 2-shot episodes, kept apart from the main table's.
    sweep = result["shot_sweep"]
    assert sorted((e["method"], e["class"]) for e in sweep) == sorted((row, name) for row in ROWS for name in CLASSES)
    assert all(e["shots"] == 2 for e in sweep)
    assert result["sees_held_out"] == {}


def test_report_and_grids_are_written(first_run):
    out_dir, completed, _ = first_run
    text = (out_dir / "results.md").read_text()
    for row in ROWS:
        assert f"| {row} |" in text
    assert "| method | 0 | 9 |" in text
    assert "| method | k = 2 | k = 4 |" in text
    assert text.strip() in completed.stdout  # the report is also printed
    # the base's health check is reported: a 4-step base is flagged as collapsed
    base = json.loads((out_dir / "results.json").read_text())["bases"]
    (health,) = [info["health"] for info in base.values()]
    assert health["collapsed"] and "**collapsed**" in text
    for row in ROWS:
        for name in CLASSES:
            path = out_dir / "grids" / f"{GRID_SLUGS[row]}__{name}.png"
            assert path.is_file(), path
            assert Image.open(path).size[0] > 32


def test_a_second_run_reuses_everything(first_run):
    out_dir, _, result = first_run
    before = mtimes(out_dir)
    completed = run_script("benchmark.py", *benchmark_args(out_dir), timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    after = mtimes(out_dir)
    (base,) = result["bases"]
    weights = os.path.join("bases", base, "generator.weights.h5")
    assert after[weights] == before[weights]  # the base is not trained again
    unchanged = [p for p in before if p.startswith(("bases", "judge_", "grids")) or p == "scores.json"]
    assert unchanged and all(after[p] == before[p] for p in unchanged), [p for p in unchanged if after[p] != before[p]]
    with open(out_dir / "results.json") as f:
        again = json.load(f)
    assert again["episodes"] == result["episodes"]  # the same scores, read from the cache
    assert again["summary"] == result["summary"]


def test_sweep_methods_limits_the_k_table_to_the_named_methods(first_run, tmp_path):
    import shutil

    out_dir = tmp_path / "out"
    shutil.copytree(first_run[0], out_dir)  # its judge, base and scores; the first run's folder stays as it is
    args = list(benchmark_args(out_dir))
    args[args.index("--methods") + 1] = "cdcgan,cdcgan_morphs"
    completed = run_script("benchmark.py", *args, "--sweep-methods", "cdcgan", timeout=400)
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads((out_dir / "results.json").read_text())
    rows = (*ROWS, "cdcgan_morphs")
    assert sorted((e["method"], e["class"]) for e in result["episodes"]) == sorted((r, c) for r in rows for c in CLASSES)
    # The sweep: the references and cdcgan, not cdcgan_morphs (which shares cdcgan's base).
    assert sorted({e["method"] for e in result["shot_sweep"]}) == sorted(ROWS)
    assert len(result["bases"]) == 1
    completed = run_script("benchmark.py", *args, "--sweep-methods", "dagan", timeout=120)
    assert "--sweep-methods names methods of --methods only. Received: dagan" in error_message(completed)


def test_classes_too_small_are_one_clean_error(tmp_path):
    from tfgen.data.builtin import load_builtin

    first_class = load_builtin("glyphs:greek").class_names[0]
    completed = run_script(
        "benchmark.py", "--data", "glyphs:greek", "--classes", "0", "--methods", "cdcgan",
        "--out-dir", str(tmp_path / "out"), "--quiet", timeout=120,
    )  # fmt: skip
    message = error_message(completed)
    assert f"{first_class} (20 images)" in message and "images" in message
    assert "--classes" in message or "--shots" in message
    assert not (tmp_path / "out" / "bases").exists()  # nothing trained
