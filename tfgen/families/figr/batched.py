"""Many Reptile tasks at once: FIGR's networks run with one set of weights
per task, and the inner loop trains all of them in one compiled loop.

Reptile's tasks are independent, so T tasks need T working copies W of the
meta-weights, not T passes through the graph. Here every weight carries a
leading task axis ([T, ...]) and activations keep the tasks side by side in
the channel axis: [n, H, W, T * C]. A convolution with per-task kernels is
then one grouped convolution (T groups), and everything else (PReLU, the
per-sample LayerNorm, resampling) works on that layout with a reshape. T
tasks cost about as many ops as one, and each convolution gets T times the
work: 1.9x the meta-iterations per second at width 8 with 16 tasks, 1.3x
at width 16, where the arithmetic (89 GFLOP per task) and the coarse
layers' weight traffic bound the step (docs/performance.md).

The forward functions read the architecture from the Keras networks
(:mod:`tfgen.families.figr.networks`) and take the weights as a list in the
order of the network's ``trainable_variables``; with one task and the
network's own weights they compute what the network computes.

The random numbers of a task (its latents and interpolation weights) depend
on the step's seed and the task's global index only, so a step gives the
same result however its tasks are spread over replicas.
"""

from __future__ import annotations

import functools
import typing

import keras
import tensorflow as tf

from tfgen.errors import InputError
from tfgen.families.figr.networks import ConvPReLUNorm, ResidualUnit, ResNetStage
from tfgen.losses import gradient_penalty

# WGAN-GP's Adam betas (Gulrajani et al., 2017) for inner_optimizer="adam".
INNER_ADAM_BETAS = (0.0, 0.9)
INNER_ADAM_EPSILON = 1e-8


def stack_for_tasks(variables, tasks):
    """The values of ``variables`` repeated for ``tasks`` tasks: [T, ...] each."""
    return [tf.repeat(tf.expand_dims(tf.convert_to_tensor(v), 0), tasks, axis=0) for v in variables]


def _norm_dtype(dtype):
    """LayerNorm statistics in float32 at least, as Keras computes them."""
    return "float32" if dtype in ("float16", "bfloat16") else dtype


class TaskWeights:
    """Looks up the per-task value ([T, ...]) of a network's variable."""

    def __init__(self, model, values):
        variables = model.trainable_variables
        if len(values) != len(variables):
            raise InputError(f"{model.name} has {len(variables)} trainable variables; received {len(values)} values.")
        self.values = {id(v): value for v, value in zip(variables, values)}
        self.dtype = model.compute_dtype

    def __call__(self, variable):
        return tf.cast(self.values[id(variable)], self.dtype)


# ---------------------------------------------------------------- layers
# x is [n, H, W, T * C] throughout; T is the number of tasks.


@functools.cache
def grouped_convolutions_work():
    """Whether this TensorFlow differentiates grouped convolutions here: on
    GPUs and with oneDNN (TensorFlow's default on x86 CPUs) it does; its
    plain CPU kernels (TF_ENABLE_ONEDNN_OPTS=0, some platforms) do not."""
    with tf.init_scope():  # run the probe now, even while a tf.function traces
        if tf.config.list_logical_devices("GPU"):
            return True
        x = tf.zeros([1, 3, 3, 2])
        try:
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = tf.nn.conv2d(x, tf.zeros([3, 3, 1, 2]), 1, "SAME")
            tape.gradient(y, x)
        except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError):
            return False
    return True


def _conv(x, conv, w, tasks):
    kernel = w(conv.kernel)  # [T, k, k, C, O]
    _, k, _, channels, filters = kernel.shape
    bias = tf.reshape(w(conv.bias), [tasks * filters])
    if tasks > 1 and not grouped_convolutions_work():
        # One convolution per task: as many ops as tasks, but it runs anywhere.
        parts = tf.split(x, tasks, axis=-1)
        return tf.concat([tf.nn.conv2d(part, kernel[t], 1, "SAME") for t, part in enumerate(parts)], -1) + bias
    # Group t of the grouped convolution reads input channels t*C..(t+1)*C
    # and writes output channels t*O..(t+1)*O.
    kernel = tf.reshape(tf.transpose(kernel, [1, 2, 3, 0, 4]), [k, k, channels, tasks * filters])
    return tf.nn.conv2d(x, kernel, 1, "SAME") + bias


def _prelu_channels(x, prelu, w, tasks):
    alpha = tf.reshape(w(prelu.alpha), [tasks * prelu.alpha.shape[-1]])  # one slope per channel
    return tf.nn.relu(x) - alpha * tf.nn.relu(-x)


