"""The models, DiffAugment and losses use keras.ops only, so they run under
the JAX backend (how GPU machines without TensorFlow measure them). Runs in a
subprocess because the backend is chosen at import; skipped without jax."""

import importlib.util
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPT = """
import jax, keras, numpy as np
assert keras.backend.backend() == "jax"
from tfgen.augment import diff_augment
from tfgen.losses import hinge_discriminator_real_loss, reconstruction_loss
from tfgen.families.fastgan.networks import FastGANDiscriminator, FastGANGenerator
G = FastGANGenerator(output_resolution=64, ngf=8, latent_dim=16)
D = FastGANDiscriminator(input_resolution=64, ndf=8)
z = np.random.default_rng(0).normal(size=(2, 16)).astype("float32")
big, small = G(z, training=True, return_small=True)
big = diff_augment(big, "color,translation,cutout", seed=keras.random.SeedGenerator(1))
logits, recs = D([big, small], training=True, part=2)
assert logits.shape == (2, 50) and all(r.shape == (2, 64, 64, 3) for r in recs)
loss = float(hinge_discriminator_real_loss(logits, seed=0) + reconstruction_loss(recs[0], small))
assert np.isfinite(loss)
def forward(trainable, non_trainable, z):
    image, _ = G.stateless_call(trainable, non_trainable, z, training=True)
    return image
image = jax.jit(forward)([v.value for v in G.trainable_variables],
                         [v.value for v in G.non_trainable_variables], z)
assert image.shape == (2, 64, 64, 3) and bool(np.isfinite(np.asarray(image)).all())

# The few-shot models (FIGR ResNet, DCGAN, cDCGAN, InfoGAN).
from tfgen.families.transfer.networks import DCGANDiscriminator, DCGANGenerator, InfoGANDiscriminator, InfoGANGenerator
from tfgen.families.figr.networks import FIGRCritic, FIGRGenerator
z8 = np.random.default_rng(1).normal(size=(2, 8)).astype("float32")
labels = np.array([0, 2])
images = FIGRGenerator(width=4, latent_dim=8)(z8)
assert images.shape == (2, 32, 32, 1) and FIGRCritic(width=4)(images).shape == (2, 1)
conditional = DCGANGenerator(width=4, latent_dim=8, num_classes=3)((z8, labels), training=True)
assert DCGANDiscriminator(width=4, num_classes=3)((conditional, labels)).shape == (2, 1)
info = InfoGANGenerator(width=4, noise_dim=4, num_categories=3, num_continuous=1)(z8)
outputs = InfoGANDiscriminator(width=4, num_categories=3, num_continuous=1)(info)
assert [tuple(o.shape) for o in outputs] == [(2, 1), (2, 3), (2, 1)]

# The StyleGAN generator and discriminator (style mixing, w_avg, truncation, fitted latents).
from tfgen.families.stylegan.networks import StyleDiscriminator, StyleGenerator
SG = StyleGenerator(resolution=32, channels=1, latent_dim=8, w_dim=8, mapping_layers=2,
                    channel_base=256, channel_max=8, style_mixing=1.0, fitted_latents=2,
                    sampling="interpolate", seed=0)
SD = StyleDiscriminator(resolution=32, channels=1, channel_base=256, channel_max=8)
ws = SG.mixed_ws(z8, training=True)
SG.update_w_avg(ws[:, 0])
assert ws.shape == (2, 8, 8) and float(np.abs(np.asarray(SG.w_avg)).sum()) > 0
styled = SG.synthesize(ws, training=True)
assert styled.shape == (2, 32, 32, 1) and SD(styled).shape == (2, 1)
SG.truncation_psi = 0.7
assert SG(z8).shape == (2, 32, 32, 1)  # inference: truncated, between the two fitted latents
def style_forward(trainable, non_trainable, z):
    images, _ = SG.stateless_call(trainable, non_trainable, z, training=True)
    return images
styled = jax.jit(style_forward)([v.value for v in SG.trainable_variables],
                                [v.value for v in SG.non_trainable_variables], z8)
assert styled.shape == (2, 32, 32, 1) and bool(np.isfinite(np.asarray(styled)).all())

# L2L-GAN: the UNet generator (batch norm, noise maps, GEM slots, stored images) and the pair critic.
from tfgen.families.l2l.networks import L2LCritic, L2LGenerator
LG = L2LGenerator(resolution=32, channels=1, latent_dim=8, width=4, noise_channels=2, gem_type=3,
                  gem_layers="3,4", conditioning_images=2)
LC = L2LCritic(resolution=32, channels=1, width=4)
for gem in LG.gems:
    gem.gamma.assign(0.5)
pics = np.random.default_rng(2).uniform(-1, 1, size=(2, 32, 32, 1)).astype("float32")
LG.set_conditioning(pics)
assert LG(z8).shape == (2, 32, 32, 1)
feats = LG.decoder_features(pics, z8, training=True, gems=(3,))
assert [tuple(f.shape[1:]) for f in feats] == [(s, s, c) for s, c in LG.decoder_shapes]
assert LC(np.concatenate([pics, np.asarray(LG((pics, z8), gems="none"))], axis=-1)).shape == (2, 1)
def l2l_forward(trainable, non_trainable, pics, z):
    fake, non_trainable = LG.stateless_call(trainable, non_trainable, (pics, z), training=True, gems=(4,))
    return fake, non_trainable
fake, _ = jax.jit(l2l_forward)([v.value for v in LG.trainable_variables],
                               [v.value for v in LG.non_trainable_variables], pics, z8)
assert fake.shape == (2, 32, 32, 1) and bool(np.isfinite(np.asarray(fake)).all())

# Shot morphing: the shots, their morphs, bank flows, styles and augmentation, all in keras.ops.
from tfgen.families.shotmorph.networks import LATENT_DIM, ShotMorphGenerator, warp as ops_warp
from tfgen.morph import ShotMorpher, warp as numpy_warp
shots = np.random.default_rng(3).integers(0, 256, (3, 32, 32, 1), dtype=np.uint8)
SM = ShotMorphGenerator(resolution=32, num_shots=3, morph_share=0.5, strength=1.0, bank_size=2, bank_scale=0.5,
                        style_size=2, pose_spread=0.5, ink_spread=1.0)
SM.set_shots(ShotMorpher.from_shots(shots))
SM.set_bank(np.random.default_rng(4).normal(0, 1, (2, 32, 32, 2)).astype("float32"))
SM.set_style(np.array([15.5, 15.5, 2.0, 2.0, 0.0, -1.0], "float32"), np.full((2, 6), 0.1, "float32"))
zs = np.random.default_rng(5).normal(size=(4, LATENT_DIM)).astype("float32")
assert SM(zs).shape == (4, 32, 32, 1) and bool(np.isfinite(np.asarray(SM(zs))).all())
flow = np.random.default_rng(6).normal(0, 3, (3, 32, 32, 2)).astype("float32")
floats = shots.astype("float32") / 127.5 - 1
assert np.abs(np.asarray(ops_warp(floats, flow)) - numpy_warp(floats, flow)).max() < 1e-5

# DAGAN: G(x, z) (UNet, batch norm, z maps), G(z) on held shots, the pair critic (tests/families/dagan compares with TF).
from tfgen.families.dagan.networks import DAGANCritic, DAGANGenerator
DG = DAGANGenerator(resolution=32, width=4, noise_dim=7, held_shots=2)
DG.set_shots(pics)
made = DG.transform(pics, z8[:, 1:], training=True)
assert made.shape == (2, 32, 32, 1) and DG(z8).shape == (2, 32, 32, 1)
assert DAGANCritic(resolution=32, width=4).score_pairs(pics, made).shape == (2,)
print("ok")
"""


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_models_run_under_the_jax_backend():
    env = dict(os.environ, KERAS_BACKEND="jax", PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]


