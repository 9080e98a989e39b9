"""Export a run's generator so that it serves without tfgen: a TensorFlow
SavedModel (TF Serving, ``tf.saved_model.load``), a TFLite file (builtin ops
only) or a ``.keras`` archive. See docs/export.md for the signatures.

    tfgen export runs/fastgan_digits_3 --format saved_model --output exported/threes
    tfgen export runs/fastgan_digits_3 --format tflite --output exported/threes.tflite
    tfgen export runs/cdcgan_digits --format keras --output exported/cdcgan.keras
"""

from __future__ import annotations

from absl import flags

from tfgen.cli import command_runner
from tfgen.errors import InputError

FLAGS = flags.FLAGS

FORMATS = ("saved_model", "tflite", "keras")
flags.DEFINE_enum("format", "saved_model", list(FORMATS), "What to write (docs/export.md).")
flags.DEFINE_string(
    "output", None,
    "Where: a folder for saved_model, a .tflite or .keras file (default: <run>/export/<format>, with the suffix).",
)  # fmt: skip
flags.DEFINE_boolean("no-ema", False, "Export the raw generator weights instead of the EMA ones.")
flags.DEFINE_boolean("overwrite", False, "Replace --output if it exists.")

HELP_GROUPS = (("export", ["format", "output", "no-ema", "overwrite"]),)
SUFFIXES = {"saved_model": "", "tflite": ".tflite", "keras": ".keras"}


def main(argv):
    import os

    if len(argv) != 2:
        raise InputError(f"Give one run folder: tfgen export RUN [flags]. Received: {argv[1:] or 'none'}")
    run_dir = argv[1]
    from tfgen.export import export_run
    from tfgen.run_folder import RunFolder

    output = FLAGS.output or os.path.join(RunFolder(run_dir).export, FLAGS.format + SUFFIXES[FLAGS.format])

    path = export_run(run_dir, output, format=FLAGS.format, ema=not FLAGS["no-ema"].value, overwrite=FLAGS.overwrite)
    print(f"Exported {run_dir} as {FLAGS.format}: {path or output}")


run = command_runner("export", main, __doc__, __name__, HELP_GROUPS, usage="usage: tfgen export RUN [flags]")


if __name__ == "__main__":
    run()
