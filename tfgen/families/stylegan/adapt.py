"""Few-shot adaptation of a StyleGAN generator through its AdaIN mappings.

Given a generator trained on other classes and k shots x_1..x_k of a new
class, fit one latent per shot (z_i, or w_i) and new affine maps A_i (the
layers that turn w into each AdaIN's scale and bias), every other weight
frozen, to minimise

    alpha * perceptual(G(z_i), x_i) + (1 - alpha) * |G(z_i) - x_i|_1
    + lambda * [t |G(z_t) - x_j|_1 + (1 - t) |G(z_t) - x_i|_1],

z_t = (1 - t) z_i + t z_j over random pairs (i != j) and t ~ U(0, 1): the
interpolation term keeps the images between two fitted latents close to
their ends, weighted by distance, so that walking between them stays in the
new class. The adapted generator then samples by interpolating between the
fitted latents (``sampling="interpolate"``, depth-one interpolation) or from
random z through the adapted maps (``sampling="random"``).

That interpolation term is option 3 of the write-up this follows (the
"stylegan_meta" few-shot StyleGAN README). Its options 1 and 2 replace it
(``AdaINAdaptConfig.interpolation_loss``):

* ``"discriminator"`` (option 1): a small k-shot discriminator
  (:class:`KShotDiscriminator`), trained from scratch during the adaptation
  on the shots (real) against the images at the interpolation points (fake),
  with the non-saturating logistic loss and R1 on the shots, both sides
  seeing DiffAugment; the latents and A_i get its generator loss
  softplus(-D(G(z_t))), so that the images between fitted latents look like
  members of the class. One discriminator step follows every adaptation step.
* ``"content_style"`` (option 2): G(z_t) keeps the content of x_i (squared
  difference of a deep feature map) and takes the style of x_j (channel mean
  and std, or Gram matrices, of the shallower maps), in the perceptual
  loss's feature network, every map unit-normalised along its channels as
  the perceptual distance compares them. As the pairs are drawn in both
  orders, a point of a segment is asked, over the draws, for the content and
  the style of both of its ends, unweighted by the distance to them.

Ablations (:class:`tfgen.families.stylegan.config.AdaINAdaptConfig`): ``interpolation_weight=0``
drops the interpolation term; ``update_adain=False`` fits the latents alone
(the pre-trained generator, inverted onto the shots).

The perceptual term uses offline features (:class:`tfgen.perceptual.FeatureDistance`:
EfficientNet-Lite0 or a domain classifier); ``perceptual_features="none"``
leaves L1 alone, at full weight.

``tfgen.adapt`` / :func:`tfgen.adaptation.adapt_run` read the run and check
the shots, then call :func:`adapt`, which turns its ``adain`` option into an
:class:`AdaINAdaptConfig` and runs :func:`adapt_adain`.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tfgen.augment import diff_augment
from tfgen.families.stylegan.config import AdaINAdaptConfig
from tfgen.losses import (
    adain_reconstruction_loss,
    feature_content_loss,
    feature_style_loss,
    interpolation_loss,
    r1_penalty,
    stylegan_discriminator_loss,
    stylegan_generator_loss,
)
from tfgen.errors import InputError

# Random latents tried per shot to start from (the nearest in L1 wins): a
# cheap start that puts each latent near its shot before the descent.
INIT_CANDIDATES = 64


@dataclasses.dataclass
class AdaptationResult:
    """The adapted generator and how the fit went."""

    generator: keras.Model
    losses: dict  # name -> [steps] float per step: total, reconstruction, perceptual, l1, interpolation
    config: AdaINAdaptConfig
    model_config: object  # the StyleGANConfig the adapted generator is built from


def _copy_pretrained(target, source):
    """Every variable of ``source`` into ``target`` by path (the fitted latents
    of ``target`` excepted: they are what adaptation finds)."""
    def relative(variable):
        return variable.path.split("/", 1)[-1]

    sources = {relative(v): v for v in source.variables if not relative(v).startswith("seed_generator")}
    for variable in target.variables:
        name = relative(variable)
        if name in sources and tuple(variable.shape) == tuple(sources[name].shape):
            variable.assign(sources[name])


def adapted_config(model_config, *, num_latents, latent_space, sampling):
    """The StyleGAN config of a generator holding ``num_latents`` fitted latents."""
    return dataclasses.replace(
        model_config,
        fitted_latents=num_latents,
        fitted_space=latent_space,
        sampling="random" if num_latents < 2 else sampling,
    )


def adapted_generator(source, model_config, *, num_latents, latent_space, sampling):
    """A new generator with ``source``'s weights and room for ``num_latents`` fitted latents."""
    from tfgen.registry import get_family

    config = adapted_config(model_config, num_latents=num_latents, latent_space=latent_space, sampling=sampling)
    generator = get_family("stylegan").build_generator(config)
    _copy_pretrained(generator, source)
    return generator


