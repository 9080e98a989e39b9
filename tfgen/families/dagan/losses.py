"""DAGAN's losses, pure functions.

The pair critic's WGAN-GP losses (Antoniou, Storkey, Edwards, "Data
Augmentation Generative Adversarial Networks", 2017, section 4; official
code AntreasAntoniou/DAGAN, dagan_networks_wgan.py ``loss``): real pairs
(x, x'), two images of one class; fake pairs (x, G(x, z)). The gradient
penalty (Gulrajani et al., 2017) is taken, as in the official code, on
candidates interpolated between x' and G(x, z) with x held fixed.

The mode-seeking term (Mao, Lee, Tseng, Ma, Yang, "Mode Seeking Generative
Adversarial Networks for Diverse Image Synthesis", CVPR 2019, eq. 3; official
code HelenMao/MSGAN): ``1 / (mean|G(x, z1) - G(x, z2)| / mean|z1 - z2| + eps)``,
which G minimises so that two noises give two different images.
"""

from __future__ import annotations

from keras import ops

from tfgen.losses import gradient_penalty, wasserstein_discriminator_loss, wasserstein_generator_loss

MODE_SEEKING_EPSILON = 1e-5  # MSGAN's eps


def _f32(x):
    return ops.cast(x, "float32")


def dagan_critic_loss(real_scores, fake_scores):
    """``mean(D(x, G(x, z))) - mean(D(x, x'))``: the official ``d_loss`` before
    the penalty (the Wasserstein critic loss on pairs). float32 scalar."""
    return wasserstein_discriminator_loss(real_scores, fake_scores)


def dagan_generator_loss(fake_scores):
    """``-mean(D(x, G(x, z)))``: the official ``g_loss``. float32 scalar."""
    return wasserstein_generator_loss(fake_scores)


def dagan_gradient_penalty(critic, images, real, fake, *, seed=None, eps=None):
    """``mean((||grad_c D(x, c)||_2 - 1)^2)`` at ``c = eps * x' + (1 - eps) * G(x, z)``,
    x fixed, one eps ~ U[0, 1] per pair (or ``eps`` [B] given). The official
    penalty differentiates with respect to the interpolated candidate only
    (its norm over axis 1 alone is a slip; the norm here is over the whole
    image). Call it under the tape that trains the critic. float32 scalar.

    Args:
        critic: a :class:`tfgen.families.dagan.networks.DAGANCritic` (or any
            callable with its ``score_pairs(images, candidates)``).
        images: x [B, R, R, C].
        real: x' [B, R, R, C], the other real image of each pair.
        fake: G(x, z) [B, R, R, C].
    """
    return gradient_penalty(lambda candidates: critic.score_pairs(images, candidates, training=True), real, fake,
                            seed=seed, eps=eps)  # fmt: skip


def mode_seeking_loss(fake_1, fake_2, z_1, z_2):
    """MSGAN's ``1 / (mean|G(x, z1) - G(x, z2)| / mean|z1 - z2| + eps)``: small when
    two noises give images far apart. Means over every element. float32 scalar."""
    ratio = ops.mean(ops.abs(_f32(fake_1) - _f32(fake_2))) / ops.mean(ops.abs(_f32(z_1) - _f32(z_2)))
    return 1.0 / (ratio + MODE_SEEKING_EPSILON)


__all__ = ["dagan_critic_loss", "dagan_generator_loss", "dagan_gradient_penalty", "mode_seeking_loss"]
