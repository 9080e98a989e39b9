r"""Generate images from a trained generator.

    python generate.py --generator runs/fastgan_digits --num-images 100 --output-dir out/

writes ``out/000000.png``, ``out/000001.png``, ... . ``--generator`` is a run
folder (``config.json`` + ``generator_ema.weights.h5``), a ``.weights.h5``
file (with the run's ``config.json`` beside it, or ``--resolution`` for a
FastGAN generator with default widths) or a ``.keras`` archive. A run that
is still training (or was stopped) has no final weights yet: its newest
snapshot (``train.py --snapshot-every``) or checkpoint is used, and one line
says which; ``--step N`` picks the snapshot, checkpoint or final weights of
step N of any run folder.

Outputs: one PNG per image by default. ``--grid`` writes ``grid.png`` with
the ``--num-images`` images instead, and ``--interpolate K`` writes
``interpolation.gif`` walking (slerp in z) through the noise of seeds
``seed .. seed+K-1`` and back; the two can be combined, and with either of
them the individual PNGs are written only if ``--pngs`` is given too.

Few-shot adaptation (shot morphing, FIGR's Algorithm 2, or fine-tuning a
transfer baseline):

    python generate.py --adapt-from runs/shotmorph_digits --shots digits:9 \
        --num-images 64 --grid --output-dir out/
    python generate.py --adapt-from runs/figr_digits --shots digits:9 \
        --adapt-steps 10 --num-images 64 --grid --output-dir out/

registers the shots (shot morphing, ``--method morph``; no steps) or copies
the run's meta-weights, adapts them to ``--num-shots`` images of the
new class (a folder of images or a class such as ``digits:9``) and generates
from the adapted generator; the run folder is not modified. With ``--grid``
the shots fill the top row. ``--save-adapted DIR`` keeps the adapted
generator as a run folder that ``--generator DIR`` loads later.

StyleGAN runs adapt through their AdaIN maps (``--method adain``, their
default): per-shot latents and the affine maps are fitted to the shots, and
the adapted generator samples between the fitted latents (``--sampling
interpolate``; ``--interpolate`` then walks through all of them) or from
random z (``--sampling random``):

    python generate.py --adapt-from runs/stylegan_digits --shots digits:9 \
        --num-shots 10 --num-images 64 --grid --interpolate 2 --output-dir out/

An L2L-GAN run's generator already stores the p images of each held-out
class it was trained for (``--generator runs/l2l_glyphs`` draws from them);
``--adapt-from`` gives it the shots of another class instead (``--method
condition``), fine-tuned on them for ``--adapt-steps`` steps when that is > 0:

    python generate.py --adapt-from runs/l2l_glyphs --shots glyphs:greek/ω \
        --num-shots 2 --num-images 64 --grid --output-dir out/

Style-based generators also take ``--truncation-psi`` / ``--truncation-cutoff``
and ``--style-mixing 3x5`` (``style_mixing.png``: coarse styles from the row
seeds, fine ones from the column seeds, from layer ``--crossover`` on).
"""

from __future__ import annotations

import os

import dataclasses

from absl import flags

from tfgen.cli import (
    command_runner,
    define_setting_flags,
    flag_name,
    flag_or,
    setting_fields,
    settings_from_flags,
)
from tfgen.errors import InputError
from tfgen.adaptation import adapt_methods
from tfgen.registry import adaptable_families, adapter_settings, get_family

FLAGS = flags.FLAGS

