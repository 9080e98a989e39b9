"""GAN losses as pure functions.

Names follow TF-GAN (`<family>_generator_loss` / `<family>_discriminator_loss`).
Every function casts its inputs to float32 first and returns a float32 scalar,
so losses stay exact under a mixed (bfloat16 / float16) policy. Everything is
written with `keras.ops` / `keras.random` and so runs under the JAX backend too,
except `gradient_penalty`, which needs `tf.GradientTape`.

`seed` arguments take what `keras.random` takes: None (the global generator),
an int (the same numbers on every call) or a `keras.random.SeedGenerator`
(new numbers on every call; what a training loop wants).
"""

from __future__ import annotations

import math

import keras
from keras import ops

from tfgen.errors import InputError

_RECONSTRUCTION_KINDS = ("l1", "l2")


def _f32(x):
    return ops.cast(x, "float32")


# ---------------------------------------------------------------------------
# Hinge with random margins (FastGAN)
# ---------------------------------------------------------------------------


def _random_margin(logits, seed):
    # FastGAN draws each hinge margin from U(0.8, 1.0) instead of using 1: a
    # cheap form of label smoothing that the official code relies on.
    return keras.random.uniform(ops.shape(logits), seed=seed) * 0.2 + 0.8


def hinge_discriminator_real_loss(logits, seed=None):
    """Hinge loss of the discriminator on real images, with random margins.

    `mean(relu(m - logits))` with `m ~ U(0.8, 1.0)` drawn per element, as in the
    official FastGAN code (Liu et al., "Towards Faster and Stabilized GAN
    Training for High-fidelity Few-shot Image Synthesis", ICLR 2021), on top of
    the hinge loss of Lim & Ye, "Geometric GAN" (2017). In expectation it equals
    `mean(relu(0.9 - logits))` where all logits are below 0.8.

    Args:
        logits: discriminator outputs for real images, any shape.
        seed: None, an int or a `keras.random.SeedGenerator`.

    Returns:
        float32 scalar.
    """
    logits = _f32(logits)
    return ops.mean(ops.relu(_random_margin(logits, seed) - logits))


def hinge_discriminator_fake_loss(logits, seed=None):
    """Hinge loss of the discriminator on generated images, with random margins.

    `mean(relu(m + logits))` with `m ~ U(0.8, 1.0)` per element (official
    FastGAN; Liu et al., ICLR 2021; hinge loss from Lim & Ye, 2017).

    Args:
        logits: discriminator outputs for generated images, any shape.
        seed: None, an int or a `keras.random.SeedGenerator`.

    Returns:
        float32 scalar.
    """
    logits = _f32(logits)
    return ops.mean(ops.relu(_random_margin(logits, seed) + logits))


def hinge_generator_loss(logits):
    """Hinge generator loss `-mean(logits)` (Lim & Ye, "Geometric GAN", 2017;
    used by SAGAN, BigGAN and FastGAN).

    Args:
        logits: discriminator outputs for generated images, any shape.

    Returns:
        float32 scalar.
    """
    return -ops.mean(_f32(logits))


# ---------------------------------------------------------------------------
# Reconstruction (FastGAN self-supervised discriminator)
# ---------------------------------------------------------------------------


def reconstruction_loss(pred, target, kind="l1", *, perceptual_fn=None, perceptual_weight=1.0):
    """Reconstruction loss of the FastGAN self-supervised decoders.

    Liu et al., ICLR 2021, Sec. 3.2 use LPIPS (Zhang et al., "The Unreasonable
    Effectiveness of Deep Features as a Perceptual Metric", CVPR 2018) between
    decoded and real images. tfgen ships no VGG weights, so the pixel term
    (`"l1"`: mean |pred - target|, `"l2"`: mean squared error) is the default
    and a perceptual distance can be added through `perceptual_fn`.

    Args:
        pred: reconstructions, e.g. [B, H, W, 3].
        target: images of the same shape.
        kind: `"l1"`, `"l2"` or None (no pixel term; needs `perceptual_fn`).
        perceptual_fn: optional callable `(pred, target) -> distances`
            (a scalar or one value per sample), e.g. an LPIPS model built from
            user-supplied VGG weights; its mean is added.
        perceptual_weight: factor on the perceptual term.

    Returns:
        float32 scalar.
    """
    if kind is not None and kind not in _RECONSTRUCTION_KINDS:
        raise InputError(
            f"Unknown reconstruction loss kind. Expected one of {_RECONSTRUCTION_KINDS} "
            f"or None. Received: kind={kind!r}"
        )
    if kind is None and perceptual_fn is None:
        raise InputError(
            "reconstruction_loss needs a pixel term or a perceptual_fn. "
            "Received: kind=None, perceptual_fn=None"
        )
    pred = _f32(pred)
    target = _f32(target)
    loss = ops.zeros((), "float32")
    if kind == "l1":
        loss = loss + ops.mean(ops.abs(pred - target))
    elif kind == "l2":
        loss = loss + ops.mean(ops.square(pred - target))
    if perceptual_fn is not None:
        loss = loss + perceptual_weight * ops.mean(_f32(perceptual_fn(pred, target)))
    return loss


