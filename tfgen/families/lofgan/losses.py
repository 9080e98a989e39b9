"""LoFGAN's losses, pure functions (Gu et al., "LoFGAN: Fusing Local
Representations for Few-shot Image Generation", ICCV 2021, section 3.3;
official code edward3862/LoFGAN-pytorch, networks/lofgan.py and loss.py).

The adversarial part is the hinge loss (Lim & Ye, "Geometric GAN", 2017)
with a fixed margin of 1; the class head's part is the cross-entropy over
the training classes, for real images (D) and generated ones (G, labelled
with their episode's class).
"""

from __future__ import annotations

from keras import ops

from tfgen.families.lofgan.fusion import fuse_local, take_images


def _f32(x):
    return ops.cast(x, "float32")


def lofgan_discriminator_adversarial_loss(real_logits, fake_logits):
    """``mean(relu(1 - D(x))) + mean(relu(1 + D(G(.))))``: the official
    ``loss_adv_dis_real + loss_adv_dis_fake`` (hinge, margin 1). float32 scalar."""
    return ops.mean(ops.relu(1.0 - _f32(real_logits))) + ops.mean(ops.relu(1.0 + _f32(fake_logits)))


def lofgan_generator_adversarial_loss(fake_logits):
    """``-mean(D(G(.)))``: the official ``loss_adv_gen``. float32 scalar."""
    return -ops.mean(_f32(fake_logits))


def lofgan_classification_loss(class_logits, labels):
    """Mean cross-entropy of the class head's logits [B, K] for ``labels``
    [B] (int): ``F.cross_entropy`` in the official ``loss_cls_dis`` /
    ``loss_cls_gen``. float32 scalar."""
    logits = _f32(class_logits)
    log_probs = logits - ops.logsumexp(logits, axis=1, keepdims=True)
    picked = ops.take_along_axis(log_probs, ops.cast(labels, "int32")[:, None], axis=1)
    return -ops.mean(picked)


def lofgan_class_gradient_penalty(gradients):
    """The official ``calc_grad2``: the squared gradient of D's real-class
    logits (summed over the batch, then divided by it: ``mean`` of the logits'
    gradient, times the batch) with respect to the real images, summed over
    every pixel and divided by the batch. Given ``gradients`` of
    ``mean(logits)`` [B, R, R, C], that is ``sum(g**2) / B``. float32 scalar."""
    gradients = _f32(gradients)
    return ops.sum(ops.square(gradients)) / ops.cast(ops.shape(gradients)[0], "float32")


def downsample(images, side):
    """Images [N, R, R, C] -> [N, side, side, C], the mean of each R/side square.

    The official code resizes with ``F.interpolate``'s nearest neighbour; at
    32 -> 8 px that keeps one pixel of 16 and misses most of a thin stroke,
    so the mean is used instead."""
    factor = images.shape[1] // side
    if factor == 1:
        return images
    return ops.average_pool(images, factor, strides=factor, padding="valid")


def local_reconstruction_loss(shots, generated, fusion, *, side):
    """The local reconstruction loss (LRL, the paper's eq. 6; official
    ``local_recon_criterion``): L1 between the generated image and the fusion
    the LFM made, repeated on the images themselves.

    The shots and the generated image are downsampled to the feature map's
    side; the base image's pixels at the selected positions are replaced by
    the coefficient-weighted sum of the base's and the references' pixels at
    the matched positions (``fusion``, from
    :meth:`tfgen.families.lofgan.networks.LoFGANGenerator.fuse_shots`).

    Args:
        shots: [B, k, R, R, C], each sample's images.
        generated: [B, R, R, C].
        fusion: dict with ``chosen`` [B, m], ``positions`` [B, n],
            ``matched`` [B, m, n] and ``coefficients`` [B, m].
        side: the feature map's side.

    Returns:
        float32 scalar.
    """
    shots = _f32(shots)
    batch, held = ops.shape(shots)[0], shots.shape[1]
    channels = shots.shape[-1]
    small = downsample(ops.reshape(shots, (-1,) + tuple(shots.shape[2:])), side)
    small = ops.reshape(small, (batch, held, side * side, channels))
    maps = take_images(small, fusion["chosen"])
    target = fuse_local(maps, fusion["positions"], fusion["matched"], fusion["coefficients"])
    made = ops.reshape(downsample(_f32(generated), side), (batch, side * side, channels))
    return ops.mean(ops.abs(made - target))


__all__ = [
    "downsample", "local_reconstruction_loss", "lofgan_class_gradient_penalty", "lofgan_classification_loss",
    "lofgan_discriminator_adversarial_loss", "lofgan_generator_adversarial_loss",
]  # fmt: skip
