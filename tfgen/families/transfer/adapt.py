"""The ways to adapt a transfer base (DCGAN, cDCGAN, InfoGAN) to k shots of
a new class; ``tfgen.adapt`` / :func:`tfgen.adaptation.adapt_run` read the
run and check the shots, then call :func:`adapt`, which runs the method
asked for:

* ``finetune`` (the default) -- :func:`finetune_on_shots`: the shots
  augmented (or morphed) to a few hundred images, and the run's G and D
  fine-tuned on them with the family's trainer
  (:mod:`tfgen.families.transfer.trainer`);
* ``bsa`` -- batch statistics adaptation (Noguchi & Harada, "Image Generation
  From Small Datasets via Batch Statistics Adaptation", ICCV 2019). Every
  pre-trained weight of G is frozen; what is learnt is a new per-channel
  scale and shift after each of its batch norms and one latent per shot, by
  reconstructing the shots (L1 + perceptual + a latent-space regulariser;
  :class:`tfgen.families.transfer.config.BSAConfig`). The adapted generator
  is a plain generator of the family: the scales and shifts are folded into
  its norms' gamma and beta (``a (gamma n + beta) + b``), and it holds the
  latents and draws z from the Gaussian fitted to them (``fitted_latents``),
  so ``save_adapted`` / ``load_generator`` treat it like any other;
* ``cdc`` -- fine-tuning with the cross-domain distance-consistency loss of
  Ojha et al., "Few-shot Image Generation via Cross-domain Correspondence",
  CVPR 2021 (:func:`distance_consistency_loss`, against a frozen copy of the
  base; :class:`DistanceConsistency` is the term the trainers add to G's loss).
  The paper's anchor regions with an image-level D there and a patch-level D
  elsewhere are left out: D judges whole images for every z.

BSA and CDC follow the project's fine-tuning: ``keras.ops`` in the models
and losses (they run under JAX), ``tf.GradientTape`` steps in a ``tf.function``.
"""

from __future__ import annotations

import dataclasses
import os

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tfgen.adaptation import Adaptation
from tfgen.errors import InputError
from tfgen.families.transfer import ADAPT_METHODS, METHOD_OPTIONS
from tfgen.families.transfer.config import BSAConfig, CDCConfig
from tfgen.run_folder import RunFolder

# The batch statistics adaptation's learning rates drop by LR_DROP at these
# fractions of its steps: the official code multiplies them by 0.2 every
# 3000 of its 10000 iterations.
LR_DROP = 0.2
LR_DROP_AT = (0.3, 0.6, 0.9)
# cosine similarity's floor on a norm (torch.nn.CosineSimilarity's eps)
COSINE_EPSILON = 1e-8


# ------------------------------------------------------------- CDC: the loss


def off_diagonal(matrix):
    """[N, N] -> [N, N - 1]: each row without its diagonal entry, order kept."""
    n = matrix.shape[0]
    flat = ops.reshape(matrix, (n * n,))[1:]  # drop [0, 0]; rows now start after each diagonal entry
    return ops.reshape(ops.reshape(flat, (n - 1, n + 1))[:, :n], (n, n - 1))


def similarity_log_softmax(features):
    """log softmax over j != i of cos(f_i, f_j), the features [N, ...] of N
    latents flattened: [N, N - 1] float32."""
    n = features.shape[0]
    flat = ops.reshape(ops.cast(features, "float32"), (n, -1))
    norms = ops.sqrt(ops.sum(ops.square(flat), axis=1, keepdims=True))
    unit = flat / ops.maximum(norms, COSINE_EPSILON)
    similarities = off_diagonal(ops.matmul(unit, ops.transpose(unit)))
    return ops.log_softmax(similarities, axis=-1)