def affine_variables(generator):
    """The trainable variables of every AdaIN affine map A_i."""
    return [v for layer in generator.synthesis.affine_layers for v in layer.trainable_variables]


# The k-shot discriminator halves the resolution down to this side.
_KSHOT_FINAL_SIDE = 4


@keras.saving.register_keras_serializable("tfgen")
class KShotDiscriminator(keras.Model):
    """The small discriminator of the interpolation loss's option 1: images
    ``[B, R, R, C]`` in [-1, 1] -> logits ``[B, 1]`` (float32).

    A 3x3 conv of ``width`` channels, then 3x3 stride-2 convs that halve the
    side down to 4 (channels doubled each time, at most 4 * width), each
    followed by LeakyReLU(0.2), and a dense layer on the flattened 4x4 map.
    No normalisation: R1 and the few images it sees keep it simple.

    Args:
        resolution: side R of the images (a power of two >= 4).
        channels: C, 1 (grey) or 3.
        width: channels of the first conv.
        seed: seed of the initial weights (None: Keras' global generator).
    """

    def __init__(self, *, resolution, channels, width=16, seed=None, **kwargs):
        super().__init__(**kwargs)
        if resolution < _KSHOT_FINAL_SIDE or resolution & (resolution - 1):
            raise InputError(
                f"The k-shot discriminator takes square images with a power-of-two side >= {_KSHOT_FINAL_SIDE}. "
                f"Received: resolution={resolution}"
            )
        self.resolution, self.image_channels, self.width = int(resolution), int(channels), int(width)
        self.seed = seed

        def init(index):
            return keras.initializers.GlorotUniform(seed=None if seed is None else int(seed) + index)

        self.convs = [keras.layers.Conv2D(self.width, 3, padding="same", kernel_initializer=init(0), name="conv0")]
        side, filters = self.resolution, self.width
        while side > _KSHOT_FINAL_SIDE:
            filters, side = min(filters * 2, 4 * self.width), side // 2
            index = len(self.convs)
            self.convs.append(
                keras.layers.Conv2D(filters, 3, strides=2, padding="same", kernel_initializer=init(index),
                                    name=f"down{index}")  # fmt: skip
            )
        self.flatten = keras.layers.Flatten(name="flatten")
        self.logit = keras.layers.Dense(1, kernel_initializer=init(len(self.convs)), name="logit")

    def build(self, input_shape):
        shape = tuple(input_shape)
        for conv in self.convs:
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
        self.flatten.build(shape)
        self.logit.build(self.flatten.compute_output_shape(shape))
        self.built = True

    def call(self, images):
        x = images  # [B, R, R, C]
        for conv in self.convs:
            x = keras.ops.leaky_relu(conv(x), negative_slope=0.2)
        return ops.cast(self.logit(self.flatten(x)), "float32")  # [B, 1]

    def get_config(self):
        return {
            **super().get_config(),
            "resolution": self.resolution,
            "channels": self.image_channels,
            "width": self.width,
            "seed": self.seed,
        }


def content_and_style_maps(maps):
    """The (content map, style maps) of a feature network's maps, shallow to
    deep: the second-deepest map is the content (deep, with room left for
    the layout: 4x4 of EfficientNet-Lite0's five maps at 64 px, whose first
    three, 32x32 to 8x8, are the style), the maps before it the style. Two
    maps: the deep one is the content, the shallow one the style; one map is
    both."""
    if len(maps) == 1:
        return maps[0], [maps[0]]
    content = max(len(maps) - 2, 1)
    return maps[content], list(maps[:content])