# ---------------------------------------------------------------------------
# Non-saturating (original GAN)
# ---------------------------------------------------------------------------


def non_saturating_generator_loss(fake_logits):
    """Non-saturating generator loss `mean(softplus(-D(G(z))))`, i.e.
    `-log sigmoid(D(G(z)))` (Goodfellow et al., "Generative Adversarial Nets",
    NeurIPS 2014, Sec. 3; the loss of StyleGAN/StyleGAN2).

    Returns:
        float32 scalar.
    """
    return ops.mean(ops.softplus(-_f32(fake_logits)))


def non_saturating_discriminator_loss(real_logits, fake_logits, *, label_smoothing=0.0):
    """Discriminator loss of the original GAN (Goodfellow et al., NeurIPS 2014):
    sigmoid cross-entropy with target 1 on real and 0 on fake logits,
    `mean(softplus(-D(x))) + mean(softplus(D(G(z))))`.

    Args:
        real_logits: discriminator outputs on real images.
        fake_logits: discriminator outputs on generated images.
        label_smoothing: one-sided label smoothing (Salimans et al., "Improved
            Techniques for Training GANs", 2016): real targets become
            `1 - label_smoothing`.

    Returns:
        float32 scalar.
    """
    real_logits = _f32(real_logits)
    fake_logits = _f32(fake_logits)
    # Sigmoid cross-entropy with target t: softplus(x) - t * x.
    real_target = 1.0 - label_smoothing
    real_loss = ops.mean(ops.softplus(real_logits) - real_target * real_logits)
    fake_loss = ops.mean(ops.softplus(fake_logits))
    return real_loss + fake_loss


# ---------------------------------------------------------------------------
# Wasserstein (WGAN, WGAN-GP)
# ---------------------------------------------------------------------------


def wasserstein_generator_loss(fake_logits):
    """Wasserstein generator loss `-mean(D(G(z)))` (Arjovsky et al.,
    "Wasserstein GAN", ICML 2017).

    Returns:
        float32 scalar.
    """
    return -ops.mean(_f32(fake_logits))


def wasserstein_discriminator_loss(real_logits, fake_logits):
    """Wasserstein critic loss `mean(D(G(z))) - mean(D(x))` (Arjovsky et al.,
    ICML 2017). Pair it with `gradient_penalty` for WGAN-GP.

    Returns:
        float32 scalar.
    """
    return ops.mean(_f32(fake_logits)) - ops.mean(_f32(real_logits))


