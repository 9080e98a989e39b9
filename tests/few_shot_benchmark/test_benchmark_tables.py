"""experiments/benchmark_tables.py: the combined table over several sets is
made from the results.json files alone, and rebuilt the same from the copies."""

import json

import numpy as np
import pytest

from experiments import benchmark_tables
from tfgen.few_shot_benchmark import report


def episode(method, name, seed, fd_floor, *, floor_over_real=4.0, shots=4):
    return {"method": method, "class": name, "seed": seed, "shots": shots, "fd_floor": fd_floor,
            "fd_ratio": fd_floor * floor_over_real, "judge_accuracy": 1.0, "judge_accuracy_ratio": 1.0,
            "novelty": 0.9, "pixel_copies": 0.0, "diversity_ratio": 1.0, "seconds": 1.0,
            "real_fd": 1.0, "floor_fd": floor_over_real}  # fmt: skip


def write_result(folder, fd_by_method, floor_over_real, sees_held_out=None):
    episodes = [episode(m, c, s, fd + 0.1 * s, floor_over_real=floor_over_real)
                for m, fd in fd_by_method.items() for c in ("a", "b") for s in (0, 1)]  # fmt: skip
    result = {
        "settings": {"data": folder.name, "resolution": 32, "shots": 4, "seeds": [0, 1]},
        "judge": {"validation_accuracy": 0.95},
        "held_out": [["a", "b"]],
        "bases": {},
        "sees_held_out": sees_held_out or {},
        "episodes": episodes,
        "summary": report.summarise(episodes),
        "shot_sweep": [dict(e, shots=1, fd_floor=2 * e["fd_floor"]) for e in episodes],
    }
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps(result))
    (folder / "grids").mkdir()
    (folder / "grids" / "real__a.png").write_bytes(b"png")


@pytest.fixture
def out_dir(tmp_path):
    out = tmp_path / "runs"
    write_result(out / "one", {"real": 0.25, "augmented_shots": 3.0, "copies": 4.0, "good": 1.0, "bad": 5.0}, 4.0)
    write_result(out / "two", {"real": 0.25, "augmented_shots": 2.0, "copies": 3.0, "good": 2.5, "bad": 1.5}, 6.0,
                 sees_held_out={"bad": "saw them"})  # fmt: skip
    return out


def test_the_table_ranks_the_methods_and_shows_the_floor(out_dir, tmp_path):
    folders = [str(out_dir / "one"), str(out_dir / "two")]
    results = benchmark_tables.load_results(folders)
    ranked = benchmark_tables.ranking(results)
    # Means over classes and seeds (+0.05 from the seeds' 0, 0.1): good (1.05 + 2.55) / 2, bad (5.05 + 1.55) / 2.
    assert [m for m, _, _ in ranked] == ["good", "bad"]
    assert ranked[0][1] == pytest.approx(1.8) and ranked[1][1] == pytest.approx(3.3)
    assert ranked[0][2] == 1 and ranked[1][2] == 1  # below the augmented shots on one set each
    docs = tmp_path / "docs"
    text = benchmark_tables.write_docs(results, folders, str(docs))
    assert "| bad † |" in text and "| good |" in text
    floor_line = next(line for line in text.splitlines() if line.startswith("| 4-shot floor |"))
    assert "1.00 / 4.0 /" in floor_line and "1.00 / 6.0 /" in floor_line
    good_line = next(line for line in text.splitlines() if line.startswith("| good |"))
    interval = report.interval([1.0, 1.1])  # the seeds' class means
    assert f"**1.05** ± {interval:.2f}" in good_line
    assert "| method | k = 1 | k = 4 |" in text
    # The raw JSON and the grids are copied; the tables rebuild the same from the copies.
    assert (docs / "one" / "results.json").read_text() == (out_dir / "one" / "results.json").read_text()
    assert (docs / "two" / "real__a.png").is_file()
    again = benchmark_tables.tables_markdown(benchmark_tables.load_results([str(docs / "one"), str(docs / "two")]))
    assert again == (docs / "tables.md").read_text() == text
    assert np.isfinite(ranked[0][1])
