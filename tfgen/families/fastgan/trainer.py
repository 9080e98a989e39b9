"""FastGAN training (Liu et al., "Towards Faster and Stabilized GAN Training for
High-fidelity Few-shot Image Synthesis", ICLR 2021), as in the official code
(odegeasslbc/FastGAN-pytorch, train.py).

One iteration:

1. ``fake, fake_small = G(z)`` once, z ~ N(0, 1); DiffAugment the real batch
   and, separately, both fakes with the same policy.
2. D step: hinge loss with random margins on the augmented real pair
   ``[real, resize(real, S)]`` plus the reconstruction loss of D's three
   decoders (whole image from the big and the small branch, one random
   quadrant), and hinge loss on the (detached) fakes.
3. G step through the same G forward: ``-mean(D(fakes))`` with the updated D.
4. EMA of G's weights (in the base trainer).

Resizing differs from the official ``F.interpolate`` (nearest): down-scaling
averages pixel blocks (area), which does not alias, and up-scaling (only the
quadrant target below 256 px, where the decoders out-size the quadrant) is
bilinear.

With ``discriminator="projected"`` (Projected GAN, Sauer et al., NeurIPS 2021;
:mod:`tfgen.projected`, docs/projected_gan.md) an iteration is:

1. ``fake = G(z)``; DiffAugment (color, translation, cutout 0.2) the real
   batch and the fakes; project both through the frozen part of D
   (EfficientNet-Lite0, CCM, CSM) once, the fakes' projection recorded for G.
2. D step: ``mean(relu(1 - D(real))) + mean(relu(1 + D(fake)))`` on the
   (detached) projections; only the mini discriminators train.
3. G step: ``-mean(D(fake))`` with the updated mini discriminators on the same
   projection, the gradient flowing back through the frozen network.
4. EMA of G's weights.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from tfgen.augment import diff_augment
from tfgen.layers import adaptive_avg_pool
from tfgen.losses import (
    hinge_discriminator_fake_loss,
    hinge_discriminator_real_loss,
    hinge_generator_loss,
    reconstruction_loss,
)
from tfgen.families.fastgan.networks import crop_image_by_part
from tfgen.perceptual import PerceptualDistance
from tfgen import projected
from tfgen.errors import InputError
from tfgen.runs import holds_training_state, read_run_config_json
from tfgen.training.optimizers import FusedAdam
from tfgen.training.trainer import Trainer


def resize_to(images, size):
    """Square NHWC ``images`` to ``size`` x ``size``: area when shrinking by an
    integer factor, bilinear when growing."""
    current = images.shape[1]
    if current == size:
        return images
    if current > size:
        return adaptive_avg_pool(images, size)
    return ops.image.resize(images, (size, size), interpolation="bilinear")


class FastGANTrainer(Trainer):
    """Trains FastGANGenerator / FastGANDiscriminator from a
    :class:`tfgen.families.fastgan.config.FastGANConfig`; see the module doc for the algorithm.

    The decoders' reconstruction loss is L1 (``reconstruction_loss="l1"``) or,
    as in the official code, a VGG16 perceptual distance (``"lpips_vgg"``,
    :mod:`tfgen.perceptual`, weights from ``vgg_weights``).
    """

    family = "fastgan"
    architecture_fields = ("resolution", "latent_dim", "ngf", "ndf")

    def restore(self, *, override=False):
        # The discriminator decides the checkpoint's layout: refuse another
        # before a restore would find the checkpoints unreadable. (Not an
        # architecture field: config.json files written before the projected
        # discriminator existed have no "discriminator" and mean "fastgan".)
        if self.is_chief and not override and holds_training_state(self.run_dir):
            saved = (read_run_config_json(self.run_dir) or {}).get("model", {})
            before, now = saved.get("discriminator", "fastgan"), self.model_config.discriminator
            if before != now:
                raise InputError(
                    f"Run folder {self.run_dir!r} was trained with discriminator={before!r}, so its "
                    f"checkpoint cannot be resumed with discriminator={now!r}. Run it with --discriminator "
                    f"{before}, pass --override to delete it and start afresh, or choose another --name."
                )
        return super().restore(override=override)

    def build_extras(self):
        self.perceptual_distance = None
        if self.model_config.reconstruction_loss == "lpips_vgg":
            self.perceptual_distance = PerceptualDistance(self.model_config.vgg_weights)

    def build_optimizers(self):
        config = self.model_config

        def adam(learning_rate):
            return FusedAdam(
                learning_rate=learning_rate, beta_1=config.adam_beta1, beta_2=config.adam_beta2
            )

        return adam(config.g_learning_rate), adam(config.d_learning_rate)

    def augment(self, images):
        policy = self.model_config.diff_augment
        if self.model_config.discriminator == "projected":
            return projected.diff_augment(images, policy, seed=self.seed_generator)
        return diff_augment(images, policy, seed=self.seed_generator)

    def reconstruction_loss(self, reconstruction, target):
        if self.perceptual_distance is None:
            return reconstruction_loss(reconstruction, target, kind="l1")
        # The official code sums LPIPS over the batch (it does not average):
        # the global batch size times the mean keeps that weight.
        return reconstruction_loss(
            reconstruction,
            target,
            kind=None,
            perceptual_fn=self.perceptual_distance,
            perceptual_weight=self.global_batch_size,
        )

    def train_step(self, real):
        if self.model_config.discriminator == "projected":
            return self.projected_train_step(real)
        G, D = self.generator, self.discriminator
        size = G.small_resolution  # S: the small image and the reconstructions
        batch_size = ops.shape(real)[0]
        z = keras.random.normal((batch_size, self.model_config.latent_dim), seed=self.seed_generator)
        part = keras.random.randint((), 0, 4, seed=self.seed_generator)  # quadrant to reconstruct

        real = self.augment(real)
        real_small = resize_to(real, size)

        g_tape = tf.GradientTape()
        with g_tape:  # one G forward serves both steps
            fake, fake_small = G(z, training=True, return_small=True)
            fake, fake_small = self.augment(fake), self.augment(fake_small)

        # -- discriminator step
        with tf.GradientTape() as d_tape:
            logits_real, (rec_big, rec_small, rec_part) = D([real, real_small], training=True, part=part)
            d_loss_real = hinge_discriminator_real_loss(logits_real, seed=self.seed_generator)
            rec_loss = (
                self.reconstruction_loss(rec_big, real_small)
                + self.reconstruction_loss(rec_small, real_small)
                + self.reconstruction_loss(rec_part, resize_to(crop_image_by_part(real, part), size))
            )
            fakes = [tf.stop_gradient(fake), tf.stop_gradient(fake_small)]
            logits_fake = D(fakes, training=True)
            d_loss_fake = hinge_discriminator_fake_loss(logits_fake, seed=self.seed_generator)
            d_loss = d_loss_real + rec_loss + d_loss_fake
        self.minimize(d_tape, d_loss, D.trainable_variables, self.d_optimizer)

        # -- generator step, against the updated discriminator (as the official code)
        with g_tape:
            g_loss = hinge_generator_loss(D([fake, fake_small], training=True))
        self.minimize(g_tape, g_loss, G.trainable_variables, self.g_optimizer)

        return {
            "d_loss_real": d_loss_real,
            "d_loss_fake": d_loss_fake,
            "rec_loss": rec_loss,
            "g_loss": g_loss,
            "logits_real": ops.mean(logits_real),
            "logits_fake": ops.mean(logits_fake),
        }

    def projected_train_step(self, real):
        """One iteration with Projected GAN's discriminator (see the module doc)."""
        G, D = self.generator, self.discriminator
        batch_size = ops.shape(real)[0]
        z = keras.random.normal((batch_size, self.model_config.latent_dim), seed=self.seed_generator)
        real_features = [tf.stop_gradient(f) for f in D.project(self.augment(real))]

        g_tape = tf.GradientTape()
        with g_tape:  # one G forward and one projection of the fakes serve both steps
            fake = G(z, training=True)
            fake_features = D.project(self.augment(fake))

        # -- discriminator step: the mini discriminators only
        with tf.GradientTape() as d_tape:
            logits_real = D.discriminate(real_features, training=True)
            logits_fake = D.discriminate([tf.stop_gradient(f) for f in fake_features], training=True)
            d_loss_real = projected.hinge_real_loss(logits_real)
            d_loss_fake = projected.hinge_fake_loss(logits_fake)
            d_loss = d_loss_real + d_loss_fake
        self.minimize(d_tape, d_loss, D.trainable_variables, self.d_optimizer)

        # -- generator step, against the updated discriminator; G's small
        # output (FastGAN's second D branch) has no part here, so no gradient.
        with g_tape:
            g_loss = hinge_generator_loss(D.discriminate(fake_features, training=True))
        unused = {id(v) for v in G.to_small.trainable_variables}
        self.minimize(g_tape, g_loss, [v for v in G.trainable_variables if id(v) not in unused], self.g_optimizer)

        return {
            "d_loss_real": d_loss_real,
            "d_loss_fake": d_loss_fake,
            "g_loss": g_loss,
            "logits_real": ops.mean(logits_real),
            "logits_fake": ops.mean(logits_fake),
        }
