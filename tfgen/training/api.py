"""``tfgen.train``: train from Python (a notebook, a script) as ``tfgen
train`` does from the command line, watching it through callbacks.

    import tfgen

    class Watch(tfgen.TrainingCallback):
        def on_step(self, step, logs):
            if step % 100 == 0:
                print(step, logs["g_loss"])

    run = tfgen.train("path/to/images", steps=2000, name="cats", callbacks=[Watch()])
    G = tfgen.load_generator(run)

Settings are the fields of the model's config and of
:class:`tfgen.config.RunConfig` by their Python names (``resolution=128``,
``ngf=32``, ``time_budget="30m"``, ``runs_dir=...``); what is not given
takes the model's defaults, as on the command line. The run folder, resuming
(call it again with the same ``name``), interrupting (the kernel's stop
button saves a checkpoint and raises :class:`tfgen.training.interrupt.TrainingInterrupted`)
and ``override`` behave as ``tfgen train``'s.
"""

from __future__ import annotations

from tfgen.run_settings import make_configs, setting_names
from tfgen.errors import InputError


class TrainingCallback:
    """What a training run tells its callbacks; override the methods you
    need. ``logs`` holds the step's losses as floats. Keras callbacks
    (``keras.callbacks.Callback``) work too: their ``on_train_begin``,
    ``on_train_batch_end(step, logs)`` and ``on_train_end`` are called."""

    def on_train_begin(self, run_dir, step):
        """Before the first step of this invocation (``step``: where it resumes)."""

    def on_step(self, step, logs):
        """After every step."""

    def on_samples(self, step, path):
        """After a sample grid was written to ``path``."""

    def on_checkpoint(self, step, path):
        """After a checkpoint was written."""

    def on_train_end(self, run_dir, step):
        """After the final weights were written (not on an interruption)."""


def _split_settings(family, settings):
    model_fields, run_fields = setting_names(family)
    unknown = sorted(set(settings) - model_fields - run_fields)
    if unknown:
        raise InputError(
            f"model={family.name!r} has no setting {', '.join(unknown)}. Its settings: "
            f"{', '.join(sorted(model_fields))}; every run's: {', '.join(sorted(run_fields))}."
        )
    return ({k: v for k, v in settings.items() if k in model_fields},
            {k: v for k, v in settings.items() if k in run_fields})  # fmt: skip


def train(data=None, *, model="fastgan", name=None, callbacks=(), override=False, quiet=False, **settings):
    """Train (or resume) a run of ``model`` on ``data`` (a folder of images or
    a bundled set such as ``"digits:3"``; default: the model's) and return
    its run folder. ``settings``: see the module docstring."""
    from tfgen.registry import get_family
    from tfgen.training.devices import check_hardware_settings

    family = get_family(model)
    model_settings, run_settings = _split_settings(family, settings)
    model_config, run_config = make_configs(
        family, data or family.presets["dataset"], model_settings, run_settings,
        steps_given="steps" in settings, name=name,
    )  # fmt: skip
    check_hardware_settings(run_config)
    trainer = family.trainer_class()(model_config, run_config, quiet=quiet)
    if callbacks:
        if not hasattr(trainer, "callbacks"):
            raise InputError(
                f"model={model!r} trains in stages of its own and takes no callbacks; train it without them."
            )
        trainer.callbacks = list(callbacks)
    return trainer.fit(override=override)
