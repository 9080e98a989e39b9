"""The figr family's settings."""

from __future__ import annotations

import dataclasses

from tfgen.checks import check_channels
from tfgen.config import FewShotConfig, check_few_shot_resolution, check_settings, ranged, setting
from tfgen.errors import InputError


@dataclasses.dataclass
class FIGRConfig(FewShotConfig):
    """FIGR (Clouâtre & Demers, "FIGR: Few-shot Image Generation with
    Reptile", 2019): a ResNet WGAN-GP meta-trained with Reptile.

    Defaults follow the FIGR code (LuEE-C/FIGR, train.py): z=100, 32x32 grey,
    hidden size 64, tasks of n=4 images, K=10 inner steps of SGD at 1e-3
    (one critic step with a gradient penalty of weight 10, then one generator
    step), outer Adam at 1e-4 on the gradient Phi - W.
    """

    latent_dim: int = ranged(100, minimum=1)
    width: int = setting(
        64,
        'Channels of the finest layer (FIGR code: 64).',
        minimum=1,
    )  # hidden_size: channels of the finest residual block
    shots: int = setting(4, 'n: images per task (FIGR) and the shots to adapt to.', minimum=1)  # n: images per task
    tasks_per_step: int = setting(
        1,
        'FIGR: tasks averaged into one outer step.',
        minimum=1,
    )  # tasks averaged into one outer step (spread over replicas)
    inner_steps: int = setting(10, 'FIGR: K inner steps per task.', minimum=1)  # K
    inner_optimizer: str = setting(
        "sgd",
        'FIGR: inner optimizer.',
        choices=('sgd', 'adam'),
    )  # sgd | adam (Adam betas 0.0, 0.9 as in WGAN-GP)
    inner_learning_rate: float = setting(1e-3, 'FIGR: inner learning rate.', exclusive_minimum=0.0)
    # The outer step: "adam" (FIGR; betas 0.9, 0.999 as torch's default) or
    # "sgd", which is Reptile's plain interpolation Phi += lr * (W - Phi).
    meta_optimizer: str = setting(
        "adam",
        "FIGR: outer optimizer on Phi - W (sgd is Reptile's interpolation).",
        choices=('adam', 'sgd'),
    )
    meta_learning_rate: float = setting(1e-4, 'FIGR: outer learning rate.', exclusive_minimum=0.0)
    gp_weight: float = setting(10.0, 'FIGR, L2L-GAN: gradient penalty weight lambda.', minimum=0.0)
    adapt_steps: int = setting(
        10,
        'Default adaptation steps K stored with the run.',
        minimum=1,
    )  # Algorithm 2's K when adapting to a new class

    family = "figr"

    @property
    def batch_size(self) -> int:
        """Images per (global) step: ``tasks_per_step`` tasks of ``shots`` images."""
        return self.shots * self.tasks_per_step

    def validate(self) -> None:
        # The sizes it supports first: they say more than the declared range.
        check_few_shot_resolution(self.resolution)
        check_channels(self.channels)
        check_settings(self)
        for field in ("inner_optimizer", "meta_optimizer"):
            if getattr(self, field) not in ("sgd", "adam"):
                raise InputError(f"{field} must be 'sgd' or 'adam'. Received: {field}={getattr(self, field)!r}")


# Defaults of the few-shot models that differ from FastGAN's demo: the
# FIGR settings (32x32 grey, z=100) with CPU-sized widths and run lengths.
FIGR_PRESETS = dict(dataset="digits", resolution=32, width=32, batch_size=64, steps=2000)
