"""The few-shot benchmark's loop: judge, bases, episodes, scores, report.

Everything it makes goes to ``out_dir`` and is reused when run again: the
judge (``judge_*/``), the bases (``bases/<run>``, resumed when interrupted),
each episode's scores (``scores.json``, written after every row) and the
grids (``grids/``). The report is ``results.json`` and ``results.md``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import time
import warnings

import numpy as np

from tfgen.few_shot_benchmark import protocol, report
from tfgen.few_shot_benchmark.methods import Method, adapted_images, base_name, reference_images, train_base
from tfgen.few_shot_benchmark.scores import episode_baseline, score_images
from tfgen.files import read_json, write_json_atomic, write_text_atomic
from tfgen.run_folder import RunFolder

SCORES_FILE = "scores.json"
# The judge is trained on roughly this many images in all (epochs x images).
JUDGE_IMAGES_SEEN = 40000
JUDGE_MIN_ACCURACY = 0.9


@dataclasses.dataclass(frozen=True)
class BenchmarkSettings:
    data: str  # a bundled labelled set (digits, fashion_mnist:all:5000, glyphs:greek) or class folders
    out_dir: str
    classes: tuple[str, ...] = ()  # held-out classes; empty: num_classes spread over the data
    num_classes: int = 4
    per_base: int = 2  # held-out classes per base (one base is trained without each group)
    shots: int = 4
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    shot_sweep: tuple[int, ...] = ()  # other numbers of shots scored for the FD ×floor-against-k table
    # Methods in that table beside the references (empty: every method); a sweep costs k's episodes again.
    sweep_methods: tuple[str, ...] = ()
    num_images: int = 100
    resolution: int = 32
    channels: int = 1
    judge_epochs: int | None = None  # default: about JUDGE_IMAGES_SEEN images seen
    quiet: bool = False

    def data_tag(self) -> str:
        tag = re.sub(r"[^A-Za-z0-9]+", "-", os.path.basename(os.path.normpath(self.data))).strip("-")
        return f"{tag or 'data'}_r{self.resolution}c{self.channels}"


def _say(message, quiet):
    if not quiet:
        print(f"[benchmark {time.strftime('%H:%M:%S')}] {message}", flush=True)


def load_data(settings: BenchmarkSettings):
    """The labelled images at the benchmark's resolution and channels."""
    from tfgen.data.builtin import LabelledImages
    from tfgen.data.episodes import to_channels
    from tfgen.data.images import load_labelled

    data = load_labelled(settings.data, resolution=settings.resolution)
    return LabelledImages(to_channels(data.images, settings.channels), np.asarray(data.labels), list(data.class_names))


def held_out_classes(settings: BenchmarkSettings, class_names) -> list[str]:
    if not settings.classes:
        return protocol.spread_classes(class_names, settings.num_classes)
    from tfgen.data.episodes import find_class

    return [find_class(c, class_names, "--classes", settings.classes, settings.data) for c in settings.classes]


def train_judge(settings: BenchmarkSettings, num_images: int):
    """The judge's extractor (trained on all classes once, then reused) and its info."""
    from tfgen.metrics import get_extractor
    from tfgen.features.classifier import CLASSIFIER_WEIGHTS_FILE, epochs_to_see, train_domain_classifier

    epochs = settings.judge_epochs or epochs_to_see(JUDGE_IMAGES_SEEN, num_images)
    folder = os.path.join(settings.out_dir, f"judge_{settings.data_tag()}_e{epochs}")
    if not os.path.isfile(os.path.join(folder, CLASSIFIER_WEIGHTS_FILE)):
        _say(f"training the judge on all classes of {settings.data} ({epochs} epochs)", settings.quiet)
        started = time.perf_counter()
        train_domain_classifier(settings.data, out_dir=folder, resolution=settings.resolution, epochs=epochs,
                                progress=not settings.quiet)  # fmt: skip
        write_json_atomic(os.path.join(folder, "seconds.json"), {"seconds": time.perf_counter() - started})
    judge = get_extractor("classifier", path=folder)
    accuracy = judge.info.validation_accuracy
    if accuracy is not None and accuracy < JUDGE_MIN_ACCURACY:
        warnings.warn(
            f"The judge reaches only {accuracy:.3f} validation accuracy on {settings.data}: its judge "
            "accuracy and features are weak evidence. Raise --judge-epochs.",
            stacklevel=2,
        )
    seconds = read_json(os.path.join(folder, "seconds.json"), {}).get("seconds")
    return judge, {"folder": folder, "epochs": epochs, "validation_accuracy": accuracy, "seconds": seconds}