def distance_consistency_loss(source_features, target_features):
    """The cross-domain distance consistency loss (Ojha et al., CVPR 2021, Eq. 3).

    For N latents z_1..z_N and a layer l, the source generator's (frozen)
    features give, for each anchor i, p_i = softmax_j≠i cos(f_i, f_j); the
    adapted generator's give q_i. The loss is KL(p_i || q_i), the official
    code's direction (``KLDivLoss(log q, p)``) and reduction (the mean over
    the N (N - 1) entries p_ij (log p_ij - log q_ij)), then the mean over
    the layers (the official code draws one layer per anchor at random: the
    same in expectation).

    Args:
        source_features, target_features: lists, one entry per layer, of
            [N, ...] features of the same N latents (N >= 2).

    Returns:
        A float32 scalar; 0 when the two generators' features agree.
    """
    if len(source_features) != len(target_features) or not source_features:
        raise InputError(
            "distance_consistency_loss takes one source and one target feature map per layer, at least one. "
            f"Received: {len(source_features)} and {len(target_features)}"
        )
    terms = []
    for source, target in zip(source_features, target_features):
        if source.shape[0] is None or source.shape[0] < 2 or tuple(source.shape) != tuple(target.shape):
            raise InputError(
                "Each layer's source and target features must have one shape [N, ...] with N >= 2 latents. "
                f"Received: {tuple(source.shape)} and {tuple(target.shape)}"
            )
        log_p = ops.stop_gradient(similarity_log_softmax(source))
        log_q = similarity_log_softmax(target)
        terms.append(ops.mean(ops.exp(log_p) * (log_p - log_q)))
    return ops.mean(ops.stack(terms))


class DistanceConsistency:
    """The CDC term of a fine-tuning trainer's G loss: ``weight`` times
    :func:`distance_consistency_loss` of fresh latents, between ``source`` (a
    frozen copy of the base) and the generator being adapted, over all of
    G's hidden layers (both in inference mode: the features the adapted
    generator samples with).

    Args:
        source: the base generator (frozen here).
        config: a :class:`CDCConfig`.
        labels: the cDCGAN's label of the latents (the new class's slot), or None.
    """

    def __init__(self, source, config, *, labels=None):
        config.validate()
        self.source = source
        self.source.trainable = False
        self.config = config
        self.labels = labels

    def __call__(self, generator, seed_generator):
        """``weight * loss`` (float32 scalar) for ``generator``, differentiable in its weights."""
        n = self.config.batch_size
        z = keras.random.normal((n, generator.latent_dim), seed=seed_generator)
        labels = None if self.labels is None else ops.full((n,), self.labels, dtype="int32")
        _, source = self.source.trunk(self.source.trunk_inputs(z, labels), training=False, return_features=True)
        _, target = generator.trunk(generator.trunk_inputs(z, labels), training=False, return_features=True)
        return self.config.weight * distance_consistency_loss([ops.stop_gradient(f) for f in source], target)


# ------------------------------------------------- BSA: the parameterisation


def chamfer_to_prior(latents, draws):
    """The official BSA code's "EMD" of latents [k, d] against draws [m, d] of
    N(0, I): mean over draws of the squared distance to the nearest latent
    plus mean over latents of that to the nearest draw."""
    squared = (
        ops.sum(ops.square(latents), axis=1, keepdims=True)
        - 2.0 * ops.matmul(latents, ops.transpose(draws))
        + ops.sum(ops.square(draws), axis=1)[None, :]
    )  # [k, m]
    return ops.mean(ops.min(squared, axis=0)) + ops.mean(ops.min(squared, axis=1))


