"""The FID Inception port (pytorch-fid's network in Keras), without torch.

Its agreement with pytorch-fid itself is checked by
test_fid_inception_vs_pytorch_fid.py where torch is installed; here: the
architecture (output shapes, parameter count), the state dict mapping (a
state dict written by hand in torch's file format round-trips, malformed ones
are refused), the resize against a numpy reference of torch's bilinear
interpolation, finding the weights and the errors when they are missing, and
the commands' default extractor.
"""

import collections

import keras
import numpy as np
import pytest
from absl import flags

from tests.features.test_torch_pickle import Storage, Tensor, fake_torch, write_legacy  # noqa: F401 (fixture)
from tfgen.errors import InputError
from tfgen.features import extractor as extractor_module
from tfgen.features import fid_inception
from tfgen.features.extractor import FID_INCEPTION_WEIGHTS_FILE, default_features, get_extractor


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return fid_inception.build_fid_inception()


@pytest.fixture
def empty_caches(tmp_path, monkeypatch):
    """No Keras, torch hub or home cache holding any weights."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("TORCH_HOME", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    return tmp_path


@pytest.fixture
def flag_registry(monkeypatch):
    """A fresh absl registry standing for the command's (the advice reads absl's FLAGS)."""
    registry = flags.FlagValues()
    monkeypatch.setattr(flags, "FLAGS", registry)
    return registry


# --------------------------------------------------------------- architecture


def test_features_are_2048_wide_for_any_input_size(model):
    rng = np.random.default_rng(0)
    for shape in ((1, 32, 32, 3), (2, 75, 50, 3), (1, 299, 299, 3)):
        out = model.predict_on_batch(rng.integers(0, 256, shape).astype("float32"))
        assert out["features"].shape == (shape[0], 2048) and out["logits"].shape == (shape[0], 1008)
        assert np.isfinite(out["features"]).all()


def _basic_conv(cin, cout, kh, kw):
    """(trainable, BatchNorm statistics) of torchvision's BasicConv2d: a bias-free
    conv, BatchNorm's weight and bias; running mean and variance."""
    return cin * cout * kh * kw + 2 * cout, 2 * cout


def _expected_parameter_count():
    """pytorch-fid's fid_inception_v3, counted from torchvision's layer table
    (torchvision/models/inception.py with pytorch-fid's patched blocks, which
    change no shapes): (in, out, kh, kw) of every BasicConv2d, then fc."""
    convs = [(3, 32, 3, 3), (32, 32, 3, 3), (32, 64, 3, 3), (64, 80, 1, 1), (80, 192, 3, 3)]

    def block_a(cin, pool_features):
        return [(cin, 64, 1, 1), (cin, 48, 1, 1), (48, 64, 5, 5), (cin, 64, 1, 1), (64, 96, 3, 3),
                (96, 96, 3, 3), (cin, pool_features, 1, 1)]  # fmt: skip

    def block_c(c7):
        return [(768, 192, 1, 1), (768, c7, 1, 1), (c7, c7, 1, 7), (c7, 192, 7, 1), (768, c7, 1, 1),
                (c7, c7, 7, 1), (c7, c7, 1, 7), (c7, c7, 7, 1), (c7, 192, 1, 7), (768, 192, 1, 1)]  # fmt: skip

    def block_e(cin):
        return [(cin, 320, 1, 1), (cin, 384, 1, 1), (384, 384, 1, 3), (384, 384, 3, 1), (cin, 448, 1, 1),
                (448, 384, 3, 3), (384, 384, 1, 3), (384, 384, 3, 1), (cin, 192, 1, 1)]  # fmt: skip

    convs += block_a(192, 32) + block_a(256, 64) + block_a(288, 64)
    convs += [(288, 384, 3, 3), (288, 64, 1, 1), (64, 96, 3, 3), (96, 96, 3, 3)]  # Mixed_6a (B)
    convs += block_c(128) + block_c(160) + block_c(160) + block_c(192)
    convs += [(768, 192, 1, 1), (192, 320, 3, 3), (768, 192, 1, 1), (192, 192, 1, 7), (192, 192, 7, 1),
              (192, 192, 3, 3)]  # Mixed_7a (D)  # fmt: skip
    convs += block_e(1280) + block_e(2048)
    counts = [_basic_conv(*conv) for conv in convs]
    trainable = sum(t for t, _ in counts) + 2048 * 1008 + 1008  # fc with its bias
    return len(convs), trainable, sum(s for _, s in counts)