def grid_slug(text) -> str:
    """A file-name part for a row or class name: ASCII letters and digits; a
    name with other characters (greek/Α, greek/α) gets a short hash of itself
    too, so that two such names never share a grid file."""
    text = str(text)
    slug = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-") or "x"
    if not text.isascii():
        slug += "-" + hashlib.sha1(text.encode()).hexdigest()[:6]
    return slug


def _save_grid(path, episode, images) -> None:
    from tfgen.sampling import make_shots_grid, save_image

    save_image(path, make_shots_grid(episode.shots, images[:32], nrow=8))


def sees_held_out(rows) -> dict:
    """``{method: why}`` for the methods whose base trains on images of the
    held-out classes beyond the shots (L2L-GAN's p images)."""
    from tfgen.registry import get_family

    found = {}
    for row in rows:
        if isinstance(row, Method) and get_family(row.model).sees_held_out_images:
            found[row.name] = get_family(row.model).sees_held_out_images
    return found


class EpisodeScorer:
    """Scores every row on every held-out class and seed for one number of
    shots, reusing the cache (one JSON entry per row, class, k and seed)."""

    def __init__(self, settings, data, judge, judge_info, groups, rows, bases, cache, cache_path):
        self.settings, self.data, self.judge, self.judge_info = settings, data, judge, judge_info
        self.groups, self.rows, self.bases, self.cache, self.cache_path = groups, rows, bases, cache, cache_path
        self.judge_index = {name: i for i, name in enumerate(judge.class_names)}

    def run(self, shots: int, grids: bool = False, rows=None) -> list[dict]:
        """Scores of ``rows`` (default: all of them) on ``shots`` shots."""
        from tqdm.auto import tqdm

        settings = self.settings
        rows = self.rows if rows is None else rows
        total = sum(len(g) for g in self.groups) * len(settings.seeds) * len(rows)
        bar = tqdm(total=total, disable=settings.quiet, desc=f"episodes, k = {shots}", unit="row", dynamic_ncols=True)
        episodes = []
        for index, group in enumerate(self.groups):
            for class_name in group:
                class_images = self.data.images[self.data.labels == self.data.class_names.index(class_name)]
                for seed in settings.seeds:
                    episode = protocol.draw_episode(class_images, class_name, shots=shots, seed=seed,
                                                    num_images=settings.num_images)  # fmt: skip
                    episodes += self._score_rows(episode, index, rows, grids and seed == settings.seeds[0], bar)
        bar.close()
        return episodes

    def _save_cache(self) -> None:
        """Writes the cache merged with the file's entries: another benchmark
        process scoring other rows into the same folder keeps its scores."""
        on_disk = read_json(self.cache_path, {})
        on_disk.update(self.cache)
        self.cache.update(on_disk)
        write_json_atomic(self.cache_path, on_disk)

    def _score_rows(self, episode, group_index, rows, grids, bar) -> list[dict]:
        settings, cache = self.settings, self.cache
        baseline = None
        found = []
        for row in rows:
            row_name = row.name if isinstance(row, Method) else row
            base = self.bases.get((row_name, group_index)) if isinstance(row, Method) else None
            key = "|".join([settings.data_tag(), os.path.basename(self.judge_info["folder"]), row_name,
                            os.path.basename(base or "-"), json.dumps(list(getattr(row, "adapt", ()))),
                            episode.class_name, f"k{len(episode.shots)}", f"seed{episode.seed}",
                            f"n{settings.num_images}"])  # fmt: skip
            grid = os.path.join(settings.out_dir, "grids", f"{grid_slug(row_name)}__{grid_slug(episode.class_name)}.png")
            want_grid = grids and not os.path.isfile(grid)
            # An entry scored before a score was added is scored again.
            stale = key not in cache or not set(report.SCORE_KEYS) <= set(cache[key])
            if stale or want_grid:
                if baseline is None:
                    baseline = episode_baseline(self.judge, episode, self.judge_index[episode.class_name])
                began = time.perf_counter()
                if isinstance(row, Method):
                    images = adapted_images(row, base, episode)
                else:
                    images = reference_images(row, episode)
                seconds = time.perf_counter() - began
                if stale:
                    cache[key] = {**score_images(self.judge, images, baseline), "seconds": seconds}
                    self._save_cache()
                if want_grid:
                    _save_grid(grid, episode, images)
            found.append({"method": row_name, "class": episode.class_name, "seed": episode.seed,
                          "shots": len(episode.shots), "base": os.path.basename(base) if base else None,
                          "num_images": episode.num_images, **cache[key]})  # fmt: skip
            bar.update(1)
        return found


