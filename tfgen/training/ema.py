"""Exponential moving average (EMA) of a generator's weights.

GANs sample from an EMA of the generator (Karras et al., "Progressive Growing
of GANs", 2018; Yazici et al., "The Unusual Effectiveness of Averaging in GAN
Training", ICLR 2019). As in the official FastGAN code, only the parameters
are averaged; buffers (BatchNorm moving statistics, spectral-norm vectors,
noise seed states) are copied from the live generator, so the average model
always normalises with statistics that belong to current weights.
"""

from __future__ import annotations

from tfgen.errors import InputError


def _paired(target_variables, source_variables, what):
    if len(target_variables) != len(source_variables):
        raise InputError(
            f"The EMA model and the model have different {what} variables "
            f"({len(target_variables)} vs {len(source_variables)}): build them from the same config."
        )
    return zip(target_variables, source_variables)


def update_ema(ema_model, model, decay):
    """``ema = decay * ema + (1 - decay) * w`` for every trainable variable of ``model``;
    non-trainable variables are copied. Works eagerly and inside ``tf.function``.

    Args:
        ema_model: a model built from the same config as ``model``.
        model: the model being trained.
        decay: float in [0, 1], e.g. 0.999.
    """
    for average, weight in _paired(ema_model.trainable_variables, model.trainable_variables, "trainable"):
        # w + decay * (ema - w) == decay * ema + (1 - decay) * w, one op fewer.
        average.assign(weight + decay * (average - weight))
    copy_non_trainable(ema_model, model)


def copy_non_trainable(target, source):
    """Copy ``source``'s non-trainable variables (buffers) into ``target``."""
    for to, value in _paired(target.non_trainable_variables, source.non_trainable_variables, "non-trainable"):
        to.assign(value)


def copy_weights(target, source):
    """Make ``target`` an exact copy of ``source`` (all variables)."""
    for to, value in _paired(target.variables, source.variables, "all"):
        to.assign(value)