def test_parameter_count_is_pytorch_fids(model):
    convs, trainable, statistics = _expected_parameter_count()
    # The same numbers measured on pytorch-fid 0.3.0 (torch 2.14, torchvision 0.29):
    # sum(p.numel() for p in fid_inception_v3().parameters()) and its BatchNorm
    # running_mean/running_var; the state dict has 94 * 6 + 2 = 566 tensors.
    assert (convs, trainable, statistics) == (94, 23_850_960, 34_432)
    count = lambda weights: sum(int(np.prod(w.shape)) for w in weights)  # noqa: E731
    assert count(model.trainable_weights) == trainable
    assert count(model.non_trainable_weights) == statistics
    assert len([layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]) == convs


# --------------------------------------------------------------- state dicts


def torch_state_dict(model, seed=1):
    """A random state dict in pytorch-fid's names and layouts, for ``model``'s
    architecture, with BatchNorm's num_batches_tracked counters as torch has them."""
    rng = np.random.default_rng(seed)
    state = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kh, kw, cin, cout = layer.kernel.shape
            state[f"{layer.name}.weight"] = rng.normal(0, 0.05, (cout, cin, kh, kw)).astype("float32")
        elif isinstance(layer, keras.layers.BatchNormalization):
            (channels,) = layer.gamma.shape
            state[f"{layer.name}.weight"] = rng.uniform(0.5, 1.5, channels).astype("float32")
            state[f"{layer.name}.bias"] = rng.normal(0, 0.1, channels).astype("float32")
            state[f"{layer.name}.running_mean"] = rng.normal(0, 0.1, channels).astype("float32")
            state[f"{layer.name}.running_var"] = rng.uniform(0.5, 2.0, channels).astype("float32")
            state[f"{layer.name}.num_batches_tracked"] = np.array(7, dtype=np.int64)
        elif isinstance(layer, keras.layers.Dense):
            state["fc.weight"] = rng.normal(0, 0.02, (1008, 2048)).astype("float32")
            state["fc.bias"] = rng.normal(0, 0.1, 1008).astype("float32")
    return state


def write_pth(path, state):
    """``state`` as torch.save's legacy file (pytorch-fid's weights file format)."""
    storages, tensors = [], collections.OrderedDict()
    for key, value in state.items():
        storage = Storage(str(len(storages)), "LongStorage" if value.dtype == np.int64 else "FloatStorage",
                          value.ravel())  # fmt: skip
        strides = tuple(s // value.itemsize for s in value.strides)
        storages.append(storage)
        tensors[key] = Tensor(storage, 0, value.shape, strides)
    write_legacy(path, tensors, storages)


def test_a_state_dict_in_torch_layout_round_trips(model, tmp_path, fake_torch, empty_caches):  # noqa: F811
    state = torch_state_dict(model)
    assert len(state) == 566
    assert state["Conv2d_1a_3x3.conv.weight"].shape == (32, 3, 3, 3)
    assert state["Mixed_7c.branch_pool.bn.running_var"].shape == (192,)
    path = tmp_path / FID_INCEPTION_WEIGHTS_FILE
    write_pth(path, state)
    extractor = get_extractor("fid_inception", weights_path=str(path), download=False)
    loaded = extractor.model
    used = set()
    for layer_name, entries in fid_inception.torch_weight_names(loaded).items():
        for (key, permutation), weight in zip(entries, loaded.get_layer(layer_name).weights):
            want = state[key] if permutation is None else state[key].transpose(permutation)
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(weight), want)
            used.add(key)
    assert used == {key for key in state if not key.endswith("num_batches_tracked")}
    # The extractor's logits are fc without its bias (the original Inception Score's).
    images = np.random.default_rng(2).integers(0, 256, (2, 40, 40, 3), dtype=np.uint8)
    out = extractor(images)
    np.testing.assert_allclose(out["logits"], out["features"] @ state["fc.weight"].T, rtol=1e-4, atol=1e-4)
    assert extractor.num_classes == 1008 and extractor.label == "pytorch-fid Inception"


