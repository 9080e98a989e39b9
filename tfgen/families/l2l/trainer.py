"""L2L-GAN (Wang & Lu, "L2L-GAN: Layer to Layer Generative Adversarial Network
for Few-shot Generation"): Algorithm 1.

The networks (``tfgen.families.l2l.networks``) are a DAGAN-style generator G(x, z) that
turns an image x of a class into other images of that class, and a WGAN-GP
critic that scores pairs (x, x') of one class. The idea: a generator trained
on p images per class differs, layer by layer, from one trained on many; learn
that difference on the source classes as small residual modules (GEMs) after
chosen decoder blocks, then add them to a generator trained on the p images
per class of the novel classes.

Algorithm 1, as :class:`L2LTrainer` runs it (every stage in its own folder
under ``<run>/stages/``, so an interrupted run resumes at the stage, and a
stage at its last checkpoint):

1. ``source_full``: phi_s^1 trained on all source data X_s.
2. For each epoch t = 1..T (``gem_epochs``): ``source_few_<t>``: phi_s^2
   trained on X_s^t, p images of every source class drawn afresh; then the
   GEMs, on top of the frozen phi_s^2, learn to make its decoder features
   match the frozen phi_s^1's for the same (x, z), x from X_s^t
   (:class:`GEMTrainer`; saved in ``<run>/gems/epoch_<t>.weights.h5``; each
   epoch goes on from the last).
3. ``target_plain``: phi_t^plain trained on X_n, p images of every novel class.
4. ``target_finetune``: phi_t = phi_t^plain with the GEMs, fine-tuned on X_n.

phi_s^2 and phi_t^plain get the same training (``few_steps`` from the same
start: the initial weights of phi_s^1, or with ``few_shot_init="source"``
phi_s^1 itself), so what the GEMs learn on the source side describes the
target side too. Each GAN stage is a WGAN-GP (:class:`PairTrainer`, on the
shared :class:`~tfgen.training.trainer.Trainer`: distribution, mixed
precision, checkpoints and samples come from there).

GEM strategies (``strategy_gem``):

* ``A``: one GEM at a time, shallow to deep, each alone in the network and
  trained on the feature loss at its own block;
* ``B``: shallow to deep, GEM k trained with GEMs 1..k active and all of them
  updated by the loss at block k;
* ``C``: all GEMs active and trained at once on the sum of the losses.

The run folder ends with the usual ``config.json``, ``generator.weights.h5``
(phi_t, with X_n stored inside it so that ``G(z)`` draws novel-class images),
``discriminator.weights.h5`` and ``samples/final.png`` (Figure 3 of the
paper: per novel class a row from phi_s^2, phi_t^plain and phi_t).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tfgen.run_folder import DISCRIMINATOR_WEIGHTS, FINAL_SAMPLES, RAW_WEIGHTS, RunFolder
from tfgen.runs import RunLock, check_resumable, clear_run_folder, save_run_config
from tfgen.files import write_json_atomic
from tfgen.losses import gem_feature_loss, gradient_penalty, wasserstein_discriminator_loss, wasserstein_generator_loss
from tfgen.registry import get_family
from tfgen.sampling import make_grid, postprocess_images, save_image
from tfgen.training.ema import copy_weights
from tfgen.training.interrupt import StopSignals
from tfgen.training.optimizers import FusedAdam
from tfgen.training.trainer import Trainer
from tfgen.weights import load_weights_checked, save_weights_atomic
from tfgen.errors import InputError

CONDITIONING_CLASSES_FILE = "conditioning_classes.json"
ARCHITECTURE_FIELDS = ("resolution", "channels", "latent_dim", "width", "noise_channels", "gem_type", "gem_layers")
# What Algorithm 1 leaves at its end (phi_t, its critic, the Figure 3 grid).
FINAL_OUTPUTS = (RAW_WEIGHTS, DISCRIMINATOR_WEIGHTS, FINAL_SAMPLES)
GEM_LOSSES_FILE = "losses.jsonl"  # in gems/: each GEM stage's first and last losses
SAMPLE_ROWS = 8  # conditioning images in a stage's sample grid (each with 7 samples)


# ------------------------------------------------------------ weights


def _key(variable):
    """A variable's path without the model's own name, so that two instances
    of one architecture (named differently) pair up."""
    return variable.path.split("/", 1)[-1]


def _gem_keys(generator):
    return {_key(v) for gem in generator.gems for v in gem.weights}


def copy_generator_weights(target, source, *, base=True, gems=True):
    """Copy phi's variables from ``source`` to ``target`` (two L2L generators
    of one architecture): the base network (incl. batch-norm statistics),
    the GEMs, or both. The stored conditioning images are never copied (the
    two may store different numbers of images)."""
    source_values = {_key(v): v for v in source.weights}
    gem_keys = _gem_keys(target)
    copied = 0
    for variable in target.weights:
        key = _key(variable)
        if key.endswith("conditioning") or (key in gem_keys and not gems) or (key not in gem_keys and not base):
            continue
        value = source_values.get(key)
        if value is None or tuple(value.shape) != tuple(variable.shape):
            raise InputError(
                f"Cannot copy L2L generator weights: {key!r} is missing or has another shape in the "
                "source. Both generators must come from the same resolution, channels, width and GEM settings."
            )
        variable.assign(value)
        copied += 1
    return copied


def set_gems_trainable(generator, trainable):
    """GEM layers in or out of ``generator.trainable_variables`` (a plain GAN
    stage trains the base network alone)."""
    for gem in generator.gems:
        gem.trainable = trainable


def build_l2l_generator(config, **overrides):
    """An L2LGenerator built from ``config`` with some fields replaced."""
    return get_family("l2l").build_generator(dataclasses.replace(config, **overrides))


def load_l2l_generator(config, path, **overrides):
    generator = build_l2l_generator(config, **overrides)
    load_weights_checked(generator, path, expected=f"an L2L generator of {path!r}'s run")
    return generator


# ------------------------------------------------------- the GAN stage


class PairTrainer(Trainer):
    """WGAN-GP training of an L2L generator and pair critic on labelled images.

    A step takes ``critic_steps`` batches of ``batch_size`` pairs (x_a, x_b),
    two different images of one class: each batch is one critic step
    (real pair (x_a, x_b), fake pair (x_a, G(x_a, z)), gradient penalty on
    the pairs), and the last batch's x_a feed the generator step.

    Args:
        model_config: an :class:`tfgen.families.l2l.config.L2LConfig`.
        run_config: the stage's RunConfig (its own folder; ``steps`` set).
        images: the stage's :class:`tfgen.data.builtin.LabelledImages` (uint8).
        gems: "none" for a plain stage (GEMs bypassed and frozen) or "all"
            (fine-tuning phi_t: GEMs active and trained with the rest).
    """

    family = "l2l"
    architecture_fields = ARCHITECTURE_FIELDS

    def __init__(self, model_config, run_config, *, images, gems="none", quiet=False):
        if gems not in ("none", "all"):
            raise InputError(f"gems must be 'none' or 'all'. Received: gems={gems!r}")
        self.images = images
        self.gems = gems
        super().__init__(model_config, run_config, quiet=quiet)
        self.sample_conditions = self._sample_conditions()

    def build_generator(self):
        generator = super().build_generator()
        # Before the optimizer is built on generator.trainable_variables.
        set_gems_trainable(generator, self.gems == "all")
        return generator

    def build_dataset(self):
        from tfgen.data.episodes import task_dataset

        config = self.model_config
        return task_dataset(
            self.images, shots=2, tasks_per_batch=config.batch_size * config.critic_steps, seed=self.run_config.seed
        )

    def _adam(self, learning_rate):
        config = self.model_config
        return FusedAdam(learning_rate, beta_1=config.adam_beta1, beta_2=config.adam_beta2)

    def build_optimizers(self):
        config = self.model_config
        return self._adam(config.g_learning_rate), self._adam(config.d_learning_rate)

    def train_step(self, batch):
        G, D = self.generator, self.discriminator
        config = self.model_config
        shape = ops.shape(batch)
        # [critic_steps * B * 2, R, R, C] -> critic_steps batches of B pairs.
        pairs = ops.reshape(batch, (config.critic_steps, -1, 2, shape[1], shape[2], shape[3]))
        critic = lambda x: D(x, training=True)  # noqa: E731
        d_loss = gp = tf.constant(0.0)
        for step in range(config.critic_steps):  # static and small: unrolled
            x_a, x_b = pairs[step, :, 0], pairs[step, :, 1]
            z = keras.random.normal((ops.shape(x_a)[0], config.latent_dim), seed=self.seed_generator)
            fake = ops.stop_gradient(G((x_a, z), training=True, gems=self.gems))
            real_pair = ops.concatenate([x_a, x_b], axis=-1)
            fake_pair = ops.concatenate([x_a, ops.cast(fake, x_a.dtype)], axis=-1)
            with tf.GradientTape() as tape:
                d_loss = wasserstein_discriminator_loss(critic(real_pair), critic(fake_pair))
                gp = gradient_penalty(critic, real_pair, fake_pair, seed=self.seed_generator)
                total = d_loss + config.gp_weight * gp
            self.minimize(tape, total, D.trainable_variables, self.d_optimizer)
        z = keras.random.normal((ops.shape(x_a)[0], config.latent_dim), seed=self.seed_generator)
        with tf.GradientTape() as tape:
            fake = G((x_a, z), training=True, gems=self.gems)
            g_loss = wasserstein_generator_loss(critic(ops.concatenate([x_a, ops.cast(fake, x_a.dtype)], axis=-1)))
        self.minimize(tape, g_loss, G.trainable_variables, self.g_optimizer)
        return {"d_loss": d_loss, "gp": gp, "g_loss": g_loss}

    def _sample_conditions(self):
        """The first image of up to SAMPLE_ROWS classes, float [-1, 1]."""
        labels = np.asarray(self.images.labels)
        first = [int(np.flatnonzero(labels == k)[0]) for k in np.unique(labels)[:SAMPLE_ROWS]]
        return np.asarray(self.images.images)[first].astype("float32") / 127.5 - 1.0

    def sample_images(self):
        """Rows of [conditioning image, 7 samples from it] (fixed z)."""
        return conditioned_samples(
            self.generator, self.sample_conditions, per_image=7, seed=self.run_config.seed, gems=self.gems
        )


def conditioned_samples(generator, images, *, per_image, seed=0, gems="all", with_inputs=True):
    """uint8 rows: each conditioning image (when ``with_inputs``) followed by
    ``per_image`` samples of G from it, z drawn from ``seed``."""
    images = np.asarray(images, "float32")
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((len(images) * per_image, generator.latent_dim)).astype("float32")
    repeated = np.repeat(images, per_image, axis=0)
    outputs = []
    for start in range(0, len(z), 64):
        batch = (repeated[start : start + 64], z[start : start + 64])
        outputs.append(postprocess_images(generator(batch, training=False, gems=gems)))
    samples = np.concatenate(outputs).reshape((len(images), per_image) + outputs[0].shape[1:])
    if not with_inputs:
        return samples.reshape((-1,) + samples.shape[2:])
    inputs = postprocess_images(images)[:, None]
    return np.concatenate([inputs, samples], axis=1).reshape((-1,) + samples.shape[2:])


# --------------------------------------------------------- GEM training


@dataclasses.dataclass(frozen=True)
class GEMStage:
    """One stage of GEM training: which GEMs are in the network, which are
    updated, and at which decoder blocks the features must match."""

    active: tuple[int, ...]
    trained: tuple[int, ...]
    matched: tuple[int, ...]


def gem_stages(strategy, slots):
    """The stages of strategy A, B or C over the GEM ``slots`` (shallow to deep)."""
    slots = tuple(sorted(slots))
    if strategy == "A":
        return [GEMStage((k,), (k,), (k,)) for k in slots]
    if strategy == "B":
        return [GEMStage(slots[: i + 1], slots[: i + 1], (k,)) for i, k in enumerate(slots)]
    if strategy == "C":
        return [GEMStage(slots, slots, slots)]
    raise InputError(f"strategy_gem must be A, B or C. Received: {strategy!r}")


class GEMTrainer:
    """Trains the GEMs of ``student`` (phi_s^2 with GEM slots) so that its
    decoder features match ``reference``'s (phi_s^1) for the same (x, z).

    Both base networks are frozen and run in inference mode (batch-norm
    moving statistics), as they will be when the GEMs are used; only GEM
    variables are ever updated.

    Args:
        reference: phi_s^1 (an L2LGenerator; its GEMs are not used).
        student: phi_s^2 with the GEMs to train.
        config: the L2LConfig (``gem_loss``, ``gem_learning_rate``, ``batch_size``).
        seed: seed of the image draws and z.
    """

    def __init__(self, reference, student, config, *, seed=0):
        self.reference = reference
        self.student = student
        self.config = config
        self.seed = keras.random.SeedGenerator(seed)
        self.rng = np.random.default_rng(seed)

    def feature_loss(self, images, z, stage):
        """Mean L1 (or squared L2) distance of the matched decoder features."""
        targets = self.reference.decoder_features(images, z, training=False, gems="none")
        features = self.student.decoder_features(images, z, training=False, gems=stage.active)
        matched = [block - 1 for block in stage.matched]
        return gem_feature_loss([features[b] for b in matched], [targets[b] for b in matched], self.config.gem_loss)

    def run_stage(self, stage, images, steps):
        """``steps`` Adam steps of ``stage`` on batches of ``images`` (float
        [-1, 1]); returns the losses of every step (NumPy)."""
        variables = self.student.gem_variables(stage.trained)
        optimizer = keras.optimizers.Adam(self.config.gem_learning_rate)
        optimizer.build(variables)
        batch = min(self.config.batch_size, len(images))

        @tf.function
        def step(x):
            z = keras.random.normal((ops.shape(x)[0], self.config.latent_dim), seed=self.seed)
            with tf.GradientTape() as tape:
                loss = self.feature_loss(x, z, stage)
            optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
            return loss

        losses = []
        for _ in range(steps):
            chosen = self.rng.choice(len(images), batch, replace=False)
            losses.append(float(step(tf.constant(images[chosen]))))
        return np.asarray(losses)

    def run(self, strategy, images, steps):
        """Every stage of ``strategy``; returns {stage index: losses}."""
        return {
            index: self.run_stage(stage, images, steps)
            for index, stage in enumerate(gem_stages(strategy, self.student.gem_slots))
        }


# ------------------------------------------------------------ Algorithm 1


class L2LTrainer:
    """Runs Algorithm 1 into ``runs/<name>/`` (module doc); ``fit`` as the
    other trainers, so ``train.py --model l2l`` works the same way.

    ``run_config.data`` must be class-structured (a bundled labelled set such
    as ``glyphs``, or a folder of class folders); the class split comes from
    ``train_classes`` / ``test_classes`` or the dataset's default split.
    """

    family = "l2l"
    architecture_fields = ARCHITECTURE_FIELDS

    def __init__(self, model_config, run_config, *, quiet=False):
        from tfgen.data.episodes import load_few_shot_data_for, subset_per_class

        model_config.validate()
        run_config.validate()
        if run_config.fid:
            raise InputError(
                "L2L-GAN trains in several stages on different data, so --fid (a metric during "
                "training) is not supported for it: measure the run afterwards with evaluate.py."
            )
        if not model_config.gem_indices:
            raise InputError(
                "L2L-GAN needs at least one GEM: set gem_layers (--gem-layers) to decoder blocks "
                "such as '3,4'. Received: gem_layers=''"
            )
        if run_config.generator_weights or run_config.discriminator_weights:
            raise InputError(
                "L2L-GAN's stages start from each other's weights, so --generator-weights / "
                "--discriminator-weights are not supported for it."
            )
        self.config = model_config
        self.run = run_config
        self.quiet = quiet
        data = load_few_shot_data_for(run_config.data, model_config)
        self.split = data.split
        self.source = data.train
        p = model_config.samples_per_class
        self.novel = subset_per_class(data.test, p, seed=run_config.seed)  # X_n
        self.source_subsets = [  # X_s^t, t = 1..T
            subset_per_class(data.train, p, seed=(run_config.seed, t)) for t in range(1, model_config.gem_epochs + 1)
        ]
        self.run_dir = run_config.run_dir
        self.folder = RunFolder(self.run_dir)  # every path in the run folder
        self.final_config = dataclasses.replace(model_config, conditioning_images=len(self.novel.labels))
        # The GAN stages before phi_t train the plain network (no GEM slots):
        # their folders do not depend on the GEM settings, so runs that differ
        # only there can share them (copy <run>/stages).
        self.plain_config = dataclasses.replace(model_config, gem_layers="", gem_type=1, conditioning_images=0)

    # -------------------------------------------------------------- helpers

    def _say(self, message):
        if not self.quiet:
            print(message, flush=True)

    def stage_dir(self, stage):
        return self.folder.stage(stage)

    def gems_path(self, epoch):
        return os.path.join(self.folder.gems, f"epoch_{epoch}.weights.h5")

    def _stage_run_config(self, stage, steps):
        run = self.run
        return dataclasses.replace(
            run,
            runs_dir=RunFolder(run.run_dir).stages,
            name=stage,
            steps=steps,
            epochs=0,
            sample_every=min(run.sample_every, steps),
            checkpoint_every=min(run.checkpoint_every, steps),
        )

    def _train_stage(self, stage, images, steps, *, start=None, gems="none", config=None, conditioning=None):
        """Train (or resume, or reuse) one GAN stage; returns its folder.

        ``start``: a (generator, discriminator) pair the stage starts from
        (None: the seed's initial weights); ``conditioning``: uint8 images
        stored in the stage's generator."""
        folder = self.stage_dir(stage)
        if os.path.isfile(RunFolder(folder).raw_weights):  # a stage is a run folder of its own
            return folder
        config = config or self.plain_config
        self._say(f"l2l: stage {stage}: {steps} steps on {len(images.labels)} images")
        trainer = PairTrainer(config, self._stage_run_config(stage, steps), images=images, gems=gems, quiet=self.quiet)
        if start is not None:
            generator, discriminator = start
            copy_generator_weights(trainer.generator, generator)
            copy_weights(trainer.discriminator, discriminator)
        if conditioning is not None:
            trainer.generator.set_conditioning(conditioning)
        trainer.fit()  # resumes the stage's checkpoint when there is one
        return folder

    def _load_stage(self, stage):
        """(generator, critic) of a finished plain stage."""
        folder = RunFolder(self.stage_dir(stage))
        generator = load_l2l_generator(self.plain_config, folder.raw_weights)
        critic = get_family("l2l").build_discriminator(self.config)
        load_weights_checked(critic, folder.discriminator_weights, expected="an L2L critic")
        return generator, critic

    def _few_shot_start(self):
        if self.config.few_shot_init == "source":
            return self._load_stage("source_full")
        return None

    # ------------------------------------------------------------------ run

    def _check_resumable(self):
        """Every setting is fixed on resume: a finished stage is reused as it
        is, so a changed step count, rate or loss of it could not take effect."""
        every_field = tuple(field.name for field in dataclasses.fields(self.final_config))
        check_resumable(self.run_dir, self.family, self.final_config, self.run, every_field)

    def _prepare_folder(self):
        os.makedirs(self.folder.samples, exist_ok=True)
        save_run_config(self.folder.config, self.family, self.final_config, self.run)
        names = [self.novel.class_names[label] for label in self.novel.labels]
        write_json_atomic(self.folder.path(CONDITIONING_CLASSES_FILE), names, indent=0)

    def is_finished(self):
        """Whether Algorithm 1 has run to its end: phi_t and its figure written
        and unchanged since (:meth:`tfgen.run_folder.RunFolder.finished_at`)."""
        return self.folder.finished_at(None, FINAL_OUTPUTS)

    def fit(self, *, override=False):
        """Algorithm 1, skipping finished stages; returns the run folder. A
        finished run is left untouched. The GAN stages stop on SIGINT/SIGTERM
        after a checkpoint; elsewhere (GEM training, at most one epoch's
        work) a signal stops at once."""
        with RunLock(self.run_dir), StopSignals(deferred=False):
            if override:
                clear_run_folder(self.run_dir, self.run.runs_dir)
            self._check_resumable()
            if self.is_finished():
                self._say(
                    f"l2l: {self.run_dir} has finished; nothing to do. Pass --override to start afresh."
                )
                return self.run_dir
            self._prepare_folder()
            self._run_algorithm_1()
        return self.run_dir

    def _run_algorithm_1(self):
        config = self.config
        self._say(
            f"l2l: {len(self.split.train)} source classes ({len(self.source.labels)} images), "
            f"{len(self.split.test)} novel classes, p = {config.samples_per_class}; GEM type "
            f"{config.gem_type} at decoder blocks {config.gem_layers}, strategy {config.strategy_gem}"
        )
        self._train_stage("source_full", self.source, config.source_steps)
        reference, _ = self._load_stage("source_full")
        for epoch, subset in enumerate(self.source_subsets, start=1):
            self._train_stage(f"source_few_{epoch}", subset, config.few_steps, start=self._few_shot_start())
            if not os.path.isfile(self.gems_path(epoch)):
                self._train_gems(epoch, reference, subset)
        self._train_stage("target_plain", self.novel, config.few_steps, start=self._few_shot_start())
        combined = self.combined_generator()
        if config.finetune_steps:
            _, critic = self._load_stage("target_plain")
            self._train_stage(
                "target_finetune", self.novel, config.finetune_steps, start=(combined, critic), gems="all",
                config=self.final_config, conditioning=self.novel.images,
            )  # fmt: skip
            final_dir = self.stage_dir("target_finetune")
        else:
            final_dir = None  # phi_t is the combined generator itself
        self._write_final_outputs(combined, final_dir)

    def _train_gems(self, epoch, reference, subset):
        config = self.config
        keras.utils.set_random_seed(self.run.seed)  # the GEMs' initial weights
        student = build_l2l_generator(config)
        copy_generator_weights(student, self._load_stage(f"source_few_{epoch}")[0], gems=False)
        if epoch > 1:  # the GEMs go on from the previous epoch
            copy_generator_weights(student, load_l2l_generator(config, self.gems_path(epoch - 1)), base=False)
        self._say(f"l2l: epoch {epoch}: training GEMs (strategy {config.strategy_gem}, {config.gem_steps} steps a stage)")
        trainer = GEMTrainer(reference, student, config, seed=self.run.seed * 1000 + epoch)
        images = np.asarray(subset.images, "float32") / 127.5 - 1.0
        losses = trainer.run(config.strategy_gem, images, config.gem_steps)
        save_weights_atomic(student, self.gems_path(epoch))
        log = os.path.join(self.folder.gems, GEM_LOSSES_FILE)
        with open(log, "a") as f:
            for stage, values in losses.items():
                record = {"epoch": epoch, "stage": stage, "first": float(values[0]), "last": float(values[-1])}
                f.write(json.dumps(record) + "\n")

    def combined_generator(self):
        """phi_t before fine-tuning: phi_t^plain's base network with the GEMs of
        the last epoch, storing X_n."""
        generator = build_l2l_generator(self.final_config)
        plain, _ = self._load_stage("target_plain")
        copy_generator_weights(generator, plain, gems=False)
        gems = load_l2l_generator(self.config, self.gems_path(self.config.gem_epochs))
        copy_generator_weights(generator, gems, base=False)
        generator.set_conditioning(self.novel.images)
        return generator

    def stage_generators(self):
        """{"phi_s2", "phi_t_plain", "phi_t"}: the three generators of the paper's
        Figure 3 and Table 3 (phi_s^2 of the last epoch), after ``fit``."""
        last = self.config.gem_epochs
        phi_t = build_l2l_generator(self.final_config)
        load_weights_checked(phi_t, self.folder.raw_weights, expected="the run's phi_t")
        return {
            "phi_s2": self._load_stage(f"source_few_{last}")[0],
            "phi_t_plain": self._load_stage("target_plain")[0],
            "phi_t": phi_t,
        }

    def _write_final_outputs(self, combined, finetune_dir):
        self.folder.forget_finished()
        if finetune_dir is None:
            save_weights_atomic(combined, self.folder.raw_weights)
            copies = {DISCRIMINATOR_WEIGHTS: self.stage_dir("target_plain")}
        else:
            copies = {RAW_WEIGHTS: finetune_dir, DISCRIMINATOR_WEIGHTS: finetune_dir}
        for name, folder in copies.items():  # atomically: a rerun sees whole files or none
            tmp = self.folder.path(name + ".tmp")
            shutil.copyfile(RunFolder(folder).path(name), tmp)
            os.replace(tmp, self.folder.path(name))
        path = self.folder.final_samples
        generators = self.stage_generators()
        save_image(path, figure_grid(generators, self.novel, per_image=7, seed=self.run.seed))
        self.folder.write_finished_record(None, FINAL_OUTPUTS)
        self._say(
            f"Done: phi_t in {self.folder.raw_weights}; {path} shows, per novel class, "
            "rows from phi_s^2, phi_t^plain and phi_t"
        )


def figure_grid(generators, novel, *, per_image=7, seed=0, num_classes=4):
    """The paper's Figure 3 as one uint8 grid: for each of ``num_classes``
    novel classes, a row per generator (phi_s^2, phi_t^plain, phi_t in the
    order of ``generators``), each [its first shot, ``per_image`` samples]."""
    labels = np.asarray(novel.labels)
    first = [int(np.flatnonzero(labels == k)[0]) for k in np.unique(labels)[:num_classes]]
    images = np.asarray(novel.images)[first].astype("float32") / 127.5 - 1.0
    rows = []
    for image in images:
        for name, generator in generators.items():
            gems = "none" if name != "phi_t" else "all"
            rows.append(conditioned_samples(generator, image[None], per_image=per_image, seed=seed, gems=gems))
    return make_grid(np.concatenate(rows), nrow=per_image + 1)
