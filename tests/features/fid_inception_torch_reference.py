"""pytorch-fid's own FID Inception, with random weights: the reference of
tests/features/test_fid_inception_vs_pytorch_fid.py. Run under a Python with
torch and pytorch-fid (not tfgen's environment, which has no torch):

    /work/venv_torch/bin/python tests/features/fid_inception_torch_reference.py OUT_DIR

It builds the network with pytorch-fid's code (``InceptionV3([3],
use_fid_inception=True)``, which calls ``fid_inception_v3``) but, instead of
downloading the weights, keeps the freshly initialised ones: the weights
download returns a marker that the state dict loader skips. BatchNorm
scales and shifts are randomised and the statistics re-estimated for them on
random images (so activations stay near unit scale through 94
layers, and the running means and variances are far from their trivial 0 and
1), and the Inception3 state dict saved in torch's legacy format, as pytorch-fid's
own ``pt_inception-2015-12-05-6726825d.pth``. Writes to OUT_DIR:

    weights.pth    the state dict (keys as in pytorch-fid's weights file)
    reference.npz  images_<set> (uint8 NHWC), features_<set> [N, 2048] and
                   fc_<set> [N, 1008] (fc with its bias) for every set, and
                   fid_a_b: pytorch_fid.fid_score.calculate_frechet_distance of
                   sets a and b, with pytorch-fid's statistics
"""

import sys

import numpy as np
import torch
import torchvision
from pytorch_fid import fid_score
from pytorch_fid import inception as pytorch_fid_inception

SEED = 0
# name -> (count, height, width, low, high): 64x64 images are upsampled, 299x299
# ones taken as they are, 333x333 ones downsampled (no antialiasing), and one
# non-square set stretched.
IMAGE_SETS = {
    "a": (10, 64, 64, 0, 256),
    "b": (10, 299, 299, 40, 200),
    "c": (3, 333, 333, 0, 256),
    "d": (2, 80, 120, 0, 256),
}


def random_fid_inception():
    """(pytorch-fid's InceptionV3 wrapper, the Inception3 inside), random weights."""
    skip = object()
    built = {}
    real_builder = pytorch_fid_inception.fid_inception_v3
    real_loader = torchvision.models.inception.Inception3.load_state_dict

    def build_and_keep():
        built["net"] = real_builder()
        return built["net"]

    def load_unless_skipped(self, state_dict, *args, **kwargs):
        if state_dict is skip:
            return None
        return real_loader(self, state_dict, *args, **kwargs)

    pytorch_fid_inception.load_state_dict_from_url = lambda *args, **kwargs: skip
    pytorch_fid_inception.fid_inception_v3 = build_and_keep
    torchvision.models.inception.Inception3.load_state_dict = load_unless_skipped
    try:
        wrapper = pytorch_fid_inception.InceptionV3([3], resize_input=True, normalize_input=True)
    finally:
        pytorch_fid_inception.fid_inception_v3 = real_builder
        torchvision.models.inception.Inception3.load_state_dict = real_loader
    return wrapper, built["net"]


def to_input(images):
    """uint8 NHWC -> float NCHW in [0, 1], as pytorch-fid's ToTensor."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255.0


def main(out_dir):
    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    wrapper, net = random_fid_inception()
    batch_norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        # Random BatchNorm scales and shifts, then statistics re-estimated for
        # them (a cumulative average over two batches of random images: upsampled
        # small ones, smooth, and 299x299 ones, noisy; random filters answer the
        # two very differently).
        for bn in batch_norms:
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.normal_(0.0, 0.2)
            bn.reset_running_stats()
            bn.momentum = None
        net.fc.bias.normal_(0.0, 0.5)
        wrapper.train()
        for size in (64, 299):
            wrapper(to_input(rng.integers(0, 256, (4, size, size, 3), dtype=np.uint8)))
        wrapper.eval()
    torch.save(net.state_dict(), f"{out_dir}/weights.pth", _use_new_zipfile_serialization=False)

    arrays = {}
    with torch.no_grad():
        for name, (count, height, width, low, high) in IMAGE_SETS.items():
            images = rng.integers(low, high, (count, height, width, 3), dtype=np.uint8)
            # pytorch-fid's get_activations: model(batch)[0], squeezed to [N, 2048].
            features = wrapper(to_input(images))[0].squeeze(3).squeeze(2)
            arrays[f"images_{name}"] = images
            arrays[f"features_{name}"] = features.numpy()
            arrays[f"fc_{name}"] = net.fc(features).numpy()
    statistics = [
        (np.mean(arrays[f"features_{name}"], axis=0), np.cov(arrays[f"features_{name}"], rowvar=False))
        for name in ("a", "b")
    ]
    arrays["fid_a_b"] = np.float64(fid_score.calculate_frechet_distance(*statistics[0], *statistics[1]))
    np.savez(f"{out_dir}/reference.npz", **arrays)
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, fid_a_b {arrays['fid_a_b']:.6f}")


if __name__ == "__main__":
    main(sys.argv[1])
