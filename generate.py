"""Generate images from a trained generator.

    python generate.py --generator runs/fastgan_digits --num-images 100 --output-dir out/

writes ``out/000000.png``, ``out/000001.png``, ... . ``--generator`` is a run
folder (``config.json`` + ``generator_ema.weights.h5``), a ``.weights.h5``
file (with the run's ``config.json`` beside it, or ``--resolution`` for a
FastGAN generator with default widths) or a ``.keras`` archive.

Outputs: one PNG per image by default. ``--grid`` writes ``grid.png`` with
the ``--num-images`` images instead, and ``--interpolate K`` writes
``interpolation.gif`` walking (slerp in z) through the noise of seeds
``seed .. seed+K-1`` and back; the two can be combined, and with either of
them the individual PNGs are written only if ``--pngs`` is given too.

Few-shot adaptation (FIGR's Algorithm 2, or fine-tuning a transfer baseline):

    python generate.py --adapt-from runs/figr_digits --shots digits:9 \\
        --adapt-steps 10 --num-images 64 --grid --output-dir out/

copies the run's meta-weights, adapts them to ``--num-shots`` images of the
new class (a folder of images or a class such as ``digits:9``) and generates
from the adapted generator; the run folder is not modified. With ``--grid``
the shots fill the top row. ``--save-adapted DIR`` keeps the adapted
generator as a run folder that ``--generator DIR`` loads later.
"""

from __future__ import annotations

import os

from absl import app, flags

from tfgen.cli import clean_errors, parse_flags

FLAGS = flags.FLAGS

flags.DEFINE_string(
    "generator", None, "Run folder, .weights.h5 file (config.json beside it) or .keras archive."
)
flags.DEFINE_integer(
    "resolution", None, "Only for a .weights.h5 file without config.json: its FastGAN resolution."
)
flags.DEFINE_integer("num-images", 16, "Number of images to generate (PNGs or grid cells).")
flags.DEFINE_integer("batch-size", 16, "Images per generator call.")
flags.DEFINE_integer("seed", 0, "Seed of the latent noise; image i is the same for any batch size.")
flags.DEFINE_string("output-dir", "generated", "Folder for the PNGs, grid.png and interpolation.gif.")
flags.DEFINE_boolean("grid", False, "Write the images as one grid.png (no individual PNGs unless --pngs).")
flags.DEFINE_integer("nrow", None, "Images per grid row (default: ceil(sqrt(num-images))).")
flags.DEFINE_integer(
    "interpolate", 0, "Write interpolation.gif walking through this many seeds (>= 2; 0: off)."
)
flags.DEFINE_integer("steps-per-segment", 16, "GIF frames between two successive seeds.")
flags.DEFINE_integer("frame-duration-ms", 80, "Duration of one GIF frame.")
flags.DEFINE_boolean(
    "pngs", None, "Write one PNG per image (default: yes, unless --grid or --interpolate is given)."
)
flags.DEFINE_boolean("no-ema", False, "Use the raw generator weights instead of the EMA ones.")

# Few-shot adaptation.
flags.DEFINE_string(
    "adapt-from", None, "A FIGR / DCGAN / cDCGAN / InfoGAN run folder to adapt to --shots (instead of --generator)."
)
flags.DEFINE_string("shots", None, "The new class: a folder of images, or a class such as digits:9.")
flags.DEFINE_integer("num-shots", None, "How many shots to take (default: the run's --shots, 4).")
flags.DEFINE_integer("adapt-steps", None, "Adaptation steps K (default: the run's, FIGR 10, DCGANs 300).")
flags.DEFINE_string("save-adapted", None, "Also save the adapted generator as a run folder here.")


def _check_options(num_images, batch_size, interpolate, steps_per_segment):
    if num_images < 1 or batch_size < 1:
        raise ValueError(
            f"--num-images and --batch-size must be >= 1. Received: --num-images={num_images}, "
            f"--batch-size={batch_size}"
        )
    if interpolate and (interpolate < 2 or steps_per_segment < 1):
        raise ValueError(
            "--interpolate needs at least 2 seeds and --steps-per-segment >= 1. Received: "
            f"--interpolate={interpolate}, --steps-per-segment={steps_per_segment}"
        )


