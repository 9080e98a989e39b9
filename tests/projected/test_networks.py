"""The projected discriminator's parts (tfgen.projected) against references
computed another way: the fixed projection against a NumPy re-implementation
of the official CCM/CSM (upsample, then 1x1 conv), the align-corners upsampling
against hand values, the multi-scale EfficientNet-Lite0 against the stages of
the tested feature extractor, the mini discriminators' widths against the
official code's, and the harness round trips."""

import os

import h5py
import keras
import numpy as np
import pytest

from tests.harness import run_layer_test
from tfgen.errors import InputError
from tfgen.features.efficientnet_lite import (
    PYRAMID_BLOCKS,
    load_efficientnet_lite0,
    load_efficientnet_lite0_pyramid,
    normalize_images,
)
from tfgen.projected import (
    MiniDiscriminator,
    ProjectedDiscriminator,
    RandomProjection,
    align_corners_upsample_matrix,
    check_feature_resolution,
    upsample_align_corners,
)


def _np(x):
    return keras.ops.convert_to_numpy(x)


# ----------------------------------------------------------------- upsampling


def test_align_corners_upsampling_has_the_hand_values():
    # 2 -> 4 with corners aligned: sources 0, 1/3, 2/3, 1.
    np.testing.assert_allclose(
        align_corners_upsample_matrix(2), [[1, 0], [2 / 3, 1 / 3], [1 / 3, 2 / 3], [0, 1]], rtol=1e-6
    )
    x = np.arange(9, dtype="float32").reshape(1, 3, 3, 1)  # value 3 * row + col
    y = _np(upsample_align_corners(x))[0, :, :, 0]
    assert y.shape == (6, 6)
    # Bilinear of a linear ramp is the ramp at the source coordinates i * 2 / 5.
    coordinate = np.arange(6) * 2 / 5
    np.testing.assert_allclose(y, 3 * coordinate[:, None] + coordinate[None, :], rtol=1e-5, atol=1e-5)
    assert y[0, 0] == 0 and y[-1, -1] == 8  # the corners stay


def _upsample_reference(x):
    """PyTorch interpolate(scale_factor=2, bilinear, align_corners=True), by gathering."""
    def along(a, axis):
        n = a.shape[axis]
        source = np.arange(2 * n) * (n - 1) / (2 * n - 1)
        low = np.floor(source).astype(int)
        high = np.minimum(low + 1, n - 1)
        shape = [1] * a.ndim
        shape[axis] = 2 * n
        t = (source - low).reshape(shape)
        return np.take(a, low, axis=axis) * (1 - t) + np.take(a, high, axis=axis) * t

    return along(along(x.astype(np.float64), 1), 2)


# ------------------------------------------------------------ CCM / CSM (numpy)


def _conv1x1(x, kernel, bias):
    return np.einsum("bhwc,cd->bhwd", x, kernel[0, 0].astype(np.float64)) + bias


def _projection_reference(layer, features):
    """The official F_RandomProj (proj_type 2) in NumPy with the layer's weights:
    CCM per level, then FeatureFusionBlocks from the deepest up (add the coarser
    output, upsample x2 with corners aligned, then the 1x1 out_conv)."""
    weights = {v.name: v.numpy() for v in layer.weights}
    mixed = [_conv1x1(f.astype(np.float64), weights[f"ccm{k}_kernel"], weights[f"ccm{k}_bias"])
             for k, f in enumerate(features)]  # fmt: skip
    out, carry = [None] * 4, None
    for k in (3, 2, 1, 0):
        x = mixed[k] if carry is None else mixed[k] + carry
        carry = out[k] = _conv1x1(_upsample_reference(x), weights[f"csm{k}_kernel"], weights[f"csm{k}_bias"])
    return out


def _random_features(sizes=(16, 8, 4, 2), channels=(24, 40, 112, 320), batch=2):
    rng = np.random.default_rng(0)
    return [rng.normal(size=(batch, s, s, c)).astype("float32") for s, c in zip(sizes, channels)]


