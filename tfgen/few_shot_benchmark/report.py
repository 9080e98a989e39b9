"""The few-shot benchmark's summary and its Markdown tables.

Every score is a mean over the held-out classes of each class's mean over
shot seeds. Its 95% interval is Student's t over the seeds: for a class,
over that class's episodes; for the mean over classes, over the seeds'
class-averaged scores (the classes are the fixed design, the shot draw is
the chance).
"""

from __future__ import annotations

import numpy as np

from tfgen.few_shot_benchmark.methods import REFERENCES
from tfgen.few_shot_benchmark.scores import MEAN_FD_FLOOR_TARGET, TARGETS, meets_targets

SCORES = (  # (key, title, decimals, True where lower is better)
    ("fd_floor", "FD ×floor ↓", 2, True),
    ("fd_ratio", "FD ×real ↓", 1, True),
    ("judge_accuracy_ratio", "judge acc ×real ↑", 2, False),
    ("novelty", "novelty", 2, False),
    ("pixel_copies", "pixel copies ↓", 2, True),
    ("diversity_ratio", "diversity ×real", 2, False),
)
SCORE_KEYS = tuple(key for key, _, _, _ in SCORES)
# The learned-generator milestone of issue 27, against the references' means.
MILESTONE = {"below": "augmented_shots", "within": ("shotmorph", 1.2), "judge_accuracy_ratio": 0.9}


def interval(values) -> float:
    """Half-width of the 95% Student-t interval of the mean of ``values`` (0 for one value)."""
    from scipy import stats

    values = np.asarray(values, np.float64)
    if len(values) < 2:
        return 0.0
    return float(stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values)))


def summarise(episodes) -> dict:
    """``{method: {"classes": {class: {score, score_ci, seconds, seeds}},
    "mean": {...}, "ci": {...}, "worst": {...}, counts}}`` and, per method,
    whether it reaches the learned-generator milestone (None for the
    references, and without the references it is measured against)."""
    grouped = {}
    for e in episodes:
        grouped.setdefault(e["method"], {}).setdefault(e["class"], []).append(e)
    summary = {}
    for method, classes in grouped.items():
        rows = {}
        for name, items in classes.items():
            rows[name] = {key: float(np.mean([e[key] for e in items])) for key in SCORE_KEYS}
            rows[name].update({f"{key}_ci": interval([e[key] for e in items]) for key in SCORE_KEYS})
            rows[name]["seconds"] = float(np.mean([e["seconds"] for e in items]))
            rows[name]["seeds"] = len(items)
        by_seed = {}
        for items in classes.values():
            for e in items:
                by_seed.setdefault(e["seed"], []).append(e)
        summary[method] = {
            "classes": rows,
            "mean": {key: float(np.mean([r[key] for r in rows.values()])) for key in SCORE_KEYS},
            # Seeds that cover every class only: a seed missing a class would shift the mean.
            "ci": {key: interval([np.mean([e[key] for e in items]) for items in by_seed.values()
                                  if len(items) == len(rows)]) for key in SCORE_KEYS},  # fmt: skip
            "worst": {key: (max if lower else min)(r[key] for r in rows.values()) for key, _, _, lower in SCORES},
            "classes_meeting_targets": sum(meets_targets(r) for r in rows.values()),
            "num_classes": len(rows),
        }
    measured_against = (*REFERENCES, MILESTONE["within"][0])  # rows the milestone compares with, not methods it judges
    for method, entry in summary.items():
        entry["milestone"] = None if method in measured_against else milestone(entry, summary)
    return summary


def milestone(entry, summary) -> bool | None:
    """Mean FD ×floor below the augmented shots', within 1.2× shot
    morphing's (when it was measured) and judge accuracy ≥ 0.9× real's."""
    below = summary.get(MILESTONE["below"])
    if below is None:
        return None
    within_name, factor = MILESTONE["within"]
    within = summary.get(within_name)
    mean = entry["mean"]
    return bool(
        mean["fd_floor"] < below["mean"]["fd_floor"]
        and (within is None or mean["fd_floor"] <= factor * within["mean"]["fd_floor"])
        and mean["judge_accuracy_ratio"] >= MILESTONE["judge_accuracy_ratio"]
    )


def meets_recommended_bar(entry) -> bool:
    """The recommended path's bar on one dataset: mean FD ×floor ≤ 1.3 and every class within the targets."""
    return entry["mean"]["fd_floor"] <= MEAN_FD_FLOOR_TARGET and entry["classes_meeting_targets"] == entry["num_classes"]


def _cell(value, decimals):
    return f"{value:.{decimals}f}"


def method_label(method, result) -> str:
    """The row's name, marked † when its base saw held-out images beyond the shots."""
    return f"{method} †" if method in result.get("sees_held_out", {}) else method


