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

Ablations (:class:`tfgen.families.stylegan.config.AdaINAdaptConfig`): ``interpolation_weight=0``
drops the interpolation term; ``update_adain=False`` fits the latents alone
(the pre-trained generator, inverted onto the shots).

The perceptual term uses offline features (:class:`tfgen.perceptual.FeatureDistance`:
EfficientNet-Lite0 or a domain classifier); ``perceptual_features="none"``
leaves L1 alone, at full weight.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tfgen.families.stylegan.config import AdaINAdaptConfig
from tfgen.losses import adain_reconstruction_loss, interpolation_loss
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


def _source_generator(run):
    from tfgen.adaptation import read_meta_run
    from tfgen.runs import load_generator

    run = read_meta_run(run, families=("stylegan",), reader="AdaIN adaptation adapts")
    return load_generator(run.folder, ema=True), run.model_config


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


class AdaINAdaptation:
    """The fit of one set of shots (see the module doc). ``run(steps)`` returns
    the per-step losses; ``generator`` is updated in place."""

    def __init__(self, generator, shots, config, *, distance=None, seed=0):
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
        self.step_function = tf.function(self.step)

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

    def interpolation_term(self):
        """Mean over random pairs (i != j) and t of t |G(z_t) - x_j|_1 + (1 - t) |G(z_t) - x_i|_1."""
        k, pairs = self.num_shots, self.config.interpolation_pairs
        i = keras.random.randint((pairs,), 0, k, seed=self.seed_generator)
        # j uniform over the other k - 1 shots.
        j = (i + keras.random.randint((pairs,), 1, k, seed=self.seed_generator)) % k
        t = keras.random.uniform((pairs, 1), seed=self.seed_generator)
        latents = (1.0 - t) * ops.take(self.latents, i, axis=0) + t * ops.take(self.latents, j, axis=0)
        images = self.generator.synthesize(self.latents_to_ws(latents))
        return interpolation_loss(images, ops.take(self.shots, i, axis=0), ops.take(self.shots, j, axis=0), t[:, 0])

    def step(self):
        config = self.config
        with tf.GradientTape() as tape:
            images = self.generator.synthesize(self.latents_to_ws(self.latents))
            reconstruction, perceptual, l1 = self.reconstruction_terms(images)
            interpolation = ops.convert_to_tensor(0.0)
            if config.interpolation_weight > 0 and self.num_shots > 1:
                interpolation = self.interpolation_term()
            total = reconstruction + config.interpolation_weight * interpolation
        gradients = tape.gradient(total, [self.latents, *self.adain])
        self.latent_optimizer.apply_gradients([(gradients[0], self.latents)])
        if self.adain:
            self.adain_optimizer.apply_gradients(zip(gradients[1:], self.adain))
        return {
            "total": total,
            "reconstruction": reconstruction,
            "perceptual": perceptual,
            "l1": l1,
            "interpolation": interpolation,
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
    """The frozen feature distance of ``config`` (None for ``"none"``)."""
    if config.perceptual_features == "none" or config.perceptual_weight == 0:
        return None
    from tfgen.perceptual import FeatureDistance

    return FeatureDistance(features=config.perceptual_features, weights=config.feature_weights)


def adapt_adain(run, shots, *, config=None, seed=0, distance=None, quiet=True):
    """Adapt the StyleGAN generator of ``run`` to ``shots`` through its AdaIN maps.

    Args:
        run: a StyleGAN run folder (its EMA generator is adapted; the folder is
            only read).
        shots: uint8 images [k, R, R, C] at the run's resolution and channels
            (k >= 2 for interpolation sampling and the interpolation loss).
        config: an :class:`AdaINAdaptConfig` (default: its defaults).
        seed: seed of the initial latents and the interpolation pairs.
        distance: a perceptual distance ``(a, b) -> [B]`` to use instead of
            building ``config.perceptual_features`` (tests, or a cached one).

    Returns:
        An :class:`AdaptationResult`: ``.generator`` samples the new class
        (``tfgen.generate(result.generator, n)``), ``.losses`` per step.
    """
    from tfgen.adaptation import check_shots

    config = config or AdaINAdaptConfig()
    config.validate()
    source, model_config = _source_generator(run)
    images = check_shots(shots, model_config)
    if config.sampling == "interpolate" and len(images) < 2:
        raise InputError(
            "Interpolation sampling walks between two fitted latents, so it needs at least 2 "
            f"shots. Received: {len(images)} shot(s). Give more shots or use sampling='random'."
        )
    generator = adapted_generator(
        source,
        model_config,
        num_latents=len(images),
        latent_space=config.latent_space,
        sampling=config.sampling,
    )
    if distance is None:
        distance = perceptual_distance(config)
    adaptation = AdaINAdaptation(generator, images, config, distance=distance, seed=seed)
    losses = adaptation.run(config.steps, progress=not quiet)
    model_config = adapted_config(
        model_config, num_latents=len(images), latent_space=config.latent_space, sampling=config.sampling
    )
    return AdaptationResult(generator=generator, losses=losses, config=config, model_config=model_config)


__all__ = ["AdaINAdaptation", "AdaptationResult", "adapt_adain", "adapted_generator", "affine_variables"]
