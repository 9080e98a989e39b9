"""Saving and loading ``.weights.h5`` files safely.

Keras 3 ``load_weights`` is not a reliable guard against loading the wrong
file: on shape mismatches it raises, but only after it has assigned every
variable that did fit (the model is left half loaded), and when the file's
layer layout differs from the model's (another model class, renamed
attributes) it can skip the unknown groups and load *nothing*, silently.

:func:`load_weights_checked` therefore compares the file's layout with the
model's own layout first. The model's layout is obtained by saving the model
to a temporary ``.weights.h5`` file with the same Keras version, so both sides
follow exactly the same naming rules; every variable path and shape must
match before anything is assigned.

NaN and Inf never pass either way: :func:`save_weights_atomic` refuses to
write a model whose weights are not all finite (a diverged run must not
overwrite its last good checkpoint), and :func:`load_weights_checked` refuses
a file that contains such values, before assigning anything.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import warnings

import h5py
import keras
import numpy as np

from tfgen.files import WEIGHTS_SUFFIX
from tfgen.errors import InputError


# Top-level groups that hold training state rather than model variables: a
# file saved from a compiled model carries its optimizer, which the
# inference-only model we load into does not have (and does not need).
_IGNORED_TOP_LEVEL_GROUPS = ("optimizer",)

# How many differing entries an error message lists before summarising.
_MAX_LISTED = 3


def _check_suffix(path: str) -> None:
    if not str(path).endswith(WEIGHTS_SUFFIX):
        raise InputError(
            f"Weights files must end in {WEIGHTS_SUFFIX!r} (the Keras 3 weights format). "
            f"Received: path={str(path)!r}"
        )


@contextlib.contextmanager
def _keras_weights_name(path: str):
    """``path`` under a name Keras reads as its own weights format: Keras 3
    takes any other ``.h5`` name (e.g. the SLE-GAN reference's
    ``generator_weights.h5``) for the legacy TF-Keras format."""
    if path.endswith(WEIGHTS_SUFFIX):
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="tfgen_weights_") as folder:
        alias = os.path.join(folder, "model" + WEIGHTS_SUFFIX)
        try:
            os.symlink(os.path.abspath(path), alias)
        except OSError:  # no symbolic links here (some Windows setups)
            shutil.copyfile(path, alias)
        yield alias


def _is_float_dtype(dtype) -> bool:
    return "float" in keras.backend.standardize_dtype(dtype)


def _all_finite(array) -> bool:
    array = np.asarray(array)
    if array.dtype.kind != "f":  # e.g. bfloat16 from ml_dtypes
        array = array.astype(np.float32)
    return bool(np.isfinite(array).all())


def non_finite_variables(variables) -> list[str]:
    """Paths of the floating-point ``variables`` (e.g. ``model.weights``) that hold NaN or Inf.

    Integer and boolean variables (seed-generator states, counters) are skipped.
    """
    return [v.path for v in variables if _is_float_dtype(v.dtype) and not _all_finite(v)]


def save_weights_atomic(model, path: str) -> None:
    """Save ``model``'s weights to ``path`` so that readers never see half a file.

    Keras writes to ``path + ".tmp.weights.h5"`` (it insists on the
    ``.weights.h5`` suffix), which then replaces ``path`` in one
    ``os.replace``; parent folders are created as needed.

    Raises:
        ValueError: a floating-point variable of ``model`` holds NaN or Inf
            (the training diverged). Nothing is written then: a file already
            at ``path`` is left untouched.
    """
    path = os.fspath(path)
    _check_suffix(path)
    bad = non_finite_variables(model.weights)
    if bad:
        previous = (
            "the previous file there was left untouched"
            if os.path.exists(path)
            else "no file existed there before"
        )
        raise InputError(
            f"Not writing weights file {path!r}: {len(bad)} variable(s) of model "
            f"{model.name!r} contain NaN or Inf ({_list(bad)}). The training has diverged (e.g. the "
            f"learning rate is too high, or the loss blew up); {previous}. Resume from an "
            "earlier checkpoint, with a lower learning rate if it happens again."
        )
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    tmp = path + ".tmp" + WEIGHTS_SUFFIX
    try:
        model.save_weights(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _scan_weights_file(
    path: str, *, check_values: bool
) -> tuple[dict[str, tuple[int, ...]], list[str]]:
    """One pass over a ``.weights.h5`` file: its layout and, when
    ``check_values``, the floating-point datasets that hold NaN or Inf
    (otherwise only metadata is read). Optimizer state is left out of both."""
    layout: dict[str, tuple[int, ...]] = {}
    non_finite: list[str] = []

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and name.split("/", 1)[0] not in _IGNORED_TOP_LEVEL_GROUPS:
            layout[name] = tuple(int(d) for d in obj.shape)
            if check_values and obj.dtype.kind == "f" and not _all_finite(obj[()]):
                non_finite.append(name)

    try:
        with h5py.File(path, "r") as f:
            f.visititems(visit)
    except OSError as e:
        raise InputError(
            f"{path!r} is not a readable HDF5 weights file ({e}). Pass a "
            f"{WEIGHTS_SUFFIX} file written by model.save_weights()."
        ) from None
    return layout, non_finite


def read_weights_layout(path: str) -> dict[str, tuple[int, ...]]:
    """Map every variable stored in a ``.weights.h5`` file to its shape.

    Keys are the HDF5 dataset paths Keras writes, e.g.
    ``"layers/dense/vars/0"``; optimizer state is left out.
    """
    return _scan_weights_file(path, check_values=False)[0]


def non_finite_datasets(path: str) -> list[str]:
    """Dataset paths (as in :func:`read_weights_layout`) of a ``.weights.h5``
    file whose floating-point values include NaN or Inf."""
    return _scan_weights_file(path, check_values=True)[1]


def saved_model_name(path: str) -> str | None:
    """The name of the model that wrote a ``.weights.h5`` file, when Keras recorded it."""
    try:
        with h5py.File(path, "r") as f:
            group = f.get("vars")
            name = group.attrs.get("name") if group is not None else None
    except OSError:
        return None
    if isinstance(name, bytes):
        name = name.decode("utf-8", "replace")
    return str(name) if name is not None else None


def model_weights_layout(model) -> dict[str, tuple[int, ...]]:
    """The layout :func:`read_weights_layout` would return for ``model``'s own weights.

    The model must be built (its variables created).
    """
    if not model.built:
        raise InputError(
            f"Model {model.name!r} is not built, so its weights cannot be compared or "
            "loaded. Call it once on a batch (or use a builder that returns built "
            "models) first."
        )
    with tempfile.TemporaryDirectory(prefix="tfgen_weights_") as tmp_dir:
        tmp = os.path.join(tmp_dir, "model" + WEIGHTS_SUFFIX)
        model.save_weights(tmp)
        return read_weights_layout(tmp)


def _list(items) -> str:
    items = list(items)
    shown = ", ".join(items[:_MAX_LISTED])
    if len(items) > _MAX_LISTED:
        shown += f", ... ({len(items)} in all)"
    return shown


def describe_layout_mismatch(
    expected: dict[str, tuple[int, ...]], found: dict[str, tuple[int, ...]]
) -> str | None:
    """Say how ``found`` (a file) differs from ``expected`` (a model), or None if equal."""
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    wrong_shape = [
        f"{key}: file {found[key]} vs model {expected[key]}"
        for key in sorted(set(expected) & set(found))
        if expected[key] != found[key]
    ]
    if not (missing or unexpected or wrong_shape):
        return None
    parts = [f"the file stores {len(found)} variables, the model has {len(expected)}"]
    if wrong_shape:
        parts.append(f"{len(wrong_shape)} with different shapes ({_list(wrong_shape)})")
    if missing:
        parts.append(f"{len(missing)} missing from the file ({_list(missing)})")
    if unexpected:
        parts.append(f"{len(unexpected)} not in the model ({_list(unexpected)})")
    return "; ".join(parts)


def load_weights_checked(
    model, path: str, *, expected: str | None = None, advice: str | None = None
) -> None:
    """Load ``path`` into ``model``, or raise if the file does not fit exactly.

    Args:
        model: a built Keras model.
        path: a file written by ``model.save_weights`` (``.weights.h5``; any
            other ``.h5`` name is read the same way, as the SLE-GAN
            reference names its files ``generator_weights.h5``).
        expected: optional description of the model the file should fit
            (e.g. ``"FastGANGenerator(output_resolution=64, ...) from
            runs/x/config.json"``); defaults to the model's class and name.
        advice: optional sentence saying what to do about a mismatch.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is not a weights file, its variables (names
            or shapes) differ from the model's, or it holds NaN or Inf.
            Nothing is loaded then.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Weights file not found: {path!r}.")
    if not path.endswith(".h5"):
        _check_suffix(path)
    expected = expected or f"{type(model).__name__} {model.name!r}"
    advice = advice or (
        "It was probably saved from another model or configuration (resolution, width, "
        "latent size): load it into the model it was trained with."
    )
    layout, non_finite = _scan_weights_file(path, check_values=True)
    mismatch = describe_layout_mismatch(model_weights_layout(model), layout)
    if mismatch is not None:
        source = saved_model_name(path)
        source = f" (saved from a model named {source!r})" if source else ""
        raise InputError(f"Weights file {path!r}{source} does not fit {expected}: {mismatch}. {advice}")
    if non_finite:
        raise InputError(
            f"Weights file {path!r} contains NaN or Inf in {len(non_finite)} of its "
            f"{len(layout)} arrays ({_list(non_finite)}): the run that wrote it had "
            "diverged. Nothing was loaded; use an earlier checkpoint or weights file."
        )
    try:
        with warnings.catch_warnings():
            # Keras 3.15 warns about internal containers of functional models
            # that have no group in the file; the layout check above already
            # proved that every variable is present, so the warning is noise.
            warnings.filterwarnings("ignore", message="Skipping nested container")
            # Keras' own loader: models with CheckedWeightsMixin would check again.
            with _keras_weights_name(path) as keras_path:
                keras.Model.load_weights(model, keras_path)
    except (ValueError, KeyError, TypeError, OSError) as e:
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(
            f"Could not load weights file {path!r} into {expected}: {first_line} {advice}"
        ) from e


class CheckedWeightsMixin:
    """Makes ``model.load_weights("x.weights.h5")`` (or any other ``.h5`` name,
    such as ``generator_weights.h5``) refuse a file that does not fit the model
    (another resolution, width or network), loading nothing and saying why,
    instead of Keras' partial load. Put it before keras.Model."""

    def load_weights(self, filepath, skip_mismatch=False, **kwargs):
        if skip_mismatch or not os.fspath(filepath).endswith(".h5"):
            return super().load_weights(filepath, skip_mismatch=skip_mismatch, **kwargs)
        ignored = ("name", "trainable", "dtype")
        settings = ", ".join(f"{k}={v}" for k, v in self.get_config().items() if k not in ignored)
        load_weights_checked(self, filepath, expected=f"{type(self).__name__}({settings})")