@pytest.mark.parametrize("expand", [True, False])
def test_projection_matches_a_numpy_reimplementation_of_the_official_ccm_csm(expand):
    features = _random_features()
    layer = RandomProjection(channels=8, expand=expand, seed=3)
    out = [_np(o) for o in layer(features)]
    reference = _projection_reference(layer, features)
    widths = [8, 8, 16, 32] if expand else [8] * 4
    for k, (o, r) in enumerate(zip(out, reference)):
        assert o.shape == (2, 2 * features[k].shape[1], 2 * features[k].shape[2], widths[k])
        np.testing.assert_allclose(o, r, rtol=1e-4, atol=1e-4)


def test_projection_weights_are_fixed_by_the_seed_with_pytorchs_default_range():
    features = _random_features()
    a, b, c = RandomProjection(seed=1), RandomProjection(seed=1), RandomProjection(seed=2)
    for layer in (a, b, c):
        layer(features)
    assert not a.trainable_weights and len(a.non_trainable_weights) == 16
    for x, y, z in zip(a.weights, b.weights, c.weights):
        np.testing.assert_array_equal(x.numpy(), y.numpy())
        assert not np.array_equal(x.numpy(), z.numpy())
    for variable in a.weights:  # U(+-1/sqrt(fan_in)), filling the range
        fan_in = {"ccm0": 24, "ccm1": 40, "ccm2": 112, "ccm3": 320, "csm3": 512, "csm2": 256, "csm1": 128,
                  "csm0": 64}[variable.name.split("_")[0]]  # fmt: skip
        bound = 1 / np.sqrt(fan_in)
        values = variable.numpy()
        assert np.abs(values).max() <= bound and np.abs(values).max() > 0.8 * bound


def test_projection_harness(tmp_path):
    run_layer_test(
        tmp_path, lambda: RandomProjection(channels=4, seed=0), _random_features(),
        expected_shape=((2, 32, 32, 4), (2, 16, 16, 4), (2, 8, 8, 8), (2, 4, 4, 16)),
    )  # fmt: skip


# -------------------------------------------------------- mini discriminators


def test_mini_discriminators_have_the_official_widths_and_output_sizes():
    # Official SingleDisc(nc=64, start_sz=128): DownBlocks 64->64->128->256->512, conv 512->1.
    disc = MiniDiscriminator(start_size=128, width=64)
    out = disc(np.zeros((1, 112, 112, 64), "float32"), training=False)
    assert tuple(out.shape) == (1, 4, 4, 1)  # 112 -> 56 -> 28 -> 14 -> 7 -> 4x4 "valid"
    shapes = [tuple(c.kernel.shape) for c in disc.convs] + [tuple(disc.head.kernel.shape)]
    assert shapes == [(4, 4, 64, 64), (4, 4, 64, 128), (4, 4, 128, 256), (4, 4, 256, 512), (4, 4, 512, 1)]
    assert all(c.use_bias for c in disc.convs) and not disc.head.use_bias
    # SingleDisc(nc=256, start_sz=16): one DownBlock 256 -> 512; narrower at width 16.
    narrow = MiniDiscriminator(start_size=16, width=16)
    narrow.build((None, 14, 14, 256))
    assert [tuple(c.kernel.shape) for c in narrow.convs] == [(4, 4, 256, 128)]
    with pytest.raises(InputError, match="start_size"):
        MiniDiscriminator(start_size=8)


def test_mini_discriminator_harness(tmp_path):
    x = np.random.default_rng(0).normal(size=(2, 16, 16, 8)).astype("float32")
    run_layer_test(tmp_path, lambda: MiniDiscriminator(start_size=32, width=4), x,
                   expected_shape=(2, 1, 1, 1), call_kwargs={"training": True})  # fmt: skip


# -------------------------------------------------- multi-scale EfficientNet


def _stage_output(model, block):
    names = {layer.name for layer in model.layers}
    name = f"block{block}_add" if f"block{block}_add" in names else f"block{block}_project_conv_bn"
    return model.get_layer(name).output