def test_malformed_state_dicts_are_refused_before_any_weight_changes(model):
    before = [keras.ops.convert_to_numpy(w).copy() for w in model.weights]
    good = torch_state_dict(model)
    missing = {k: v for k, v in good.items() if k != "Mixed_6b.branch7x7_2.conv.weight"}
    extra = {**good, "AuxLogits.fc.weight": np.zeros((1008, 768), "float32")}
    wrong = {**good, "Mixed_7c.branch_pool.conv.weight": np.zeros((192, 2048, 3, 3), "float32")}
    for state, message in (
        (missing, "'Mixed_6b.branch7x7_2.conv.weight' is missing"),
        (extra, "AuxLogits.fc.weight"),
        (wrong, "does not map to the Keras shape (1, 1, 2048, 192)"),
    ):
        with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
            fid_inception.load_torch_weights(model, state, source="test.pth")
    for weight, value in zip(model.weights, before):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(weight), value)


# --------------------------------------------------------------- preprocessing


def torch_bilinear(image, size):
    """numpy reference of F.interpolate(mode="bilinear", align_corners=False,
    antialias=False) on one [H, W, C] image: half-pixel source coordinates,
    clamped at 0 below and at the last pixel above."""
    def axis(n_in):
        source = np.maximum((np.arange(size) + 0.5) * n_in / size - 0.5, 0.0)
        low = np.floor(source).astype(int)
        high = np.minimum(low + 1, n_in - 1)
        return low, high, source - low

    (y0, y1, wy), (x0, x1, wx) = axis(image.shape[0]), axis(image.shape[1])
    rows = image[y0] * (1 - wy)[:, None, None] + image[y1] * wy[:, None, None]
    return rows[:, x0] * (1 - wx)[None, :, None] + rows[:, x1] * wx[None, :, None]


def test_preprocessing_resizes_as_torch_and_maps_to_minus_one_one():
    rng = np.random.default_rng(3)
    layer = fid_inception.FIDInceptionPreprocessing(resolution=11)
    for shape in ((5, 7, 3), (23, 17, 3), (11, 11, 3)):  # up, down (no antialiasing), same
        image = rng.integers(0, 256, shape).astype("float32")
        got = keras.ops.convert_to_numpy(layer(image[None]))[0]
        want = 2.0 * torch_bilinear(image / 255.0, 11) - 1.0
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(layer(np.array([[[[0.0, 255.0, 127.5]]]], "float32"))).reshape(-1, 3)[0],
        np.array([-1.0, 1.0, 0.0], "float32"),
    )


# --------------------------------------------------------------- finding the weights


def test_weights_are_found_in_the_keras_and_torch_hub_caches(empty_caches, monkeypatch):
    assert extractor_module.find_fid_inception_weights() is None
    hub = empty_caches / "torch_home" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / FID_INCEPTION_WEIGHTS_FILE).write_bytes(b"\x80\x02")
    monkeypatch.setenv("TORCH_HOME", str(empty_caches / "torch_home"))
    assert extractor_module.find_fid_inception_weights() == str(hub / FID_INCEPTION_WEIGHTS_FILE)
    keras_models = empty_caches / "keras" / "models"
    keras_models.mkdir(parents=True)
    (keras_models / FID_INCEPTION_WEIGHTS_FILE).write_bytes(b"\x80\x02")
    assert fid_inception.find_weights() == str(keras_models / FID_INCEPTION_WEIGHTS_FILE)


