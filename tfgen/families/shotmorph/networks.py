"""The shot-morphing generator: images of a new class made from its shots.

Each image is either one of the k shots or a morph between two of them
(:mod:`tfgen.morph`: shot i moved t of the way to shot j along their
registered flow, cross-faded); then deformed by a flow of the *bank*, the
registrations of pairs of images of one training class (how a class's
images differ from each other, learnt on other classes), scaled; then
shifted, rotated, zoomed and re-lit as ``tfgen.data.episodes.augment_shots``
does, with its ranges scaled by a strength. How often it morphs, how far
morphs reach, how much of a bank flow it applies and how strongly it
augments are the policy fitted on the training classes
(:mod:`tfgen.families.shotmorph.policy`).

It is a Keras model like every generator in tfgen: its (non-trainable)
weights are the shots and the flows, and the latent code z ~ N(0, I) of size
LATENT_DIM picks everything else, so ``tfgen.generate(G, n, seed=s)`` is
reproducible and the adapted generator saves as a ``.weights.h5`` (with
its bank, 8 KB per flow at 32 px).
"""

from __future__ import annotations

import math

import keras
from keras import ops

from tfgen.augment import flow_warp as warp
from tfgen.checks import check_channels, check_int
from tfgen.families.shotmorph.config import LATENT_DIM, check_shot_policy
from tfgen.morph import ordered_pairs
from tfgen.families.shotmorph.restyle import NUM_MOMENTS, POSE, moments, move_moments
from tfgen.weights import CheckedWeightsMixin
from tfgen.errors import InputError

# z's entries, each turned into U(0, 1) by the normal CDF.
Z_KIND, Z_PICK, Z_T, Z_ANGLE, Z_ZOOM, Z_SHIFT_Y, Z_SHIFT_X, Z_BRIGHTNESS, Z_CONTRAST, Z_BANK, Z_STYLE = range(LATENT_DIM)
# augment_shots' ranges at strength 1 (translation as a share of the side).
TRANSLATION, ROTATION_DEGREES, ZOOM, BRIGHTNESS, CONTRAST = 0.1, 10.0, 0.1, 0.1, 0.1
MAX_ZOOM = 0.5