class BatchStatisticsAdaptation:
    """The fit of one set of shots (see the module doc). ``run(steps)``
    returns the per-step losses; :meth:`export` the adapted generator.

    Args:
        generator: the pre-trained generator (DCGANGenerator or
            InfoGANGenerator, without fitted latents); frozen here, never changed.
        shots: uint8 [k, R, R, C].
        config: a :class:`BSAConfig`.
        labels: the cDCGAN's label of the shots (the new class's slot), or None.
        distance: a perceptual distance ``(a, b) -> [B]`` (None: L1 alone).
        seed: seeds the latent noise and the prior draws.
    """

    def __init__(self, generator, shots, config, *, labels=None, distance=None, seed=0, steps=None):
        config.validate()
        if getattr(generator, "fitted_latents", 0):
            raise InputError("Batch statistics adaptation starts from a trained generator, not an adapted one.")
        self.generator = generator
        generator.trainable = False  # every pre-trained weight stays as it is
        self.config = config
        self.distance = distance
        self.shots = ops.convert_to_tensor(np.asarray(shots, np.float32) / 127.5 - 1.0)  # [k, R, R, C]
        self.num_shots = int(self.shots.shape[0])
        self.labels = None if labels is None else ops.full((self.num_shots,), int(labels), dtype="int32")
        norms = generator.trunk.norm_layers
        self.scales = [keras.Variable(np.ones(bn.gamma.shape, np.float32), name=f"{bn.name}_scale") for bn in norms]
        self.shifts = [keras.Variable(np.zeros(bn.beta.shape, np.float32), name=f"{bn.name}_shift") for bn in norms]
        # The official code starts every latent at 0 (initial_z: zero).
        self.latents = keras.Variable(np.zeros((self.num_shots, generator.latent_dim), np.float32), name="latents")
        self.seed_generator = keras.random.SeedGenerator(seed)
        steps = int(steps or config.steps)
        self.optimizer = keras.optimizers.Adam(self._schedule(config.learning_rate, steps))
        self.latent_optimizer = keras.optimizers.Adam(self._schedule(config.latent_learning_rate, steps))
        self.optimizer.build(self.statistics)
        self.latent_optimizer.build([self.latents])
        self.step_function = tf.function(self.step)

    @staticmethod
    def _schedule(learning_rate, steps):
        boundaries = sorted({max(1, int(round(f * steps))) for f in LR_DROP_AT})
        values = [learning_rate * LR_DROP**i for i in range(len(boundaries) + 1)]
        return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)

    @property
    def statistics(self):
        """The new scales and shifts, the trained variables besides the latents."""
        return [*self.scales, *self.shifts]

    def images(self, latents, labels=None):
        """G's images [B, R, R, C] of latents [B, latent_dim] under the current
        scales and shifts (norms in inference mode)."""
        G = self.generator
        labels = self.labels if labels is None else labels
        x = G.trunk_inputs(latents, labels)
        return ops.cast(G.trunk(x, training=False, modulations=list(zip(self.scales, self.shifts))), "float32")

    def terms(self):
        """Every term of the loss (see BSAConfig) and the total."""
        config = self.config
        noise = keras.random.normal(ops.shape(self.latents), stddev=config.latent_noise, seed=self.seed_generator)
        images = self.images(self.latents + noise)
        l1 = ops.mean(ops.abs(images - self.shots))
        perceptual = ops.convert_to_tensor(0.0)
        if self.distance is not None and config.perceptual_weight > 0:
            perceptual = ops.mean(self.distance(images, self.shots))
        draws = keras.random.normal(
            (config.latent_draws * self.num_shots, self.generator.latent_dim), seed=self.seed_generator
        )
        latent = chamfer_to_prior(self.latents, draws)
        statistics = sum(ops.mean(ops.square(a - 1.0)) + ops.mean(ops.square(b)) for a, b in zip(self.scales, self.shifts))
        total = (l1 + config.perceptual_weight * perceptual + config.latent_weight * latent
                 + config.statistics_weight * statistics)  # fmt: skip
        return {"total": total, "l1": l1, "perceptual": perceptual, "latent": latent, "statistics": statistics}

    def step(self):
        with tf.GradientTape() as tape:
            terms = self.terms()
        gradients = tape.gradient(terms["total"], [*self.statistics, self.latents])
        self.optimizer.apply_gradients(zip(gradients[:-1], self.statistics))
        self.latent_optimizer.apply_gradients([(gradients[-1], self.latents)])
        return terms

    def run(self, steps, *, progress=False):
        history = {}
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=steps, desc="batch statistics adaptation", unit="step", dynamic_ncols=True)
        try:
            for _ in range(steps):
                for name, value in self.step_function().items():
                    history.setdefault(name, []).append(float(value))
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{history['total'][-1]:.4f}", refresh=False)
        finally:
            if bar is not None:
                bar.close()
        return history

    def export(self, build_generator, config):
        """The adapted generator: ``build_generator(config)`` (a config with
        ``fitted_latents = k``) with the base's weights, each norm's gamma and
        beta times the scale plus the shift, and the latents."""
        adapted = build_generator(config)
        adapted.trunk.set_weights(self.generator.trunk.get_weights())
        for bn, scale, shift in zip(adapted.trunk.norm_layers, self.scales, self.shifts):
            a, b = ops.convert_to_numpy(scale), ops.convert_to_numpy(shift)
            bn.gamma.assign(a * ops.convert_to_numpy(bn.gamma))
            bn.beta.assign(a * ops.convert_to_numpy(bn.beta) + b)
        adapted.fitted.assign(ops.convert_to_numpy(self.latents))
        return adapted


