"""The shared training loop (:class:`tfgen.training.trainer.Trainer`) and its
parts; each family's trainer lives in ``tfgen/families/<name>/trainer.py``."""
