"""One results table of the few-shot benchmark over several labelled sets,
made from the benchmark's ``results.json`` files alone.

    python experiments/benchmark_tables.py /work/bench_runs/round2 --docs-dir docs/benchmark

For each ``OUT_DIR/<set>/results.json`` (written by ``benchmark.py``, e.g.
through ``experiments/benchmark_datasets.sh``) it copies the raw results and
the grids to ``DOCS_DIR/<set>/`` and writes ``DOCS_DIR/tables.md``: every row
of every set (references, the 4-shot floor, methods) with FD ×floor ± its 95%
interval, FD ×real, judge accuracy ×real, novelty, pixel copies and diversity
×real; the methods ranked by mean FD ×floor; and FD ×floor against the number
of shots. Running it on the committed JSON (``--from-docs``) rebuilds the
same tables, so every number can be checked.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from tfgen.few_shot_benchmark import report  # noqa: E402
from tfgen.few_shot_benchmark.methods import REFERENCES  # noqa: E402
from tfgen.files import write_text_atomic  # noqa: E402

FLOOR_ROW = "4-shot floor"
CELL_KEYS = ("fd_floor", "fd_ratio", "judge_accuracy_ratio", "novelty", "pixel_copies", "diversity_ratio")


def load_results(folders) -> dict:
    """``{set name: results}`` of each folder holding a results.json."""
    results = {}
    for folder in folders:
        path = os.path.join(folder, "results.json")
        if os.path.isfile(path):
            with open(path) as f:
                results[os.path.basename(os.path.normpath(folder))] = json.load(f)
    return results


def floor_row(result) -> dict:
    """The floor as a row: FD ×floor 1 by definition, FD ×real the floor's own."""
    real = [e for e in result["episodes"] if e["method"] == "real"]
    per_class = {}
    for e in real:
        per_class.setdefault(e["class"], []).append(e["floor_fd"] / e["real_fd"])
    return {"fd_floor": 1.0, "fd_ratio": float(np.mean([np.mean(v) for v in per_class.values()]))}


def cell(entry, key) -> str:
    if key == "fd_floor":
        return f"**{entry['mean'][key]:.2f}** ± {entry['ci'][key]:.2f}"
    decimals = 1 if key == "fd_ratio" else 2
    return f"{entry['mean'][key]:.{decimals}f}"


def combined_table(results) -> list[str]:
    sets = list(results)
    methods = []
    for result in results.values():
        methods += [m for m in result["summary"] if m not in methods]
    references = [m for m in methods if m in REFERENCES]
    learned = [m for m in methods if m not in REFERENCES]
    lines = [
        "Each cell: **FD ×floor** ± 95% interval / FD ×real / judge acc ×real / novelty / pixel copies / "
        "diversity ×real, means over the held-out classes and shot seeds.",
        "",
        "| row | " + " | ".join(sets) + " |",
        "|---|" + "---|" * len(sets),
    ]
    for method in [*references, FLOOR_ROW, *learned]:
        cells = []
        for name in sets:
            result = results[name]
            if method == FLOOR_ROW:
                floor = floor_row(result)
                cells.append(f"1.00 / {floor['fd_ratio']:.1f} / – / – / – / –")
                continue
            entry = result["summary"].get(method)
            cells.append(" / ".join(cell(entry, k) for k in CELL_KEYS) if entry else "–")
        marked = any(method in r.get("sees_held_out", {}) for r in results.values())
        lines.append(f"| {method}{' †' if marked else ''} | " + " | ".join(cells) + " |")
    return lines


def ranking(results) -> list[tuple[str, float, int]]:
    """``(method, mean FD ×floor over the sets, sets where it beats the augmented shots)``,
    best first, for the methods measured on every set."""
    ranked = []
    methods = set.intersection(*(set(r["summary"]) for r in results.values())) - set(REFERENCES)
    for method in methods:
        means = [r["summary"][method]["mean"]["fd_floor"] for r in results.values()]
        beats = sum(
            r["summary"][method]["mean"]["fd_floor"] < r["summary"]["augmented_shots"]["mean"]["fd_floor"]
            for r in results.values() if "augmented_shots" in r["summary"]
        )  # fmt: skip
        ranked.append((method, float(np.mean(means)), int(beats)))
    return sorted(ranked, key=lambda row: row[1])


def sweep_table(results) -> list[str]:
    lines = []
    for name, result in results.items():
        if result.get("shot_sweep"):
            lines += ["", f"### {name}"] + report.shot_sweep_lines(result)[1:]
    return lines


def per_set_details(results) -> list[str]:
    lines = []
    for name, result in results.items():
        settings = result["settings"]
        held = ", ".join(c for group in result["held_out"] for c in group)
        accuracy = result["judge"].get("validation_accuracy")
        bases = "; ".join(f"{info['model']} {info['train_seconds']:.0f} s" for info in result.get("bases", {}).values())
        lines.append(
            f"- **{name}** (`{settings['data']}`, {settings['resolution']} px): held out {held}; "
            f"{settings['shots']} shots, seeds {','.join(map(str, settings['seeds']))}; judge validation "
            f"accuracy {accuracy:.3f}" + (f"; bases: {bases}" if bases else "")
        )
    return lines


def write_docs(results, out_folders, docs_dir) -> str:
    for folder in out_folders:
        name = os.path.basename(os.path.normpath(folder))
        if name not in results:
            continue
        target = os.path.join(docs_dir, name)
        os.makedirs(target, exist_ok=True)
        shutil.copyfile(os.path.join(folder, "results.json"), os.path.join(target, "results.json"))
        for grid in glob.glob(os.path.join(folder, "grids", "*.png")):
            shutil.copyfile(grid, os.path.join(target, os.path.basename(grid)))
    text = tables_markdown(results)
    write_text_atomic(os.path.join(docs_dir, "tables.md"), text)
    return text


def tables_markdown(results) -> str:
    ranked = ranking(results)
    lines = ["<!-- written by experiments/benchmark_tables.py from the results.json files beside it -->", ""]
    lines += per_set_details(results) + [""] + combined_table(results)
    if ranked:
        lines += ["", "Methods measured on every set, by mean FD ×floor: " + "; ".join(
            f"{m} {v:.2f} (below the augmented shots on {b}/{len(results)} sets)" for m, v, b in ranked) + "."]  # fmt: skip
    lines += ["", "## FD ×floor against the number of shots"] + sweep_table(results) + [""]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", nargs="?", help="A folder of benchmark folders (one per set).")
    parser.add_argument("--docs-dir", default=os.path.join(ROOT, "docs", "benchmark"))
    parser.add_argument("--from-docs", action="store_true", help="Rebuild tables.md from the committed JSON.")
    args = parser.parse_args()
    if args.from_docs:
        folders = sorted(glob.glob(os.path.join(args.docs_dir, "*", "")))
        text = tables_markdown(load_results(folders))
        write_text_atomic(os.path.join(args.docs_dir, "tables.md"), text)
    else:
        folders = sorted(glob.glob(os.path.join(args.out_dir, "*", "")))
        text = write_docs(load_results(folders), folders, args.docs_dir)
    print(text)


if __name__ == "__main__":
    main()