def perceptual_distance(config):
    """The frozen feature distance of a BSAConfig (None for "none" or weight 0)."""
    if config.perceptual_features == "none" or config.perceptual_weight == 0:
        return None
    from tfgen.perceptual import FeatureDistance

    return FeatureDistance(features=config.perceptual_features)


def base_generator(meta_run):
    """The run's generator as fine-tuning starts from it: its EMA weights when
    it was trained with an EMA, else the raw ones."""
    from tfgen.registry import get_family
    from tfgen.weights import load_weights_checked

    config = meta_run.model_config
    folder = RunFolder(meta_run.folder)
    path = folder.ema_weights
    if config.ema_decay is None or not os.path.isfile(path):
        path = folder.raw_weights
    meta_run.weight_paths()  # a clear error when the run has not finished
    generator = get_family(meta_run.family).build_generator(config)
    load_weights_checked(generator, path)
    return generator


def adapt_bsa(meta_run, shots, *, steps=None, seed=0, quiet=True, config=None, distance=None):
    """Batch statistics adaptation of a transfer run to ``shots``.

    Args:
        meta_run: a DCGAN, cDCGAN or InfoGAN run (a :class:`tfgen.adaptation.MetaRun`;
            the folder is only read).
        shots: uint8 [k, R, R, C] at the run's resolution and channels, checked.
        steps: optimisation steps (None or 0: ``config.steps``).
        seed: seeds the latent noise and the prior draws.
        config: a :class:`BSAConfig` (None: its defaults).
        distance: a perceptual distance to use instead of building
            ``config.perceptual_features`` (tests, or one built once).

    Returns:
        A :class:`tfgen.adaptation.Adaptation`: the adapted generator (a
        generator of the run's family with ``fitted_latents = k``; for the
        cDCGAN ``sample_class`` is the new class's slot), its config, and
        the per-step losses.
    """
    from tfgen.registry import get_family

    config = config or BSAConfig()
    if not isinstance(config, BSAConfig):
        raise InputError(f"bsa takes a BSAConfig. Received: {type(config).__name__}")
    config.validate()
    if steps is not None and steps < 0:
        raise InputError(f"steps must be >= 0 (0 or None: the BSA config's steps). Received: steps={steps}")
    steps = int(steps or config.steps)
    model_config = meta_run.model_config
    base = base_generator(meta_run)
    if base.fitted_latents:
        raise InputError(f"{meta_run.folder!r} holds an adapted generator already; adapt the run it came from.")
    adapted_config = dataclasses.replace(model_config, fitted_latents=len(shots))
    labels = None
    if meta_run.family == "cdcgan":
        labels = adapted_config.sample_class = adapted_config.num_classes - 1  # the free slot
    if meta_run.family == "infogan":
        if config.temperature != 1.0:  # InfoGAN's generator has no truncation to carry it
            raise InputError(
                f"temperature applies to DCGAN and cDCGAN runs; this is an infogan run. "
                f"Received: temperature={config.temperature}"
            )
    else:
        # z is scaled by psi before the fitted Gaussian reads it: psi is its temperature.
        adapted_config.truncation_psi = config.temperature
    if distance is None:
        distance = perceptual_distance(config)
    fit = BatchStatisticsAdaptation(base, shots, config, labels=labels, distance=distance, seed=seed, steps=steps)
    losses = fit.run(steps, progress=not quiet)
    family = get_family(meta_run.family)
    return Adaptation(fit.export(family.build_generator, adapted_config), meta_run, adapted_config, losses)


