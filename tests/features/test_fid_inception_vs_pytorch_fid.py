"""The Keras FID Inception against pytorch-fid itself (dev-only: needs torch).

tfgen's environment has no torch, so pytorch-fid runs in another Python
(``$TFGEN_TORCH_PYTHON``, else /work/venv_torch/bin/python; skipped when
neither imports torch and pytorch_fid): fid_inception_torch_reference.py
builds pytorch-fid's network with random weights, saves its state dict as a
.pth and writes its features, fc outputs and FID for random images. Here the
.pth goes through tfgen's own reader into the Keras port, which must give the
same numbers:

* features and fc outputs: ``|keras - torch| <= 1e-4 * max|torch|`` per image
  set (relative to the set's largest feature; the random network's features
  reach ~100 on upsampled images, ~1 on 299x299 noise);
* FID of set a (64x64, upsampled) against set b (299x299): tfgen.metrics's FID
  of the Keras features within 1e-3 (relative) of
  pytorch_fid.fid_score.calculate_frechet_distance of the torch features.

Run it with:
    python -m pytest -q -n 0 tests/features/test_fid_inception_vs_pytorch_fid.py -s
(-s prints the measured differences.)
"""

import os
import subprocess

import numpy as np
import pytest

TORCH_PYTHON = os.environ.get("TFGEN_TORCH_PYTHON", "/work/venv_torch/bin/python")
REFERENCE_SCRIPT = os.path.join(os.path.dirname(__file__), "fid_inception_torch_reference.py")


def _torch_python_works() -> bool:
    if not os.path.isfile(TORCH_PYTHON):
        return False
    check = subprocess.run([TORCH_PYTHON, "-c", "import torch, pytorch_fid"], capture_output=True, timeout=300)
    return check.returncode == 0


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not _torch_python_works(), reason=f"no torch + pytorch_fid at {TORCH_PYTHON}"),
]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pytorch_fid")
    completed = subprocess.run(
        [TORCH_PYTHON, REFERENCE_SCRIPT, str(folder)], capture_output=True, text=True, timeout=1200,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    print(completed.stdout.strip())
    return folder, dict(np.load(folder / "reference.npz"))


def test_features_logits_and_fid_agree_with_pytorch_fid(reference):
    from tfgen.features.extractor import extract_features, get_extractor
    from tfgen.metrics.fid import fid_from_features

    folder, arrays = reference
    extractor = get_extractor("fid_inception", weights_path=str(folder / "weights.pth"), download=False)
    kernel = np.asarray(extractor.model.get_layer("fc").kernel)
    bias = np.asarray(extractor.model.get_layer("fc").bias)
    features = {}
    for name in ("a", "b", "c", "d"):
        out = extract_features(extractor, arrays[f"images_{name}"], batch_size=4)
        features[name] = out["features"]
        want = arrays[f"features_{name}"]
        scale = np.abs(want).max()
        difference = np.abs(out["features"] - want).max()
        print(f"set {name} {arrays[f'images_{name}'].shape}: features max|diff| {difference:.3g}, max|torch| {scale:.3g}")
        assert out["features"].shape == want.shape
        assert difference <= 1e-4 * scale
        # The model's fc (bias included) is torch's fc; the extractor's logits leave the bias out.
        fc_difference = np.abs(out["logits"] + bias - arrays[f"fc_{name}"]).max()
        assert fc_difference <= 1e-4 * np.abs(arrays[f"fc_{name}"]).max()
        np.testing.assert_allclose(out["logits"], out["features"] @ kernel, rtol=1e-5, atol=1e-5)
    keras_fid = fid_from_features(features["a"], features["b"])
    torch_fid = float(arrays["fid_a_b"])
    print(f"FID a-b: keras {keras_fid:.6f}, pytorch-fid {torch_fid:.6f}, relative {abs(keras_fid / torch_fid - 1):.3g}")
    assert keras_fid == pytest.approx(torch_fid, rel=1e-3)
