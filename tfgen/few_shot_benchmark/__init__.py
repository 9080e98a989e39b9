"""The few-shot benchmark: hold out classes of a labelled set in turn, train
each method's base on the others, adapt it to k shots of the held-out class
and judge the generated images with a classifier no method uses
(``benchmark.py`` is its command line)."""

from tfgen.few_shot_benchmark.methods import METHODS, REFERENCES, Method, parse_methods
from tfgen.few_shot_benchmark.runner import BenchmarkSettings, run_benchmark
from tfgen.few_shot_benchmark.scores import TARGETS

__all__ = ["METHODS", "REFERENCES", "TARGETS", "BenchmarkSettings", "Method", "parse_methods", "run_benchmark"]
