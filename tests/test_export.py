"""Tests for tfgen.export: SavedModel / TFLite / .keras exports that serve
without tfgen, with the noise as an input and no random op in the graph."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfgen
from tests.scripts import run_result_script
from tests.test_sampling import LATENT_DIM, _fake_run, _tiny_generator, _with_noise_weights
from tfgen.errors import InputError
from tfgen.export import (
    DEFAULT_SIGNATURE,
    NOISE_SIGNATURE,
    TFLITE_TOLERANCE,
    export_generator,
    export_run,
    random_ops,
    serving_inputs,
)
from tfgen.layers import noise_source

NUM_IMAGES = 6
SEED = 3


def _zero_noise_images(generator, inputs):
    """The generator's postprocessed images with every noise layer given zeros."""
    with noise_source(generator, lambda layer, shape: np.zeros([int(d) for d in shape], np.float32)):
        x = inputs["latents"] if "class_index" not in inputs else (inputs["latents"], inputs["class_index"])
        return tfgen.postprocess_images(generator(x, training=False))


def _call(signature, inputs):
    names = signature.structured_input_signature[1]
    return signature(**{k: tf.constant(v) for k, v in inputs.items() if k in names})["images"].numpy()


@pytest.fixture(scope="module")
def fastgan_run(tmp_path_factory):
    """A tiny FastGAN run folder whose noise layers matter (non-zero strengths)."""
    generator = _with_noise_weights(_tiny_generator())
    return _fake_run(str(tmp_path_factory.mktemp("runs") / "fake"), generator)


@pytest.fixture(scope="module")
def saved_model(fastgan_run, tmp_path_factory):
    return export_run(fastgan_run, str(tmp_path_factory.mktemp("export") / "saved_model"))


@pytest.fixture(scope="module")
def reference(fastgan_run):
    """(inputs by signature name, tfgen.generate's images, zero-noise images) of the run's generator."""
    generator = tfgen.load_generator(fastgan_run)
    inputs = serving_inputs(generator, NUM_IMAGES, seed=SEED)
    images = tfgen.generate(generator, NUM_IMAGES, batch_size=NUM_IMAGES, seed=SEED)
    return inputs, images, _zero_noise_images(generator, inputs)


def assert_same_images(served, expected):
    """The same uint8 images up to float rounding across processes: another
    process may run other oneDNN kernels, so a value on a rounding boundary
    can land one grey level off (seen: 1 pixel of 73728 on a loaded machine)."""
    difference = np.abs(served.astype(int) - expected.astype(int))
    assert served.shape == expected.shape and difference.max() <= 1
    assert np.mean(difference > 0) < 1e-3, np.mean(difference > 0)


FRESH_PROCESS = """
import json, sys
import numpy as np
import tensorflow as tf

folder = sys.argv[1]
model = tf.saved_model.load(folder + "/saved_model")
inputs = dict(np.load(folder + "/inputs.npz"))
out, signatures = {}, {}
for name, signature in model.signatures.items():
    wanted = signature.structured_input_signature[1]
    signatures[name] = sorted(wanted)
    out[name] = signature(**{k: tf.constant(v) for k, v in inputs.items() if k in wanted})["images"].numpy()
np.savez(folder + "/images.npz", **out)
print("RESULT " + json.dumps({"tfgen_imported": "tfgen" in sys.modules, "signatures": signatures,
                              "dtypes": {k: str(v.dtype) for k, v in out.items()}}))
"""


def test_saved_model_in_a_process_without_tfgen_gives_generate_images(saved_model, reference, tmp_path):
    inputs, images, zero_noise = reference
    os.symlink(saved_model, tmp_path / "saved_model")
    np.savez(tmp_path / "inputs.npz", **inputs)
    result = run_result_script(FRESH_PROCESS, str(tmp_path))
    assert result["tfgen_imported"] is False
    assert set(result["signatures"]) == {DEFAULT_SIGNATURE, NOISE_SIGNATURE}
    assert result["signatures"][DEFAULT_SIGNATURE] == ["latents"]
    assert len(result["signatures"][NOISE_SIGNATURE]) == 1 + 4  # latents + 2 noise maps at 8 and at 32 px
    out = np.load(tmp_path / "images.npz")
    assert result["dtypes"] == {DEFAULT_SIGNATURE: "uint8", NOISE_SIGNATURE: "uint8"}
    # with_noise, fed the noise tfgen.generate draws, is tfgen.generate (bit for bit but for float rounding).
    assert_same_images(out[NOISE_SIGNATURE], images)
    # serving_default: the same generator with zero noise.
    assert_same_images(out[DEFAULT_SIGNATURE], zero_noise)
    assert images.std() > 10 and np.abs(zero_noise.astype(int) - images).max() > 0  # not vacuous