flags.DEFINE_string(
    "generator", None, "Run folder, .weights.h5 file (config.json beside it) or .keras archive."
)
flags.DEFINE_integer(
    "step", None,
    "A run folder's generator of this training step: its snapshot, checkpoint or final weights (an error "
    "lists the steps it has). Default: the final weights; for an unfinished run, its newest snapshot or "
    "checkpoint (one line says which).",
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
flags.DEFINE_enum(
    "mixed-precision", "off", ["off", "bfloat16", "float16", "auto"],
    "Precision the generator computes in (weights stay float32): off (float32; the images of a seed are "
    "reproducible), bfloat16 (about 2x faster on CPUs with AMX), float16 (GPUs), auto (what measures fastest here).",
)

# Few-shot adaptation.
flags.DEFINE_string(
    "adapt-from", None,
    f"A few-shot run folder ({', '.join(adaptable_families())}) to adapt to --shots (instead of --generator).",
)
flags.DEFINE_string("shots", None, "The new class: a folder of images, or a class such as digits:9 or animals:giraffe.")
flags.DEFINE_integer("num-shots", None, "How many shots to take (default: the run's --shots, 4).")
flags.DEFINE_integer("adapt-steps", None, "Adaptation steps K (default: the run's, FIGR 10, DCGANs 300; --method bsa 500).")
flags.DEFINE_string("save-adapted", None, "Also save the adapted generator as a run folder here.")


def method_help():
    """--method's help, in the families' words: each method with the families
    that offer it, then each family's default."""
    offered, defaults = {}, {}
    for name in adaptable_families():
        family = get_family(name)
        methods = adapt_methods(family)
        defaults.setdefault(methods[0], []).append(name)
        for method in methods:
            offered.setdefault((method, family.method_help.get(method, "")), []).append(name)
    described = [f"{method} ({', '.join(names)}){': ' + text if text else ''}"
                 for (method, text), names in sorted(offered.items())]  # fmt: skip
    default = ", ".join(f"{method} for {', '.join(names)}" for method, names in defaults.items())
    return f"Adaptation method: {'; '.join(described)}. Default: {default}."


flags.DEFINE_enum(
    "method", None, sorted({m for name in adaptable_families() for m in adapt_methods(get_family(name))}), method_help()
)

flags.DEFINE_enum(
    "finetune-images", None, ["augmented", "morphs"],
    "DCGANs (--method finetune or cdc): what G and D are fine-tuned on: augmented (the shots shifted, rotated "
    "and zoomed; the default) or morphs (those plus in-betweens of pairs of shots, registered and warped onto "
    "each other as shot morphing does).",
)

# The adaptation settings some families take (StyleGAN's AdaIN settings), one flag
# per field, defined by the family's settings class.
ADAPTER_SETTINGS = adapter_settings()
for _, _, settings_class in ADAPTER_SETTINGS:
    define_setting_flags(settings_class)

# Style-based generators.
flags.DEFINE_float("truncation-psi", None, "StyleGAN: truncation psi (1: none, 0: the average image); DCGAN / cDCGAN: z scaled by it.")
flags.DEFINE_integer("truncation-cutoff", None, "StyleGAN: truncate only the first this many style layers (0: all).")
flags.DEFINE_string(
    "style-mixing", None,
    "StyleGAN: write style_mixing.png, a ROWSxCOLS grid (e.g. 3x5) of seeds from --seed: coarse "
    "styles from the row's seed, fine ones from the column's.",
)  # fmt: skip
flags.DEFINE_integer("crossover", None, "StyleGAN: first style layer a --style-mixing column gives (default: half).")


def _check_options(num_images, batch_size, interpolate, steps_per_segment):
    if num_images < 1 or batch_size < 1:
        raise InputError(
            f"--num-images and --batch-size must be >= 1. Received: --num-images={num_images}, "
            f"--batch-size={batch_size}"
        )
    if interpolate and (interpolate < 2 or steps_per_segment < 1):
        raise InputError(
            "--interpolate needs at least 2 seeds and --steps-per-segment >= 1. Received: "
            f"--interpolate={interpolate}, --steps-per-segment={steps_per_segment}"
        )


def pngs_wanted(pngs, *, grid, interpolate, style_mixing=False):
    """Individual PNGs by default; only on request when a grid, GIF or style mixing grid is asked for."""
    return pngs if pngs is not None else not (grid or interpolate or style_mixing)


def save_pngs(images, output_dir, *, start, total):
    """Write uint8 images as ``<index>.png``, indices from ``start``, zero-padded for ``total``."""
    from tfgen import sampling

    digits = max(6, len(str(total - 1)))
    for offset, image in enumerate(images):
        sampling.save_image(os.path.join(output_dir, f"{start + offset:0{digits}d}.png"), image)


def adapter_setting_options():
    """``{option: settings}`` for each family settings class whose flags were
    given (--adapt-steps gives its ``steps``). Given for a run of another
    family, its adaptation refuses the option by name."""
    options = {}
    for _, option, settings_class in ADAPTER_SETTINGS:
        if any(FLAGS[flag_name(field.name)].present for field in setting_fields(settings_class)):
            values = settings_from_flags(settings_class, {}, FLAGS)
            if "steps" in {field.name for field in dataclasses.fields(settings_class)}:
                values["steps"] = flag_or("adapt-steps", settings_class.steps)
            options[option] = settings_class(**values)
            options[option].validate()
    return options


def parse_grid_shape(text):
    """``"3x5"`` -> (3, 5), or a ValueError."""
    rows, sep, cols = str(text).lower().partition("x")
    if not sep or not rows.strip().isdigit() or not cols.strip().isdigit() or int(rows) < 1 or int(cols) < 1:
        raise InputError(f"--style-mixing takes ROWSxCOLS, e.g. 3x5. Received: --style-mixing={text!r}")
    return int(rows), int(cols)


def apply_truncation(generator):
    """--truncation-psi (StyleGAN, DCGAN / cDCGAN) / --truncation-cutoff (StyleGAN) onto the generator."""
    psi, cutoff = FLAGS["truncation-psi"].value, FLAGS["truncation-cutoff"].value
    if psi is None and cutoff is None:
        return
    if not hasattr(generator, "truncation_psi") or (cutoff is not None and not hasattr(generator, "truncation_cutoff")):
        raise InputError(
            "--truncation-psi applies to StyleGAN and DCGAN / cDCGAN generators, --truncation-cutoff "
            f"to StyleGAN generators only; this is a {type(generator).__name__}."
        )
    if psi is not None:
        generator.truncation_psi = float(psi)
    if cutoff is not None:
        if cutoff < 0:
            raise InputError(f"--truncation-cutoff must be >= 0. Received: {cutoff}")
        generator.truncation_cutoff = int(cutoff)


def adapted_generator(seed):
    """(generator adapted to --shots from --adapt-from, the shots as uint8)."""
    from tfgen import adaptation

    run = adaptation.read_meta_run(FLAGS["adapt-from"].value)
    shots = adaptation.load_shots_for_run(FLAGS.shots, run.model_config, num_shots=FLAGS["num-shots"].value, seed=seed)
    options = adapter_setting_options()
    if FLAGS["finetune-images"].value:
        options["training_images"] = FLAGS["finetune-images"].value
    print(f"Adapting {run.folder} to {len(shots)} shots of {FLAGS.shots} ...", flush=True)
    adapted = adaptation.adapt_run(
        run, shots, steps=FLAGS["adapt-steps"].value, seed=seed, quiet=False, method=FLAGS.method, **options
    )
    if FLAGS["save-adapted"].value:
        path = adaptation.save_adapted(adapted, FLAGS["save-adapted"].value)
        print(f"Saved the adapted generator to {path}")
    return adapted.generator, shots


def interpolation_gif_frames(generator, count, steps, seed):
    """A generator adapted with fitted latents walks through them (all of them;
    ``count`` is ignored); any other walks in z through the seeds from ``seed``."""
    from tfgen import sampling

    if getattr(generator, "sampling", None) == "interpolate":
        from tfgen.style_sampling import fitted_interpolation_frames

        return fitted_interpolation_frames(generator, steps, noise_seed=seed)
    return sampling.interpolation_frames(generator, range(seed, seed + count), steps, seed=seed, progress=True)


def main(argv):
    if len(argv) > 1:
        raise InputError(f"generate.py takes no positional arguments. Received: {argv[1:]}")
    adapt_from = FLAGS["adapt-from"].value
    if bool(FLAGS.generator) == bool(adapt_from):
        raise InputError(
            "Give --generator (a run folder, a .weights.h5 file or a .keras archive) or "
            "--adapt-from (a few-shot run) with --shots, exactly one of the two."
        )
    if adapt_from and FLAGS.step is not None:
        raise InputError("--step picks a step of a --generator run folder; --adapt-from adapts the finished run.")
    if adapt_from and not FLAGS.shots:
        raise InputError("--adapt-from needs --shots: a folder of images or a class such as digits:9.")
    if adapt_from and FLAGS["mixed-precision"].value != "off":
        raise InputError(
            "--mixed-precision applies to --generator; an adapted generator computes in float32. "
            "Save it with --save-adapted DIR, then generate with --generator DIR --mixed-precision ..."
        )
    num_images, batch_size = FLAGS["num-images"].value, FLAGS["batch-size"].value
    interpolate, steps = FLAGS.interpolate, FLAGS["steps-per-segment"].value
    _check_options(num_images, batch_size, interpolate, steps)
    style_mixing = FLAGS["style-mixing"].value
    if style_mixing:
        parse_grid_shape(style_mixing)  # a malformed shape fails before anything slow
    write_pngs_too = pngs_wanted(
        FLAGS.pngs, grid=FLAGS.grid, interpolate=interpolate, style_mixing=bool(style_mixing)
    )
    output_dir = FLAGS["output-dir"].value

    from tfgen import sampling

    seed = FLAGS.seed
    shots = None
    if FLAGS["adapt-from"].value:
        generator, shots = adapted_generator(seed)
    else:
        from tfgen.runs import load_generator
        from tfgen.training.devices import PRECISION_NAMES, resolve_precision

        precision, why = resolve_precision(FLAGS["mixed-precision"].value)
        if why:
            print(f"Generating in {PRECISION_NAMES[precision]} (--mixed-precision auto: {why})", flush=True)
        generator = load_generator(
            FLAGS.generator, ema=not FLAGS["no-ema"].value, resolution=FLAGS.resolution, mixed_precision=precision,
            step=FLAGS.step,
        )  # an unfinished run, or --step: a warning line says which snapshot or checkpoint
    apply_truncation(generator)
    os.makedirs(output_dir, exist_ok=True)
    if FLAGS["style-mixing"].value:
        from tfgen.style_sampling import style_mixing_grid

        rows, cols = parse_grid_shape(FLAGS["style-mixing"].value)
        grid = style_mixing_grid(
            generator,
            list(range(seed, seed + rows)),
            list(range(seed + rows, seed + rows + cols)),
            crossover=FLAGS.crossover,
            noise_seed=seed,
        )
        path = os.path.join(output_dir, "style_mixing.png")
        sampling.save_image(path, grid)
        print(f"Wrote {path}")
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
        frames = interpolation_gif_frames(generator, interpolate, steps, seed)
        path = os.path.join(output_dir, "interpolation.gif")
        sampling.save_gif(path, frames, duration_ms=FLAGS["frame-duration-ms"].value)
        print(f"Wrote {path} ({len(frames)} frames)")


# --help's groups; each family's adaptation settings get a group of their own.
HELP_GROUPS = (
    ("input", ["generator", "step", "adapt-from", "shots", "num-shots", "no-ema", "mixed-precision"]),
    ("output", ["num-images", "batch-size", "seed", "output-dir", "grid", "nrow", "pngs", "interpolate",
                "steps-per-segment", "frame-duration-ms"]),
    ("few-shot adaptation", ["method", "adapt-steps", "finetune-images", "save-adapted"]),
    ("StyleGAN sampling", ["truncation-psi", "truncation-cutoff", "style-mixing", "crossover"]),
    *((f"{family} adaptation: --method {get_family(family).adapt_method} settings",
       [flag_name(field.name) for field in setting_fields(settings_class)])
      for family, _, settings_class in ADAPTER_SETTINGS),
)  # fmt: skip


run = command_runner("generate", main, __doc__, __name__, HELP_GROUPS)


if __name__ == "__main__":
    run()
