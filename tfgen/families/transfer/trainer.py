"""Transfer-learning baselines of the FIGR study (Clouâtre & Demers, 2019, Sec. 4):
a GAN pre-trained on the meta-train classes, then fine-tuned on the few shots
of an unseen class, augmented to a few hundred images.

* :class:`DCGANTrainer`: DCGAN (Radford et al., ICLR 2016) with the
  non-saturating loss (Goodfellow et al., 2014). One iteration: a D step on
  the real batch and G(z) (detached), then a G step through a fresh G(z)
  against the updated D.
* :class:`CDCGANTrainer`: conditional DCGAN (Mirza & Osindero, 2014). G and D
  both see the class label; G is asked for the real batch's labels. The
  label space is the meta-train classes plus one free slot, the last, that
  fine-tuning gives to the new class.
* :class:`InfoGANTrainer`: InfoGAN (Chen et al., NeurIPS 2016). The latent
  carries a categorical and continuous codes (:func:`infogan_codes`); the Q
  head on D recovers them and the information loss is added to the D and
  the G step, weighted by ``info_weight``.

A trainer built with ``images=None`` pre-trains on the meta-train split of
``RunConfig.data`` (:func:`tfgen.data.episodes.load_few_shot_data`); with
``images`` (float32 ``[N, R, R, C]`` in [-1, 1]) it trains on those, which is
how the adaptation (:func:`tfgen.families.transfer.adapt.finetune_on_shots`)
fine-tunes.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tfgen.augment import diff_augment
from tfgen.losses import info_loss, non_saturating_discriminator_loss, non_saturating_generator_loss
from tfgen.sampling import postprocess_images
from tfgen.training.optimizers import FusedAdam
from tfgen.training.trainer import Trainer
from tfgen.errors import InputError
from tfgen.families.transfer.config import TRANSFER_FAMILIES  # noqa: F401  (also imported from here)

# At most this many classes (rows) in a cDCGAN sample grid, each with as many images.
MAX_GRID_CLASSES = 10


def _adam(learning_rate, config):
    return FusedAdam(learning_rate=learning_rate, beta_1=config.adam_beta1, beta_2=config.adam_beta2)


def _probability(logits):
    """Mean of sigmoid(logits): D's average belief that its inputs are real."""
    return ops.mean(ops.sigmoid(ops.cast(logits, "float32")))


