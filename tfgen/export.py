"""Export a trained generator as a model that serves without tfgen.

A run folder holds ``.weights.h5`` + ``config.json``, which need tfgen to
rebuild the model. :func:`export_run` (a run folder) and
:func:`export_generator` (a generator object) write instead:

* ``format="saved_model"``: a TensorFlow SavedModel directory that
  ``tf.saved_model.load`` (or TF Serving) runs with TensorFlow alone;
* ``format="tflite"``: a ``.tflite`` file of ``serving_default``, converted
  with TFLite builtin ops only (no ``SELECT_TF_OPS``, so the plain TFLite
  runtime runs it). It has no signature defs (see :func:`_write_tflite`):
  its input tensors are ``latents`` (and ``class_index``), resizable in N,
  its one output the uint8 images;
* ``format="keras"``: a ``.keras`` archive of the generator (it needs tfgen
  imported to load: its layers are tfgen's; the noise layers keep drawing
  their own noise there).

The SavedModel and TFLite signatures (``N`` images at a time, any ``N``):

* ``serving_default(latents float32 [N, latent_dim][, class_index int32 [N]])
  -> {"images": uint8 [N, R, R, C]}``. ``class_index`` only for conditional
  generators (cDCGAN). **The injected per-pixel noise is zero here** (an
  explicit choice, StyleGAN2-ADA's ``noise_mode='none'``): the image is a
  function of the latents alone. For generators with noise layers (FastGAN,
  StyleGAN) it differs from ``tfgen.generate``'s image by the noise's
  contribution; for the others it is ``tfgen.generate``'s image.
* ``with_noise(latents[, class_index], noise_<layer> float32 [N, H, W, 1],
  ...) -> {"images": ...}``, only for generators with noise layers: one
  standard-normal map per noise layer is an input (:func:`noise_input_specs`
  names them). Given the maps ``tfgen.generate`` draws,
  :func:`serving_inputs`, it gives ``tfgen.generate``'s images.

Either way the graph has no random op (checked on export, see
:func:`random_ops`). Images are ``tfgen.sampling.postprocess_images``' uint8
(``round-half-to-even((x + 1) * 127.5)`` clipped to [0, 255], in float32),
computed in the graph. Measured on CPU (tests/test_export.py): the SavedModel
gives ``tfgen.generate``'s images (bit for bit in one process; in another,
float rounding may move a rare pixel one grey level); TFLite agrees within
:data:`TFLITE_TOLERANCE` grey levels (its kernels round differently).

Exportable: generators that map latents (and a class index) to images:
FastGAN, DCGAN, cDCGAN, InfoGAN, StyleGAN, and FIGR (a FIGR run holds the
meta-learned initialisation; export the generator ``tfgen.adapt`` returns for
a class). Not exportable yet, with an :class:`~tfgen.errors.InputError`:
shot morphing, L2L-GAN, DAGAN and LoFGAN, whose generators hold a class's
shot images and transform them (shot morphing also draws its augmentations
at random in the call): a latent-only signature cannot carry the shots, and
no image-input signature is written yet. A generator class says it is
exportable with a class attribute ``exportable = True``.
"""

from __future__ import annotations

import os
import shutil

import numpy as np

from tfgen.errors import InputError
from tfgen.layers import noise_layers, noise_source
from tfgen.runs import load_generator
from tfgen.sampling import create_input_noise, generate

FORMATS = ("saved_model", "tflite", "keras")
DEFAULT_SIGNATURE = "serving_default"
NOISE_SIGNATURE = "with_noise"
# Largest |TFLite - SavedModel| difference in grey levels (uint8): TFLite's
# (XNNPACK) kernels sum in another order, and a float32 rounding step before
# the final rounding moves a pixel across a .5 boundary. Measured on a tiny
# FastGAN: max 1, on 2e-5 of the pixels.
TFLITE_TOLERANCE = 1
# Op types that draw random numbers (stateful and stateless), by name part.
_RANDOM_OP_MARKS = ("Random", "Rng", "Multinomial", "TruncatedNormal", "Shuffle")


# ------------------------------------------------------------------ checks