EXTRACTOR_SCRIPT = """
import sys
sys.modules["tensorflow"] = None  # as on the GPU machines: JAX, no TensorFlow
import keras, numpy as np, skimage.data
assert keras.backend.backend() == "jax"
import tfgen
from tfgen.metrics import extract_features, fid_from_features, get_extractor
cat = skimage.data.chelsea()[:, 75:375]
out = get_extractor("efficientnet_lite0")(cat[None])
top3 = set(np.argsort(out["logits"][0])[-3:].tolist())
assert top3 == {281, 282, 285}, top3  # tabby, tiger cat, Egyptian cat
images = np.random.default_rng(0).integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
features = extract_features(get_extractor("efficientnet_lite0"), images, batch_size=4)["features"]
assert abs(fid_from_features(features, features)) < 1e-6
np.save(sys.argv[1], features)
print("ok")
"""


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_offline_extractor_and_metrics_run_under_jax_without_tensorflow(tmp_path):
    import numpy as np

    from tfgen.metrics import extract_features, get_extractor

    env = dict(os.environ, KERAS_BACKEND="jax", PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    path = str(tmp_path / "jax_features.npy")
    result = subprocess.run(
        [sys.executable, "-c", EXTRACTOR_SCRIPT, path], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]
    images = np.random.default_rng(0).integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    tf_features = extract_features(get_extractor("efficientnet_lite0"), images, batch_size=4)["features"]
    np.testing.assert_allclose(np.load(path), tf_features, rtol=1e-3, atol=1e-3)