# ------------------------------------------------------------ fine-tuning


# What fine-tuning trains of G: everything, or (cDCGAN) only the new class's input row.
GENERATOR_PARTS = ("all", "class")


def finetune_on_shots(
    meta_run, shots, *, steps=None, seed=0, from_scratch=False, quiet=True, base_mix=0.0, freeze_d=0,
    generator_part="all", ema_decay=None, diff_augment=None, truncation_psi=None, consistency=None,
    training_images="augmented",
):  # fmt: skip
    """Fine-tune a pre-trained transfer baseline on the shots of a new class.

    The shots are augmented to ``augmented_shots`` images
    (:func:`tfgen.data.episodes.augment_shots`) and the run's G and D,
    initialised from its weights files, train on them for ``steps`` steps
    with the run's optimiser settings. Everything happens in memory: nothing
    is written, the run folder stays as it is.

    Args:
        meta_run: a :class:`tfgen.adaptation.MetaRun` of a run written by
            DCGANTrainer, CDCGANTrainer or InfoGANTrainer (``config.json``,
            ``generator.weights.h5``, ``discriminator.weights.h5``).
        shots: uint8 ``[n, R, R, C]`` at the run's resolution and channels, checked.
        steps: training steps; None (or 0) takes the config's ``adapt_steps``.
        seed: seeds the augmentation, the latents and, from scratch, the weights.
        from_scratch: start from random weights instead (the baseline of a GAN
            trained on the augmented shots alone); the run's config still
            defines the networks.
        quiet: no progress bar.
        base_mix: cDCGAN only: this share of every batch is real images of
            the pre-training classes with their labels (joint fine-tuning:
            G and D keep seeing what the classes have in common), the rest
            the augmented shots with the new label.
        freeze_d: FreezeD (Mo et al., 2020): the first ``freeze_d``
            convolutions of D stay as pre-trained.
        generator_part: ``all`` trains all of G; ``class`` (cDCGAN) only the
            new class's row of G's input layer -- a class embedding fitted
            to the shots, the rest of G untouched.
        ema_decay: keep an EMA of G's weights while fine-tuning and return
            it (None: the base's ``ema_decay``; 0: no EMA, the last weights).
        diff_augment: DiffAugment policy on D's inputs while fine-tuning
            (None: the base's ``diff_augment``).
        truncation_psi: the adapted DCGAN / cDCGAN samples with z scaled by
            this (None: the base's ``adapt_truncation_psi``, 0.8 by default).
        consistency: a :class:`tfgen.families.transfer.config.CDCConfig`:
            add the cross-domain distance consistency loss (Ojha et al.,
            CVPR 2021) against a frozen copy of the base to G's loss (adapt
            method ``cdc``); None: plain fine-tuning.
        training_images: what G and D train on: ``augmented``, the shots
            shifted, rotated and zoomed (:func:`tfgen.data.episodes.augment_shots`),
            or ``morphs``, those plus in-betweens of pairs of shots, warped
            one onto the other (:func:`tfgen.morph.shots_and_morphs`).

    A base trained with an EMA is fine-tuned from its EMA generator.

    Returns:
        A :class:`tfgen.adaptation.Adaptation`: the fine-tuned generator and
        the model config it was built from (for the conditional DCGAN
        ``sample_class`` is the new class's slot, so
        ``tfgen.generate(adaptation.generator, n)`` draws the new class).
    """
    from tfgen.data.episodes import augment_shots
    from tfgen.morph import shots_and_morphs
    from tfgen.registry import get_family

    if training_images not in ("augmented", "morphs"):
        raise InputError(f"training_images must be 'augmented' or 'morphs'. Received: training_images={training_images!r}")
    family, model_config, run_config = meta_run.family, meta_run.model_config, meta_run.run_config
    if steps is not None and steps < 0:
        raise InputError(f"steps must be >= 0 (0 or None: the config's adapt_steps). Received: steps={steps}")
    steps = int(steps or model_config.adapt_steps)

    weights = {"generator_weights": None, "discriminator_weights": None}
    if not from_scratch:
        generator_path, discriminator_path = meta_run.weight_paths()
        ema_path = RunFolder(meta_run.folder).ema_weights
        if model_config.ema_decay is not None and os.path.isfile(ema_path):
            generator_path = ema_path
        weights = {"generator_weights": generator_path, "discriminator_weights": discriminator_path}

    adapted_config = dataclasses.replace(model_config)
    if ema_decay is not None:
        adapted_config.ema_decay = float(ema_decay) or None
    if diff_augment is not None:
        adapted_config.diff_augment = diff_augment
    adapted_config.truncation_psi = float(truncation_psi or model_config.adapt_truncation_psi)
    if family == "cdcgan":
        adapted_config.sample_class = adapted_config.num_classes - 1  # the free slot
    run = dataclasses.replace(
        run_config,
        steps=steps,
        epochs=0,
        seed=seed,
        strategy="default",
        fid=False,
        mixed_precision="off",
        **weights,
    )
    _check_finetune_options(family, base_mix, freeze_d, generator_part)
    make_images = shots_and_morphs if training_images == "morphs" else augment_shots
    images = make_images(shots, count=model_config.augmented_shots, seed=seed)
    if base_mix > 0:
        images = _mixed_with_base(images, run_config, model_config, base_mix)
    trainer = get_family(family).trainer_class()(adapted_config, run, quiet=True, images=images)
    for conv in trainer.discriminator.trunk.convs[:freeze_d]:
        conv.trainable = False
    if generator_part == "class":
        _train_only_new_class(trainer)
        if trainer.generator_ema is not None:  # its trainable variables must pair with G's
            _freeze_all_but_input(trainer.generator_ema)
    if consistency is not None:
        labels = adapted_config.sample_class if family == "cdcgan" else None
        trainer.consistency = DistanceConsistency(base_generator(meta_run), consistency, labels=labels)

    batches = iter(trainer.distribute(trainer.data.dataset))
    bar = None
    if not quiet:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, unit="step", desc=f"fine-tuning {family}", dynamic_ncols=True)
    try:
        for step in range(1, steps + 1):
            losses = trainer.train_function(next(batches))
            if bar is not None:
                if step % 10 == 0 or step == steps:
                    bar.set_postfix({k: f"{float(v):.3f}" for k, v in losses.items()}, refresh=False)
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()

    # The EMA generator when there is one.
    return Adaptation(trainer.sampling_generator, meta_run, adapted_config)