def _check_exportable(generator):
    if getattr(type(generator), "exportable", False) is not True:
        raise InputError(
            f"{type(generator).__name__} is not exportable yet: tfgen.export serves generators that map "
            "latents (and a class index) to images (FastGAN, DCGAN, cDCGAN, InfoGAN, StyleGAN, FIGR). "
            "Shot morphing, L2L-GAN, DAGAN and LoFGAN generators hold a class's shot images and transform "
            "them, which a latent-only signature cannot carry; use tfgen.load_generator and "
            "tfgen.generate for them."
        )
    if getattr(generator, "latent_dim", None) is None:
        raise InputError(f"{type(generator).__name__} has no `latent_dim`; cannot write a latents signature.")


def _check_format(format):
    if format not in FORMATS:
        raise InputError(f"format must be one of {FORMATS}. Received: format={format!r}")
    return format


def _check_target(path, format, overwrite):
    path = os.fspath(path)
    suffix = {"tflite": ".tflite", "keras": ".keras"}.get(format)
    if suffix and not path.endswith(suffix):
        raise InputError(f"format={format!r} writes a {suffix} file; the path must end in {suffix}. Received: {path!r}")
    if os.path.exists(path):
        if not overwrite:
            raise InputError(f"{path!r} already exists; pass overwrite=True to replace it, or choose another path.")
        if os.path.isdir(path):
            shutil.rmtree(path)
        else:
            os.remove(path)
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    return path


def is_conditional(generator):
    """Whether ``generator`` takes ``(z, labels)`` (a cDCGAN): its signatures then have ``class_index``."""
    return int(getattr(generator, "num_classes", 0) or 0) > 0


def random_ops(graph):
    """Op types in ``graph`` (a ``tf.Graph``, e.g. a concrete function's
    ``.graph``) and its function library that draw random numbers, sorted."""
    graph_def = graph.as_graph_def()
    types = {node.op for node in graph_def.node}
    for function in graph_def.library.function:
        types.update(node.op for node in function.node_def)
    return sorted(t for t in types if any(mark in t for mark in _RANDOM_OP_MARKS))


# ------------------------------------------------------------------- noise


def _noise_input_name(generator, layer):
    """``noise_<layer path below the model>``, e.g. ``noise_feat_8_noise1``."""
    parts = layer.path.split("/")
    if parts and parts[0] == generator.name:
        parts = parts[1:]
    return "noise_" + "_".join(parts)


def noise_input_specs(generator):
    """``[(input name, (H, W)), ...]``: one ``with_noise`` input per noise layer,
    in the generator's layer order ([] when it has no noise layers)."""
    layers = noise_layers(generator)
    if not layers:
        return []
    sizes = {}

    def record(layer, shape):
        sizes[id(layer)] = (int(shape[1]), int(shape[2]))
        return np.zeros([int(d) for d in shape], np.float32)

    with noise_source(generator, record):
        generator(np.zeros((1, int(generator.latent_dim)), np.float32), training=False)
    return [(_noise_input_name(generator, layer), sizes[id(layer)]) for layer in layers]


def serving_inputs(generator, num_images, *, seed=0):
    """The inputs, by signature name, under which the exported signatures
    reproduce ``tfgen.generate(generator, num_images, batch_size=num_images,
    seed=seed)``: ``latents`` (row i of ``create_input_noise(num_images,
    latent_dim, seed)``), ``class_index`` for conditional generators (the
    generator's own default labels) and one ``noise_*`` map per noise layer
    (the noise ``generate`` draws; feed them to ``with_noise``). NumPy arrays.
    """
    drawn = {}

    def draw(layer, shape):
        noise = layer.draw(shape)
        drawn[id(layer)] = np.asarray(noise, np.float32)
        return noise

    with noise_source(generator, draw) as layers:
        generate(generator, num_images, batch_size=num_images, seed=seed)
    inputs = {"latents": create_input_noise(num_images, int(generator.latent_dim), seed=seed)}
    if is_conditional(generator):
        inputs["class_index"] = np.asarray(generator.default_labels(num_images), np.int32)
    for layer in layers:
        inputs[_noise_input_name(generator, layer)] = drawn[id(layer)]
    return inputs


# ---------------------------------------------------------------- graphs


def _to_uint8(tf, images):
    """postprocess_images(images, "uint8") in the graph: round half to even
    (numpy's rint, TensorFlow's round) of (x + 1) * 127.5 in float32, clipped."""
    x = tf.cast(images, tf.float32)
    return tf.cast(tf.clip_by_value(tf.round((x + 1.0) * 127.5), 0.0, 255.0), tf.uint8)