def test_exported_graphs_have_no_random_ops(saved_model, fastgan_run):
    model = tf.saved_model.load(saved_model)
    for signature in model.signatures.values():
        assert random_ops(signature.graph) == []
    # The check sees random ops where there are some: the generator's own call draws noise.
    generator = tfgen.load_generator(fastgan_run)
    traced = tf.function(lambda z: generator(z, training=False)).get_concrete_function(
        tf.TensorSpec([None, LATENT_DIM], tf.float32)
    )
    assert any("Random" in op for op in random_ops(traced.graph))


@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated")
def test_tflite_uses_builtin_ops_and_agrees_with_the_saved_model(fastgan_run, saved_model, reference, tmp_path):
    inputs, _, _ = reference
    path = export_run(fastgan_run, str(tmp_path / "g.tflite"), format="tflite")
    with open(path, "rb") as f:
        assert b"Flex" not in f.read()  # no TF Select (flex) op
    interpreter = tf.lite.Interpreter(model_path=path)
    (latents,) = interpreter.get_input_details()
    assert latents["name"] == "latents"
    interpreter.resize_tensor_input(latents["index"], inputs["latents"].shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(latents["index"], inputs["latents"])
    interpreter.invoke()
    (output,) = interpreter.get_output_details()
    lite = interpreter.get_tensor(output["index"])
    served = _call(tf.saved_model.load(saved_model).signatures[DEFAULT_SIGNATURE], inputs)
    assert lite.dtype == np.uint8 and lite.shape == served.shape
    assert np.abs(lite.astype(int) - served).max() <= TFLITE_TOLERANCE


def _tflite_images(path, inputs):
    """Run a .tflite file on ``inputs`` (name -> array), matching its inputs by name."""
    interpreter = tf.lite.Interpreter(model_path=path)
    details = {d["name"]: d for d in interpreter.get_input_details()}
    assert sorted(details) == sorted(inputs)
    for name, value in inputs.items():
        interpreter.resize_tensor_input(details[name]["index"], value.shape)
    interpreter.allocate_tensors()
    for name, value in inputs.items():
        interpreter.set_tensor(details[name]["index"], value)
    interpreter.invoke()
    (output,) = interpreter.get_output_details()
    return interpreter.get_tensor(output["index"])


def _tiny_cdcgan():
    from tfgen.families.transfer.networks import DCGANGenerator

    generator = DCGANGenerator(resolution=32, channels=1, latent_dim=8, width=8, num_classes=3)
    generator((np.zeros((2, 8), np.float32), np.arange(2)), training=False)
    return generator


def _tiny_stylegan():
    from tests.test_style_sampling import tiny_generator

    return tiny_generator()


@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated")
@pytest.mark.parametrize("make_generator", [_tiny_cdcgan, _tiny_stylegan], ids=["cdcgan", "stylegan"])
def test_other_families_convert_to_tflite_with_builtin_ops(make_generator, tmp_path):
    """A class input (cDCGAN) and style layers with noise (StyleGAN) convert too."""
    generator = make_generator()
    saved = tf.saved_model.load(export_generator(generator, str(tmp_path / "saved")))
    path = export_generator(generator, str(tmp_path / "g.tflite"), format="tflite")
    with open(path, "rb") as f:
        assert b"Flex" not in f.read()
    inputs = serving_inputs(generator, 5, seed=2)
    inputs = {k: v for k, v in inputs.items() if k in ("latents", "class_index")}
    lite = _tflite_images(path, inputs)
    served = _call(saved.signatures[DEFAULT_SIGNATURE], inputs)
    assert lite.dtype == np.uint8 and lite.shape == served.shape and served.std() > 0
    assert np.abs(lite.astype(int) - served).max() <= TFLITE_TOLERANCE


def test_keras_archive_reloads_the_generator(fastgan_run, tmp_path):
    path = export_run(fastgan_run, str(tmp_path / "g.keras"), format="keras")
    reloaded = keras.saving.load_model(path)
    generator = tfgen.load_generator(fastgan_run)
    assert type(reloaded) is type(generator)
    for a, b in zip(reloaded.weights, generator.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_conditional_dcgan_exports_with_a_class_input(tmp_path):
    from tfgen.families.transfer.networks import DCGANGenerator

    generator = DCGANGenerator(resolution=32, channels=1, latent_dim=8, width=8, num_classes=3)
    norms = [l for l in generator._flatten_layers() if isinstance(l, keras.layers.BatchNormalization)]
    for layer in norms:  # moving statistics from one batch: images that are not flat
        layer.momentum = 0.0
    z = np.random.default_rng(0).standard_normal((16, 8), dtype=np.float32)
    generator((z, np.arange(16) % 3), training=True)
    path = export_generator(generator, str(tmp_path / "cdcgan"))
    model = tf.saved_model.load(path)
    assert set(model.signatures) == {DEFAULT_SIGNATURE}  # no noise layers
    signature = model.signatures[DEFAULT_SIGNATURE]
    assert sorted(signature.structured_input_signature[1]) == ["class_index", "latents"]
    assert random_ops(signature.graph) == []
    inputs = {"latents": z[:6], "class_index": np.array([2, 2, 0, 1, 0, 2], np.int32)}
    expected = tfgen.postprocess_images(generator((inputs["latents"], inputs["class_index"]), training=False))
    np.testing.assert_array_equal(_call(signature, inputs), expected)
    # The class matters, and serving_inputs' default labels reproduce tfgen.generate.
    other = dict(inputs, class_index=np.array([0, 1, 2, 2, 1, 0], np.int32))
    assert np.any(_call(signature, other) != expected)
    defaults = serving_inputs(generator, NUM_IMAGES, seed=SEED)
    np.testing.assert_array_equal(
        _call(signature, defaults), tfgen.generate(generator, NUM_IMAGES, batch_size=NUM_IMAGES, seed=SEED)
    )


def test_stylegan_noise_is_an_input(tmp_path):
    from tests.test_style_sampling import tiny_generator

    generator = tiny_generator()
    for layer in generator._flatten_layers():
        if type(layer).__name__ == "NoiseInjection":
            layer.weight.assign(np.full(layer.weight.shape, 0.5, np.float32))
    path = export_generator(generator, str(tmp_path / "style"))
    model = tf.saved_model.load(path)
    for signature in model.signatures.values():
        assert random_ops(signature.graph) == []
    inputs = serving_inputs(generator, 4, seed=1)
    images = tfgen.generate(generator, 4, batch_size=4, seed=1)
    np.testing.assert_array_equal(_call(model.signatures[NOISE_SIGNATURE], inputs), images)
    np.testing.assert_array_equal(
        _call(model.signatures[DEFAULT_SIGNATURE], inputs), _zero_noise_images(generator, inputs)
    )


def test_unsupported_family_and_bad_arguments_give_clear_errors(tmp_path, saved_model):
    from tfgen.families.shotmorph.networks import ShotMorphGenerator

    with pytest.raises(InputError, match="ShotMorphGenerator is not exportable yet.*shot images"):
        export_generator(ShotMorphGenerator(resolution=16, channels=1), str(tmp_path / "x"))
    generator = tfgen.Generator(output_resolution=64, latent_dim=LATENT_DIM, ngf=8)
    with pytest.raises(InputError, match="format must be one of"):
        export_generator(generator, str(tmp_path / "x"), format="onnx")
    with pytest.raises(InputError, match="must end in .tflite"):
        export_generator(generator, str(tmp_path / "x.bin"), format="tflite")
    with pytest.raises(InputError, match="already exists"):
        export_generator(generator, saved_model)
    assert not os.path.exists(tmp_path / "x")


def test_a_fresh_generator_summarises_and_exports(tmp_path, capsys):
    generator = tfgen.Generator(output_resolution=64, latent_dim=LATENT_DIM, ngf=8)
    generator.summary()
    assert "sle_4_64" in capsys.readouterr().out
    generator.export(str(tmp_path / "keras_export"), format="tf_saved_model", verbose=False)
    model = tf.saved_model.load(str(tmp_path / "keras_export"))
    z = tfgen.create_input_noise(2, LATENT_DIM, seed=0)
    assert tuple(model.serve(z).shape) == (2, 64, 64, 3)
    served = tf.saved_model.load(export_generator(generator, str(tmp_path / "served")))
    assert set(served.signatures) == {DEFAULT_SIGNATURE, NOISE_SIGNATURE}
