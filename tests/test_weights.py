"""Tests for tfgen.weights: atomic saving and loading that never fits silently."""

import os

import h5py
import keras
import numpy as np
import pytest

from tfgen.families.fastgan.networks import FastGANDiscriminator, FastGANGenerator
from tfgen.weights import (
    load_weights_checked,
    model_weights_layout,
    non_finite_datasets,
    read_weights_layout,
    save_weights_atomic,
)


class _TwoDense(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.first = keras.layers.Dense(4)
        self.second = keras.layers.Dense(3)
        self.build((None, 8))

    def build(self, input_shape):
        self.first.build(input_shape)
        self.second.build((None, 4))
        self.built = True

    def call(self, x):
        return self.second(self.first(x))


def _tiny_generator(resolution=64):
    return FastGANGenerator(output_resolution=resolution, latent_dim=16, ngf=8)


def _values(model):
    return [np.array(v.numpy()) for v in model.weights]


def test_save_weights_atomic_round_trip_leaves_no_temp_file(tmp_path):
    model = _TwoDense()
    path = tmp_path / "nested" / "dir" / "m.weights.h5"
    save_weights_atomic(model, str(path))
    assert sorted(os.listdir(path.parent)) == ["m.weights.h5"]

    other = _TwoDense()
    load_weights_checked(other, str(path))
    for a, b in zip(_values(model), _values(other)):
        np.testing.assert_array_equal(a, b)


def test_save_weights_atomic_rejects_wrong_suffix(tmp_path):
    with pytest.raises(ValueError, match=r"\.weights\.h5"):
        save_weights_atomic(_TwoDense(), str(tmp_path / "m.h5"))


def test_layout_matches_h5_datasets(tmp_path):
    model = _TwoDense()
    path = str(tmp_path / "m.weights.h5")
    model.save_weights(path)
    with h5py.File(path) as f:
        expected = {}
        f.visititems(lambda n, o: expected.update({n: o.shape}) if isinstance(o, h5py.Dataset) else None)
    assert read_weights_layout(path) == expected
    assert model_weights_layout(model) == expected
    assert sorted(expected.values()) == sorted(tuple(v.shape) for v in model.weights)


class _DenseStack(keras.Model):
    def __init__(self, depth, **kwargs):
        super().__init__(**kwargs)
        self.blocks = [keras.layers.Dense(8) for _ in range(depth)]
        self.build((None, 8))

    def build(self, input_shape):
        for block in self.blocks:
            block.build((None, 8))
        self.built = True

    def call(self, x):
        for block in self.blocks:
            x = block(x)
        return x


def test_extra_layers_in_file_that_keras_would_skip_silently_raise(tmp_path):
    path = str(tmp_path / "deep.weights.h5")
    _DenseStack(3).save_weights(path)

    # Plain Keras loads the first two blocks, ignores the third, says nothing.
    shallow = _DenseStack(2)
    shallow.load_weights(path)

    target = _DenseStack(2)
    before = _values(target)
    with pytest.raises(ValueError, match="does not fit") as info:
        load_weights_checked(target, path)
    message = str(info.value)
    assert path in message and "2 not in the model" in message
    for a, b in zip(before, _values(target)):  # nothing was assigned
        np.testing.assert_array_equal(a, b)


def test_optimizer_state_in_file_is_ignored(tmp_path):
    inputs = keras.Input((8,))
    model = keras.Model(inputs, keras.layers.Dense(3, name="d")(inputs))
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.ones((4, 8)), np.ones((4, 3)), verbose=0)
    path = str(tmp_path / "m.weights.h5")
    model.save_weights(path)
    assert any(k.startswith("optimizer/") for k in _all_datasets(path))

    inputs = keras.Input((8,))
    fresh = keras.Model(inputs, keras.layers.Dense(3, name="d")(inputs))
    load_weights_checked(fresh, path)
    np.testing.assert_array_equal(fresh.get_layer("d").kernel.numpy(), model.get_layer("d").kernel.numpy())


def _all_datasets(path):
    names = []
    with h5py.File(path) as f:
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
    return names


def test_missing_and_non_hdf5_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_weights_checked(_TwoDense(), str(tmp_path / "none.weights.h5"))
    bogus = tmp_path / "bogus.weights.h5"
    bogus.write_text("not hdf5")
    with pytest.raises(ValueError, match="not a readable HDF5"):
        load_weights_checked(_TwoDense(), str(bogus))


def _distinctive_generator():
    """A tiny generator whose weights differ from a fresh one's in every kind of variable.

    One training-mode call with BN momentum 0 sets the moving statistics to
    batch statistics (a fresh model's inference output is ~1e-10, flat grey);
    the noise-injection strengths are made non-zero.
    """
    from tfgen.layers import NoiseInjection

    generator = _tiny_generator()
    layers = list(generator._flatten_layers())
    norms = [l for l in layers if isinstance(l, keras.layers.BatchNormalization)]
    for layer in norms:
        layer.momentum = 0.0
    generator(np.random.default_rng(0).standard_normal((16, 16), dtype=np.float32), training=True)
    for layer in norms:
        layer.momentum = 0.9
    for layer in layers:
        if isinstance(layer, NoiseInjection):
            layer.weight.assign(0.1)
    return generator


def test_generator_weights_round_trip_gives_identical_images(tmp_path):
    from tfgen.sampling import generate

    generator = _distinctive_generator()
    path = str(tmp_path / "generator.weights.h5")
    save_weights_atomic(generator, path)

    rebuilt = _tiny_generator()
    load_weights_checked(rebuilt, path)
    for a, b in zip(_values(generator), _values(rebuilt)):
        np.testing.assert_array_equal(a, b)
    # generate() seeds the injected noise itself, so images match across a reload
    # (the SeedGenerator states are not part of .weights.h5).
    images = generate(generator, 3, seed=5)
    assert images.std() > 5  # real images, not a flat grey
    np.testing.assert_array_equal(images, generate(rebuilt, 3, seed=5))