def _add_endpoints(archive, generator):
    """Add ``serving_default`` (zero noise) and, with noise layers,
    ``with_noise`` to ``archive``; returns {name: concrete function}."""
    import tensorflow as tf

    conditional = is_conditional(generator)
    head = [tf.TensorSpec([None, int(generator.latent_dim)], tf.float32, name="latents")]
    if conditional:
        head.append(tf.TensorSpec([None], tf.int32, name="class_index"))
    layers = noise_layers(generator)
    noise_specs = [tf.TensorSpec([None, h, w, 1], tf.float32, name=name) for name, (h, w) in noise_input_specs(generator)]

    def images(args, source):
        latents = args[0]
        with noise_source(generator, source):
            x = generator((latents, args[1]) if conditional else latents, training=False)
        return {"images": _to_uint8(tf, x)}

    def serving_default(*args):
        return images(args, lambda layer, shape: tf.zeros(shape, tf.float32))

    def with_noise(*args):
        maps = {id(layer): noise for layer, noise in zip(layers, args[len(head) :])}
        return images(args, lambda layer, shape: maps[id(layer)])

    functions = {DEFAULT_SIGNATURE: archive.add_endpoint(DEFAULT_SIGNATURE, serving_default, input_signature=head)}
    if layers:
        functions[NOISE_SIGNATURE] = archive.add_endpoint(
            NOISE_SIGNATURE, with_noise, input_signature=head + noise_specs
        )
    concrete = {name: fn.get_concrete_function() for name, fn in functions.items()}
    for name, function in concrete.items():
        found = random_ops(function.graph)
        if found:  # a layer drew noise that noise_source does not reach
            raise RuntimeError(f"The exported {name!r} graph of {type(generator).__name__} has random ops: {found}.")
    return concrete


def _write_saved_model(generator, path):
    import keras

    archive = keras.export.ExportArchive()
    archive.track(generator)
    _add_endpoints(archive, generator)
    archive.write_out(path, verbose=False)


def _write_tflite(generator, path):
    """``serving_default`` (zero noise) as a TFLite flatbuffer with builtin ops only.

    Converted from the frozen concrete function: converting the SavedModel
    (from_saved_model, or from_concrete_functions with a trackable object)
    left one Conv2D of a tiny FastGAN as a TF (Select) op in TF 2.21. The
    frozen path takes one function and writes no signature defs, so the
    ``with_noise`` signature is not in the ``.tflite`` file and its tensors
    are read by index (``Interpreter.get_input_details``).
    """
    import keras
    import tensorflow as tf

    archive = keras.export.ExportArchive()
    archive.track(generator)
    function = _add_endpoints(archive, generator)[DEFAULT_SIGNATURE]
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]  # no SELECT_TF_OPS
    try:
        flatbuffer = converter.convert()
    except Exception as error:  # the converter raises its own ConverterError
        raise InputError(
            f"{type(generator).__name__} does not convert to TFLite with builtin ops only: {error}"
        ) from error
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(flatbuffer)
    os.replace(tmp, path)


# ----------------------------------------------------------------- public


def export_generator(generator, path, *, format="saved_model", overwrite=False):
    """Write ``generator`` (a Keras generator, e.g. from ``tfgen.load_generator``
    or ``tfgen.adapt``) to ``path`` as ``format`` (see the module doc for the
    formats, signatures and which generators export). Returns ``path``.

    ``path``: a directory for ``"saved_model"``, a ``.tflite`` or ``.keras``
    file otherwise; an existing one is replaced only with ``overwrite=True``.
    Raises :class:`~tfgen.errors.InputError` for an unknown format, a path
    that exists, or a generator that is not exportable (and says why).
    """
    _check_format(format)
    _check_exportable(generator)
    path = _check_target(path, format, overwrite)
    if format == "keras":
        generator.save(path)
    elif format == "tflite":
        _write_tflite(generator, path)
    else:
        _write_saved_model(generator, path)
    return path


def export_run(run_dir, path, *, format="saved_model", ema=True, overwrite=False):
    """Export the generator of the run folder ``run_dir`` (its EMA weights
    when it has them, as ``tfgen.load_generator``) to ``path`` as ``format``
    (``"saved_model"``, ``"tflite"`` or ``"keras"``). Returns ``path``.
    See :func:`export_generator`."""
    _check_format(format)
    return export_generator(load_generator(run_dir, ema=ema), path, format=format, overwrite=overwrite)
