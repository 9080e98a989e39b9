"""StyleGAN training: the style-based generator (Karras et al., CVPR 2019)
against a residual discriminator, with StyleGAN2's losses (Karras et al.,
"Analyzing and Improving the Image Quality of StyleGAN", CVPR 2020) as in
StyleGAN2-ADA's ``training/loss.py``.

One iteration:

1. ``ws = G.mixed_ws(z)`` (style mixing regularisation), the running
   average of w is updated, ``fake = G.synthesize(ws)``; DiffAugment (when
   set) is applied to every image D sees.
2. D step: the non-saturating logistic loss ``softplus(D(fake)) +
   softplus(-D(real))``. Every ``r1_interval`` steps (lazy regularisation)
   the R1 penalty ``gamma / 2 * |grad_x D(x)|^2`` on the reals is added,
   multiplied by the interval so that its average weight is unchanged; D's
   Adam runs at ``lr * c`` and ``beta ** c`` with ``c = interval / (interval + 1)``
   to make up for the extra steps (the paper's Appendix B).
3. G step through the same G forward: ``softplus(-D(fake))`` against the
   updated D.
4. EMA of G's weights (in the base trainer); w's average is copied.

Data: with a labelled source (a bundled dataset, or class folders and
``--test-classes``) the generator trains on the meta-train classes only, as
FIGR and the transfer baselines do, so that the held-out class stays new for
few-shot adaptation (:mod:`tfgen.families.stylegan.adapt`); any other source
(a folder of images, a single class) is trained on whole.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tfgen.augment import diff_augment
from tfgen.losses import r1_penalty, stylegan_discriminator_loss, stylegan_generator_loss
from tfgen.training.optimizers import FusedAdam
from tfgen.training.trainer import Trainer
from tfgen.errors import InputError


def training_images(source, config):
    """``(uint8 images [N, R, R, C], ClassSplit or None)`` StyleGAN trains on.

    The meta-train side of the class split when ``config`` names classes or
    the source has a default split with classes on both sides (``digits``:
    0-8); otherwise every image of ``source``.
    """
    from tfgen.data import builtin
    from tfgen.data.episodes import default_split, load_few_shot_data_for, to_channels
    from tfgen.data.images import load_images

    resolution, channels = config.resolution, config.channels
    names_classes = bool(config.train_classes or config.test_classes)
    if not names_classes and builtin.is_builtin(source):
        class_names = builtin.load_builtin(source).class_names
        split = default_split(source, class_names)
        names_classes = split is not None and bool(split.train) and bool(split.test)
    if names_classes:
        data = load_few_shot_data_for(source, config)
        return np.asarray(data.train.images), data.split
    return to_channels(load_images(source, resolution=resolution), channels), None


def lazy_regularization_factor(config):
    """``c = interval / (interval + 1)`` of lazy R1, or 1 when R1 runs every step (or never)."""
    if config.r1_gamma <= 0 or config.r1_interval <= 1:
        return 1.0
    return config.r1_interval / (config.r1_interval + 1)


class StyleGANTrainer(Trainer):
    """Trains StyleGenerator / StyleDiscriminator from a
    :class:`tfgen.families.stylegan.config.StyleGANConfig`; see the module doc for the algorithm."""

    family = "stylegan"
    checks_health = True
    architecture_fields = (
        "resolution", "channels", "latent_dim", "w_dim", "mapping_layers",
        "channel_base", "channel_max", "fitted_latents", "fitted_space",
    )  # fmt: skip

    def __init__(self, model_config, run_config, *, quiet=False):
        self.class_split = None  # the ClassSplit trained on (None: every image)
        super().__init__(model_config, run_config, quiet=quiet)

    def build_dataset(self):
        from tfgen.data.episodes import shot_dataset

        images, self.class_split = training_images(self.run_config.data, self.model_config)
        if len(images) < self.global_batch_size:
            raise InputError(
                f"Found {len(images)} training images in {self.run_config.data!r}, fewer than "
                f"batch_size={self.global_batch_size}. Add images or lower --batch-size."
            )
        if self.class_split is not None:
            self._say(
                f"Training on classes {', '.join(self.class_split.train)}; held out for "
                f"adaptation: {', '.join(self.class_split.test)}"
            )
        scaled = images.astype(np.float32) / 127.5 - 1.0
        return shot_dataset(scaled, batch_size=self.global_batch_size, seed=self.run_config.seed)

    def build_optimizers(self):
        config = self.model_config
        c = lazy_regularization_factor(config)

        def adam(learning_rate, c=1.0):
            return FusedAdam(
                learning_rate=learning_rate * c,
                beta_1=config.adam_beta1**c,
                beta_2=config.adam_beta2**c,
                epsilon=1e-8,
            )

        return adam(config.g_learning_rate), adam(config.d_learning_rate, c)

    def make_train_function(self):
        """Two compiled steps, with and without the R1 penalty, picked by the step number."""
        config = self.model_config
        plain = super().make_train_function(regularize=False)
        if config.r1_gamma <= 0:
            return plain
        regularized = super().make_train_function(regularize=True)
        interval = config.r1_interval

        def train_function(batch):
            if int(self.step.numpy()) % interval == 0:
                return regularized(batch)
            return plain(batch)

        return train_function

    def augment(self, images):
        images = self.flip(images)
        if not self.model_config.diff_augment:
            return images
        return diff_augment(images, self.model_config.diff_augment, seed=self.seed_generator)

    def flip(self, images):
        """Mirror each image left-right with probability 1/2 (RunConfig.flip)."""
        if not self.run_config.flip:
            return images
        coin = keras.random.uniform((ops.shape(images)[0], 1, 1, 1), seed=self.seed_generator)
        return ops.where(coin < 0.5, ops.flip(images, axis=2), images)

    def discriminate(self, images):
        return ops.cast(self.discriminator(self.augment(images), training=True), "float32")

    def train_step(self, real, regularize=False):
        G, config = self.generator, self.model_config
        batch_size = ops.shape(real)[0]
        z = keras.random.normal((batch_size, config.latent_dim), seed=self.seed_generator)

        g_tape = tf.GradientTape()
        with g_tape:  # one G forward serves both steps
            ws = G.mixed_ws(z, training=True)  # [B, num_ws, w_dim]
            fake = G.synthesize(ws, training=True)
        G.update_w_avg(ws[:, 0])

        # -- discriminator step (+ lazy R1 on the reals)
        with tf.GradientTape() as d_tape:
            fake_logits = self.discriminate(tf.stop_gradient(fake))
            if regularize:
                with tf.GradientTape() as r1_tape:
                    r1_tape.watch(real)
                    real_logits = self.discriminate(real)
                    real_total = ops.sum(real_logits)
                penalty = r1_penalty(r1_tape.gradient(real_total, real))
            else:
                real_logits = self.discriminate(real)
                penalty = ops.convert_to_tensor(0.0)
            d_loss_real, d_loss_fake = stylegan_discriminator_loss(real_logits, fake_logits)
            d_loss = d_loss_fake + d_loss_real
            if regularize:
                d_loss = d_loss + penalty * (config.r1_gamma / 2 * config.r1_interval)
        self.minimize(d_tape, d_loss, self.discriminator.trainable_variables, self.d_optimizer)

        # -- generator step, against the updated discriminator
        with g_tape:
            g_loss = stylegan_generator_loss(self.discriminate(fake))
        self.minimize(g_tape, g_loss, G.trainable_variables, self.g_optimizer)

        losses = {
            "d_loss_real": d_loss_real,
            "d_loss_fake": d_loss_fake,
            "g_loss": g_loss,
            "logits_real": ops.mean(real_logits),
            "logits_fake": ops.mean(fake_logits),
        }
        if regularize:
            losses["r1_penalty"] = penalty
        return losses