def pngs_wanted(pngs, *, grid, interpolate):
    """Individual PNGs by default; only on request when a grid or GIF is asked for."""
    return pngs if pngs is not None else not (grid or interpolate)


def save_pngs(images, output_dir, *, start, total):
    """Write uint8 images as ``<index>.png``, indices from ``start``, zero-padded for ``total``."""
    from tfgen import sampling

    digits = max(6, len(str(total - 1)))
    for offset, image in enumerate(images):
        sampling.save_image(os.path.join(output_dir, f"{start + offset:0{digits}d}.png"), image)


def adapted_generator(seed):
    """(generator adapted to --shots from --adapt-from, the shots as uint8)."""
    from tfgen.training import adapt

    meta_run = FLAGS["adapt-from"].value
    _, model_config, _ = adapt.read_meta_run(meta_run)
    shots = adapt.load_shots_for_run(FLAGS.shots, model_config, num_shots=FLAGS["num-shots"].value, seed=seed)
    steps = FLAGS["adapt-steps"].value
    print(f"Adapting {meta_run} to {len(shots)} shots of {FLAGS.shots} ...", flush=True)
    generator = adapt.adapt(meta_run, shots, steps=steps, seed=seed, quiet=False)
    if FLAGS["save-adapted"].value:
        path = adapt.save_adapted(generator, meta_run, FLAGS["save-adapted"].value)
        print(f"Saved the adapted generator to {path}")
    return generator, shots


def main(argv):
    if len(argv) > 1:
        raise ValueError(f"generate.py takes no positional arguments. Received: {argv[1:]}")
    adapt_from = FLAGS["adapt-from"].value
    if bool(FLAGS.generator) == bool(adapt_from):
        raise ValueError(
            "Give --generator (a run folder, a .weights.h5 file or a .keras archive) or "
            "--adapt-from (a few-shot run) with --shots, exactly one of the two."
        )
    if adapt_from and not FLAGS.shots:
        raise ValueError("--adapt-from needs --shots: a folder of images or a class such as digits:9.")
    num_images, batch_size = FLAGS["num-images"].value, FLAGS["batch-size"].value
    interpolate, steps = FLAGS.interpolate, FLAGS["steps-per-segment"].value
    _check_options(num_images, batch_size, interpolate, steps)
    write_pngs_too = pngs_wanted(FLAGS.pngs, grid=FLAGS.grid, interpolate=interpolate)
    output_dir = FLAGS["output-dir"].value

    from tfgen import sampling

    seed = FLAGS.seed
    shots = None
    if FLAGS["adapt-from"].value:
        generator, shots = adapted_generator(seed)
    else:
        generator = sampling.load_generator(
            FLAGS.generator, ema=not FLAGS["no-ema"].value, resolution=FLAGS.resolution
        )
    os.makedirs(output_dir, exist_ok=True)
    if FLAGS.grid:
        # The grid needs every image at once; reuse them for the PNGs if wanted.
        images = sampling.generate(generator, num_images, batch_size=batch_size, seed=seed, progress=True)
        if write_pngs_too:
            save_pngs(images, output_dir, start=0, total=num_images)
            print(f"Wrote {num_images} images to {output_dir}")
        path = os.path.join(output_dir, "grid.png")
        if shots is None:
            grid = sampling.make_grid(images, nrow=FLAGS.nrow)
        else:
            grid = sampling.make_shots_grid(shots, images, nrow=FLAGS.nrow)
        sampling.save_image(path, grid)
        print(f"Wrote {path}")
    elif write_pngs_too:
        start = 0
        for batch in sampling.iter_generate(
            generator, num_images, batch_size=batch_size, seed=seed, progress=True
        ):
            save_pngs(batch, output_dir, start=start, total=num_images)
            start += len(batch)
        print(f"Wrote {num_images} images to {output_dir}")
    if interpolate:
        frames = sampling.interpolation_frames(
            generator, range(seed, seed + interpolate), steps, seed=seed, progress=True
        )
        path = os.path.join(output_dir, "interpolation.gif")
        sampling.save_gif(path, frames, duration_ms=FLAGS["frame-duration-ms"].value)
        print(f"Wrote {path} ({len(frames)} frames)")


if __name__ == "__main__":
    app.run(clean_errors(main), flags_parser=parse_flags)