def _check_finetune_options(family, base_mix, freeze_d, generator_part):
    if not 0.0 <= base_mix < 1.0:
        raise InputError(f"base_mix must be in [0, 1). Received: base_mix={base_mix}")
    if base_mix > 0 and family != "cdcgan":
        raise InputError(
            f"base_mix needs class labels, which only cdcgan runs have; this is a {family} run. "
            f"Received: base_mix={base_mix}"
        )
    if not isinstance(freeze_d, (int, np.integer)) or freeze_d < 0:
        raise InputError(f"freeze_d must be a non-negative integer. Received: freeze_d={freeze_d!r}")
    if generator_part not in GENERATOR_PARTS or (generator_part == "class" and family != "cdcgan"):
        raise InputError(
            f"generator_part must be one of {GENERATOR_PARTS} ('class' for cdcgan runs only). "
            f"Received: generator_part={generator_part!r} for a {family} run"
        )


def _mixed_with_base(shot_images, run_config, model_config, base_mix):
    """(images, labels, probabilities): the augmented shots with the free
    label and the pre-training classes' images, drawn with total probability
    ``1 - base_mix`` and ``base_mix``."""
    from tfgen.data.episodes import load_few_shot_data_for

    base = load_few_shot_data_for(run_config.data, model_config).train
    base_images = np.asarray(base.images, np.float32) / 127.5 - 1.0
    images = np.concatenate([shot_images, base_images])
    labels = np.concatenate([np.full(len(shot_images), model_config.num_classes - 1), base.labels]).astype(np.int32)
    weights = np.concatenate([
        np.full(len(shot_images), (1 - base_mix) / len(shot_images)),
        np.full(len(base_images), base_mix / len(base_images)),
    ])  # fmt: skip
    return images, labels, weights