def _normalize(x, axes, gamma, beta, epsilon):
    """Keras' LayerNormalization arithmetic (ops.layer_normalization), so that
    the rounding matches the Keras networks' as closely as it can."""
    mean, variance = keras.ops.moments(x, axes=axes, keepdims=True)
    inv = tf.math.rsqrt(variance + epsilon) * gamma
    return x * inv + (-mean * inv + beta)


def _layer_norm_per_task(x, norm, w, tasks):
    """LayerNorm of each (sample, task) over its (H, W, C), per-element gamma and beta."""
    _, h, width, tc = x.shape
    dtype = _norm_dtype(w.dtype)
    x5 = tf.reshape(tf.cast(x, dtype), [-1, h, width, tasks, tc // tasks])
    gamma = tf.transpose(tf.cast(w(norm.gamma), dtype), [1, 2, 0, 3])  # [H, W, T, C]
    beta = tf.transpose(tf.cast(w(norm.beta), dtype), [1, 2, 0, 3])
    out = _normalize(x5, [1, 2, 4], gamma, beta, norm.epsilon)
    return tf.cast(tf.reshape(out, [-1, h, width, tc]), x.dtype)


def _conv_prelu_norm(x, layer: ConvPReLUNorm, w, tasks):
    x = _conv(x, layer.conv, w, tasks)
    return _layer_norm_per_task(_prelu_channels(x, layer.prelu, w, tasks), layer.norm, w, tasks)


def _residual_unit(x, unit: ResidualUnit, w, tasks):
    return x + _conv_prelu_norm(_conv_prelu_norm(x, unit.first, w, tasks), unit.second, w, tasks)


def _stage(x, stage: ResNetStage, w, tasks):
    x = _residual_unit(_residual_unit(x, stage.unit1, w, tasks), stage.unit2, w, tasks)
    x = _conv_prelu_norm(x, stage.transition, w, tasks)
    if stage.resample == "up":
        return tf.repeat(tf.repeat(x, 2, axis=1), 2, axis=2)  # nearest x2
    return tf.nn.avg_pool2d(x, 2, 2, "VALID")


def _tasks_to_channels(images):
    """[T, n, H, W, C] -> [n, H, W, T * C]."""
    tasks, _, h, width, channels = images.shape
    return tf.reshape(tf.transpose(images, [1, 2, 3, 0, 4]), [-1, h, width, tasks * channels])


def _channels_to_tasks(x, tasks):
    """[n, H, W, T * C] -> [T, n, H, W, C]."""
    _, h, width, tc = x.shape
    return tf.transpose(tf.reshape(x, [-1, h, width, tasks, tc // tasks]), [3, 0, 1, 2, 4])


# -------------------------------------------------------------- networks


def generator_forward(generator, weights, z):
    """FIGRGenerator with per-task weights: z [T, n, latent] -> [T, n, R, R, C]
    float32 in [-1, 1]. ``weights``: one [T, ...] tensor per trainable variable."""
    w = TaskWeights(generator, weights)
    tasks = z.shape[0]
    z = tf.cast(z, w.dtype)
    h = tf.einsum("tnl,tlf->tnf", z, w(generator.stem_dense.kernel)) + w(generator.stem_dense.bias)[:, None, :]
    alpha = w(generator.stem_prelu.alpha)[:, None, :]  # one slope per element
    h = tf.nn.relu(h) - alpha * tf.nn.relu(-h)
    norm = generator.stem_norm
    dtype = _norm_dtype(w.dtype)
    gamma, beta = (tf.cast(w(v), dtype)[:, None, :] for v in (norm.gamma, norm.beta))
    h = tf.cast(_normalize(tf.cast(h, dtype), [2], gamma, beta, norm.epsilon), w.dtype)
    s, c = generator.start_size, generator.start_channels
    x = _tasks_to_channels(tf.reshape(h, [tasks, -1, s, s, c]))
    for stage in generator.stages:
        x = _stage(x, stage, w, tasks)
    x = tf.tanh(_conv(x, generator.to_image, w, tasks))
    return tf.cast(_channels_to_tasks(x, tasks), "float32")


def critic_forward(critic, weights, images):
    """FIGRCritic with per-task weights: images [T, n, R, R, C] -> scores [T, n, 1] float32."""
    w = TaskWeights(critic, weights)
    tasks = images.shape[0]
    x = _conv_prelu_norm(_tasks_to_channels(tf.cast(images, w.dtype)), critic.stem, w, tasks)
    for stage in critic.stages:
        x = _stage(x, stage, w, tasks)
    pooled = tf.reduce_mean(x, axis=[1, 2])  # [n, T * C]
    pooled = tf.transpose(tf.reshape(pooled, [-1, tasks, pooled.shape[-1] // tasks]), [1, 0, 2])  # [T, n, C]
    scores = tf.einsum("tnc,tco->tno", pooled, w(critic.score.kernel)) + w(critic.score.bias)[:, None, :]
    return tf.cast(scores, "float32")


# ----------------------------------------------------------------- noise


class InnerNoise(typing.NamedTuple):
    """The random numbers of K inner steps of T tasks of n images.

    critic_z, generator_z: [K, T, n, latent] latents of the critic and the
    generator step; eps: [K, T, n] interpolation weights of the gradient
    penalty, U[0, 1]. A named tuple, so ``tf.function`` traces it.
    """

    critic_z: tf.Tensor
    generator_z: tf.Tensor
    eps: tf.Tensor

    def task(self, index):
        """The noise of task ``index`` alone (T = 1)."""
        pick = lambda a: a[:, index : index + 1]  # noqa: E731
        return InnerNoise(pick(self.critic_z), pick(self.generator_z), pick(self.eps))


def draw_noise(seed, *, steps, tasks, shots, latent_dim, first_task=0):
    """Noise of tasks ``first_task .. first_task + tasks - 1`` of a step.

    Task g's numbers come from ``seed`` (an int32/int64 [2] tensor, the same
    for every task of the step) folded with g, so they do not depend on
    which replica runs the task or how many tasks run beside it.
    """
    critic_z, generator_z, eps = [], [], []
    for t in range(tasks):
        task_seed = tf.random.experimental.stateless_fold_in(tf.cast(seed, tf.int64), first_task + t)
        seeds = tf.random.experimental.stateless_split(task_seed, 3)
        critic_z.append(tf.random.stateless_normal([steps, shots, latent_dim], seeds[0]))
        generator_z.append(tf.random.stateless_normal([steps, shots, latent_dim], seeds[1]))
        eps.append(tf.random.stateless_uniform([steps, shots], seeds[2]))
    return InnerNoise(*(tf.stack(parts, axis=1) for parts in (critic_z, generator_z, eps)))


# ------------------------------------------------------------ inner loop


class InnerOptimizer:
    """SGD or Adam (betas 0, 0.9) on lists of tensors; the state is a list of
    tensors too, so it can be a loop variable. A new task starts from
    :meth:`initial_state` (Adam's moments at zero, as a fresh optimizer)."""

    def __init__(self, kind, learning_rate):
        if kind not in ("sgd", "adam"):
            raise InputError(f"inner_optimizer must be 'sgd' or 'adam'. Received: {kind!r}")
        self.kind = kind
        self.learning_rate = float(learning_rate)

    def initial_state(self, weights):
        if self.kind == "sgd":
            return []
        return [tf.zeros_like(v) for v in weights] + [tf.zeros_like(v) for v in weights]

    def apply(self, weights, gradients, state, iteration):
        """(new weights, new state); ``iteration`` counts from 1 (Adam's bias correction)."""
        if self.kind == "sgd":
            return [v - self.learning_rate * g for v, g in zip(weights, gradients)], state
        beta1, beta2 = INNER_ADAM_BETAS
        t = tf.cast(iteration, "float32")
        # Bias-corrected step size, as in Kingma & Ba (Algorithm 1, final paragraph).
        step_size = self.learning_rate * tf.sqrt(1.0 - beta2**t) / (1.0 - beta1**t)
        count = len(weights)
        firsts = [beta1 * m + (1.0 - beta1) * g for m, g in zip(state[:count], gradients)]
        seconds = [beta2 * v + (1.0 - beta2) * tf.square(g) for v, g in zip(state[count:], gradients)]
        new = [w - step_size * m / (tf.sqrt(v) + INNER_ADAM_EPSILON) for w, m, v in zip(weights, firsts, seconds)]
        return new, firsts + seconds


class BatchedInnerLoop:
    """WGAN-GP inner loop of FIGR on T tasks at once (module doc).

    Args:
        generator, critic: the meta-networks; they give the architecture and
            Phi, and are never changed here.
        config: a :class:`tfgen.families.figr.config.FIGRConfig`.
    """

    def __init__(self, generator, critic, config):
        self.generator = generator
        self.critic = critic
        self.gp_weight = float(config.gp_weight)
        self.optimizer = InnerOptimizer(config.inner_optimizer, config.inner_learning_rate)

    def critic_step(self, g_weights, d_weights, real, critic_z, eps):
        """Gradients of every task's critic loss (Wasserstein plus lambda times
        the gradient penalty) and the loss averaged over tasks.

        real: [T, n, R, R, C]; critic_z: [T, n, latent]; eps: [T, n]. Each
        task's loss depends on its own weights only, so the gradient of
        their sum is every task's own gradient.
        """
        tasks, shots = real.shape[0], real.shape[1]
        critic_fn = lambda images: critic_forward(self.critic, d_weights, tf.reshape(images, real.shape))  # noqa: E731
        fake = tf.stop_gradient(generator_forward(self.generator, g_weights, critic_z))
        flat = lambda images: tf.reshape(images, [tasks * shots] + real.shape[2:].as_list())  # noqa: E731
        with tf.GradientTape() as tape:
            tape.watch(d_weights)
            losses = tf.reduce_mean(critic_fn(fake), axis=[1, 2]) - tf.reduce_mean(critic_fn(real), axis=[1, 2])
            # The mean over tasks and samples: the mean of the tasks' penalties.
            penalty = gradient_penalty(critic_fn, flat(real), flat(fake), eps=tf.reshape(eps, [-1]))
            total = tf.reduce_sum(losses) + tasks * self.gp_weight * penalty
        return tape.gradient(total, d_weights), total / tasks

    def generator_step(self, g_weights, d_weights, generator_z):
        """Gradients of every task's generator loss and the loss averaged over tasks."""
        with tf.GradientTape() as tape:
            tape.watch(g_weights)
            fake = generator_forward(self.generator, g_weights, generator_z)
            losses = -tf.reduce_mean(critic_forward(self.critic, d_weights, fake), axis=[1, 2])
            total = tf.reduce_sum(losses)
        return tape.gradient(total, g_weights), total / generator_z.shape[0]

    def run(self, real, noise, g_weights=None, d_weights=None):
        """K inner steps on every task from fresh optimizer states.

        Args:
            real: [T, n, R, R, C] float images in [-1, 1].
            noise: an :class:`InnerNoise` of K steps and T tasks.
            g_weights, d_weights: the starting W, one [T, ...] tensor per
                trainable variable; None starts every task from Phi.

        Returns:
            (generator W, critic W, mean critic loss, mean generator loss):
            the adapted per-task weights and the losses averaged over steps
            and tasks (float32 scalars).
        """
        tasks = real.shape[0]
        if g_weights is None:
            g_weights = stack_for_tasks(self.generator.trainable_variables, tasks)
        if d_weights is None:
            d_weights = stack_for_tasks(self.critic.trainable_variables, tasks)
        steps = tf.shape(noise.critic_z)[0]
        g_state = self.optimizer.initial_state(g_weights)
        d_state = self.optimizer.initial_state(d_weights)

        def body(k, g_w, d_w, g_s, d_s, d_sum, g_sum):
            d_grads, d_loss = self.critic_step(g_w, d_w, real, noise.critic_z[k], noise.eps[k])
            d_w, d_s = self.optimizer.apply(d_w, d_grads, d_s, k + 1)
            g_grads, g_loss = self.generator_step(g_w, d_w, noise.generator_z[k])  # against the updated critic
            g_w, g_s = self.optimizer.apply(g_w, g_grads, g_s, k + 1)
            return k + 1, g_w, d_w, g_s, d_s, d_sum + d_loss, g_sum + g_loss

        # An explicit while_loop rather than autograph's `for _ in tf.range`:
        # it does not depend on autograph reading this file's source.
        start = (tf.constant(0), g_weights, d_weights, g_state, d_state, tf.constant(0.0), tf.constant(0.0))
        _, g_weights, d_weights, _, _, d_sum, g_sum = tf.while_loop(lambda k, *_: k < steps, body, start)
        count = tf.cast(steps, "float32")
        return g_weights, d_weights, d_sum / count, g_sum / count


# The inner loop's compiled programs, one per architecture and inner-loop
# setting: tracing the loop (a double-backprop gradient penalty through
# every layer) takes tens of seconds, and adapting to class after class, as
# a benchmark does, would pay it every time.
_COMPILED_LOOPS = {}
_MAX_COMPILED_LOOPS = 4


def compiled_inner_loop(config, build_generator, build_critic):
    """A ``tf.function`` of :meth:`BatchedInnerLoop.run` for ``config``'s
    architecture and inner-loop settings, traced once per process and input
    shape. Call it with explicit ``g_weights`` / ``d_weights``: the networks
    it was built on only give the architecture."""
    key = (
        config.resolution, config.channels, config.latent_dim, config.width, config.inner_optimizer,
        float(config.inner_learning_rate), float(config.gp_weight), keras.config.dtype_policy().name,
    )  # fmt: skip
    if key not in _COMPILED_LOOPS:
        if len(_COMPILED_LOOPS) >= _MAX_COMPILED_LOOPS:
            _COMPILED_LOOPS.pop(next(iter(_COMPILED_LOOPS)))
        loop = BatchedInnerLoop(build_generator(config), build_critic(config), config)
        _COMPILED_LOOPS[key] = tf.function(loop.run)
    return _COMPILED_LOOPS[key]