class AdaINAdaptation:
    """The fit of one set of shots (see the module doc). ``run(steps)`` returns
    the per-step losses; ``generator`` is updated in place."""

    def __init__(self, generator, shots, config, *, distance=None, seed=0):
        """``distance``: the perceptual distance ``(a, b) -> [B]`` (None: L1
        alone); ``interpolation_loss="content_style"`` also reads its
        ``feature_maps(images)`` (a list of ``[B, h, w, c]`` maps, shallow to
        deep), as :class:`tfgen.perceptual.FeatureDistance` has."""
        self.generator = generator
        self.config = config
        self.shots = ops.convert_to_tensor(np.asarray(shots, np.float32) / 127.5 - 1.0)  # [k, R, R, C]
        self.num_shots = int(self.shots.shape[0])
        self.distance = distance
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.latents = keras.Variable(self.initial_latents(seed), name="fitted_latents")
        self.latent_optimizer = keras.optimizers.Adam(config.latent_learning_rate)
        self.latent_optimizer.build([self.latents])
        self.adain = affine_variables(generator) if config.update_adain else []
        if self.adain:
            self.adain_optimizer = keras.optimizers.Adam(config.adain_learning_rate)
            self.adain_optimizer.build(self.adain)
        # The interpolation term runs with a weight and two shots to pair.
        self.interpolating = config.interpolation_weight > 0 and self.num_shots > 1
        self.discriminator = None
        if self.interpolating and config.interpolation_loss == "discriminator":
            self._build_discriminator(seed)
        self.shot_maps = None
        if self.interpolating and config.interpolation_loss == "content_style":
            self.shot_maps = self._shot_feature_maps()
        self.step_function = tf.function(self.step)

    def _build_discriminator(self, seed):
        config, shape = self.config, tuple(self.shots.shape[1:])
        self.discriminator = KShotDiscriminator(
            resolution=shape[0], channels=shape[-1], width=config.interpolation_d_width, seed=seed,
            name="kshot_discriminator",
        )  # fmt: skip
        self.discriminator.build((None, *shape))
        # StyleGAN's Adam (betas 0, 0.99).
        self.d_optimizer = keras.optimizers.Adam(config.interpolation_d_learning_rate, beta_1=0.0, beta_2=0.99)
        self.d_optimizer.build(self.discriminator.trainable_variables)
        # Its own random numbers (augmentation), so that the pairs drawn are
        # those of the other options for the same seed.
        self.d_seed_generator = keras.random.SeedGenerator(seed + 1)

    def _shot_feature_maps(self):
        if self.distance is None or not hasattr(self.distance, "feature_maps"):
            raise InputError(
                "interpolation_loss='content_style' needs the feature network of the perceptual loss "
                "(a distance with feature_maps, such as tfgen.perceptual.FeatureDistance). Received: "
                f"distance={self.distance!r}"
            )
        return self.unit_maps(self.shots)

    def unit_maps(self, images):
        """The feature maps of images in [-1, 1], unit-normalised along the channels."""
        from tfgen.perceptual import unit_normalize

        return [unit_normalize(m) for m in self.distance.feature_maps(images)]

    def latents_to_ws(self, latents):
        # The generator was built with fitted_space = config.latent_space.
        return self.generator.fitted_ws(latents, truncation_psi=1.0)

    def initial_latents(self, seed):
        """Per shot, the nearest (L1) of INIT_CANDIDATES random latents."""
        G = self.generator
        z = np.random.default_rng(seed).standard_normal((INIT_CANDIDATES, G.latent_dim)).astype("float32")
        candidates = z if self.config.latent_space == "z" else ops.convert_to_numpy(G.mapping(z))
        images = ops.convert_to_numpy(G.synthesize(self.latents_to_ws(candidates)))
        shots = ops.convert_to_numpy(self.shots)
        errors = np.abs(shots[:, None] - images[None]).mean(axis=(2, 3, 4))  # [k, candidates]
        return candidates[errors.argmin(axis=1)]

    def reconstruction_terms(self, images):
        """(alpha * perceptual + (1 - alpha) * L1, perceptual, L1) of the shots'
        reconstructions; L1 alone without a perceptual distance."""
        alpha = self.config.perceptual_weight
        perceptual = None if self.distance is None or alpha == 0 else self.distance(images, self.shots)
        return adain_reconstruction_loss(images, self.shots, perceptual, alpha)

    def draw_pairs(self):
        """``interpolation_pairs`` random (i, j != i, t ~ U(0, 1)): [P], [P], [P, 1]."""
        k, pairs = self.num_shots, self.config.interpolation_pairs
        i = keras.random.randint((pairs,), 0, k, seed=self.seed_generator)
        # j uniform over the other k - 1 shots.
        j = (i + keras.random.randint((pairs,), 1, k, seed=self.seed_generator)) % k
        t = keras.random.uniform((pairs, 1), seed=self.seed_generator)
        return i, j, t

    def interpolation_images(self, i, j, t):
        """G(z_t), z_t = (1 - t) z_i + t z_j: [P, R, R, C]."""
        latents = (1.0 - t) * ops.take(self.latents, i, axis=0) + t * ops.take(self.latents, j, axis=0)
        return self.generator.synthesize(self.latents_to_ws(latents))

    def discriminate(self, images):
        """The k-shot discriminator's logits [B] of (augmented) images."""
        augment = self.config.interpolation_d_augment
        if augment:
            images = diff_augment(images, augment, seed=self.d_seed_generator)
        return self.discriminator(images)[:, 0]

    def interpolation_term(self, images, i, j, t):
        """(L_interp of the images at the interpolation points, its parts):
        the option of ``config.interpolation_loss`` (see the module doc)."""
        option = self.config.interpolation_loss
        if option == "discriminator":
            loss = stylegan_generator_loss(self.discriminate(images))
            return loss, {}
        if option == "content_style":
            content_map, style_maps = content_and_style_maps(self.unit_maps(images))
            shot_content, shot_style = content_and_style_maps(self.shot_maps)
            content = feature_content_loss(content_map, ops.take(shot_content, i, axis=0))
            style = feature_style_loss(
                style_maps, [ops.take(m, j, axis=0) for m in shot_style], self.config.style_statistics
            )
            loss = self.config.content_weight * content + self.config.style_weight * style
            return loss, {"content": content, "style": style}
        shots_i, shots_j = ops.take(self.shots, i, axis=0), ops.take(self.shots, j, axis=0)
        return interpolation_loss(images, shots_i, shots_j, t[:, 0]), {}

    def discriminator_step(self, fakes):
        """One step of the k-shot discriminator: the shots against ``fakes``
        (the images at this step's interpolation points), R1 on the shots."""
        gamma = self.config.interpolation_d_r1_gamma
        with tf.GradientTape() as tape:
            fake_logits = self.discriminate(fakes)
            with tf.GradientTape() as r1_tape:
                r1_tape.watch(self.shots)
                real_logits = self.discriminate(self.shots)
                real_total = ops.sum(real_logits)
            penalty = r1_penalty(r1_tape.gradient(real_total, self.shots)) if gamma > 0 else 0.0
            real_loss, fake_loss = stylegan_discriminator_loss(real_logits, fake_logits)
            d_loss = real_loss + fake_loss + gamma / 2 * penalty
        variables = self.discriminator.trainable_variables
        self.d_optimizer.apply_gradients(zip(tape.gradient(d_loss, variables), variables))
        return {"d_loss": d_loss, "d_real": ops.mean(real_logits), "d_fake": ops.mean(fake_logits)}

    def step(self):
        config = self.config
        extra = {}
        with tf.GradientTape() as tape:
            images = self.generator.synthesize(self.latents_to_ws(self.latents))
            reconstruction, perceptual, l1 = self.reconstruction_terms(images)
            interpolation = ops.convert_to_tensor(0.0)
            if self.interpolating:
                i, j, t = self.draw_pairs()
                between = self.interpolation_images(i, j, t)
                interpolation, extra = self.interpolation_term(between, i, j, t)
            total = reconstruction + config.interpolation_weight * interpolation
        gradients = tape.gradient(total, [self.latents, *self.adain])
        self.latent_optimizer.apply_gradients([(gradients[0], self.latents)])
        if self.adain:
            self.adain_optimizer.apply_gradients(zip(gradients[1:], self.adain))
        if self.discriminator is not None:
            extra = {**extra, **self.discriminator_step(tf.stop_gradient(between))}
        return {
            "total": total,
            "reconstruction": reconstruction,
            "perceptual": perceptual,
            "l1": l1,
            "interpolation": interpolation,
            **extra,
        }

    def run(self, steps, *, progress=False):
        history = {}
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=steps, desc="AdaIN adaptation", unit="step", leave=False)
        for _ in range(steps):
            values = self.step_function()
            for name, value in values.items():
                history.setdefault(name, []).append(float(value))
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{history['total'][-1]:.4f}")
        if bar is not None:
            bar.close()
        self.generator.fitted.assign(self.latents)
        return history