def markdown(result) -> str:
    settings, summary = result["settings"], result["summary"]
    judge = result["judge"]
    classes = [c for group in result["held_out"] for c in group]
    accuracy = judge.get("validation_accuracy")
    lines = [
        f"## Few-shot benchmark: {settings['data']} ({settings['resolution']} px, {settings['channels']} channel(s))",
        "",
        f"Held out: {', '.join(classes)} ({settings['per_base']} per base); {settings['shots']} shots; "
        f"seeds {', '.join(map(str, settings['seeds']))}; up to {settings['num_images']} images per row. "
        f"Judge: trained on all classes for {judge['epochs']} epochs"
        + (f", validation accuracy {accuracy:.3f}" if accuracy is not None else "")
        + ". FD ×floor: Fréchet distance over that of the real images moved onto the shots' mean. "
        + f"Targets: mean FD ×floor ≤ {MEAN_FD_FLOOR_TARGET:g}; on every class FD ×floor ≤ {TARGETS['fd_floor']:g}, "
        + f"judge acc ×real ≥ {TARGETS['judge_accuracy_ratio']:g}, novelty ≥ {TARGETS['novelty']:g}, "
        + f"pixel copies < {TARGETS['pixel_copies']:g}, diversity ×real ≥ {TARGETS['diversity_ratio']:g}. "
        + "Milestone: mean FD ×floor below the augmented shots', within 1.2× shot morphing's, judge acc ×real ≥ 0.9.",
        "",
        "Mean over the held-out classes ± 95% interval over seeds (worst class in brackets):",
        "",
        "| method | " + " | ".join(title for _, title, _, _ in SCORES)
        + " | classes meeting all targets | milestone | s / episode |",
        "|---|" + "---:|" * (len(SCORES) + 3),
    ]
    for method, entry in summary.items():
        cells = [
            f"{_cell(entry['mean'][k], d)} ± {_cell(entry['ci'][k], d)} ({_cell(entry['worst'][k], d)})"
            for k, _, d, _ in SCORES
        ]
        seconds = np.mean([r["seconds"] for r in entry["classes"].values()])
        reached = {None: "–", True: "yes", False: "no"}[entry.get("milestone")]
        lines.append(
            f"| {method_label(method, result)} | " + " | ".join(cells)
            + f" | {entry['classes_meeting_targets']}/{entry['num_classes']} | {reached} | {seconds:.1f} |"
        )
    for method, why in result.get("sees_held_out", {}).items():
        lines += ["", f"† {method}: {why}; not a k-shot method on this benchmark."]
    lines += ["", "Per class (mean over seeds): FD ×floor / FD ×real / judge acc ×real / novelty / "
              "pixel copies / diversity ×real", ""]  # fmt: skip
    lines.append("| method | " + " | ".join(classes) + " |")
    lines.append("|---|" + "---|" * len(classes))
    for method, entry in summary.items():
        cells = []
        for name in classes:
            r = entry["classes"].get(name)
            cells.append(" / ".join(_cell(r[k], d) for k, _, d, _ in SCORES) if r else "–")
        lines.append(f"| {method_label(method, result)} | " + " | ".join(cells) + " |")
    if result.get("shot_sweep"):
        lines += shot_sweep_lines(result)
    if result.get("bases"):
        lines += ["", "| base | held out | training seconds | health (recall, diversity ×real, pooled pixels) |",
                  "|---|---|---:|---|"]  # fmt: skip
        for name, info in result["bases"].items():
            health = info.get("health")
            state = "not measured"
            if health:
                state = f"{health['recall']:.2f}, {health['diversity_ratio']:.2f}" + (" **collapsed**" if health["collapsed"] else "")
            lines.append(f"| {name} | {', '.join(info['held_out'])} | {info['train_seconds']:.0f} | {state} |")
    lines.append("")
    return "\n".join(lines)


def shot_sweep(episodes) -> dict:
    """``{method: {k: (mean FD ×floor, 95% interval, mean FD ×real)}}`` of
    episodes that carry their ``shots``, each k summarised as the main table is."""
    by_k = {}
    for e in episodes:
        by_k.setdefault(e["shots"], []).append(e)
    table = {}
    for k, items in sorted(by_k.items()):
        for method, entry in summarise(items).items():
            table.setdefault(method, {})[k] = (entry["mean"]["fd_floor"], entry["ci"]["fd_floor"],
                                               entry["mean"]["fd_ratio"])  # fmt: skip
    return table


def shot_sweep_lines(result) -> list[str]:
    table = shot_sweep(result["shot_sweep"] + result["episodes"])
    ks = sorted({k for row in table.values() for k in row})
    lines = ["", "FD ×floor (FD ×real) against the number of shots k, mean over classes ± 95% interval:", "",
             "| method | " + " | ".join(f"k = {k}" for k in ks) + " |", "|---|" + "---:|" * len(ks)]  # fmt: skip
    for method, row in table.items():
        cells = [f"{row[k][0]:.2f} ± {row[k][1]:.2f} ({row[k][2]:.1f})" if k in row else "–" for k in ks]
        lines.append(f"| {method_label(method, result)} | " + " | ".join(cells) + " |")
    return lines
