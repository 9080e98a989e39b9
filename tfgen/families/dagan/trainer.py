"""DAGAN's training on pairs of the training classes.

Each step (the official ``experiment_builder.py``: 5 critic iterations, then
one generator iteration, Adam 1e-4 with betas 0, 0.9):

* ``critic_steps`` critic updates, each on ``pairs_per_step`` fresh pairs
  (x, x'), two distinct images of one training class (``task_dataset`` with
  2 images per task): the Wasserstein loss of real pairs (x, x') against
  fake pairs (x, G(x, z)), plus ``gp_weight`` times the gradient penalty at
  candidates between x' and G(x, z);
* one generator update on the last critic update's x: ``-D(x, G(x, z))``,
  plus, with ``mode_seeking_weight`` > 0, the mode-seeking term on a second
  noise for the same x (both images are scored).

With ``rotate_pairs`` both images of a random half of the pairs are turned
by the same multiple of 90 degrees (the official augmentation). Every random
draw comes from the trainer's seed generator and the data pipeline is a
stateless function of the step, so a resumed run draws what an uninterrupted
one would.

Its adaptation, which trains nothing, is :mod:`tfgen.families.dagan.adapt`.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tfgen.errors import InputError
from tfgen.families.dagan.config import TRAINING_HELD
from tfgen.families.dagan.losses import (
    dagan_critic_loss,
    dagan_generator_loss,
    dagan_gradient_penalty,
    mode_seeking_loss,
)
from tfgen.sampling import postprocess_images
from tfgen.training.optimizers import FusedAdam
from tfgen.training.trainer import Trainer

# The sample grids: each row one held training image, then images made from it.
SAMPLES_PER_ROW = 7


def pairs_of(images, critic_steps):
    """A batch of ``task_dataset(shots=2)`` [critic_steps * B * 2, R, R, C] as
    pairs [critic_steps, B, 2, R, R, C]: rows (2p, 2p + 1) are one pair."""
    return ops.reshape(images, (critic_steps, -1, 2) + tuple(images.shape[1:]))


def rotate_pairs(pairs, turns):
    """``pairs`` [..., 2, R, R, C] with pair p turned by ``turns[p]`` x 90
    degrees counter-clockwise (``turns`` int [...], the leading axes), both
    images alike (``np.rot90`` in the image plane)."""
    shape = tuple(pairs.shape)
    flat = tf.reshape(pairs, (-1,) + shape[-3:])  # [N * 2, R, R, C]
    per_image = tf.repeat(tf.reshape(tf.cast(turns, tf.int32), (-1,)), 2)
    turned = tf.zeros_like(flat)
    for k in range(4):
        turned = tf.where(tf.equal(per_image, k)[:, None, None, None], tf.image.rot90(flat, k), turned)
    return tf.reshape(turned, tf.shape(pairs))


class DAGANTrainer(Trainer):
    """Trains DAGANGenerator / DAGANCritic on pairs of the training classes (module doc).

    The trainer works on a copy of ``model_config`` (``trainer.model_config``,
    what ``config.json`` records), so the caller's object is not changed.
    """

    family = "dagan"
    architecture_fields = ("resolution", "channels", "width", "latent_dim", "noise_channels", "held_shots")
    fixed_fields = Trainer.fixed_fields + ("pairs_per_step", "critic_steps")
    # The gradient penalty's inner gradient is not loss-scaled: float16 could underflow in it.
    supports_float16 = False

    def __init__(self, model_config, run_config, *, quiet=False):
        model_config = dataclasses.replace(model_config)
        super().__init__(model_config, run_config, quiet=quiet)
        self.check_split_over_replicas("pairs_per_step", model_config.pairs_per_step, "whole pairs")

    # ------------------------------------------------------------- set-up

    def build_dataset(self):
        from tfgen.data.episodes import load_few_shot_data_for, task_dataset

        config = self.model_config
        if config.held_shots:
            raise InputError(
                "held_shots is set by adaptation; a run trains with held_shots=0. "
                f"Received: held_shots={config.held_shots}"
            )
        data = load_few_shot_data_for(self.run_config.data, config)
        self.class_split = data.split
        self.sample_conditions = self._draw_sample_conditions(data.train)
        # Labels ride along (one per image), so that a batch can be checked to pair one class.
        return task_dataset(
            data.train, shots=2, tasks_per_batch=config.pairs_per_step * config.critic_steps,
            seed=self.run_config.seed, labels=True,
        )  # fmt: skip

    def _draw_sample_conditions(self, train):
        """float32 [TRAINING_HELD, R, R, C]: one fixed image of each training class in turn."""
        rng = np.random.default_rng([self.run_config.seed, 0xDA6A])
        labels = np.asarray(train.labels)
        classes = [c for c in range(len(train.class_names)) if np.sum(labels == c) >= 2]
        rows = [rng.choice(np.flatnonzero(labels == classes[row % len(classes)])) for row in range(TRAINING_HELD)]
        return np.asarray(train.images)[rows].astype(np.float32) / 127.5 - 1.0

    def build_extras(self):
        # The base generator holds training images, so that sampling a trained
        # run (load_generator) shows what it does.
        self.generator.set_shots(self.sample_conditions)

    def build_optimizers(self):
        config = self.model_config
        return (
            FusedAdam(config.g_learning_rate, beta_1=config.adam_beta1, beta_2=config.adam_beta2),
            FusedAdam(config.d_learning_rate, beta_1=config.adam_beta1, beta_2=config.adam_beta2),
        )

    # ---------------------------------------------------------------- step

    def train_step(self, batch):
        """One replica's share: ``batch`` = (images [critic_steps * B * 2, R, R, C], labels)."""
        config = self.model_config
        generator, critic = self.generator, self.discriminator
        images, _ = batch
        pairs = pairs_of(images, config.critic_steps)  # [S, B, 2, R, R, C]
        if config.rotate_pairs:
            count = ops.shape(pairs)[:2]
            turn = keras.random.randint(count, 0, 4, seed=self.seed_generator)
            coin = keras.random.uniform(count, seed=self.seed_generator) < 0.5
            pairs = rotate_pairs(pairs, ops.where(coin, turn, 0))
        noise = lambda: keras.random.normal((ops.shape(pairs)[1], config.latent_dim), seed=self.seed_generator)  # noqa: E731

        # G does not change during the critic updates: their fakes in one call, [S, B, R, R, C].
        steps, pairs_per_update = config.critic_steps, ops.shape(pairs)[1]
        flat_x = ops.reshape(pairs[:, :, 0], (-1,) + tuple(pairs.shape[3:]))
        z = keras.random.normal((steps * pairs_per_update, config.latent_dim), seed=self.seed_generator)
        fakes = ops.stop_gradient(generator.transform(flat_x, z, training=True))
        fakes = ops.reshape(fakes, (steps, pairs_per_update) + tuple(pairs.shape[3:]))
        d_loss = d_wasserstein = penalty = tf.constant(0.0)
        for step in range(steps):  # static and small: unrolled
            x, x_other, fake = pairs[step, :, 0], pairs[step, :, 1], fakes[step]
            with tf.GradientTape() as tape:
                d_wasserstein = dagan_critic_loss(critic.score_pairs(x, x_other, training=True),
                                                  critic.score_pairs(x, fake, training=True))  # fmt: skip
                penalty = dagan_gradient_penalty(critic, x, x_other, fake, seed=self.seed_generator)
                d_loss = d_wasserstein + config.gp_weight * penalty
            self.minimize(tape, d_loss, critic.trainable_variables, self.d_optimizer)

        x = pairs[-1, :, 0]
        z_1 = noise()
        diverse = config.mode_seeking_weight > 0
        with tf.GradientTape() as tape:
            if diverse:  # both noises in one batch: G(x, z1), G(x, z2)
                z_2 = noise()
                doubled = ops.concatenate([x, x], axis=0)
                fakes = generator.transform(doubled, ops.concatenate([z_1, z_2], axis=0), training=True)
                g_wasserstein = dagan_generator_loss(critic.score_pairs(doubled, fakes, training=True))
                fake_1, fake_2 = ops.split(fakes, 2, axis=0)
                seeking = mode_seeking_loss(fake_1, fake_2, z_1, z_2)
                g_loss = g_wasserstein + config.mode_seeking_weight * seeking
            else:
                fake = generator.transform(x, z_1, training=True)
                g_wasserstein = dagan_generator_loss(critic.score_pairs(x, fake, training=True))
                g_loss = g_wasserstein
        self.minimize(tape, g_loss, generator.trainable_variables, self.g_optimizer)
        losses = {"d_loss": d_loss, "g_loss": g_loss, "d_wasserstein": d_wasserstein, "gradient_penalty": penalty}
        if diverse:
            losses["mode_seeking"] = seeking
        return losses

    # ------------------------------------------------------------- samples

    def sample_images(self):
        """uint8 rows of one held training image each, then SAMPLES_PER_ROW images made from it (fixed z)."""
        conditions = self.sample_conditions
        count = len(conditions)
        generator = self.sampling_generator
        rng = np.random.default_rng(self.run_config.seed)
        z = rng.standard_normal((count * SAMPLES_PER_ROW, generator.noise_dim), dtype=np.float32)
        made = generator.transform(np.repeat(conditions, SAMPLES_PER_ROW, axis=0), z, training=False)
        made = np.asarray(made).reshape((count, SAMPLES_PER_ROW) + conditions.shape[1:])
        rows = np.concatenate([conditions[:, None], made], axis=1)
        return postprocess_images(rows.reshape((-1,) + conditions.shape[1:]))


__all__ = ["DAGANTrainer", "pairs_of", "rotate_pairs"]
