"""Batched Reptile: T tasks trained at once equal T tasks trained one by one.

The reference is written another way: each task trains its own Keras
networks (copies of Phi) with Keras' own optimizers, eagerly, one task
after the other.

"Equal" allows for rounding. WGAN-GP's inner loop at initialisation is
chaotic in float32: changing Phi by one part in 10^7 moves W after two
steps by 10^-4 to tens of percent of its move from Phi, depending on the
initialisation, mostly through the generator step (its gradient is the
critic's small input gradient, left after LayerNorm's large terms
cancel). With a fixed initialisation the batched and the sequential
trainings agree to 4e-3 of the move or better; a wrong task, noise, update
order or loss scale is off by tens of percent."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfgen.families.figr import build_critic, build_generator
from tfgen.families.figr.batched import (
    BatchedInnerLoop,
    InnerOptimizer,
    critic_forward,
    draw_noise,
    generator_forward,
    stack_for_tasks,
)
from tfgen.families.figr.config import FIGRConfig
from tfgen.losses import gradient_penalty

TINY = dict(width=4, latent_dim=8)
TASKS, SHOTS, STEPS = 3, 2, 2


def values(variables):
    return [v.numpy().copy() for v in variables]


def stacked(models):
    """Per-task weights from T Keras networks: one [T, ...] array per variable."""
    return [tf.stack([m.trainable_variables[i].value for m in models]) for i in range(len(models[0].trainable_variables))]


def keras_optimizer(kind, learning_rate):
    if kind == "sgd":
        return keras.optimizers.SGD(learning_rate=learning_rate)
    return keras.optimizers.Adam(learning_rate=learning_rate, beta_1=0.0, beta_2=0.9, epsilon=1e-8)


def sequential_task(generator, critic, config, real, noise):
    """Algorithm 1's inner loop on one task, with Keras networks and optimizers.

    real: [n, R, R, C]; noise: an InnerNoise of this task alone (T = 1).
    Returns W: the generator's and the critic's weights after K steps."""
    g = build_generator(config)
    d = build_critic(config)
    g.set_weights(generator.get_weights())
    d.set_weights(critic.get_weights())
    g_opt = keras_optimizer(config.inner_optimizer, config.inner_learning_rate)
    d_opt = keras_optimizer(config.inner_optimizer, config.inner_learning_rate)
    for k in range(noise.critic_z.shape[0]):
        fake = g(noise.critic_z[k, 0])
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(d(fake)) - tf.reduce_mean(d(real))
            loss += config.gp_weight * gradient_penalty(d, real, fake, eps=noise.eps[k, 0])
        d_opt.apply(tape.gradient(loss, d.trainable_variables), d.trainable_variables)
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(d(g(noise.generator_z[k, 0])))
        g_opt.apply(tape.gradient(loss, g.trainable_variables), g.trainable_variables)
    return values(g.trainable_variables), values(d.trainable_variables)


def relative_error(actual, expected, start):
    """The largest difference between two trainings, over the largest move from ``start``."""
    error = max(float(np.max(np.abs(np.asarray(a) - e))) for a, e in zip(actual, expected))
    moved = max(float(np.max(np.abs(e - s))) for e, s in zip(expected, start))
    return error / moved


def test_the_task_batched_networks_compute_what_each_networks_computes():
    config = FIGRConfig(**TINY)
    keras.utils.set_random_seed(0)
    generators = [build_generator(config) for _ in range(TASKS)]  # three different initialisations
    critics = [build_critic(config) for _ in range(TASKS)]
    z = tf.random.normal([TASKS, SHOTS, config.latent_dim], seed=1)
    images = generator_forward(generators[0], stacked(generators), z)
    assert images.shape == (TASKS, SHOTS, 32, 32, 1)
    for t in range(TASKS):
        np.testing.assert_allclose(images[t], generators[t](z[t]), atol=2e-5)
    scores = critic_forward(critics[0], stacked(critics), images)
    for t in range(TASKS):
        np.testing.assert_allclose(scores[t], critics[t](images[t]), atol=2e-5)


def test_without_grouped_convolutions_each_task_gets_its_own(monkeypatch):
    import tfgen.families.figr.batched as batched

    config = FIGRConfig(**TINY)
    keras.utils.set_random_seed(0)
    critics = [build_critic(config) for _ in range(TASKS)]
    images = tf.random.uniform([TASKS, SHOTS, 32, 32, 1], -1.0, 1.0, seed=3)

    def scores_and_gradients():
        weights = stacked(critics)
        with tf.GradientTape() as tape:
            tape.watch(weights)
            scores = critic_forward(critics[0], weights, images)
            total = tf.reduce_sum(scores)
        return [scores] + tape.gradient(total, weights)

    grouped = scores_and_gradients()
    monkeypatch.setattr(batched, "grouped_convolutions_work", lambda: False)
    one_by_one = scores_and_gradients()
    for a, b in zip(grouped, one_by_one):
        # Relative to each array's largest entry: LayerNorm's backward pass
        # leaves small entries made of cancelled large terms.
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-4 * float(np.max(np.abs(b))))


@pytest.mark.parametrize("seed", [0])
def test_the_batched_inner_loop_equals_the_tasks_one_by_one(seed):
    # SGD: Adam's first step is about sign(gradient), which rounding flips
    # where a gradient is near zero; its arithmetic is checked on its own below.
    config = FIGRConfig(**TINY, inner_optimizer="sgd")
    keras.utils.set_random_seed(seed)
    generator, critic = build_generator(config), build_critic(config)
    phi = values(generator.trainable_variables) + values(critic.trainable_variables)
    real = tf.random.uniform([TASKS, SHOTS, 32, 32, 1], -1.0, 1.0, seed=2)
    noise = draw_noise(tf.constant([3, 4], tf.int64), steps=STEPS, tasks=TASKS, shots=SHOTS, latent_dim=8)
    g_w, d_w, d_loss, g_loss = tf.function(BatchedInnerLoop(generator, critic, config).run)(real, noise)
    assert np.isfinite(float(d_loss)) and np.isfinite(float(g_loss))
    count = len(generator.trainable_variables)
    for t in range(TASKS):
        reference = sequential_task(generator, critic, config, real[t], noise.task(t))
        for network, batched, start in ((0, g_w, phi[:count]), (1, d_w, phi[count:])):
            error = relative_error([w[t] for w in batched], reference[network], start)
            assert error < 2e-2, (t, network, error)  # rounding (module doc)
        if t:  # the tasks differ, so their W do too
            assert not np.allclose(g_w[0][t], g_w[0][0])
    # Phi itself is never touched.
    assert all(np.array_equal(a, b) for a, b in zip(phi, values(generator.trainable_variables) + values(critic.trainable_variables)))


def test_a_task_noise_depends_on_its_index_not_on_its_neighbours():
    seed = tf.constant([5, 6], tf.int64)
    all_tasks = draw_noise(seed, steps=2, tasks=4, shots=3, latent_dim=5)
    last_two = draw_noise(seed, steps=2, tasks=2, shots=3, latent_dim=5, first_task=2)
    np.testing.assert_array_equal(all_tasks.critic_z[:, 2:], last_two.critic_z)
    np.testing.assert_array_equal(all_tasks.eps[:, 3], last_two.eps[:, 1])
    assert not np.array_equal(all_tasks.generator_z[:, 0], all_tasks.generator_z[:, 1])
    assert all_tasks.eps.shape == (2, 4, 3) and float(tf.reduce_min(all_tasks.eps)) >= 0.0


def test_inner_adam_matches_keras_adam_and_sgd_steps():
    gradients = [np.random.default_rng(i).normal(size=(2, 3, 2)).astype("float32") for i in range(3)]
    theirs = keras.Variable(np.ones((2, 3, 2), "float32"))
    reference = keras_optimizer("adam", 1e-2)
    adam = InnerOptimizer("adam", 1e-2)
    ours = [tf.ones((2, 3, 2))]
    state = adam.initial_state(ours)
    for k, g in enumerate(gradients):
        ours, state = adam.apply(ours, [tf.constant(g)], state, k + 1)
        reference.apply([tf.constant(g)], [theirs])
    np.testing.assert_allclose(ours[0], theirs.numpy(), rtol=1e-6, atol=1e-7)
    sgd, _ = InnerOptimizer("sgd", 0.1).apply([tf.ones((2,))], [tf.constant([1.0, -2.0])], [], 1)
    np.testing.assert_allclose(sgd[0], [0.9, 1.2], rtol=1e-6)
    with pytest.raises(ValueError, match="'sgd' or 'adam'"):
        InnerOptimizer("rmsprop", 0.1)


def test_weights_for_the_wrong_network_are_refused():
    config = FIGRConfig(**TINY)
    generator = build_generator(config)
    with pytest.raises(ValueError, match="trainable variables"):
        generator_forward(generator, stack_for_tasks(generator.trainable_variables[:-1], 1), tf.zeros([1, 1, 8]))