def test_generator_keras_archive_round_trip_gives_identical_images(tmp_path):
    generator = _tiny_generator()  # noise weights 0: direct calls are deterministic
    path = str(tmp_path / "generator.keras")
    generator.save(path)
    rebuilt = keras.saving.load_model(path, compile=False)
    assert isinstance(rebuilt, FastGANGenerator)
    z = np.random.default_rng(1).standard_normal((2, 16)).astype(np.float32)
    np.testing.assert_allclose(generator(z), rebuilt(z), atol=1e-6)


def test_weights_of_another_resolution_raise_and_load_nothing(tmp_path):
    path = str(tmp_path / "g128.weights.h5")
    save_weights_atomic(_tiny_generator(128), path)
    target = _tiny_generator(64)
    before = _values(target)
    with pytest.raises(ValueError) as info:
        load_weights_checked(target, path, expected="FastGANGenerator(output_resolution=64)")
    message = str(info.value)
    assert path in message
    assert "output_resolution=64" in message
    assert "different shapes" in message or "not in the model" in message
    for a, b in zip(before, _values(target)):  # no partial load
        np.testing.assert_array_equal(a, b)


def test_discriminator_weights_into_generator_raise(tmp_path):
    path = str(tmp_path / "discriminator.weights.h5")
    save_weights_atomic(FastGANDiscriminator(input_resolution=64, ndf=8, name="discriminator"), path)
    with pytest.raises(ValueError, match="saved from a model named 'discriminator'"):
        load_weights_checked(_tiny_generator(), path)


def _tiny_dense():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    assert model.built
    return model


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_save_weights_atomic_refuses_non_finite_and_keeps_previous_file(tmp_path, bad):
    model = _tiny_dense()
    path = tmp_path / "m.weights.h5"
    save_weights_atomic(model, str(path))
    good_bytes = path.read_bytes()

    kernel = model.layers[0].kernel
    values = kernel.numpy()
    values[1, 0] = bad
    kernel.assign(values)
    with pytest.raises(ValueError, match="diverged") as info:
        save_weights_atomic(model, str(path))
    message = str(info.value)
    assert str(path) in message and "Not writing" in message
    assert "1 variable(s)" in message and kernel.path in message
    assert "left untouched" in message
    assert path.read_bytes() == good_bytes
    assert sorted(os.listdir(tmp_path)) == ["m.weights.h5"]  # no temp file left


def test_save_weights_atomic_refuses_non_finite_without_writing_a_new_file(tmp_path):
    model = _tiny_dense()
    model.layers[0].bias.assign(np.full((2,), np.nan, np.float32))
    path = tmp_path / "new" / "m.weights.h5"
    with pytest.raises(ValueError, match="NaN or Inf") as info:
        save_weights_atomic(model, str(path))
    assert "no file existed there before" in str(info.value)
    assert not path.exists()


class _Counter(keras.layers.Layer):
    def build(self, input_shape):
        self.count = self.add_weight(shape=(), dtype="int32", initializer="zeros", trainable=False)
        self.scale = self.add_weight(shape=(), initializer="ones")

    def call(self, x):
        return x * self.scale


def test_save_weights_atomic_skips_integer_variables(tmp_path):
    model = keras.Sequential([keras.Input((3,)), _Counter()])
    assert {str(v.dtype) for v in model.weights} == {"int32", "float32"}
    path = str(tmp_path / "m.weights.h5")
    save_weights_atomic(model, path)
    load_weights_checked(model, path)


def _poison(path, value=np.nan):
    """Put ``value`` into one element of the first model dataset of ``path``."""
    name = sorted(read_weights_layout(path))[0]
    with h5py.File(path, "r+") as f:
        data = f[name][()]
        data.flat[0] = value
        f[name][...] = data
    return name


def test_load_weights_checked_refuses_nan_and_loads_nothing(tmp_path):
    path = str(tmp_path / "m.weights.h5")
    save_weights_atomic(_tiny_dense(), path)
    assert non_finite_datasets(path) == []
    poisoned = _poison(path)
    assert non_finite_datasets(path) == [poisoned]

    target = _tiny_dense()
    before = _values(target)
    with pytest.raises(ValueError, match="diverged") as info:
        load_weights_checked(target, path)
    message = str(info.value)
    assert path in message and poisoned in message
    assert "1 of its 2 arrays" in message and "earlier checkpoint" in message
    for a, b in zip(before, _values(target)):  # nothing was assigned
        np.testing.assert_array_equal(a, b)


def test_load_weights_refuses_inf_through_mixin(tmp_path):
    path = str(tmp_path / "g.weights.h5")
    save_weights_atomic(_tiny_generator(), path)
    _poison(path, np.inf)
    target = _tiny_generator()
    before = _values(target)
    with pytest.raises(ValueError, match="NaN or Inf"):
        target.load_weights(path)  # CheckedWeightsMixin
    for a, b in zip(before, _values(target)):
        np.testing.assert_array_equal(a, b)


def test_finite_file_still_loads(tmp_path):
    source = _tiny_dense()
    source.layers[0].kernel.assign(np.arange(6, dtype=np.float32).reshape(3, 2))
    path = str(tmp_path / "m.weights.h5")
    save_weights_atomic(source, path)
    target = _tiny_dense()
    load_weights_checked(target, path)
    for a, b in zip(_values(source), _values(target)):
        np.testing.assert_array_equal(a, b)
