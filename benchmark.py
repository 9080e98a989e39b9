"""``python benchmark.py [flags]``: the same as ``tfgen benchmark [flags]`` (tfgen/commands/benchmark.py),
for a checkout of the repository. ``python benchmark.py --help`` lists the flags."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # this checkout's tfgen
# The command imports TensorFlow once its flags are parsed (--help needs none).
_defer = "TFGEN_DEFER_IMPORTS" not in os.environ
os.environ["TFGEN_DEFER_IMPORTS"] = "1"
from tfgen.commands.benchmark import *  # noqa: E402,F401,F403  (tests and scripts use its names)
from tfgen.commands.benchmark import run  # noqa: E402

if _defer:  # not for the processes it starts
    del os.environ["TFGEN_DEFER_IMPORTS"]

if __name__ == "__main__":
    run()
