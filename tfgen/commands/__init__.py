"""The ``tfgen`` command: ``tfgen VERB [flags]``, one module per verb.

    tfgen train --help                 # the flags of the default model, grouped
    tfgen train --data-folder my_images --time-budget 30m
    tfgen generate --generator runs/my_images --num-images 64 --grid
    tfgen evaluate --generator runs/my_images --real my_images
    tfgen benchmark --data digits --methods shotmorph
    tfgen export runs/my_images --format saved_model --output exported/my_images

Also ``python -m tfgen VERB ...``, and ``python VERB.py ...`` in a checkout
of the repository. Each verb's module defines its absl flags when imported,
so only the chosen one is imported; none imports TensorFlow before its flags
are parsed (``--help`` needs none).
"""

from __future__ import annotations

import importlib
import sys

# verb: (module, what it does)
VERBS = {
    "train": ("tfgen.commands.train", "train a model on images (FastGAN) or a few-shot model on classes"),
    "generate": ("tfgen.commands.generate", "sample a run, or adapt a few-shot run to shots and sample it"),
    "evaluate": ("tfgen.commands.evaluate", "FID, KID, precision/recall, ... of generated images"),
    "benchmark": ("tfgen.commands.benchmark", "the few-shot benchmark: methods against the 4-shot floor"),
    "export": ("tfgen.commands.export", "a run's generator as a SavedModel, TFLite file or .keras archive"),
}


def usage() -> str:
    from tfgen._version import __version__

    width = max(map(len, VERBS))
    lines = [f"usage: tfgen VERB [flags]      (tfgen {__version__})", "", "verbs:"]
    lines += [f"  {verb.ljust(width)}  {about}" for verb, (_, about) in VERBS.items()]
    lines += ["", "tfgen VERB --help lists a verb's flags."]
    return "\n".join(lines)


def main(argv=None):
    """Run ``tfgen VERB flags...`` (``argv`` default: sys.argv)."""
    argv = list(sys.argv if argv is None else argv)
    if len(argv) < 2 or argv[1] in ("--help", "-h", "help"):
        print(usage())
        return 0 if len(argv) >= 2 else 2
    if argv[1] == "--version":
        from tfgen._version import __version__

        print(f"tfgen {__version__}")
        return 0
    verb = argv[1]
    if verb not in VERBS:
        print(f"error: unknown verb {verb!r}; choose one of {', '.join(VERBS)}.\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(VERBS[verb][0])
    module.run([f"tfgen {verb}", *argv[2:]])
    return 0