class DCGANTrainer(Trainer):
    """Trains DCGANGenerator / DCGANDiscriminator from a :class:`tfgen.families.transfer.config.DCGANConfig`.

    Args:
        model_config: the family's config dataclass.
        run_config: a :class:`tfgen.config.RunConfig`.
        quiet: no progress bar or messages.
        images: None to pre-train on the meta-train classes of
            ``run_config.data``, or float32 ``[N, R, R, C]`` in [-1, 1] to
            train on those images (fine-tuning on augmented shots).
    """

    family = "dcgan"
    checks_health = True
    architecture_fields = ("resolution", "channels", "latent_dim", "width")

    def __init__(self, model_config, run_config, *, quiet=False, images=None):
        # The base constructor builds the dataset first, which reads this.
        # Fine-tuning data: float images, or (images, labels, sampling probabilities).
        if isinstance(images, tuple):
            images = (self._check_images(images[0], model_config), *images[1:])
        elif images is not None:
            images = self._check_images(images, model_config)
        self.images = images
        self.class_split = None  # the ClassSplit pre-training used (None when fine-tuning)
        # Fine-tuning with CDC (adapt method "cdc"): a tfgen.families.transfer.adapt.DistanceConsistency
        # whose term is added to G's loss; set before the first step.
        self.consistency = None
        super().__init__(model_config, run_config, quiet=quiet)

    @staticmethod
    def _check_images(images, model_config):
        images = np.asarray(images)
        expected = (model_config.resolution, model_config.resolution, model_config.channels)
        if images.ndim != 4 or images.shape[1:] != expected or len(images) == 0:
            raise InputError(
                f"images must be a non-empty float32 batch [N, {expected[0]}, {expected[1]}, "
                f"{expected[2]}] (the model's resolution and channels). Received: shape={images.shape}"
            )
        return images.astype("float32", copy=False)

    # ---------------------------------------------------------------- data

    def build_dataset(self):
        from tfgen.data.episodes import labelled_batches, load_few_shot_data_for, shot_dataset

        config, run = self.model_config, self.run_config
        if isinstance(self.images, tuple):
            from tfgen.data.episodes import weighted_labelled_batches

            images, labels, weights = self.images
            return weighted_labelled_batches(images, labels, weights, batch_size=self.global_batch_size, seed=run.seed)
        if self.images is not None:
            return shot_dataset(self.images, batch_size=self.global_batch_size, seed=run.seed)
        data = load_few_shot_data_for(run.data, config)
        self.class_split = data.split
        self.prepare_for_classes(data.train.class_names)
        return labelled_batches(data.train, batch_size=self.global_batch_size, seed=run.seed)

    def prepare_for_classes(self, class_names):
        """Hook for the conditional model: the meta-train classes, before the models exist."""

    def split_batch(self, batch):
        """``(images, labels)`` of a batch that is images alone or ``(images, labels)``;
        labels are None when the batch has none."""
        if isinstance(batch, (tuple, list)):
            images, labels = batch
            return images, labels
        return batch, None

    # ------------------------------------------------------------ networks

    def build_optimizers(self):
        config = self.model_config
        return _adam(config.g_learning_rate, config), _adam(config.d_learning_rate, config)

    def generator_inputs(self, z, labels):
        """What G is called with (the conditional model adds the labels)."""
        return z

    def discriminator_inputs(self, images, labels):
        """What D is called with (the conditional model adds the labels)."""
        return images

    def augment(self, images):
        """DiffAugment of D's inputs, real and fake alike (the config's policy)."""
        if not getattr(self.model_config, "diff_augment", ""):
            return images
        return diff_augment(images, self.model_config.diff_augment, seed=self.seed_generator)

    def sample_latents(self, batch_size):
        """z ~ N(0, I) of G's latent size, from the trainer's seed stream."""
        return keras.random.normal((batch_size, self.generator.latent_dim), seed=self.seed_generator)

    def consistency_terms(self):
        """``{"cdc": weighted term}`` when fine-tuning with the cross-domain
        distance consistency (``self.consistency``), else ``{}``: added to G's loss."""
        if self.consistency is None:
            return {}
        return {"cdc": self.consistency(self.generator, self.seed_generator)}

    # ---------------------------------------------------------------- step

    def train_step(self, batch):
        G, D = self.generator, self.discriminator
        real, labels = self.split_batch(batch)
        z = self.sample_latents(ops.shape(real)[0])

        # -- discriminator step: real vs G(z), G not differentiated
        fake = tf.stop_gradient(G(self.generator_inputs(z, labels), training=True))
        with tf.GradientTape() as d_tape:
            real_logits = D(self.discriminator_inputs(self.augment(real), labels), training=True)
            fake_logits = D(self.discriminator_inputs(self.augment(fake), labels), training=True)
            d_loss = non_saturating_discriminator_loss(real_logits, fake_logits)
        self.minimize(d_tape, d_loss, D.trainable_variables, self.d_optimizer)

        # -- generator step: a fresh G forward against the updated D
        with tf.GradientTape() as g_tape:
            fake = self.augment(G(self.generator_inputs(z, labels), training=True))
            g_loss = non_saturating_generator_loss(D(self.discriminator_inputs(fake, labels), training=True))
            extra = self.consistency_terms()
            g_loss = g_loss + sum(extra.values())
        self.minimize(g_tape, g_loss, G.trainable_variables, self.g_optimizer)

        return {
            "d_loss": d_loss,
            "g_loss": g_loss,
            "d_real": _probability(real_logits),
            "d_fake": _probability(fake_logits),
            **extra,
        }


