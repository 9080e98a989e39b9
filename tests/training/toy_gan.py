"""A tiny GAN on the base Trainer, so that the shared loop is tested in seconds.

The generator has a BatchNorm (buffers the EMA must copy) and a
SeedGenerator-driven noise layer, like FastGAN's, but only a few hundred
weights. Imported by test_trainer.py and by the multi-device subprocess.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tfgen.data import ImageDataset
from tfgen.losses import non_saturating_discriminator_loss, non_saturating_generator_loss
from tfgen.training.trainer import Trainer


@dataclasses.dataclass
class ToyConfig:
    resolution: int = 8
    latent_dim: int = 4
    batch_size: int = 4
    learning_rate: float = 1e-2
    ema_decay: float | None = 0.9
    # "gan": non-saturating GAN step with random z. "regression": D alone
    # fits mean(D(real)^2) with SGD, deterministic (for comparing strategies).
    objective: str = "gan"

    def validate(self):
        if self.objective not in ("gan", "regression"):
            raise ValueError(f"objective must be 'gan' or 'regression'. Received: {self.objective!r}")


class ToyGenerator(keras.Model):
    def __init__(self, *, latent_dim=4, resolution=8, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim = latent_dim
        self.resolution = resolution
        self.dense = keras.layers.Dense(resolution * resolution * 3, name="dense")
        self.norm = keras.layers.BatchNormalization(name="bn")
        self.seed_generator = keras.random.SeedGenerator(1)
        self.build((None, latent_dim))

    def build(self, input_shape):
        self.dense.build(input_shape)
        self.norm.build((None, self.resolution * self.resolution * 3))
        self.built = True

    def call(self, z, training=False):
        x = self.norm(self.dense(z), training=training)
        x = x + 0.01 * keras.random.normal(ops.shape(x), seed=self.seed_generator, dtype=x.dtype)
        r = self.resolution
        return ops.cast(ops.tanh(ops.reshape(x, (-1, r, r, 3))), "float32")


class ToyDiscriminator(keras.Model):
    def __init__(self, *, resolution=8, **kwargs):
        super().__init__(**kwargs)
        self.resolution = resolution
        self.dense = keras.layers.Dense(1, name="dense")
        self.build((None, resolution, resolution, 3))

    def build(self, input_shape):
        self.dense.build((None, self.resolution * self.resolution * 3))
        self.built = True

    def call(self, images, training=False):
        x = ops.reshape(ops.cast(images, self.compute_dtype), (ops.shape(images)[0], -1))
        return ops.cast(self.dense(x), "float32")


def toy_images(num_images=16, resolution=8, seed=0):
    shape = (num_images, resolution, resolution, 3)
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype("float32")


class ToyTrainer(Trainer):
    family = "toy"
    architecture_fields = ("resolution", "latent_dim")

    def build_generator(self):
        config = self.model_config
        return ToyGenerator(latent_dim=config.latent_dim, resolution=config.resolution, name="generator")

    def build_discriminator(self):
        return ToyDiscriminator(resolution=self.model_config.resolution, name="discriminator")

    def build_optimizers(self):
        rate = self.model_config.learning_rate
        if self.model_config.objective == "regression":
            return keras.optimizers.SGD(rate), keras.optimizers.SGD(rate)
        return keras.optimizers.Adam(rate), keras.optimizers.Adam(rate)

    def build_dataset(self):
        # Fixed order, no shuffling: runs over the same images are comparable.
        images = toy_images(16, self.model_config.resolution)
        batch_size = self.global_batch_size
        dataset = tf.data.Dataset.from_tensor_slices(images).repeat().batch(batch_size, drop_remainder=True)
        return ImageDataset(dataset, len(images), "toy", self.model_config.resolution, batch_size)

    def train_step(self, real):
        G, D = self.generator, self.discriminator
        if self.model_config.objective == "regression":
            with tf.GradientTape() as tape:
                loss = ops.mean(ops.square(D(real, training=True)))
            self.minimize(tape, loss, D.trainable_variables, self.d_optimizer)
            return {"loss": loss}
        z = keras.random.normal((ops.shape(real)[0], self.model_config.latent_dim), seed=self.seed_generator)
        with tf.GradientTape() as tape:
            fake = G(z, training=True)
            logits_real = D(real, training=True)
            logits_fake = D(tf.stop_gradient(fake), training=True)
            d_loss = non_saturating_discriminator_loss(logits_real, logits_fake)
        self.minimize(tape, d_loss, D.trainable_variables, self.d_optimizer)
        with tf.GradientTape() as tape:
            g_loss = non_saturating_generator_loss(D(G(z, training=True), training=True))
        self.minimize(tape, g_loss, G.trainable_variables, self.g_optimizer)
        return {"d_loss": d_loss, "g_loss": g_loss, "z_mean": ops.mean(z)}


def interrupt_on_call(trainer, call):
    """Make ``trainer``'s ``call``-th step raise KeyboardInterrupt (Ctrl-C), as
    a user would stop a run: the steps before it run normally."""
    train_function = trainer.train_function
    calls = []

    def interrupted(batch):
        calls.append(1)
        if len(calls) == call:
            raise KeyboardInterrupt
        return train_function(batch)

    trainer.train_function = interrupted