def test_missing_weights_name_the_flags_of_the_command_in_use(empty_caches, flag_registry, monkeypatch):
    # From Python: weights_path= and every command's spelling; no download asked.
    with pytest.raises(FileNotFoundError) as info:
        fid_inception.find_weights(download=False)
    message = str(info.value)
    assert FID_INCEPTION_WEIGHTS_FILE in message and fid_inception.FID_WEIGHTS_URL in message
    assert "weights_path=" in message and "evaluate.py: --inception-weights PATH" in message
    assert "train.py --fid: --fid-weights PATH" in message and "efficientnet_lite0" in message

    # train.py's flags: its spelling only. Offline, the download fails with the same advice.
    flags.DEFINE_string("fid-weights", None, "", flag_values=flag_registry)
    flags.DEFINE_string("fid-features", None, "", flag_values=flag_registry)

    def offline(url, filename, folder, **options):
        raise OSError("URL fetch failure: [Errno -2] Name or service not known")

    monkeypatch.setattr(fid_inception, "fetch", offline)
    with pytest.raises(FileNotFoundError) as info:
        get_extractor("fid_inception")
    message = str(info.value)
    assert "could not be downloaded (URL fetch failure" in message
    assert "--fid-weights PATH" in message and "--fid-features efficientnet_lite0" in message
    assert "--inception-weights" not in message

    # A given path that is not there says which flag gave it.
    with pytest.raises(FileNotFoundError, match=r"absent\.pth' \(from --fid-weights\)"):
        get_extractor("fid_inception", weights_path=str(empty_caches / "absent.pth"))


def test_a_file_that_is_not_pytorch_fids_weights_is_a_clear_error(tmp_path, fake_torch):  # noqa: F811
    not_torch = tmp_path / "inception.h5"
    not_torch.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(64))
    with pytest.raises(InputError, match="pytorch-fid's FID Inception weights are the PyTorch file"):
        get_extractor("fid_inception", weights_path=str(not_torch))
    other = tmp_path / "other.pth"
    write_pth(other, {"conv.weight": np.zeros((2, 3, 1, 1), "float32")})
    with pytest.raises(InputError, match="not pytorch-fid's FID Inception state dict"):
        get_extractor("fid_inception", weights_path=str(other))


def test_the_default_extractor_is_fid_inception_only_where_its_weights_are(empty_caches, tmp_path):
    assert default_features() == "inception"  # as before fid_inception existed
    keras_file = tmp_path / "inception_v3.h5"
    keras_file.write_bytes(b"\x89HDF\r\n\x1a\n")
    torch_file = tmp_path / "weights.bin"
    torch_file.write_bytes(b"\x80\x02}q\x00")
    assert default_features(str(keras_file)) == "inception"
    assert default_features(str(torch_file)) == "fid_inception"
    assert default_features(str(tmp_path / "missing.pth")) == "fid_inception"  # its error then names it
    (tmp_path / "keras" / "models").mkdir(parents=True)
    (tmp_path / "keras" / "models" / FID_INCEPTION_WEIGHTS_FILE).write_bytes(b"\x80\x02")
    assert default_features() == "fid_inception"
    assert default_features(str(keras_file)) == "inception"  # a Keras file given still wins


def test_a_run_saves_the_default_extractor_it_chose(empty_caches, tmp_path):
    from tfgen.run_settings import make_configs
    from tfgen.registry import get_family

    family = get_family("fastgan")

    def chosen(**run):
        return make_configs(family, "digits:3", {}, {"fid": True, **run}, steps_given=False)[1].fid_features

    assert chosen() == "inception"
    assert chosen(fid_feature_weights=str(tmp_path / "pt_inception.pth")) == "fid_inception"
    (tmp_path / "keras" / "models").mkdir(parents=True)
    (tmp_path / "keras" / "models" / FID_INCEPTION_WEIGHTS_FILE).write_bytes(b"\x80\x02")
    assert chosen() == "fid_inception"
    assert chosen(fid_features="efficientnet_lite0") == "efficientnet_lite0"  # a choice given stays