def gradient_penalty(critic_fn, real, fake, seed=None, eps=None):
    """WGAN-GP gradient penalty (Gulrajani et al., "Improved Training of
    Wasserstein GANs", NeurIPS 2017, Eq. 3).

    Evaluates the critic at `x = eps * real + (1 - eps) * fake` with one
    `eps ~ U[0, 1]` per sample and returns `mean((||grad_x D(x)||_2 - 1)^2)`.
    Multiply by lambda (10 in the paper) yourself.

    This is the one loss that uses TensorFlow directly (`tf.GradientTape`), so
    it needs the TensorFlow backend. Call it under the outer tape that
    differentiates the critic loss: the penalty is then differentiable with
    respect to the critic weights (double backprop).

    Args:
        critic_fn: callable `images -> scores` ([B] or [B, ...]); every score is
            summed per sample before differentiation.
        real: real images [B, ...].
        fake: generated images, same shape as `real`.
        seed: None, an int or a `keras.random.SeedGenerator`.
        eps: the interpolation weights [B] to use instead of drawing them
            (Reptile draws them ahead for many tasks at once).

    Returns:
        float32 scalar.
    """
    import tensorflow as tf  # Only this function needs TensorFlow.

    real = _f32(real)
    fake = _f32(fake)
    batch_size = ops.shape(real)[0]
    eps_shape = (batch_size,) + (1,) * (len(real.shape) - 1)
    if eps is None:
        eps = keras.random.uniform(eps_shape, seed=seed)
    eps = ops.reshape(_f32(eps), eps_shape)
    interpolated = eps * real + (1.0 - eps) * fake  # [B, ...]
    with tf.GradientTape() as tape:
        tape.watch(interpolated)
        scores = _f32(critic_fn(interpolated))
        total = ops.sum(scores)
    grads = tape.gradient(total, interpolated)
    if grads is None:
        raise InputError(
            "gradient_penalty could not differentiate critic_fn with respect to its "
            "input; make sure critic_fn computes its scores from the images it receives."
        )
    grads = ops.reshape(_f32(grads), (batch_size, -1))
    # The tiny epsilon keeps the gradient of the norm finite at zero.
    norms = ops.sqrt(ops.sum(ops.square(grads), axis=1) + 1e-12)
    return ops.mean(ops.square(norms - 1.0))


# ---------------------------------------------------------------------------
# InfoGAN mutual information
# ---------------------------------------------------------------------------


def info_categorical_loss(logits, codes):
    """Categorical part of the InfoGAN mutual-information loss (Chen et al.,
    "InfoGAN: Interpretable Representation Learning by Information Maximizing
    Generative Adversarial Nets", NeurIPS 2016): cross-entropy of Q(c|x) with
    the sampled code.

    Args:
        logits: [B, K] unnormalised log-probabilities of Q.
        codes: one-hot codes [B, K] or integer labels [B].

    Returns:
        float32 scalar, mean over the batch.
    """
    logits = _f32(logits)
    if len(codes.shape) == len(logits.shape) - 1:
        codes = ops.one_hot(ops.cast(codes, "int32"), logits.shape[-1])
    codes = _f32(codes)
    log_probs = ops.log_softmax(logits, axis=-1)
    return -ops.mean(ops.sum(codes * log_probs, axis=-1))


def info_continuous_loss(mean, codes, log_std=None):
    """Continuous part of the InfoGAN mutual-information loss (Chen et al.,
    NeurIPS 2016): negative log-likelihood of the sampled codes under the
    factored Gaussian Q(c|x) = N(mean, exp(log_std)^2).

    Args:
        mean: [B, D] predicted means.
        codes: [B, D] sampled continuous codes.
        log_std: [B, D] predicted log standard deviations, or None for a fixed
            unit variance (many reimplementations; then the loss is half the
            squared error plus a constant).

    Returns:
        float32 scalar: NLL summed over the D codes, averaged over the batch.
    """
    mean = _f32(mean)
    codes = _f32(codes)
    log_std = ops.zeros_like(mean) if log_std is None else _f32(log_std)
    z = (codes - mean) * ops.exp(-log_std)
    nll = 0.5 * math.log(2.0 * math.pi) + log_std + 0.5 * ops.square(z)
    return ops.mean(ops.sum(nll, axis=-1))


def info_loss(
    *,
    categorical_logits=None,
    categorical_codes=None,
    continuous_mean=None,
    continuous_codes=None,
    continuous_log_std=None,
    continuous_weight=1.0,
):
    """InfoGAN mutual-information loss (Chen et al., NeurIPS 2016): the
    negative variational lower bound L_I, minimised by both G and Q.

    `info_categorical_loss` for the categorical codes plus
    `continuous_weight * info_continuous_loss` for the continuous codes. Pass
    either part or both; multiply by lambda (1 in the paper) yourself.

    Returns:
        float32 scalar.
    """
    has_categorical = categorical_logits is not None or categorical_codes is not None
    has_continuous = continuous_mean is not None or continuous_codes is not None
    if not has_categorical and not has_continuous:
        raise InputError(
            "info_loss needs categorical_logits/categorical_codes, "
            "continuous_mean/continuous_codes, or both. Received none."
        )
    loss = ops.zeros((), "float32")
    if has_categorical:
        if categorical_logits is None or categorical_codes is None:
            raise InputError(
                "info_loss needs both categorical_logits and categorical_codes. "
                f"Received: categorical_logits={'set' if categorical_logits is not None else None}, "
                f"categorical_codes={'set' if categorical_codes is not None else None}"
            )
        loss = loss + info_categorical_loss(categorical_logits, categorical_codes)
    if has_continuous:
        if continuous_mean is None or continuous_codes is None:
            raise InputError(
                "info_loss needs both continuous_mean and continuous_codes. "
                f"Received: continuous_mean={'set' if continuous_mean is not None else None}, "
                f"continuous_codes={'set' if continuous_codes is not None else None}"
            )
        loss = loss + continuous_weight * info_continuous_loss(
            continuous_mean, continuous_codes, continuous_log_std
        )
    return loss