class CDCGANTrainer(DCGANTrainer):
    """Conditional DCGAN from a :class:`tfgen.families.transfer.config.CDCGANConfig`.

    ``num_classes = 0`` becomes the number of meta-train classes plus one:
    the last label, ``num_classes - 1``, is kept free for the new class. The
    trainer works on a copy of ``model_config`` (``trainer.model_config``,
    what ``config.json`` records), so the caller's object is not changed.
    When fine-tuning (``images`` given), every image gets that free label.
    """

    family = "cdcgan"
    architecture_fields = DCGANTrainer.architecture_fields + ("num_classes",)

    def __init__(self, model_config, run_config, *, quiet=False, images=None):
        model_config = dataclasses.replace(model_config)
        if images is not None and model_config.num_classes < 1:
            raise InputError(
                "Fine-tuning a conditional DCGAN needs the class count of its pre-training "
                "(the new class takes the last, free slot): use the model config of the "
                f"pre-training run. Received: num_classes={model_config.num_classes}"
            )
        super().__init__(model_config, run_config, quiet=quiet, images=images)

    @property
    def free_class(self):
        """The label of the new class: the last slot, unused in pre-training."""
        return self.model_config.num_classes - 1

    def prepare_for_classes(self, class_names):
        needed = len(class_names) + 1
        config = self.model_config
        if config.num_classes == 0:
            config.num_classes = needed
        elif config.num_classes < needed:
            raise InputError(
                f"num_classes must count the {len(class_names)} meta-train classes plus one free "
                f"slot for the new class, so at least {needed} (0 sets it from the data). "
                f"Received: num_classes={config.num_classes}"
            )
        config.validate()  # sample_class against the class count now known

    def split_batch(self, batch):
        images, labels = super().split_batch(batch)
        if labels is None:  # fine-tuning: every shot is the new class
            labels = ops.full((ops.shape(images)[0],), self.free_class, dtype="int32")
        return images, labels

    def generator_inputs(self, z, labels):
        return (z, labels)

    def discriminator_inputs(self, images, labels):
        return (images, labels)

    def sample_images(self):
        """With ``sample_class`` set, that class; otherwise one row per class
        (up to ``MAX_GRID_CLASSES``, spread over the label range, the free slot last)."""
        if self.model_config.sample_class is not None:
            return super().sample_images()
        num_classes = self.model_config.num_classes
        count = min(num_classes, MAX_GRID_CLASSES)
        classes = np.unique(np.round(np.linspace(0, num_classes - 1, count)).astype("int32"))
        count = len(classes)
        generator = self.sampling_generator
        rng = np.random.default_rng(self.run_config.seed)
        z = rng.standard_normal((count * count, generator.latent_dim), dtype=np.float32)
        labels = np.repeat(classes, count)  # rows of `count` images: write_samples makes count columns
        images = generator((ops.convert_to_tensor(z), ops.convert_to_tensor(labels)), training=False)
        return postprocess_images(images)


class InfoGANTrainer(DCGANTrainer):
    """InfoGAN from a :class:`tfgen.families.transfer.config.InfoGANConfig`.

    z ~ N(0, I) of G's full latent size; :func:`tfgen.families.transfer.networks.infogan_codes`
    reads the categorical and continuous codes off it, so G and the loss
    agree on the codes. D returns ``(logits, category_logits, continuous_mean)``;
    the information loss (:func:`tfgen.losses.info_loss`, unit-variance Gaussian
    for the continuous codes) of the fake batch is added, times
    ``info_weight``, to the D loss (Q is part of D) and to the G loss.
    """

    family = "infogan"
    architecture_fields = DCGANTrainer.architecture_fields + ("num_categories", "num_continuous")

    def info_terms(self, z, category_logits, continuous_mean):
        """``{"info_categorical", "info_continuous"}`` (those the config has) of Q's
        outputs on G(z) against the codes in z."""
        from tfgen.families.transfer.networks import infogan_codes

        config = self.model_config
        category, continuous = infogan_codes(
            z,
            noise_dim=config.latent_dim,
            num_categories=config.num_categories,
            num_continuous=config.num_continuous,
        )
        terms = {}
        if config.num_categories:
            terms["info_categorical"] = info_loss(categorical_logits=category_logits, categorical_codes=category)
        if config.num_continuous:
            terms["info_continuous"] = info_loss(continuous_mean=continuous_mean, continuous_codes=continuous)
        return terms

    def train_step(self, batch):
        G, D = self.generator, self.discriminator
        weight = self.model_config.info_weight
        real, _ = self.split_batch(batch)  # labels, if any, are not used
        z = self.sample_latents(ops.shape(real)[0])

        # -- discriminator and Q step
        fake = tf.stop_gradient(G(z, training=True))
        with tf.GradientTape() as d_tape:
            real_logits, _, _ = D(real, training=True)
            fake_logits, category_logits, continuous_mean = D(fake, training=True)
            terms = self.info_terms(z, category_logits, continuous_mean)
            d_info = sum(terms.values())
            d_loss = non_saturating_discriminator_loss(real_logits, fake_logits) + weight * d_info
        self.minimize(d_tape, d_loss, D.trainable_variables, self.d_optimizer)

        # -- generator step: fool D and keep the codes recoverable
        with tf.GradientTape() as g_tape:
            fake_logits_g, category_logits, continuous_mean = D(G(z, training=True), training=True)
            g_info = sum(self.info_terms(z, category_logits, continuous_mean).values())
            extra = self.consistency_terms()
            g_loss = non_saturating_generator_loss(fake_logits_g) + weight * g_info + sum(extra.values())
        self.minimize(g_tape, g_loss, G.trainable_variables, self.g_optimizer)

        return {
            "d_loss": d_loss,
            "g_loss": g_loss,
            "d_real": _probability(real_logits),
            "d_fake": _probability(fake_logits),
            "info_loss": d_info,  # Q's loss on this batch, before the update
            **terms,
            **extra,
        }
