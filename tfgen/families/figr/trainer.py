"""FIGR: a WGAN-GP meta-trained with Reptile (Clouâtre & Demers, "FIGR:
Few-shot Image Generation with Reptile", 2019; Nichol et al., "On First-Order
Meta-Learning Algorithms", 2018).

Algorithm 1 (meta-training), one meta-iteration per trainer step:

1. sample a task: ``shots`` images of one meta-train class;
2. copy the meta-weights Phi (the trainer's ``generator`` / ``discriminator``)
   into working networks W;
3. run K inner steps on the task, each a critic step (Wasserstein loss plus a
   gradient penalty of weight lambda, interpolation weights ~ U[0, 1]) and a
   generator step (Wasserstein loss), with a plain optimizer (SGD by default);
4. set Phi's gradient to Phi - W and take one step of the outer optimizer
   (Adam in the FIGR code; with SGD at rate eps this is Reptile's
   Phi + eps (W - Phi)).

With ``tasks_per_step`` > 1 the step averages Phi - W over several tasks;
under ``tf.distribute`` each replica adapts to its own tasks and the outer
optimizer averages over replicas.

Algorithm 2 (adaptation to an unseen class) is :func:`adapt_to_shots`: the same
inner loop, run for K steps on the n shots from the meta-weights.

The inner optimizer is written out here rather than taken from Keras: a Keras
optimizer inside a replica sums its gradients over replicas, but each replica's
inner loop must follow its own task alone.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from tfgen.losses import gradient_penalty, wasserstein_discriminator_loss, wasserstein_generator_loss
from tfgen.training.ema import copy_weights
from tfgen.training.trainer import Trainer
from tfgen.errors import InputError

# WGAN-GP's Adam betas (Gulrajani et al., 2017) for inner_optimizer="adam".
INNER_ADAM_BETAS = (0.0, 0.9)
INNER_ADAM_EPSILON = 1e-8


class InnerOptimizer:
    """SGD or Adam whose updates stay inside one replica.

    Adam's moments are ``keras.Variable``s (replica-local under
    MirroredStrategy, like the working networks) and are zeroed by
    :meth:`reset` at the start of every task: each task's inner loop starts
    from a fresh optimizer, as a new task should.
    """

    def __init__(self, kind, learning_rate, variables):
        if kind not in ("sgd", "adam"):
            raise InputError(f"inner_optimizer must be 'sgd' or 'adam'. Received: {kind!r}")
        self.kind = kind
        self.learning_rate = float(learning_rate)
        self.variables = list(variables)
        self.moments = []
        if kind == "adam":
            self.iterations = keras.Variable(0.0, trainable=False, name="inner_iterations")
            self.moments = [
                (
                    keras.Variable(np.zeros(v.shape, "float32"), trainable=False, name="inner_m"),
                    keras.Variable(np.zeros(v.shape, "float32"), trainable=False, name="inner_v"),
                )
                for v in self.variables
            ]

    def reset(self):
        if self.kind == "adam":
            self.iterations.assign(0.0)
            for m, v in self.moments:
                m.assign(tf.zeros_like(m))
                v.assign(tf.zeros_like(v))

    def apply(self, gradients):
        if self.kind == "sgd":
            for variable, gradient in zip(self.variables, gradients):
                variable.assign_sub(self.learning_rate * gradient)
            return
        beta1, beta2 = INNER_ADAM_BETAS
        self.iterations.assign_add(1.0)
        t = self.iterations.value
        # Bias-corrected step size, as in Kingma & Ba (Algorithm 1, final paragraph).
        step_size = self.learning_rate * tf.sqrt(1.0 - beta2**t) / (1.0 - beta1**t)
        for variable, gradient, (m, v) in zip(self.variables, gradients, self.moments):
            m.assign(beta1 * m + (1.0 - beta1) * gradient)
            v.assign(beta2 * v + (1.0 - beta2) * tf.square(gradient))
            variable.assign_sub(step_size * m / (tf.sqrt(v) + INNER_ADAM_EPSILON))


class InnerLoop:
    """WGAN-GP training of one (generator, critic) pair on one task.

    Args:
        generator, critic: the networks to train in place (W).
        config: a :class:`tfgen.families.figr.config.FIGRConfig` (inner optimizer, lr, lambda).
        seed: a ``keras.random.SeedGenerator`` for z and the interpolation weights.
    """

    def __init__(self, generator, critic, config, seed):
        self.generator = generator
        self.critic = critic
        self.latent_dim = config.latent_dim
        self.gp_weight = config.gp_weight
        self.seed = seed
        make = lambda model: InnerOptimizer(  # noqa: E731
            config.inner_optimizer, config.inner_learning_rate, model.trainable_variables
        )
        self.critic_optimizer = make(critic)
        self.generator_optimizer = make(generator)

    def reset(self):
        """Fresh optimizer state for a new task."""
        self.critic_optimizer.reset()
        self.generator_optimizer.reset()

    def step(self, real):
        """One critic step and one generator step on ``real`` [n, R, R, C];
        returns (critic loss, generator loss), float32 scalars."""
        G, D = self.generator, self.critic
        count = tf.shape(real)[0]
        z = keras.random.normal((count, self.latent_dim), seed=self.seed)
        fake = tf.stop_gradient(G(z, training=True))
        with tf.GradientTape() as tape:
            critic_fn = lambda x: D(x, training=True)  # noqa: E731
            d_loss = wasserstein_discriminator_loss(critic_fn(real), critic_fn(fake))
            d_loss += self.gp_weight * gradient_penalty(critic_fn, real, fake, seed=self.seed)
        self.critic_optimizer.apply(tape.gradient(d_loss, D.trainable_variables))

        z = keras.random.normal((count, self.latent_dim), seed=self.seed)
        with tf.GradientTape() as tape:
            g_loss = wasserstein_generator_loss(D(G(z, training=True), training=True))
        self.generator_optimizer.apply(tape.gradient(g_loss, G.trainable_variables))
        return d_loss, g_loss

    def run(self, real, steps):
        """``steps`` inner steps on ``real`` from a fresh optimizer; returns the
        mean (critic loss, generator loss). A graph loop, so K does not grow
        the traced graph."""
        self.reset()

        def body(step, d_total, g_total):
            d_loss, g_loss = self.step(real)
            return step + 1, d_total + d_loss, g_total + g_loss

        # An explicit while_loop rather than autograph's `for _ in tf.range`:
        # it does not depend on autograph reading this file's source.
        _, d_total, g_total = tf.while_loop(
            lambda step, *_: step < steps, body, (tf.constant(0), tf.constant(0.0), tf.constant(0.0))
        )
        steps = tf.cast(steps, tf.float32)
        return d_total / steps, g_total / steps


class ReptileTrainer(Trainer):
    """Meta-trains FIGRGenerator / FIGRCritic with Reptile (module doc).

    The trainer's ``generator`` and ``discriminator`` hold the meta-weights
    Phi: they are what checkpoints, samples and the final ``.weights.h5``
    files contain. The inner loop trains separate working copies.
    """

    family = "figr"
    architecture_fields = ("resolution", "channels", "latent_dim", "width")

    def __init__(self, model_config, run_config, *, quiet=False):
        if run_config.mixed_precision == "float16":
            raise InputError(
                "FIGR's hand-written inner optimizer has no loss scaling, so float16 could "
                "underflow: use mixed_precision='bfloat16' or 'off'. Received: mixed_precision='float16'"
            )
        super().__init__(model_config, run_config, quiet=quiet)
        tasks = model_config.tasks_per_step
        if tasks % self.num_replicas:
            raise InputError(
                f"tasks_per_step must be divisible by the number of replicas ({self.num_replicas}) "
                f"so that each adapts to whole tasks. Received: tasks_per_step={tasks}"
            )

    def build_dataset(self):
        from tfgen.data.episodes import load_few_shot_data_for, task_dataset

        config = self.model_config
        data = load_few_shot_data_for(self.run_config.data, config)
        self.class_split = data.split
        return task_dataset(
            data.train, shots=config.shots, tasks_per_batch=config.tasks_per_step, seed=self.run_config.seed
        )

    def build_extras(self):
        # W: the working copies the inner loop trains (never saved).
        self.working_generator = self.build_generator()
        self.working_critic = self.build_discriminator()
        self.inner_loop = None  # made in build_optimizers, once the seed exists

    def checkpointed_networks(self):
        # W too: it is overwritten by Phi at every task, but a checkpoint
        # holds everything the trainer keeps.
        return dict(
            super().checkpointed_networks(),
            working_generator=self.working_generator,
            working_critic=self.working_critic,
        )

    def build_optimizers(self):
        config = self.model_config

        def outer():
            if config.meta_optimizer == "sgd":
                return keras.optimizers.SGD(learning_rate=config.meta_learning_rate)
            return keras.optimizers.Adam(learning_rate=config.meta_learning_rate)

        return outer(), outer()

    def train_step(self, tasks):
        """Reptile on this replica's tasks: ``tasks`` is [T * n, R, R, C], T
        consecutive blocks of n images."""
        if self.inner_loop is None:
            # Built lazily: the base class creates self.seed_generator after
            # build_extras / build_optimizers.
            self.inner_loop = InnerLoop(
                self.working_generator, self.working_critic, self.model_config, self.seed_generator
            )
        config = self.model_config
        shots = config.shots
        num_tasks = config.tasks_per_step // self.num_replicas
        pairs = ((self.generator, self.working_generator), (self.discriminator, self.working_critic))
        sums = [[tf.zeros_like(v) for v in meta.trainable_variables] for meta, _ in pairs]
        d_mean = g_mean = tf.constant(0.0)
        for task in range(num_tasks):  # static and small: unrolled
            for meta, working in pairs:
                copy_weights(working, meta)  # W <- Phi
            d_loss, g_loss = self.inner_loop.run(
                tasks[task * shots : (task + 1) * shots], config.inner_steps
            )
            d_mean += d_loss / num_tasks
            g_mean += g_loss / num_tasks
            for total, (meta, working) in zip(sums, pairs):
                for i, (phi, w) in enumerate(zip(meta.trainable_variables, working.trainable_variables)):
                    total[i] += phi - w
        # Optimizers sum over replicas: the mean over all tasks of Phi - W.
        scale = 1.0 / (num_tasks * self.num_replicas)
        optimizers = (self.g_optimizer, self.d_optimizer)
        for total, (meta, _), optimizer in zip(sums, pairs, optimizers):
            optimizer.apply_gradients(
                [(difference * scale, phi) for difference, phi in zip(total, meta.trainable_variables)]
            )
        return {"inner_d_loss": d_mean, "inner_g_loss": g_mean}


# ------------------------------------------------------------- Algorithm 2


def adapt_to_shots(meta_run, shots, *, steps=None, seed=0, quiet=True):
    """Algorithm 2: the meta-trained FIGR generator adapted to ``shots``.

    Copies the meta-weights of ``meta_run`` (a run folder of
    :class:`ReptileTrainer`) into new networks, trains them for ``steps``
    inner steps (default: the run's ``adapt_steps``) on the shots, and
    returns the adapted generator. Nothing is written: the meta-weights on
    disk stay as they are.

    Args:
        meta_run: run folder with ``config.json``, ``generator.weights.h5`` and
            ``discriminator.weights.h5``.
        shots: uint8 [n, R, R, C] images of the new class at the run's
            resolution and channels.
        steps: K; None takes the config's ``adapt_steps``.
        seed: seed of z and the interpolation weights.
    """
    from tfgen.adaptation import Adaptation, check_shots, read_meta_run
    from tfgen.registry import get_family

    meta_run = read_meta_run(meta_run, families=("figr",), reader="adapt_to_shots adapts")
    config = meta_run.model_config
    images = check_shots(shots, config)
    steps = int(steps if steps is not None else config.adapt_steps)
    if steps < 1:
        raise InputError(f"steps must be >= 1. Received: steps={steps}")
    generator_path, critic_path = meta_run.weight_paths()
    builder = get_family(meta_run.family)
    generator = builder.build_generator(config)
    critic = builder.build_discriminator(config)
    generator.load_weights(generator_path)
    critic.load_weights(critic_path)
    inner = InnerLoop(generator, critic, config, keras.random.SeedGenerator(seed))
    real = tf.constant(images.astype("float32") / 127.5 - 1.0)
    run = tf.function(lambda batch: inner.run(batch, steps))
    run(real)
    return Adaptation(generator, meta_run, dataclasses.replace(config))