def test_pyramid_equals_the_stages_of_the_feature_extractors_network():
    full = load_efficientnet_lite0()  # the tested extractor's network (resizes to 224 inside)
    stages = keras.Model(full.input, [_stage_output(full, b) for b in PYRAMID_BLOCKS])
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 224, 224, 3)).astype("float32")
    expected = [_np(o) for o in stages(pixels)]
    pyramid = load_efficientnet_lite0_pyramid(224)
    got = [_np(o) for o in pyramid(normalize_images(pixels / 127.5 - 1.0))]
    assert [g.shape for g in got] == [(2, 56, 56, 24), (2, 28, 28, 40), (2, 14, 14, 112), (2, 7, 7, 320)]
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-3, atol=1e-3 * np.abs(e).max())
    assert not pyramid.trainable and not pyramid.trainable_weights


# --------------------------------------------------------- the discriminator


@pytest.fixture(scope="module")
def small_discriminator():
    return ProjectedDiscriminator(input_resolution=64, feature_resolution=128, width=4)


def test_discriminator_output_sizes():
    # 64 px resized to 224: levels 112, 56, 28, 14 -> 4x4 logits each.
    d = ProjectedDiscriminator(input_resolution=64, width=4)
    assert d.level_shapes() == [(112, 64), (56, 64), (28, 128), (14, 256)]
    assert d.compute_output_shape((3, 64, 64, 3)) == (3, 64)
    assert tuple(d(np.zeros((1, 64, 64, 3), "float32")).shape) == (1, 64)
    # 256 px at its own size (no resize, as the official interp224 for >= 224): 5x5 each.
    assert ProjectedDiscriminator(input_resolution=256, width=4).compute_output_shape((1, 256, 256, 3)) == (1, 100)


def test_only_the_mini_discriminators_train_and_the_feature_network_is_not_held(small_discriminator):
    d = small_discriminator
    trainable = {v.path for v in d.trainable_variables}
    assert trainable and all(path.split("/")[1].startswith("disc") for path in trainable)
    held = {id(v) for v in d.variables}
    assert not any(id(v) in held for v in d.feature_network().variables)
    assert {v.path.split("/")[1] for v in d.variables} == {"projection", "disc0", "disc1", "disc2", "disc3"}


def test_weight_files_leave_the_feature_network_out(tmp_path, small_discriminator):
    d = small_discriminator
    path = str(tmp_path / "d.weights.h5")
    d.save_weights(path)
    datasets = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: datasets.append(name) if isinstance(obj, h5py.Dataset) else None)
    assert len(datasets) == len(d.variables)
    feature_numbers = sum(int(np.prod(v.shape)) for v in d.feature_network().variables)  # ~3 M
    assert os.path.getsize(path) < 4 * feature_numbers / 2  # well under the network's 12 MB
    archive = str(tmp_path / "d.keras")
    d.save(archive)
    assert os.path.getsize(archive) < 4 * feature_numbers / 2
    reloaded = keras.saving.load_model(archive)  # rebuilds the frozen network from the packaged weights
    images = np.random.default_rng(2).uniform(-1, 1, (2, 64, 64, 3)).astype("float32")
    np.testing.assert_array_equal(_np(reloaded(images)), _np(d(images)))


def test_discriminator_harness(tmp_path):
    images = np.random.default_rng(0).uniform(-1, 1, (2, 64, 64, 3)).astype("float32")
    run_layer_test(
        tmp_path, lambda: ProjectedDiscriminator(input_resolution=64, feature_resolution=128, width=4),
        images, expected_shape=(2, 4), call_kwargs={"training": True},
    )  # fmt: skip


def test_project_then_discriminate_is_the_call(small_discriminator):
    d = small_discriminator
    images = np.random.default_rng(1).uniform(-1, 1, (2, 64, 64, 3)).astype("float32")
    np.testing.assert_array_equal(_np(d(images)), _np(d.discriminate(d.project(images))))


def test_bad_feature_resolutions_are_refused():
    for bad in (96, 200, 224.0, True):
        with pytest.raises(InputError, match="multiple of 32 and at least 128"):
            check_feature_resolution(bad)
    with pytest.raises(InputError, match="multiple of 32"):
        ProjectedDiscriminator(input_resolution=240)
    with pytest.raises(InputError, match="num_discriminators"):
        ProjectedDiscriminator(input_resolution=64, num_discriminators=5)
