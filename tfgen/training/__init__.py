"""Training loops: the shared :class:`Trainer` and one trainer per method."""

from tfgen.training.fastgan import FastGANTrainer
from tfgen.training.trainer import Trainer

__all__ = ["FastGANTrainer", "Trainer"]
