"""The rows of the few-shot benchmark: the references and the methods.

A reference makes its images from the episode alone (the real row, the
augmented shots, the shots copied). A method has a base: a run trained by
``train.py --model MODEL`` with that model's defaults on the classes that
are not held out (cached: a finished run folder is reused, an interrupted
one resumes), then adapted to the shots with ``tfgen.adapt`` and sampled
with ``tfgen.generate``, exactly the path a user takes with
``generate.py --adapt-from RUN --shots DIR``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import time

import numpy as np

from tfgen.files import read_json, write_json_atomic
from tfgen.errors import InputError
from tfgen.registry import adaptable_families
from tfgen.run_folder import BENCHMARK_SECONDS as SECONDS_FILE, RunFolder  # noqa: F401 (the old name, kept importable)

REFERENCES = ("real", "augmented_shots", "copies")
# The folder that holds this tfgen package: on the path of the `tfgen train` processes.
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@dataclasses.dataclass(frozen=True)
class Method:
    """A few-shot method: how its base is trained and how it adapts.

    ``train_flags`` are added to ``train.py --model MODEL``; ``adapt`` holds
    keyword arguments of :func:`tfgen.adapt` (``steps``, ``method``, ...).
    """

    name: str
    model: str
    train_flags: tuple[str, ...] = ()
    adapt: tuple[tuple[str, object], ...] = ()

    def signature(self) -> str:
        """A short hash of everything that changes the base: the model, the
        flags and the model config's defaults (a new tfgen default is a new base)."""
        from tfgen.registry import get_family

        defaults = dataclasses.asdict(get_family(self.model).config_class())
        text = json.dumps([self.model, list(self.train_flags), defaults], sort_keys=True, default=str)
        return hashlib.sha1(text.encode()).hexdigest()[:8]


# The methods with each family's defaults (train.py's and tfgen.adapt's).
METHODS = {name: Method(name, name) for name in adaptable_families()}
# Variants: a family with other train.py flags, benchmarked as its own row.
VARIANTS = (
    # DAGAN whose generator outputs a learned smooth deformation of its shot (docs/dagan.md).
    Method("dagan_warp", "dagan", train_flags=("--output-mode", "warp", "--mode-seeking-weight", "1")),
    # ... with half the largest displacement (4 px at 32 px) and no mode seeking: smaller deformations.
    Method("dagan_warp_small", "dagan", train_flags=("--output-mode", "warp", "--max-shift", "0.125")),
    # The conditional DCGAN fine-tuned on the shots and their morphs instead of the augmented shots.
    Method("cdcgan_morphs", "cdcgan", adapt=(("training_images", "morphs"),)),
)
METHODS.update({method.name: method for method in VARIANTS})


def parse_methods(names, extra_flags=()) -> list[Method | str]:
    """References (strings) and :class:`Method`s named in ``names``;
    ``extra_flags`` go to every base's train.py (e.g. ``--steps 200``)."""
    rows = []
    for name in names:
        if name in REFERENCES:
            rows.append(name)
        elif name in METHODS:
            method = METHODS[name]
            rows.append(dataclasses.replace(method, train_flags=method.train_flags + tuple(extra_flags)))
        else:
            raise InputError(
                f"Unknown benchmark method {name!r}. Methods: {', '.join(METHODS)}; "
                f"references: {', '.join(REFERENCES)}."
            )
    return rows


# --- references ---------------------------------------------------------------


def reference_images(name: str, episode) -> np.ndarray:
    """uint8 images of a reference row, ``episode.num_images`` of them."""
    if name == "real":
        return episode.real
    if name == "copies":
        return episode.shots[np.arange(episode.num_images) % len(episode.shots)]
    if name == "augmented_shots":
        from tfgen.data.episodes import augment_shots
        from tfgen.sampling import postprocess_images

        count = max(episode.num_images, len(episode.shots))
        images = augment_shots(episode.shots, count=count, seed=episode.seed)
        return postprocess_images(images)[: episode.num_images]
    raise InputError(f"Unknown reference {name!r}. References: {', '.join(REFERENCES)}.")


# --- bases ----------------------------------------------------------------------


def base_name(method: Method, data_tag: str, group_index: int, group) -> str:
    """A run name unique to the base's model and flags, the data and the
    held-out group: methods that adapt one base in different ways share it."""
    classes = hashlib.sha1("\n".join(group).encode()).hexdigest()[:6]
    return f"{method.model}_{data_tag}_fold{group_index}-{classes}_{method.signature()}"


def train_command(method: Method, *, source: str, group, name: str, bases_dir: str, resolution: int,
                  channels: int, quiet: bool) -> list[str]:  # fmt: skip
    data_flag = "--data-folder" if os.path.isdir(source) else "--dataset"
    command = [
        sys.executable, "-m", "tfgen", "train", "--model", method.model, data_flag, source,
        "--test-classes", ",".join(group), "--name", name, "--runs-dir", bases_dir,
        "--resolution", str(resolution), "--channels", str(channels),
    ]  # fmt: skip
    if quiet:
        command.append("--quiet")
    return command + list(method.train_flags)


def train_base(method: Method, *, source, group, name, bases_dir, resolution, channels, quiet=False):
    """``(run folder, seconds of training)``: trains (or resumes) the base in a
    ``tfgen train`` process unless its family's finished file exists (the final
    generator weights; a shot-morphing run's fitted policy). Seconds add up
    over resumed invocations."""
    from tfgen.registry import get_family

    run_dir = os.path.join(bases_dir, name)
    folder = RunFolder(run_dir)
    seconds_path = folder.benchmark_seconds
    if not folder.is_finished(get_family(method.model)):
        command = train_command(method, source=source, group=group, name=name, bases_dir=bases_dir,
                                resolution=resolution, channels=channels, quiet=quiet)  # fmt: skip
        started = time.perf_counter()
        path = os.pathsep.join(filter(None, [PACKAGE_PARENT, os.environ.get("PYTHONPATH")]))
        finished = subprocess.run(command, env=dict(os.environ, PYTHONPATH=path))  # this tfgen, installed or not
        spent = time.perf_counter() - started + _read_seconds(seconds_path)
        if os.path.isdir(run_dir):
            _write_seconds(seconds_path, spent)
        if finished.returncode != 0:
            raise RuntimeError(
                f"Training the {method.name} base {name!r} failed (exit {finished.returncode}). "
                f"Command: {' '.join(command)}. Run it alone to see the error; the benchmark "
                "resumes the base when run again."
            )
    return run_dir, _read_seconds(seconds_path)


def _read_seconds(path) -> float:
    return float(read_json(path, {"seconds": 0.0})["seconds"])


def _write_seconds(path, seconds) -> None:
    write_json_atomic(path, {"seconds": seconds})


def adapted_images(method: Method, base_dir: str, episode) -> np.ndarray:
    """``episode.num_images`` uint8 images of the generator adapted from
    ``base_dir`` to the episode's shots."""
    import tfgen
    from tfgen.adaptation import adapt_run

    settings = dict(method.adapt)
    options = settings.pop("options", {})  # the family adapter's own options
    adaptation = adapt_run(base_dir, episode.shots, seed=episode.seed, quiet=True, **settings, **options)
    return tfgen.generate(adaptation.generator, episode.num_images, batch_size=100, seed=1000 + episode.seed)