def _freeze_all_but_input(generator):
    """Every layer of a DCGAN generator but its input Dense layer frozen
    (generator.trainable = False would hide that layer's variables too)."""
    trunk = generator.trunk
    for layer in (trunk.project_bn, *trunk.up_convs, *trunk.up_bns, trunk.to_image):
        layer.trainable = False


def _train_only_new_class(trainer):
    """G's only trainable values: the new class's row of its input Dense
    layer (z and the one-hot label are concatenated before it)."""
    generator = trainer.generator
    project = generator.trunk.project
    _freeze_all_but_input(generator)
    row = generator.latent_dim + trainer.free_class
    mask = np.zeros(tuple(project.kernel.shape), np.float32)
    mask[row] = 1.0
    trainer.gradient_masks[project.kernel.path] = tf.constant(mask)
    if project.bias is not None:
        trainer.gradient_masks[project.bias.path] = tf.zeros(tuple(project.bias.shape))


# ------------------------------------------------------------ the entry point


def _method_config(name, value, config_class):
    """``value`` as a ``config_class``: None (its defaults), one already, or a
    dict of its fields (what a JSON-written benchmark method can hold)."""
    if value is None:
        return config_class()
    if isinstance(value, dict):
        unknown = sorted(set(value) - {f.name for f in dataclasses.fields(config_class)})
        if unknown:
            raise InputError(f"{name} takes the fields of {config_class.__name__}. Received: {unknown}")
        return config_class(**value)
    if not isinstance(value, config_class):
        raise InputError(f"{name} takes a {config_class.__name__} or a dict of its fields. "
                         f"Received: {type(value).__name__}")  # fmt: skip
    return value


def adapt(run, shots, *, steps=None, seed=0, quiet=True, method="finetune", **options):
    """Adapt a transfer run (a :class:`tfgen.adaptation.MetaRun`) to ``shots``
    (checked) with ``method`` (``ADAPT_METHODS``); ``options`` are that
    method's (``METHOD_OPTIONS``): fine-tuning's keyword options,
    ``bsa=BSAConfig(...)``, ``cdc=CDCConfig(...)`` (or a dict of their
    fields, e.g. ``bsa={"temperature": 0.5}``)."""
    if method not in METHOD_OPTIONS:
        raise InputError(f"A {run.family} run adapts with one of {ADAPT_METHODS}. Received: method={method!r}")
    unknown = sorted(set(options) - set(METHOD_OPTIONS[method]))
    if unknown:
        raise InputError(
            f"Adapt method {method!r} takes the options {list(METHOD_OPTIONS[method])}. Received: {unknown}"
        )
    if method == "bsa":
        config = _method_config("bsa", options.get("bsa"), BSAConfig)
        return adapt_bsa(run, shots, steps=steps, seed=seed, quiet=quiet, config=config)
    if method == "cdc":
        options["consistency"] = _method_config("cdc", options.pop("cdc", None), CDCConfig)
    return finetune_on_shots(run, shots, steps=steps, seed=seed, quiet=quiet, **options)



__all__ = [
    "GENERATOR_PARTS", "BSAConfig", "BatchStatisticsAdaptation", "CDCConfig", "DistanceConsistency", "adapt",
    "adapt_bsa", "base_generator", "chamfer_to_prior", "distance_consistency_loss", "finetune_on_shots",
    "off_diagonal", "similarity_log_softmax",
]  # fmt: skip