def run_benchmark(settings: BenchmarkSettings, rows) -> dict:
    """Run every row (a reference name or a :class:`Method`) on every held-out
    class and seed; returns the report (also written to ``out_dir``)."""
    started = time.perf_counter()
    data = load_data(settings)
    classes = held_out_classes(settings, data.class_names)
    protocol.check_class_sizes(data.labels, data.class_names, classes, shots=max((settings.shots, *settings.shot_sweep)))
    groups = protocol.group_classes(classes, settings.per_base)
    judge, judge_info = train_judge(settings, len(data.labels))

    bases = {}  # (method name, group index) -> run folder
    base_info = {}
    for method in (r for r in rows if isinstance(r, Method)):
        for index, group in enumerate(groups):
            name = base_name(method, settings.data_tag(), index, group)
            _say(f"base {name}: {method.model} without {', '.join(group)}", settings.quiet)
            run_dir, seconds = train_base(
                method, source=settings.data, group=group, name=name,
                bases_dir=os.path.join(settings.out_dir, "bases"), resolution=settings.resolution,
                channels=settings.channels, quiet=settings.quiet,
            )  # fmt: skip
            bases[method.name, index] = run_dir
            base_info[name] = {"model": method.model, "held_out": list(group), "train_seconds": seconds,
                               "train_flags": list(method.train_flags),
                               "health": read_json(RunFolder(run_dir).health, None)}  # fmt: skip

    cache_path = os.path.join(settings.out_dir, SCORES_FILE)
    cache = read_json(cache_path, {})
    scored = EpisodeScorer(settings, data, judge, judge_info, groups, rows, bases, cache, cache_path)
    episodes = scored.run(settings.shots, grids=True)
    # The other numbers of shots (the main k's episodes complete the table).
    swept = [r for r in rows if not isinstance(r, Method) or not settings.sweep_methods or r.name in settings.sweep_methods]
    sweep_episodes = [e for k in settings.shot_sweep if k != settings.shots for e in scored.run(k, rows=swept)]

    result = {
        "settings": dataclasses.asdict(settings),
        "methods": [dataclasses.asdict(r) if isinstance(r, Method) else {"name": r, "reference": True} for r in rows],
        "held_out": [list(g) for g in groups],
        "judge": judge_info,
        "bases": base_info,
        "sees_held_out": sees_held_out(rows),
        "episodes": episodes,
        "summary": report.summarise(episodes),
        "shot_sweep": sweep_episodes,
        "wall_seconds": time.perf_counter() - started,
    }
    write_json_atomic(os.path.join(settings.out_dir, "results.json"), result)
    text = report.markdown(result)
    write_text_atomic(os.path.join(settings.out_dir, "results.md"), text)
    return result
