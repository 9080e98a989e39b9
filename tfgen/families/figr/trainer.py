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

With ``tasks_per_step`` > 1 the step averages Phi - W over several tasks,
all trained at once by one compiled inner loop with a task axis on every
weight (:mod:`tfgen.families.figr.batched`); under ``tf.distribute`` each
replica adapts to its share of the tasks and the outer optimizer averages
over replicas. A task's random numbers depend on the step and the task's
index only, so the update does not depend on the number of replicas.

Algorithm 2 (adaptation to an unseen class) is :func:`tfgen.families.figr.adapt.adapt`:
the same inner loop, run for K steps on the n shots from the meta-weights.

The inner optimizer is written out (:class:`~tfgen.families.figr.batched.InnerOptimizer`)
rather than taken from Keras: it works on the per-task weight tensors, and a
Keras optimizer inside a replica would sum its gradients over replicas, while
each task's inner loop must follow its own task alone.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfgen.families.figr.batched import BatchedInnerLoop, draw_noise
from tfgen.training.trainer import Trainer


class ReptileTrainer(Trainer):
    """Meta-trains FIGRGenerator / FIGRCritic with Reptile (module doc).

    The trainer's ``generator`` and ``discriminator`` hold the meta-weights
    Phi: they are what checkpoints, samples and the final ``.weights.h5``
    files contain. The inner loop trains separate working copies.
    """

    family = "figr"
    architecture_fields = ("resolution", "channels", "latent_dim", "width")
    # The optimizers' kinds decide the state a checkpoint holds.
    fixed_fields = Trainer.fixed_fields + ("inner_optimizer", "meta_optimizer")
    supports_float16 = False  # the hand-written inner optimizer has no loss scaling

    def __init__(self, model_config, run_config, *, quiet=False):
        super().__init__(model_config, run_config, quiet=quiet)
        self.check_split_over_replicas("tasks_per_step", model_config.tasks_per_step, "whole tasks to adapt to")

    def build_dataset(self):
        from tfgen.data.episodes import load_few_shot_data_for, task_dataset

        config = self.model_config
        data = load_few_shot_data_for(self.run_config.data, config)
        self.class_split = data.split
        return task_dataset(
            data.train, shots=config.shots, tasks_per_batch=config.tasks_per_step, seed=self.run_config.seed
        )

    def build_extras(self):
        self.inner_loop = BatchedInnerLoop(self.generator, self.discriminator, self.model_config)

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
        config = self.model_config
        num_tasks = config.tasks_per_step // self.num_replicas
        real = tf.reshape(tasks, [num_tasks, config.shots] + tasks.shape[1:].as_list())
        replica = tf.distribute.get_replica_context().replica_id_in_sync_group
        noise = draw_noise(
            self.seed_generator.shared_next(),
            steps=config.inner_steps,
            tasks=num_tasks,
            shots=config.shots,
            latent_dim=config.latent_dim,
            first_task=replica * num_tasks,
        )
        g_weights, d_weights, d_loss, g_loss = self.inner_loop.run(real, noise)
        # Optimizers sum over replicas: the mean over all tasks of Phi - W.
        scale = 1.0 / (num_tasks * self.num_replicas)
        updates = (
            (self.g_optimizer, self.generator, g_weights),
            (self.d_optimizer, self.discriminator, d_weights),
        )
        for optimizer, meta, working in updates:
            optimizer.apply_gradients(
                [
                    (tf.reduce_sum(phi - w, axis=0) * scale, phi)
                    for phi, w in zip(meta.trainable_variables, working)
                ]
            )
        return {"inner_d_loss": d_loss, "inner_g_loss": g_loss}
