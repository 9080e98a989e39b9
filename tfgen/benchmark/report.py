"""The few-shot benchmark's summary and its Markdown tables."""

from __future__ import annotations

import numpy as np

from tfgen.benchmark.scores import TARGETS, meets_targets

SCORES = (  # (key, title, decimals)
    ("fd_ratio", "FD ×real ↓", 1),
    ("judge_accuracy", "judge acc ↑", 2),
    ("novelty", "novelty", 2),
    ("diversity_ratio", "diversity ×real", 2),
)


def summarise(episodes) -> dict:
    """``{method: {class: {score: mean over seeds, "seconds": mean}}}`` plus,
    per method, ``"all"``: the mean over classes, the worst class's value of
    each score, how many classes meet every target and how many reach the
    first milestone (FD below half the augmented shots', accuracy >= 0.9)."""
    per_class = {}
    for e in episodes:
        per_class.setdefault(e["method"], {}).setdefault(e["class"], []).append(e)
    summary = {}
    for method, classes in per_class.items():
        rows = {}
        for name, items in classes.items():
            rows[name] = {key: float(np.mean([e[key] for e in items])) for key, _, _ in SCORES}
            rows[name]["seconds"] = float(np.mean([e["seconds"] for e in items]))
            rows[name]["seeds"] = len(items)
        summary[method] = {"classes": rows}
    augmented = summary.get("augmented_shots", {}).get("classes", {})
    for method, entry in summary.items():
        rows = entry["classes"]
        worst = {
            key: (max if key == "fd_ratio" else min)(r[key] for r in rows.values()) for key, _, _ in SCORES
        }
        milestone = [
            name for name, r in rows.items()
            if name in augmented and r["fd_ratio"] < 0.5 * augmented[name]["fd_ratio"] and r["judge_accuracy"] >= 0.9
        ]  # fmt: skip
        entry["mean"] = {key: float(np.mean([r[key] for r in rows.values()])) for key, _, _ in SCORES}
        entry["worst"] = worst
        entry["classes_meeting_targets"] = sum(meets_targets(r) for r in rows.values())
        entry["classes_at_milestone"] = len(milestone)
        entry["num_classes"] = len(rows)
    return summary


def _cell(value, decimals):
    return f"{value:.{decimals}f}"


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
        + ". Targets on every class: "
        + f"FD ×real ≤ {TARGETS['fd_ratio']:g}, judge acc ≥ {TARGETS['judge_accuracy']:g}, "
        + f"novelty ≥ {TARGETS['novelty']:g}, diversity ×real ≥ {TARGETS['diversity_ratio']:g}.",
        "",
        "Mean over the held-out classes (worst class in brackets):",
        "",
        "| method | " + " | ".join(title for _, title, _ in SCORES)
        + " | classes meeting all targets | FD < ½ augmented & acc ≥ 0.9 | s / episode |",
        "|---|" + "---:|" * (len(SCORES) + 3),
    ]
    for method, entry in summary.items():
        cells = [f"{_cell(entry['mean'][k], d)} ({_cell(entry['worst'][k], d)})" for k, _, d in SCORES]
        seconds = np.mean([r["seconds"] for r in entry["classes"].values()])
        lines.append(
            f"| {method} | " + " | ".join(cells)
            + f" | {entry['classes_meeting_targets']}/{entry['num_classes']}"
            + f" | {entry['classes_at_milestone']}/{entry['num_classes']} | {seconds:.1f} |"
        )
    lines += ["", "Per class (mean over seeds): FD ×real / judge acc / novelty / diversity ×real", ""]
    lines.append("| method | " + " | ".join(classes) + " |")
    lines.append("|---|" + "---|" * len(classes))
    for method, entry in summary.items():
        cells = []
        for name in classes:
            r = entry["classes"].get(name)
            cells.append(" / ".join(_cell(r[k], d) for k, _, d in SCORES) if r else "–")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
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