def perceptual_distance(config):
    """The frozen feature distance of ``config`` (None for ``"none"``, or a
    perceptual weight of 0 unless the content_style interpolation loss needs
    the features)."""
    needed = config.perceptual_weight > 0 or config.interpolation_loss == "content_style"
    if config.perceptual_features == "none" or not needed:
        return None
    from tfgen.perceptual import FeatureDistance

    return FeatureDistance(features=config.perceptual_features, weights=config.feature_weights)


def adapt_adain(run, shots, *, config=None, seed=0, distance=None, quiet=True):
    """Adapt the StyleGAN generator of ``run`` to ``shots`` through its AdaIN maps.

    Args:
        run: a StyleGAN run (a :class:`tfgen.adaptation.MetaRun`; its EMA
            generator is adapted; the folder is only read).
        shots: uint8 images [k, R, R, C] at the run's resolution and channels,
            checked (k >= 2 for interpolation sampling and the interpolation loss).
        config: an :class:`AdaINAdaptConfig` (default: its defaults).
        seed: seed of the initial latents and the interpolation pairs.
        distance: a perceptual distance ``(a, b) -> [B]`` to use instead of
            building ``config.perceptual_features`` (tests, or a cached one).

    Returns:
        An :class:`AdaptationResult`: ``.generator`` samples the new class
        (``tfgen.generate(result.generator, n)``), ``.losses`` per step.
    """
    from tfgen.runs import load_generator

    config = config or AdaINAdaptConfig()
    config.validate()
    source, model_config = load_generator(run.folder, ema=True), run.model_config
    if config.sampling == "interpolate" and len(shots) < 2:
        raise InputError(
            "Interpolation sampling walks between two fitted latents, so it needs at least 2 "
            f"shots. Received: {len(shots)} shot(s). Give more shots or use sampling='random'."
        )
    generator = adapted_generator(
        source,
        model_config,
        num_latents=len(shots),
        latent_space=config.latent_space,
        sampling=config.sampling,
    )
    if distance is None:
        distance = perceptual_distance(config)
    adaptation = AdaINAdaptation(generator, shots, config, distance=distance, seed=seed)
    losses = adaptation.run(config.steps, progress=not quiet)
    model_config = adapted_config(
        model_config, num_latents=len(shots), latent_space=config.latent_space, sampling=config.sampling
    )
    return AdaptationResult(generator=generator, losses=losses, config=config, model_config=model_config)


