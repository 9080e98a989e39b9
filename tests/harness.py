"""Shared checks for layers and models, in the spirit of keras-hub's TestCase.

``run_layer_test`` checks, in one call: the layer builds from shapes and
gives the expected output shape; its config round-trips; ``.weights.h5`` and
``.keras`` round-trips reproduce the outputs exactly; and it runs under
mixed_bfloat16 with finite outputs.
"""

from __future__ import annotations

import os

import keras
import numpy as np


class _Holder(keras.Model):
    """Lets a bare layer use Model.save_weights / load_weights."""

    def __init__(self, layer):
        super().__init__()
        self.inner = layer
        self.built = True


def _holder(layer):
    return layer if isinstance(layer, keras.Model) else _Holder(layer)


def _call(layer, inputs, call_kwargs):
    out = layer(inputs, **call_kwargs)
    return keras.tree.map_structure(lambda t: keras.ops.convert_to_numpy(t).astype("float32"), out)


def _assert_same(a, b, atol=0.0):
    for x, y in zip(keras.tree.flatten(a), keras.tree.flatten(b)):
        np.testing.assert_allclose(x, y, atol=atol, rtol=0)


def run_layer_test(tmp_path, make_layer, inputs, *, expected_shape=None, call_kwargs=None):
    """Build, call, config, weights and .keras round-trips, bfloat16 call."""
    call_kwargs = dict(call_kwargs or {})
    layer = make_layer()
    out = _call(layer, inputs, call_kwargs)
    if expected_shape is not None:
        expected = expected_shape if isinstance(expected_shape[0], tuple) else [expected_shape]
        shapes = [o.shape for o in keras.tree.flatten(out)]
        assert shapes == [tuple(s) for s in expected], f"shapes {shapes} != {expected}"
    for o in keras.tree.flatten(out):
        assert np.all(np.isfinite(o))

    # Config round-trip: the rebuilt layer has the same config.
    config = layer.get_config()
    clone = layer.__class__.from_config(config)
    assert clone.get_config() == config

    # .weights.h5 round-trip into a fresh layer gives identical outputs.
    path = os.path.join(tmp_path, "layer.weights.h5")
    _holder(layer).save_weights(path)
    fresh = make_layer()
    _call(fresh, inputs, call_kwargs)  # build
    _holder(fresh).load_weights(path)
    _holder(layer).load_weights(path)  # undo state changed by the calls above (e.g. spectral-norm u)
    _assert_same(_call(layer, inputs, call_kwargs), _call(fresh, inputs, call_kwargs))

    # .keras round-trip (only for Models: archives hold a whole model).
    if isinstance(layer, keras.Model):
        archive = os.path.join(tmp_path, "model.keras")
        layer.save(archive)
        reloaded = keras.saving.load_model(archive)
        layer.load_weights(path)
        reloaded.load_weights(path)
        _assert_same(_call(layer, inputs, call_kwargs), _call(reloaded, inputs, call_kwargs))

    # Mixed precision: computes in bfloat16, outputs finite.
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        mixed = make_layer()
        for o in keras.tree.flatten(_call(mixed, inputs, call_kwargs)):
            assert np.all(np.isfinite(o))
    finally:
        keras.mixed_precision.set_global_policy(previous)
    return out
