"""LoFGAN's training on episodes of the training classes.

Each step (the official ``train.py``: a discriminator update, then a
generator update, on the same batch of episodes; Gu et al., ICCV 2021):

* D: hinge loss on the episodes' real images and on images fused from them,
  cross-entropy of the class head on the real images, and the penalty on the
  gradient of the real-class logit at the real images (weight
  ``class_penalty_weight``; the official ``calc_grad2``);
* G: the hinge generator loss, the class head's cross-entropy of the fused
  images for their episode's class, and the local reconstruction loss.

The random choices of the fusion (base, positions, coefficients) come from
a latent code drawn from the trainer's seed generator, so a resumed run
draws what an uninterrupted one would.

Its adaptation, which trains nothing, is :mod:`tfgen.families.lofgan.adapt`.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tfgen.errors import InputError
from tfgen.families.lofgan.fusion import latent_size
from tfgen.families.lofgan.losses import (
    local_reconstruction_loss,
    lofgan_class_gradient_penalty,
    lofgan_classification_loss,
    lofgan_discriminator_adversarial_loss,
    lofgan_generator_adversarial_loss,
)
from tfgen.sampling import postprocess_images
from tfgen.training.trainer import Trainer

# The sample grids: rows of one training episode each, its k shots then images fused from them.
MIN_GRID_COLUMNS = 8


class LoFGANTrainer(Trainer):
    """Trains LoFGANGenerator / LoFGANDiscriminator on labelled episodes (module doc).

    ``num_classes = 0`` becomes the number of training classes. The trainer
    works on a copy of ``model_config`` (``trainer.model_config``, what
    ``config.json`` records), so the caller's object is not changed.
    """

    family = "lofgan"
    architecture_fields = ("resolution", "channels", "width", "encoder_downsamples", "num_classes", "held_shots")
    # The class penalty's inner gradient is not loss-scaled: float16 could underflow in it.
    supports_float16 = False

    def __init__(self, model_config, run_config, *, quiet=False):
        model_config = dataclasses.replace(model_config)
        super().__init__(model_config, run_config, quiet=quiet)
        self.check_split_over_replicas("tasks_per_step", model_config.tasks_per_step, "whole episodes")

    # ------------------------------------------------------------- set-up

    def build_dataset(self):
        from tfgen.data.episodes import load_few_shot_data_for, task_dataset

        config = self.model_config
        data = load_few_shot_data_for(self.run_config.data, config)
        self.class_split = data.split
        classes = len(data.split.train)
        if config.num_classes == 0:
            config.num_classes = classes
        elif config.num_classes != classes:
            raise InputError(
                f"num_classes must be the number of training classes, {classes} (0 sets it from the data). "
                f"Received: num_classes={config.num_classes}"
            )
        if config.held_shots not in (0, config.shots):
            raise InputError(
                "held_shots is set by adaptation; a run trains with held_shots=0 (its --shots). "
                f"Received: held_shots={config.held_shots}"
            )
        self.sample_episodes = self._draw_sample_episodes(data.train)
        return task_dataset(  # with labels: the class head needs each episode's class
            data.train, shots=config.shots, tasks_per_batch=config.tasks_per_step, seed=self.run_config.seed,
            labels=True,
        )

    def _draw_sample_episodes(self, train):
        """float32 [E, k, R, R, C]: fixed episodes of the training classes for the sample grids."""
        k = self.model_config.shots
        columns = max(MIN_GRID_COLUMNS, k + 1)
        rng = np.random.default_rng([self.run_config.seed, 0x5A3B])
        labels = np.asarray(train.labels)
        classes = [c for c in range(len(train.class_names)) if np.sum(labels == c) >= k]
        episodes = []
        for row in range(columns):
            members = np.flatnonzero(labels == classes[row % len(classes)])
            episodes.append(np.asarray(train.images)[np.sort(rng.choice(members, k, replace=False))])
        return np.stack(episodes).astype(np.float32) / 127.5 - 1.0

    def build_extras(self):
        # The base generator holds a training episode, so that sampling a
        # trained run (load_generator) shows what it does.
        self.generator.set_shots(self.sample_episodes[0])

    def build_optimizers(self):
        config = self.model_config
        # The official code: torch's Adam defaults (betas 0.9, 0.999).
        return (
            keras.optimizers.Adam(learning_rate=config.g_learning_rate, beta_1=0.9, beta_2=0.999),
            keras.optimizers.Adam(learning_rate=config.d_learning_rate, beta_1=0.9, beta_2=0.999),
        )

    # ---------------------------------------------------------------- step

    def train_step(self, batch):
        """One replica's share: ``batch`` = (images [T * k, R, R, C], labels [T * k])."""
        config = self.model_config
        generator, discriminator = self.generator, self.discriminator
        images, labels = batch
        k = config.shots
        shots = tf.reshape(images, [-1, k] + images.shape[1:].as_list())  # [T, k, R, R, C]
        episode_labels = labels[::k]
        latent = latent_size(generator.num_positions, k, k)  # k held, all k fused
        z_d = keras.random.normal((tf.shape(shots)[0], latent), seed=self.seed_generator)
        z_g = keras.random.normal((tf.shape(shots)[0], latent), seed=self.seed_generator)

        with tf.GradientTape() as tape:
            with tf.GradientTape() as penalty_tape:
                penalty_tape.watch(images)
                real_logits, real_classes = discriminator(images, training=True)
                real_class_logit = ops.take_along_axis(ops.cast(real_classes, "float32"), labels[:, None], axis=1)
                penalised = ops.mean(real_class_logit)
            penalty = lofgan_class_gradient_penalty(penalty_tape.gradient(penalised, images))
            fake, _ = generator.fuse_shots(shots, z_d, training=True)
            fake_logits, _ = discriminator(tf.stop_gradient(fake), training=True)
            d_adversarial = lofgan_discriminator_adversarial_loss(real_logits, fake_logits)
            d_class = lofgan_classification_loss(real_classes, labels)
            d_loss = d_adversarial + config.classification_weight * d_class + config.class_penalty_weight * penalty
        self.minimize(tape, d_loss, discriminator.trainable_variables, self.d_optimizer)

        with tf.GradientTape() as tape:
            fake, fusion = generator.fuse_shots(shots, z_g, training=True)
            fake_logits, fake_classes = discriminator(fake, training=True)
            g_adversarial = lofgan_generator_adversarial_loss(fake_logits)
            g_class = lofgan_classification_loss(fake_classes, episode_labels)
            reconstruction = local_reconstruction_loss(shots, fake, fusion, side=generator.feature_side)
            g_loss = (
                config.adversarial_weight * g_adversarial
                + config.classification_weight * g_class
                + config.reconstruction_weight * reconstruction
            )
        self.minimize(tape, g_loss, generator.trainable_variables, self.g_optimizer)
        return {
            "d_loss": d_loss, "g_loss": g_loss, "d_adversarial": d_adversarial, "d_class": d_class,
            "class_penalty": penalty, "g_adversarial": g_adversarial, "g_class": g_class,
            "reconstruction": reconstruction,
        }  # fmt: skip

    # ------------------------------------------------------------- samples

    def sample_images(self):
        """uint8 rows of one fixed training episode each: its k shots, then
        images fused from them (fixed latents), as many rows as columns."""
        episodes = self.sample_episodes
        count, k = episodes.shape[:2]
        fakes = count - k
        generator = self.sampling_generator
        rng = np.random.default_rng(self.run_config.seed)
        z = rng.standard_normal((count * fakes, latent_size(generator.num_positions, k, k)), dtype=np.float32)
        made, _ = generator.fuse_shots(ops.convert_to_tensor(np.repeat(episodes, fakes, axis=0)), z, training=False)
        made = np.asarray(made).reshape((count, fakes) + episodes.shape[2:])
        return postprocess_images(np.concatenate([episodes, made], axis=1).reshape((-1,) + episodes.shape[2:]))


__all__ = ["LoFGANTrainer"]