@keras.saving.register_keras_serializable("tfgen")
class ShotMorphGenerator(CheckedWeightsMixin, keras.Model):
    """Shots and their morphs, augmented; see the module doc.

    Args:
        resolution, channels: the images' side and channels.
        num_shots: k, the shots it holds (``set_shots`` fills them).
        morph_share: share of the images that are morphs (the rest are shots).
        strength: multiplies augment_shots' shift / rotation / zoom /
            brightness / contrast ranges; 0 leaves the images as they are.
        reach: morphs take t ~ U(-reach, 1 + reach): past either shot when > 0.
        bank_size: flows in the bank (``set_bank`` fills them).
        bank_scale: each image is deformed by a bank flow times this (0: none).
        style_size: style deviations held (``set_style`` fills them).
        pose_spread, ink_spread: each image's position, size and slant
            (pose) and its ink level are moved to the class's estimated
            mean style plus a deviation of the training classes times these
            (:mod:`tfgen.families.shotmorph.restyle`); 0 leaves them as they are.

    Call: z [B, LATENT_DIM] -> images [B, R, R, C] in [-1, 1].
    """

    def __init__(self, *, resolution, channels=1, num_shots=4, morph_share=0.5, strength=1.0, reach=0.0,
                 bank_size=0, bank_scale=0.0, style_size=0, pose_spread=0.0, ink_spread=0.0, **kwargs):  # fmt: skip
        super().__init__(**kwargs)
        self.resolution = check_int("resolution", resolution, minimum=4)
        self.channels = check_channels(channels)
        self.num_shots = check_int("num_shots", num_shots, minimum=1)
        self.bank_size = check_int("bank_size", bank_size, minimum=0)
        self.style_size = check_int("style_size", style_size, minimum=0)
        check_shot_policy(morph_share=morph_share, strength=strength, reach=reach, bank_scale=bank_scale,
                          pose_spread=pose_spread, ink_spread=ink_spread)  # fmt: skip
        if bank_scale > 0 and self.bank_size == 0:
            raise InputError(f"bank_scale={bank_scale} needs a bank of flows (bank_size > 0).")
        if (pose_spread > 0 or ink_spread > 0) and self.style_size == 0:
            raise InputError(
                f"pose_spread={pose_spread} and ink_spread={ink_spread} need style deviations (style_size > 0)."
            )
        self.pose_spread, self.ink_spread = float(pose_spread), float(ink_spread)
        self.morph_share, self.strength, self.reach = float(morph_share), float(strength), float(reach)
        self.bank_scale = float(bank_scale)
        self.latent_dim = LATENT_DIM
        self.pairs = ordered_pairs(self.num_shots)
        side = self.resolution
        self.shots = self.add_weight(
            shape=(self.num_shots, side, side, self.channels), initializer="zeros", trainable=False, name="shots"
        )
        self.flows = self.add_weight(
            shape=(max(len(self.pairs), 1), side, side, 2), initializer="zeros", trainable=False, name="flows"
        )
        self.bank = self.add_weight(
            shape=(max(self.bank_size, 1), side, side, 2), initializer="zeros", trainable=False, name="bank"
        )
        if self.style_size:  # only then, so that generators saved without a style still load
            self.style_mean = self.add_weight(shape=(NUM_MOMENTS,), initializer="zeros", trainable=False,
                                              name="style_mean")  # fmt: skip
            self.style_deviations = self.add_weight(shape=(self.style_size, NUM_MOMENTS), initializer="zeros",
                                                    trainable=False, name="style_deviations")  # fmt: skip
        self.built = True

    def set_style(self, mean, deviations) -> None:
        """Hold the class's estimated mean style [6] and the training classes'
        deviations [style_size, 6] (:class:`tfgen.families.shotmorph.restyle.StylePrior`)."""
        if tuple(deviations.shape) != (self.style_size, NUM_MOMENTS) or tuple(mean.shape) != (NUM_MOMENTS,):
            raise InputError(
                f"This generator holds a mean style of shape ({NUM_MOMENTS},) and {self.style_size} deviations of "
                f"{NUM_MOMENTS} moments. Received: mean {tuple(mean.shape)}, deviations {tuple(deviations.shape)}"
            )
        if self.style_size:
            self.style_mean.assign(mean)
            self.style_deviations.assign(deviations)

    def set_bank(self, flows) -> None:
        """Hold ``flows`` [bank_size, R, R, 2] (:func:`tfgen.families.shotmorph.policy.flow_bank`)."""
        if tuple(flows.shape) != (self.bank_size, self.resolution, self.resolution, 2):
            raise InputError(
                f"This generator holds a bank of {self.bank_size} flows of {self.resolution}x{self.resolution}. "
                f"Received: flows of shape {tuple(flows.shape)}"
            )
        if self.bank_size:
            self.bank.assign(flows)

    def set_shots(self, morpher) -> None:
        """Hold the shots and flows of a :class:`tfgen.morph.ShotMorpher`."""
        if morpher.shots.shape != tuple(self.shots.shape):
            raise InputError(
                f"This generator holds {self.num_shots} shots of {self.resolution}x{self.resolution}x{self.channels}. "
                f"Received: shots of shape {morpher.shots.shape}"
            )
        self.shots.assign(morpher.shots)
        if morpher.flows is not None:
            self.flows.assign(morpher.flows)

    def call(self, z, training=False):
        del training
        uniform = 0.5 * (1.0 + ops.erf(ops.cast(z, "float32") / math.sqrt(2.0)))
        shot = ops.minimum(ops.cast(uniform[:, Z_PICK] * self.num_shots, "int32"), self.num_shots - 1)
        images = ops.take(self.shots, shot, axis=0)
        if self.pairs and self.morph_share > 0:
            images = ops.where(uniform[:, Z_KIND, None, None, None] < self.morph_share, self._morphs(uniform), images)
        if self.bank_scale > 0:
            pick = ops.minimum(ops.cast(uniform[:, Z_BANK] * self.bank_size, "int32"), self.bank_size - 1)
            images = warp(images, self.bank_scale * ops.take(self.bank, pick, axis=0))
        if self.pose_spread > 0 or self.ink_spread > 0:
            images = self._restyle(images, uniform)
        if self.strength > 0:
            images = self._augment(images, uniform)
        return images

    def _morphs(self, uniform):
        pairs = ops.convert_to_tensor(self.pairs, dtype="int32")
        pick = ops.minimum(ops.cast(uniform[:, Z_PICK] * len(self.pairs), "int32"), len(self.pairs) - 1)
        first, second = ops.take(pairs[:, 0], pick), ops.take(pairs[:, 1], pick)
        t = (-self.reach + (1.0 + 2.0 * self.reach) * uniform[:, Z_T])[:, None, None, None]
        flow = ops.take(self.flows, pick, axis=0)
        moved_first = warp(ops.take(self.shots, first, axis=0), t * flow)
        moved_second = warp(ops.take(self.shots, second, axis=0), -(1.0 - t) * flow)
        return (1.0 - t) * moved_first + t * moved_second

    def _restyle(self, images, uniform):
        current = moments(images)
        pick = ops.minimum(ops.cast(uniform[:, Z_STYLE] * self.style_size, "int32"), self.style_size - 1)
        deviation = ops.take(self.style_deviations, pick, axis=0)
        # Per moment: the spread its deviation is drawn with; 0 keeps the image's own.
        spreads = [self.pose_spread if m in POSE else self.ink_spread for m in range(NUM_MOMENTS)]
        targets = ops.stack([
            current[:, m] if spread == 0 else self.style_mean[m] + spread * deviation[:, m]
            for m, spread in enumerate(spreads)
        ], axis=1)  # fmt: skip
        return move_moments(images, targets, current)

    def _augment(self, images, uniform):
        from tfgen.augment import affine_transform

        def spread(index, half_width):  # U(-half_width, half_width)
            return (2.0 * uniform[:, index] - 1.0) * half_width

        side, s = float(self.resolution), self.strength
        angles = spread(Z_ANGLE, math.radians(ROTATION_DEGREES * s))
        scales = 1.0 + spread(Z_ZOOM, min(ZOOM * s, MAX_ZOOM))
        moved = affine_transform(
            images, angles, scales, spread(Z_SHIFT_Y, TRANSLATION * s * side), spread(Z_SHIFT_X, TRANSLATION * s * side),
            "nearest",
        )  # fmt: skip
        brightness = spread(Z_BRIGHTNESS, BRIGHTNESS * s)[:, None, None, None]
        contrast = (1.0 + spread(Z_CONTRAST, CONTRAST * s))[:, None, None, None]
        mean = ops.mean(moved, axis=(1, 2, 3), keepdims=True)
        return ops.clip((moved - mean) * contrast + mean + brightness, -1.0, 1.0)

    def get_config(self):
        config = super().get_config()
        config.update(
            resolution=self.resolution, channels=self.channels, num_shots=self.num_shots,
            morph_share=self.morph_share, strength=self.strength, reach=self.reach, bank_size=self.bank_size,
            bank_scale=self.bank_scale, style_size=self.style_size, pose_spread=self.pose_spread,
            ink_spread=self.ink_spread,
        )  # fmt: skip
        return config


__all__ = ["LATENT_DIM", "ShotMorphGenerator", "warp"]