def adapt(run, shots, *, steps=None, seed=0, quiet=True, adain=None):
    """AdaIN adaptation of ``run`` (a :class:`tfgen.adaptation.MetaRun`) to
    ``shots`` (checked), as a :class:`tfgen.adaptation.Adaptation`.

    ``adain``: an :class:`AdaINAdaptConfig`, or a dict of its fields, e.g.
    ``{"interpolation_loss": "discriminator"}``, which keeps a benchmark
    method's options JSON; ``steps`` replaces its ``steps``.
    """
    from tfgen.adaptation import Adaptation

    if isinstance(adain, dict):
        known = {field.name for field in dataclasses.fields(AdaINAdaptConfig)}
        unknown = sorted(set(adain) - known)
        if unknown:
            raise InputError(
                f"Unknown AdaIN adaptation settings {unknown}. AdaINAdaptConfig has: {', '.join(sorted(known))}."
            )
        adain = AdaINAdaptConfig(**adain)
    config = adain or AdaINAdaptConfig()
    if steps is not None:
        config = dataclasses.replace(config, steps=int(steps))
    result = adapt_adain(run, shots, config=config, seed=seed, quiet=quiet)
    return Adaptation(result.generator, run, result.model_config, losses=result.losses)


__all__ = [
    "AdaINAdaptation",
    "AdaptationResult",
    "KShotDiscriminator",
    "adapt",
    "adapt_adain",
    "adapted_generator",
    "affine_variables",
    "content_and_style_maps",
]