# ---------------------------------------------------------------------------
# StyleGAN (logistic loss with lazy R1)
# ---------------------------------------------------------------------------


def stylegan_discriminator_loss(real_logits, fake_logits):
    """StyleGAN's non-saturating logistic discriminator loss (Karras et al.,
    "A Style-Based Generator Architecture for GANs", CVPR 2019; StyleGAN2,
    CVPR 2020): `mean(softplus(-D(x)))` and `mean(softplus(D(G(z))))`.

    Returns:
        (real term, fake term), float32 scalars; the loss is their sum.
    """
    return ops.mean(ops.softplus(-_f32(real_logits))), ops.mean(ops.softplus(_f32(fake_logits)))


def stylegan_generator_loss(fake_logits):
    """StyleGAN's non-saturating generator loss `mean(softplus(-D(G(z))))`
    (Karras et al., CVPR 2019), the same as :func:`non_saturating_generator_loss`."""
    return non_saturating_generator_loss(fake_logits)


def r1_penalty(real_gradients):
    """The R1 penalty `mean_x |grad_x D(x)|^2` (Mescheder et al., "Which
    Training Methods for GANs do actually Converge?", ICML 2018), from the
    gradients of D's summed logits with respect to the real images [B, ...].
    StyleGAN weights it by gamma / 2 (times the interval when it runs lazily).

    Returns:
        float32 scalar.
    """
    gradients = _f32(real_gradients)
    return ops.mean(ops.sum(ops.reshape(ops.square(gradients), (ops.shape(gradients)[0], -1)), axis=1))


# ---------------------------------------------------------------------------
# Few-shot adaptation and L2L-GAN's generator-enhancing modules
# ---------------------------------------------------------------------------


def adain_reconstruction_loss(images, shots, perceptual=None, perceptual_weight=0.0):
    """The AdaIN adaptation's reconstruction loss of the shots (after "Few-shot
    image generation with a style-based generator", after Karras et al.'s
    AdaIN): `alpha * perceptual + (1 - alpha) * mean |G(z_i) - x_i|`.

    Args:
        images, shots: [k, H, W, C] reconstructions and shots in [-1, 1].
        perceptual: [k] perceptual distances of the pairs, or None (L1 alone).
        perceptual_weight: alpha in [0, 1].

    Returns:
        (loss, perceptual term, L1 term), float32 scalars.
    """
    l1 = ops.mean(ops.abs(_f32(images) - _f32(shots)))
    if perceptual is None or perceptual_weight == 0:
        return l1, ops.convert_to_tensor(0.0), l1
    perceptual = ops.mean(_f32(perceptual))
    return perceptual_weight * perceptual + (1.0 - perceptual_weight) * l1, perceptual, l1


def interpolation_loss(images, shots_i, shots_j, t):
    """The AdaIN adaptation's interpolation loss: images at z_t = (1 - t) z_i +
    t z_j stay near both ends, weighted by distance:
    `mean(t |G(z_t) - x_j|_1 + (1 - t) |G(z_t) - x_i|_1)` (L1 as a per-image mean).

    Args:
        images: [P, H, W, C] images at the interpolated latents.
        shots_i, shots_j: [P, H, W, C] the two ends' shots.
        t: [P] interpolation weights in [0, 1].
    """
    images = _f32(images)
    to_i = ops.mean(ops.abs(images - _f32(shots_i)), axis=(1, 2, 3))
    to_j = ops.mean(ops.abs(images - _f32(shots_j)), axis=(1, 2, 3))
    t = _f32(t)
    return ops.mean(t * to_j + (1.0 - t) * to_i)


