"""The training loop every GAN method shares.

A method subclasses :class:`Trainer` and provides the optimizers and the
per-replica train step (the networks come from its family in
:mod:`tfgen.registry`, or from overriding ``build_generator`` /
``build_discriminator``); the base class owns the rest:

* distribution (``tf.distribute``: default, mirrored, multiworker): models,
  optimizers and trainer state are created under ``strategy.scope()``, a step
  runs through ``strategy.run`` on per-replica batches and its losses are
  averaged over replicas with ``strategy.reduce``;
* mixed precision (``mixed_float16`` / ``mixed_bfloat16`` while the models
  are built, with loss scaling for float16) and XLA;
* the EMA generator, updated inside the compiled step;
* the run folder ``runs/<name>/``: ``config.json``, ``checkpoints/``
  (resumed automatically), ``logs/`` (TensorBoard), ``samples/`` (grids
  from fixed noise), ``snapshots/`` (the sampling generator's weights every
  RunConfig.snapshot_every steps, the newest keep_snapshots of them) and, at
  the end, the three ``.weights.h5`` files;
* a progress bar, Ctrl-C handling (checkpoint, then exit) and fine-tuning
  from given weights;
* a time budget (RunConfig.time_budget: stop after so much training time in
  all, over reruns; :mod:`tfgen.training.time_budget`).

Under MirroredStrategy (what was checked on Keras 3.15 / TF 2.21):

* Keras variables default to ``aggregation="none"``; assigned inside a
  replica, each replica keeps its own copy. BatchNorm moving statistics are
  therefore per replica (each normalises its own share of the batch, as
  unsynchronised BN does everywhere); checkpoints and weight files hold the
  first replica's. Variables created with ``"only_first_replica"`` (the
  spectral-norm ``u``) stay identical.
* SeedGenerator states are mirrored, so every replica would draw the same
  numbers: the trainer's own draws go through :class:`ReplicaSeedGenerator`;
  noise layers inside the models do draw the same noise on every replica.
* Keras optimizers sum gradients over replicas: :meth:`Trainer.minimize`
  divides each replica's mean loss by the number of replicas.

Writing a new method::

    class MyTrainer(Trainer):
        family = "mygan"                      # networks built by tfgen.registry
        architecture_fields = ("resolution", "latent_dim")

        def build_optimizers(self): ...       # (g_optimizer, d_optimizer)

        def train_step(self, real):           # one replica's share of a batch
            z = keras.random.normal(..., seed=self.seed_generator)
            with tf.GradientTape() as tape:
                d_loss = ...
            self.minimize(tape, d_loss, self.discriminator.trainable_variables, self.d_optimizer)
            ...
            return {"d_loss": d_loss, "g_loss": g_loss}
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import os
import shutil
import tempfile
import time
import warnings

import keras
import numpy as np
import tensorflow as tf

from tfgen.config import ema_decay_of
from tfgen.registry import get_family
from tfgen.run_folder import CONFIG_FILE, DISCRIMINATOR_WEIGHTS, EMA_WEIGHTS, FINAL_GRID, RAW_WEIGHTS, RunFolder
from tfgen.runs import (
    RunLock,
    append_metrics_log,
    check_resumable,
    clear_run_folder,
    describe_changes,
    read_run_config_json,
    save_run_config,
    write_best,
    write_snapshot,
)
from tfgen.sampling import generate, make_grid, save_image
from tfgen.training.checkpointing import network_state, restore_newest_intact
from tfgen.training.devices import PRECISION_NAMES, describe_devices, precision_policy, resolve_precision
from tfgen.training.ema import copy_weights, update_ema
from tfgen.training.interrupt import StopSignals, TrainingInterrupted
from tfgen.training.metric_monitor import MetricMonitor
from tfgen.training.peers import lost_peers_reported
from tfgen.training.progress import TrainingProgress
from tfgen.training.time_budget import TrainingClock, format_duration, parse_duration, record_seconds, seconds_at
from tfgen.weights import load_weights_checked, non_finite_variables, save_weights_atomic
from tfgen.errors import InputError


# ----------------------------------------------------------------- set-up


def create_strategy(name):
    """The ``tf.distribute`` strategy for RunConfig.strategy.

    ``"mirrored"`` mirrors over the visible GPUs, or over the logical CPU
    devices when there is no GPU (tests split the CPU in two with
    ``tf.config.set_logical_device_configuration``). ``"multiworker"`` reads
    the cluster from the ``TF_CONFIG`` environment variable; without it, it
    trains on this machine alone.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise InputError(
        f"strategy must be one of default, mirrored, multiworker. Received: strategy={name!r}"
    )