def gem_feature_loss(student_features, reference_features, kind="l1"):
    """L2L-GAN's GEM loss: the mean L1 (or squared L2) distance of matched
    decoder feature maps, summed over the matched blocks (the generator-
    enhancing modules learn to reproduce the reference generator's features).

    Args:
        student_features, reference_features: lists of [B, ...] feature maps.
        kind: "l1" or "l2".
    """
    if kind not in ("l1", "l2"):
        raise InputError(f"kind must be 'l1' or 'l2'. Received: kind={kind!r}")
    loss = 0.0
    for student, reference in zip(student_features, reference_features, strict=True):
        difference = _f32(student) - _f32(reference)
        loss = loss + ops.mean(ops.abs(difference) if kind == "l1" else ops.square(difference))
    return loss


# ---------------------------------------------------------------------------
# The AdaIN adaptation's other interpolation losses (options 1 and 2 of the
# "stylegan_meta" few-shot write-up; option 3 is interpolation_loss above)
# ---------------------------------------------------------------------------

STYLE_STATISTICS = ("mean_std", "gram")


def feature_content_loss(features, targets):
    """The content loss of neural style transfer (Gatys et al., "Image Style
    Transfer Using Convolutional Neural Networks", CVPR 2016) at one (deep)
    feature map: the squared L2 distance over the channels, averaged over
    the batch and the pixels, `mean_bhw sum_c (F - T)^2` (on unit-normalised
    maps, LPIPS's term of that layer).

    Args:
        features, targets: [B, h, w, c] feature maps of the images and of
            the images whose content they should keep.
    """
    return ops.mean(ops.sum(ops.square(_f32(features) - _f32(targets)), axis=-1))


def channel_mean_std(features, epsilon=1e-5):
    """Per image and channel, the mean and standard deviation over the pixels
    of ``[B, h, w, c]`` maps: two ``[B, c]`` float32 tensors (AdaIN's
    statistics; epsilon under the root keeps the gradient of a constant
    channel finite)."""
    features = _f32(features)
    mean = ops.mean(features, axis=(1, 2))
    variance = ops.mean(ops.square(features - mean[:, None, None, :]), axis=(1, 2))
    return mean, ops.sqrt(variance + epsilon)


def gram_matrix(features):
    """``[B, h, w, c]`` -> ``[B, c, c]``: F^T F / (h w), the channel
    correlations of Gatys et al.'s style representation."""
    features = _f32(features)
    shape = ops.shape(features)
    flat = ops.reshape(features, (shape[0], -1, shape[3]))  # [B, h*w, c]
    return ops.einsum("bpc,bpd->bcd", flat, flat) / ops.cast(shape[1] * shape[2], "float32")


def feature_style_loss(features, targets, statistics="mean_std"):
    """A style loss summed over feature maps (early layers, in practice).

    ``statistics="mean_std"``: the style loss of AdaIN style transfer (Huang
    & Belongie, "Arbitrary Style Transfer in Real-time with Adaptive Instance
    Normalization", ICCV 2017), with its L2 norms squared (smooth where the
    statistics match): per layer `mean_b (|mu(F) - mu(T)|^2 + |sigma(F) - sigma(T)|^2)`,
    the norms over the channels. ``statistics="gram"``: Gatys et al.'s E_l,
    `sum_cd (Gram(F) - Gram(T))^2 / (4 c^2)` per layer (Gram normalised by
    the pixels, see :func:`gram_matrix`), averaged over the batch.

    Args:
        features, targets: lists of [B, h_l, w_l, c_l] maps of the images and
            of the images whose style they should take (same shapes pairwise).
        statistics: "mean_std" or "gram".
    """
    if statistics not in STYLE_STATISTICS:
        raise InputError(f"statistics must be one of {STYLE_STATISTICS}. Received: statistics={statistics!r}")
    loss = ops.convert_to_tensor(0.0)
    for feature, target in zip(features, targets, strict=True):
        if statistics == "gram":
            loss = loss + ops.mean(ops.square(gram_matrix(feature) - gram_matrix(target))) / 4.0
        else:
            mean_f, std_f = channel_mean_std(feature)
            mean_t, std_t = channel_mean_std(target)
            squared = ops.sum(ops.square(mean_f - mean_t), axis=-1) + ops.sum(ops.square(std_f - std_t), axis=-1)
            loss = loss + ops.mean(squared)
    return loss