def is_chief(strategy):
    """Whether this worker writes the run folder (always true off multi-worker)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


class TrainingDiverged(InputError):
    """A loss or a variable became NaN or Inf; nothing unhealthy was written."""


class ReplicaSeedGenerator(keras.random.SeedGenerator):
    """A ``keras.random.SeedGenerator`` that gives each replica its own numbers.

    Created under a strategy's scope, a SeedGenerator's state is mirrored, so
    all replicas would draw the same latents, augmentations and hinge
    margins. This one offsets the drawn seed by the replica id (inside a
    replica context); the state advances identically everywhere and is
    checkpointed like any variable.
    """

    def next(self, ordered=True):
        seed = super().next(ordered=ordered)
        context = tf.distribute.get_replica_context()
        if context is None:  # cross-replica context: one stream
            return seed
        replica = tf.cast(context.replica_id_in_sync_group, seed.dtype)
        # A large odd multiplier keeps the replicas' seeds far apart.
        return seed + tf.stack([replica * 1_000_003, tf.zeros_like(replica)])

    def shared_next(self):
        """The next seed, the same on every replica: for draws keyed by a
        global index (a task's number), which must not depend on the replica."""
        return super().next()


def resolve_total_steps(run_config, *, steps_per_epoch):
    """RunConfig.steps, or RunConfig.epochs passes of ``steps_per_epoch`` batches;
    None (no limit in steps) when only a time budget says how long."""
    if run_config.steps:
        return run_config.steps
    if not run_config.epochs:
        if run_config.time_budget:
            return None
        raise InputError(
            "Say how long to train: set steps (--steps), epochs (--epochs) or a time budget (--time-budget). "
            f"Received: steps={run_config.steps}, epochs={run_config.epochs}"
        )
    return run_config.epochs * steps_per_epoch


# ------------------------------------------------------------------ trainer


# tfgen's callback events as a Keras callback hears them (tfgen.train's callbacks).
KERAS_EVENTS = {
    "on_train_begin": lambda callback, run_dir, step: callback.on_train_begin({}),
    "on_step": lambda callback, step, logs: callback.on_train_batch_end(step, logs),
    "on_train_end": lambda callback, run_dir, step: callback.on_train_end({}),
}


class Trainer:
    """Shared GAN training loop; subclass it for each method (see module doc).

    Args:
        model_config: the method's config dataclass (e.g. FastGANConfig); must
            have ``batch_size`` and, for the default data and samples,
            ``resolution`` and ``latent_dim``. ``ema_decay`` (None: no EMA
            generator) is read when present.
        run_config: a :class:`tfgen.config.RunConfig`.
        quiet: no progress bar or messages (tests).
    """

    # Written to config.json; names the method.
    family = ""
    # Few-shot bases: measure the final generator for collapse (check_health).
    checks_health = False
    # Model-config fields a checkpoint depends on: resuming with other values
    # is refused (learning rates, augmentation, ... may change on resume).
    architecture_fields: tuple[str, ...] = ()
    # Other model-config fields a resumed run must keep: they shape its data
    # or its optimizers' state (those a config lacks are skipped).
    fixed_fields: tuple[str, ...] = ("batch_size", "channels", "train_classes", "test_classes", "shots", "tasks_per_step")
    # False for a method whose updates have no loss scaling (float16 underflows).
    supports_float16 = True

    def __init__(self, model_config, run_config, *, quiet=False):
        model_config.validate()
        run_config.validate()
        if run_config.mixed_precision == "float16" and not self.supports_float16:
            raise InputError(
                f"{self.family}'s updates have no loss scaling, so float16 gradients could "
                "underflow: use mixed_precision='bfloat16' or 'off'. Received: mixed_precision='float16'"
            )
        self.model_config = model_config
        self.run_config = run_config
        self.quiet = quiet
        self.ema_decay = ema_decay_of(model_config)

        self.strategy = create_strategy(run_config.strategy)
        # After the strategy: "auto" asks for the GPUs, which starts
        # TensorFlow, and multi-worker training must configure it first.
        choice, why = resolve_precision(run_config.mixed_precision, allow_float16=self.supports_float16)
        run_config = self.run_config = dataclasses.replace(run_config, mixed_precision=choice)
        self.precision_note = PRECISION_NAMES[run_config.mixed_precision] + (
            f" (--mixed-precision auto: {why})" if why else ""
        )
        self.num_replicas = self.strategy.num_replicas_in_sync
        self.is_chief = is_chief(self.strategy)
        self.global_batch_size = model_config.batch_size
        self.check_split_over_replicas("batch_size", self.global_batch_size, "an equal share")
        if run_config.xla and run_config.strategy != "default":
            # merge_call (optimizer all-reduce, only_first_replica variables)
            # cannot be compiled inside a replica function.
            raise InputError(
                "xla=True needs strategy='default' (XLA cannot compile the cross-replica "
                f"updates of a distributed step). Received: strategy={run_config.strategy!r}"
            )

        # Data first: a wrong path should fail before anything slow happens.
        self.data = self.build_dataset()
        # Then the metric's extractor (missing weights fail here) and the
        # real features it compares with.
        self.metric_monitor = None
        if run_config.fid and self.is_chief:
            self.metric_monitor = MetricMonitor(
                run_config, resolution=model_config.resolution, quiet=quiet
            )

        keras.utils.set_random_seed(run_config.seed)
        with precision_policy(run_config.mixed_precision), self.strategy.scope():
            self.generator = self.build_generator()
            self.discriminator = self.build_discriminator()
            self.generator_ema = self.build_generator() if self.ema_decay is not None else None
            self.build_extras()
            g_optimizer, d_optimizer = self.build_optimizers()
            self.g_optimizer = self._prepare_optimizer(g_optimizer, self.generator)
            self.d_optimizer = self._prepare_optimizer(d_optimizer, self.discriminator)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            self.seed_generator = ReplicaSeedGenerator(run_config.seed, name="trainer_seed")
            # The best value of the training metric so far (NaN: none yet);
            # checkpointed so that a resumed run keeps comparing with it.
            self.best_metric = tf.Variable(math.nan, dtype=tf.float64, trainable=False, name="best_metric")

        self._load_initial_weights()
        if self.generator_ema is not None:
            copy_weights(self.generator_ema, self.generator)
        self.train_function = self.make_train_function()
        # {variable.path: 0/1 mask}: minimize() trains only the masked-in part of those variables.
        self.gradient_masks = {}
        self.run_dir = run_config.run_dir
        self.folder = RunFolder(self.run_dir)  # every path in the run folder
        self.checkpoint_manager = None
        self._lock = None  # the run folder's RunLock while this trainer uses it
        self._config_changes = []  # config.json's "changes": settings changed on resume
        self._scratch_dir = None  # a non-chief worker's checkpoint folder
        self.log_to_tensorboard = False  # decided when training starts
        # Seconds of RunConfig.time_budget (None: none), the clock that measures
        # it (a zero-argument function; tests pass a fake one) and, while
        # training, the run's TrainingClock.
        self.time_budget = parse_duration(run_config.time_budget) if run_config.time_budget else None
        self.clock = time.monotonic
        # What tfgen.train's caller watches with (tfgen.training.api.TrainingCallback, or Keras callbacks).
        self.callbacks = []
        self.training_clock = None

    def check_split_over_replicas(self, name, value, share):
        """An InputError unless the setting ``name`` = ``value`` divides evenly
        over the replicas, so that each gets ``share`` (e.g. "whole tasks")."""
        if value % self.num_replicas:
            raise InputError(
                f"{name} must be divisible by the number of replicas ({self.num_replicas}) so that "
                f"each gets {share}. Received: {name}={value}"
            )

    # -------------------------------------------------------- subclass hooks

    def build_generator(self):
        """A new, built generator (called twice when there is an EMA copy).
        Default: the family's builder in :mod:`tfgen.registry`."""
        return get_family(self.family).build_generator(self.model_config)

    def build_discriminator(self):
        """A new, built discriminator. Default: the family's builder in :mod:`tfgen.registry`."""
        return get_family(self.family).build_discriminator(self.model_config)

    def build_extras(self):
        """Build anything else the step needs that holds variables (e.g. a frozen
        feature network for a perceptual loss), under the strategy scope and the
        precision policy. Default: nothing."""

    def build_optimizers(self):
        """``(g_optimizer, d_optimizer)``: plain Keras optimizers (loss scaling is added here)."""
        raise NotImplementedError

    def train_step(self, batch):
        """One replica's share of a training step; returns ``{name: float32 scalar}``.

        Runs inside ``tf.function`` (and ``strategy.run``): use TF/Keras ops
        only, draw randomness from ``self.seed_generator`` and update weights
        with :meth:`minimize`. The EMA is updated after it by the base class.
        """
        raise NotImplementedError

    def build_dataset(self):
        """The training data: a :class:`tfgen.data.ImageDataset` or any object
        with its ``dataset`` (batches of the global batch size), ``num_images``
        and ``steps_per_epoch``. Default: RunConfig.data at the model's resolution."""
        from tfgen.data import load_image_dataset

        return load_image_dataset(
            self.run_config.data,
            resolution=self.model_config.resolution,
            batch_size=self.global_batch_size,
            flip=self.run_config.flip,
            seed=self.run_config.seed,
        )

    def sample_images(self):
        """uint8 images ``[N, R, R, 3]`` for the sample grids: the same ones at
        every call (fixed latents and noise derived from RunConfig.seed)."""
        resolution = self.model_config.resolution
        num_images = 64 if resolution <= 128 else 16
        return generate(self.sampling_generator, num_images, batch_size=16, seed=self.run_config.seed)

    def checkpoint_objects(self):
        """Everything a checkpoint holds; extend it for extra networks or state.

        Networks go in whole (every variable, by position: see
        :mod:`tfgen.training.checkpointing`); ``tests/training/test_checkpoint_state.py``
        checks for every family that no network variable is left out."""
        objects = {name: network_state(network) for name, network in self.checkpointed_networks().items()}
        objects.update(
            g_optimizer=self.g_optimizer,
            d_optimizer=self.d_optimizer,
            step=self.step,
            rng=self.seed_generator.state,
            best_metric=self.best_metric,
        )
        return objects

    def checkpointed_networks(self):
        """{name: Keras model} whose variables a checkpoint holds; extend it for
        networks a method adds (e.g. working copies)."""
        networks = {"generator": self.generator, "discriminator": self.discriminator}
        if self.generator_ema is not None:
            networks["generator_ema"] = self.generator_ema
        return networks

    def state_variables(self):
        """Every variable a checkpoint holds (networks and optimizers)."""
        variables = [v for network in self.checkpointed_networks().values() for v in network.variables]
        for optimizer in (self.g_optimizer, self.d_optimizer):
            variables.extend(optimizer.variables)
        return variables

    # ------------------------------------------------------ step machinery

    @property
    def sampling_generator(self):
        """The generator samples come from: the EMA copy when there is one."""
        return self.generator_ema if self.generator_ema is not None else self.generator

    def minimize(self, tape, loss, variables, optimizer):
        """Apply the gradients of ``loss`` (a mean over this replica's examples).

        Optimizers sum gradients over replicas, so the loss is divided by the
        number of replicas: the update is that of the mean over the global
        batch. Under float16 the loss is scaled (and the gradients unscaled,
        non-finite steps skipped) by the LossScaleOptimizer.
        """
        with tape:  # record the scaling so the gradient flows through it
            loss = loss / self.num_replicas
            if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
                loss = optimizer.scale_loss(loss)
        gradients = tape.gradient(loss, variables)
        if self.gradient_masks:  # fine-tuning that trains part of a variable (a class's row)
            gradients = [g * self.gradient_masks[v.path] if v.path in self.gradient_masks else g
                         for g, v in zip(gradients, variables)]  # fmt: skip
        optimizer.apply_gradients(zip(gradients, variables))

    def _prepare_optimizer(self, optimizer, model):
        if self.run_config.mixed_precision == "float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        # Slot variables must exist before a checkpoint is restored into them.
        optimizer.build(model.trainable_variables)
        return optimizer

    def make_train_function(self, **step_options):
        """The compiled step: batch (distributed) -> {name: float32 scalar}.

        ``step_options`` are Python values passed to :meth:`train_step` (one
        compiled function per set of them, e.g. StyleGAN's lazy R1 steps)."""

        def replica_step(batch):
            losses = self.train_step(batch, **step_options)
            if self.generator_ema is not None:
                update_ema(self.generator_ema, self.generator, self.ema_decay)
            return losses

        def train_function(batch):
            per_replica = self.strategy.run(replica_step, args=(batch,))
            self.step.assign_add(1)
            return {
                name: self.strategy.reduce(tf.distribute.ReduceOp.MEAN, value, axis=None)
                for name, value in per_replica.items()
            }

        return tf.function(train_function, jit_compile=self.run_config.xla or None)

    def batches_from(self, start):
        """The training batches from batch ``start`` on: the pipelines are
        stateless functions of the batch number, so a resumed run gets the
        batches an uninterrupted one would."""
        batches_from = getattr(self.data, "batches_from", None)
        return batches_from(start) if batches_from is not None else self.data.dataset.skip(start)

    def distribute(self, dataset):
        options = tf.data.Options()
        # Every worker reads the whole pipeline and keeps its share of batches.
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        return self.strategy.experimental_distribute_dataset(dataset.with_options(options))

    # ----------------------------------------------------- initial weights

    def _load_initial_weights(self):
        """--generator-weights / --discriminator-weights (fine-tuning)."""
        generator_weights = self.run_config.generator_weights
        if generator_weights:
            load_weights_checked(self.generator, generator_weights, expected=self._describe("generator"))
        discriminator_weights = self.run_config.discriminator_weights
        if discriminator_weights:
            load_weights_checked(
                self.discriminator, discriminator_weights, expected=self._describe("discriminator")
            )

    def _describe(self, network):
        fields = ", ".join(f"{f}={getattr(self.model_config, f)}" for f in self.architecture_fields)
        return f"a {self.family} {network} with {fields}"

    # ------------------------------------------------------------- the run

    def restore(self, *, override=False):
        """Take the run folder (its lock; with ``override``, empty it) and
        restore its newest readable checkpoint. Returns the step training
        starts from. Writes nothing else: a finished run stays untouched.

        Settings that cannot change on resume are refused
        (:func:`tfgen.runs.check_resumable`); the learning rates, which the
        optimizers' restored state would otherwise bring back, are set to the
        configured ones; every change is reported and kept for config.json."""
        if self.is_chief and self._lock is None:
            lock = RunLock(self.run_dir)
            lock.acquire()
            self._lock = lock
        try:
            changes = {}
            if self.is_chief:
                if override:
                    clear_run_folder(self.run_dir, self.run_config.runs_dir)
                changes = check_resumable(
                    self.run_dir, self.family, self.model_config, self.run_config,
                    self.architecture_fields + self.fixed_fields,
                )  # fmt: skip
            configured_rates = self._learning_rates()
            # Other workers read the chief's checkpoints (a shared folder, as
            # in TF's multi-worker recipe) but never move or index them. With
            # override they start afresh without reading it: the chief may be
            # emptying it at that moment.
            if self.is_chief or not override:
                restore_newest_intact(
                    lambda: tf.train.Checkpoint(**self.checkpoint_objects()),
                    self.folder.checkpoints,
                    read_only=not self.is_chief,
                )
            for variable, value in configured_rates:
                if variable.numpy() != value:
                    variable.assign(value)
        except BaseException:
            self.release()
            raise
        start = int(self.step.numpy())
        if self.is_chief and changes:
            saved = read_run_config_json(self.run_dir) or {}
            self._config_changes = [*saved.get("changes", []), {"step": start, "changed": changes}]
            self._say(f"{self.family}: settings changed on resume, in effect from step {start}: "
                      f"{describe_changes(changes)} (recorded in {CONFIG_FILE})")  # fmt: skip
        return start

    def _learning_rates(self):
        """``[(variable, value)]``: the optimizers' learning-rate variables and
        their configured values, to set again after a checkpoint restores them."""
        optimizers = [obj for obj in self.checkpoint_objects().values() if isinstance(obj, keras.optimizers.Optimizer)]
        return [
            (variable, variable.numpy())
            for optimizer in optimizers
            for variable in optimizer.variables
            if variable.path.endswith("learning_rate")
        ]

    def open_run(self, *, override=False):
        """:meth:`restore`, then prepare the folder for training: ``config.json``,
        ``samples/`` and the checkpoint writer. Returns the step training starts from."""
        start = self.restore(override=override)
        self._prepare_folder()
        return start

    def _prepare_folder(self):
        """After :meth:`restore`: ``config.json``, ``samples/`` and the checkpoint writer."""
        if self.is_chief:
            os.makedirs(self.folder.samples, exist_ok=True)
            save_run_config(
                self.folder.config, self.family, self.model_config, self.run_config,
                changes=self._config_changes,
            )  # fmt: skip
            checkpoint_dir = self.folder.checkpoints
        else:
            # Other workers take part in saving (it is collective) but write
            # to a scratch folder (the TF multi-worker recipe), removed by release().
            self._scratch_dir = checkpoint_dir = tempfile.mkdtemp(prefix="tfgen_worker_ckpt_")
        self.checkpoint_manager = tf.train.CheckpointManager(
            tf.train.Checkpoint(**self.checkpoint_objects()),
            checkpoint_dir,
            max_to_keep=self.run_config.keep_checkpoints,
        )

    def release(self):
        """Give the run folder back: the lock, and a worker's scratch checkpoints."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        if self._scratch_dir is not None:
            shutil.rmtree(self._scratch_dir, ignore_errors=True)
            self._scratch_dir = None

    def is_finished(self, total_steps):
        """Whether the run has reached ``total_steps`` (None: no limit in steps)
        or spent its time budget, and its folder holds the final weights of the
        step it reached (not those of an earlier end)."""
        step = int(self.step.numpy())
        return self._reached_end(step, total_steps) and self.folder.finished_at(step, self.final_weights())

    def _reached_end(self, step, total_steps):
        """Whether ``step``, restored, is where the run ends: its last step, or
        one by which the time budget was spent (as recorded)."""
        if total_steps is not None and step >= total_steps:
            return True
        return self.time_budget is not None and seconds_at(self.run_dir, step) >= self.time_budget

    def save_checkpoint(self):
        """Write a checkpoint numbered by the current step; returns its path.

        Refuses (:class:`TrainingDiverged`) when a variable is not finite, so
        the checkpoints on disk stay healthy."""
        bad = non_finite_variables(self.state_variables())
        if bad:
            raise self._diverged(
                f"{len(bad)} variables hold NaN or Inf (e.g. {', '.join(bad[:3])})"
            )
        path = self.checkpoint_manager.save(checkpoint_number=self.step)
        # The time trained up to it, in runs with a time budget.
        if self.is_chief and self.training_clock is not None and self.time_budget is not None:
            record_seconds(self.run_dir, int(self.step.numpy()), self.training_clock.seconds())
        return path

    def loss_values(self, losses):
        """The step's losses as floats; :class:`TrainingDiverged` if one is NaN or Inf.

        A few scalars read once a step (the loop reads the step counter
        anyway): the cheap, early sign of divergence (bench/train_step.py
        measures it)."""
        values = {name: float(value) for name, value in losses.items()}
        if not all(math.isfinite(v) for v in values.values()):
            raise self._diverged(", ".join(f"{k}={v:.4g}" for k, v in values.items()))
        return values

    def _diverged(self, what):
        step = int(self.step.numpy())
        latest = self.checkpoint_manager.latest_checkpoint if self.checkpoint_manager else None
        then = (
            f"The last healthy checkpoint, {latest}, and the weights files were left untouched; "
            "fix the cause and run the command again to resume from it, or pass --override to "
            "start afresh."
            if latest
            else "No checkpoint had been written yet; fix the cause and run the command again."
        )
        return TrainingDiverged(
            f"Training diverged at step {step}: {what}. Likely causes: a learning rate too high "
            "(--G-learning-rate / --D-learning-rate), float16 overflow (try --mixed-precision "
            f"bfloat16 or off) or broken input images. {then}"
        )

    def fit(self, *, override=False):
        """Train to the configured number of steps, resuming the run folder's
        checkpoint if there is one. Returns the run folder.

        A finished run is left untouched. SIGINT / SIGTERM save a checkpoint
        and raise :class:`TrainingInterrupted`; non-finite losses stop the run
        with :class:`TrainingDiverged` before anything unhealthy is written."""
        total_steps = resolve_total_steps(self.run_config, steps_per_epoch=self.data.steps_per_epoch)
        try:
            with StopSignals() as stop:
                start = self.restore(override=override)
                # (With override the chief has emptied the folder; the other
                # workers must not see the files it may not have deleted yet.)
                if not override and self.is_finished(total_steps):
                    more = "--steps" if self.time_budget is None else "--steps or --time-budget"
                    self._say(
                        f"{self.family}: {self.run_dir} has finished ({start} steps"
                        f"{self._time_note(start)}); nothing to do. Pass a larger {more} to train on "
                        "from its last checkpoint, or --override to start afresh."
                    )
                    return self.run_dir
                self._prepare_folder()
                if self._reached_end(start, total_steps):
                    # Stopped after its last checkpoint, before its weights were written.
                    self._say(f"{self.family}: {self.run_dir} reached step {start}; writing its final weights.")
                    self.write_final_outputs()
                else:
                    self._train_loop(start, total_steps, stop)
        finally:
            self.release()
        return self.run_dir

    @property
    def metric_every(self):
        """Steps between two measurements of the training metric."""
        epochs = self.run_config.fid_frequency_epochs
        return epochs * self.data.steps_per_epoch if epochs else self.run_config.fid_frequency

    def _time_note(self, step):
        """", 12m 5s of its 30m 0s time budget" (nothing without a budget)."""
        if self.time_budget is None:
            return ""
        spent = seconds_at(self.run_dir, step)
        return f", {format_duration(spent)} of its {format_duration(self.time_budget)} time budget"

    def _train_loop(self, start, total_steps, stop):
        run = self.run_config
        clock = self.training_clock = TrainingClock(self.clock, before=seconds_at(self.run_dir, start))
        budget = self.time_budget
        length = f"{total_steps} steps" if total_steps is not None else "steps"
        if budget is not None:
            length += (" or " if total_steps is not None else " for ") + f"{format_duration(budget)} of training time"
            length += f" ({format_duration(clock.before)} spent)" if clock.before else ""
        self._say(
            f"{self.family}: {'resuming at step ' + str(start) if start else 'starting'}; "
            f"{length} of {self.global_batch_size} images from {run.data} "
            f"({self.data.num_images} images) into {self.run_dir}, on {describe_devices(self.strategy)} "
            f"in {self.precision_note}"
        )
        writer = self._open_summary_writer()
        batches = iter(self.distribute(self.batches_from(start)))
        progress = TrainingProgress(
            start=start, total=total_steps, images_per_step=self.global_batch_size, enabled=not self.quiet
        )
        step = saved = start
        out_of_time = False
        self._tell("on_train_begin", self.run_dir, start)
        clock.start()
        try:
            # A lost worker of a multi-worker run fails the collectives: one line says so.
            with writer.as_default(), progress, lost_peers_reported(self.strategy):
                while (total_steps is None or step < total_steps) and not out_of_time:
                    losses = self.train_function(next(batches))
                    step = int(self.step.numpy())
                    values = self.loss_values(losses)
                    self._tell("on_step", step, dict(values))
                    if step % run.log_every == 0 or step == total_steps:
                        values["images_per_second"] = progress.update(step, values)
                        if self.log_to_tensorboard:
                            for name, value in values.items():
                                tf.summary.scalar(name, value, step=step)
                    if step % run.sample_every == 0:
                        self._tell("on_samples", step, self.write_samples(f"step_{step:07d}.png", step=step))
                    if self.metric_monitor is not None and step % self.metric_every == 0:
                        progress.write(self.measure_metric(step))
                    if run.snapshot_every and step % run.snapshot_every == 0:
                        self.write_snapshot(step)
                    # Read before a checkpoint records the time: what it records is no less.
                    out_of_time = budget is not None and clock.seconds() >= budget
                    if step % run.checkpoint_every == 0:
                        self._tell("on_checkpoint", step, self.save_checkpoint())
                        saved = step
                    if stop.requested is not None:
                        self._save_on_interrupt()
                        raise TrainingInterrupted(stop.requested)
        except TrainingInterrupted:
            raise  # saved above, or a second signal: stop at once, as asked
        except KeyboardInterrupt:  # Ctrl-C where no handler could be installed
            self._save_on_interrupt()
            raise
        finally:
            writer.close()
        with lost_peers_reported(self.strategy):
            if self.metric_monitor is not None and step != start and step % self.metric_every:
                self._say(self.measure_metric(step))  # the final weights are measured too
            if step != saved:  # not saved in the loop
                self.save_checkpoint()
            if out_of_time:
                self._say(
                    f"{self.family}: time budget of {format_duration(budget)} spent at step {step} "
                    f"({step - start} steps in {format_duration(clock.this_run())} this time, "
                    f"{format_duration(clock.seconds())} of training in all)."
                )
            self.write_final_outputs()
        self._tell("on_train_end", self.run_dir, step)

    def _tell(self, event, *args):
        """Tell the chief's callbacks ``event``; a Keras callback hears it as
        on_train_begin / on_train_batch_end(step, logs) / on_train_end."""
        if not self.is_chief:
            return
        for callback in self.callbacks:
            if not hasattr(callback, "on_step") and hasattr(callback, "on_train_batch_end"):  # a Keras callback
                if event in KERAS_EVENTS:
                    if getattr(callback, "model", None) is None and hasattr(callback, "set_model"):
                        callback.set_model(self.generator)
                    KERAS_EVENTS[event](callback, *args)
            elif hasattr(callback, event):  # a tfgen.TrainingCallback, or any object with the method
                getattr(callback, event)(*args)

    def _save_on_interrupt(self):
        path = self.save_checkpoint()
        print(
            f"\nInterrupted at step {int(self.step.numpy())}; checkpoint saved to {path}. "
            "Run the same command again to resume.",
            flush=True,
        )

    def _open_summary_writer(self):
        # tf.summary's scalar/image ops live in the tensorboard package, which
        # TensorFlow no longer installs: without it, train without logs.
        self.log_to_tensorboard = self.is_chief and importlib.util.find_spec("tensorboard") is not None
        if self.is_chief and not self.log_to_tensorboard:
            warnings.warn(
                "TensorBoard is not installed, so no logs/ are written (pip install tensorboard).",
                stacklevel=3,
            )
        if not self.log_to_tensorboard:
            return tf.summary.create_noop_writer()
        return tf.summary.create_file_writer(self.folder.logs)

    def write_samples(self, filename, *, step=None):
        """A grid of :meth:`sample_images` at ``samples/<filename>`` (and in TensorBoard)."""
        if not self.is_chief:
            return None
        images = self.sample_images()
        grid = make_grid(images, nrow=math.ceil(math.sqrt(len(images))))
        path = self.folder.sample(filename)
        save_image(path, grid)
        if step is not None and self.log_to_tensorboard:
            tf.summary.image("samples", grid[np.newaxis], step=step)
        return path

    def write_snapshot(self, step):
        """The sampling generator's weights as ``snapshots/<generator>_step_<step>.weights.h5``
        (RunConfig.snapshot_every), keeping the newest RunConfig.keep_snapshots
        (:func:`tfgen.runs.write_snapshot`); the chief writes, the others do
        nothing. Reads the weights only: the training is the same without it."""
        if not self.is_chief:
            return None
        return write_snapshot(
            self.run_dir, self.sampling_generator, step,
            ema=self.generator_ema is not None, keep=self.run_config.keep_snapshots,
        )  # fmt: skip

    def measure_metric(self, step):
        """Measure the training metric with the sampling generator, log it,
        keep the weights in ``best/`` when it improves; returns a message."""
        monitor = self.metric_monitor
        values = monitor.measure(self.sampling_generator)
        value = values[monitor.name]
        record = dict(
            values,
            step=step,
            features=monitor.extractor.name,
            feature_network=monitor.label,
            num_images=monitor.num_images,
        )
        append_metrics_log(self.run_dir, record)
        if self.log_to_tensorboard:
            for name, number in values.items():
                tf.summary.scalar(f"metrics/{name}", number, step=step)
        best = float(self.best_metric.numpy())
        message = (
            f"step {step}: {monitor.name} = {value:.4g} "
            f"({monitor.label} features, {monitor.num_images} images)"
        )
        if monitor.is_better(value, best):
            self.best_metric.assign(value)
            write_best(self.run_dir, self.final_weights(), record)
            return message + f"; best so far, weights in {self.folder.best}"
        return message + f"; best {best:.4g}"

    def final_weights(self):
        """{file name: network} of the weights files a run writes."""
        weights = {RAW_WEIGHTS: self.generator, DISCRIMINATOR_WEIGHTS: self.discriminator}
        if self.generator_ema is not None:
            weights[EMA_WEIGHTS] = self.generator_ema
        return weights

    def write_final_outputs(self):
        """The weights files and ``samples/final.png``, each written atomically."""
        if not self.is_chief:
            return
        self.folder.forget_finished()
        for filename, network in self.final_weights().items():
            save_weights_atomic(network, self.folder.path(filename))
        path = self.write_samples(FINAL_GRID)
        if self.checks_health:
            self.check_health()
        self.folder.write_finished_record(int(self.step.numpy()), self.final_weights())
        self._say(f"Done: weights in {self.run_dir}, samples in {path}")

    def check_health(self, num_images=500):
        """Measure the final generator against training images and warn when
        it collapsed (:mod:`tfgen.training.health`); returns the scores."""
        from tfgen.training.health import check_base

        real = []
        for batch in self.data.dataset:
            real.append(np.asarray(batch[0] if isinstance(batch, (tuple, list)) else batch))
            if sum(map(len, real)) >= num_images:
                break
        health = check_base(self.sampling_generator, np.concatenate(real)[:num_images], self.run_dir,
                            seed=self.run_config.seed)  # fmt: skip
        self._say(
            f"Base health: recall {health['recall']:.2f}, precision {health['precision']:.2f}, "
            f"diversity {health['diversity_ratio']:.2f}x the training images' (pooled pixels)"
        )
        return health

    def _say(self, message):
        if not self.quiet and self.is_chief:
            print(message, flush=True)
