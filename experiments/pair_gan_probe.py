"""Probe of issue 14: does a DAGAN-style image-conditioned GAN, trained on the
base classes, make images of an unseen class from its shots alone?

G(x, z) encodes a shot x to 4x4 (skips at 8x8, optionally 16x16), adds z at
4x4 and 8x8 and decodes an image; the pair discriminator sees (x, x') and
learns three things: (x, another image of x's class) is real, (x, G(x, z))
and (x, an image of another class) are fake (the mismatched pair makes it
check the class), and a mode-seeking term (Mao et al., 2019) keeps G from
ignoring z. No fine-tuning: the shots are only the input.

    python experiments/pair_gan_probe.py --data digits --steps 1000 --width 32 --skip16
    python experiments/pair_gan_probe.py --data digits --steps 3000 --width 64

Scores come from the benchmark's judge and episodes (tfgen.few_shot_benchmark), on
the benchmark's held-out classes and folds; --out-dir is a benchmark folder
(its judge is trained there when missing). Finding (docs/few_shot_benchmark.md):
the generator maps an unseen class onto the nearest base class (0 -> 8, 9),
FD about 100x real. A plain Keras model, not a tfgen family.
"""

from __future__ import annotations

import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("data", "digits", "A bundled labelled set or class folders (as benchmark.py).")
flags.DEFINE_string("out-dir", "/work/bench_runs/digits_v3", "A benchmark folder: its judge is reused.")
flags.DEFINE_integer("steps", 1000, "Training steps per base (batch 64).")
flags.DEFINE_integer("width", 32, "Channels of the first layer.")
flags.DEFINE_boolean("skip16", False, "Also skip the 16x16 encoder features to the decoder.")
flags.DEFINE_float("mode-seeking", 1.0, "Weight of the mode-seeking term.")
flags.DEFINE_integer("folds", 0, "Folds (held-out groups) to run; 0: all.")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Shot seeds.")
LATENT = 64


def build_generator(resolution, channels, width):
    import keras
    from keras import layers

    def down(h, filters, norm=True):
        h = layers.Conv2D(filters, 4, 2, "same", use_bias=not norm)(h)
        return layers.LeakyReLU(0.2)(layers.BatchNormalization(momentum=0.9)(h) if norm else h)

    def up(h, filters):
        h = layers.Conv2DTranspose(filters, 4, 2, "same", use_bias=False)(h)
        return layers.ReLU()(layers.BatchNormalization(momentum=0.9)(h))

    x = keras.Input((resolution, resolution, channels))
    z = keras.Input((LATENT,))
    e16 = down(x, width, norm=False)
    e8 = down(e16, 2 * width)
    e4 = down(e8, 4 * width)
    small = resolution // 8
    z4 = layers.Reshape((small, small, width))(layers.Dense(small * small * width)(z))
    h = up(layers.Concatenate()([e4, z4]), 2 * width)
    z8 = layers.Reshape((2 * small, 2 * small, width // 4))(layers.Dense(4 * small * small * width // 4)(z))
    h = up(layers.Concatenate()([h, e8, z8]), width)
    if FLAGS.skip16:
        h = layers.Concatenate()([h, e16])
    out = layers.Conv2DTranspose(channels, 4, 2, "same", activation="tanh")(h)
    return keras.Model([x, z], out)


def build_pair_discriminator(resolution, channels, width):
    import keras
    from keras import layers

    pair = keras.Input((resolution, resolution, 2 * channels))
    h = layers.LeakyReLU(0.2)(layers.Conv2D(width, 4, 2, "same")(pair))
    for filters in (2 * width, 4 * width):
        h = layers.Conv2D(filters, 4, 2, "same", use_bias=False)(h)
        h = layers.LeakyReLU(0.2)(layers.BatchNormalization(momentum=0.9)(h))
    return keras.Model(pair, layers.Dense(1)(layers.Flatten()(h)))


def train_pair_gan(images, labels, *, steps, width, seed):
    """The generator after ``steps`` steps on the base classes' images (uint8)."""
    import keras
    import numpy as np
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    data = images.astype("float32") / 127.5 - 1.0
    by_class = [np.flatnonzero(labels == k) for k in np.unique(labels)]
    G = build_generator(images.shape[1], images.shape[3], width)
    D = build_pair_discriminator(images.shape[1], images.shape[3], width)
    g_opt, d_opt = keras.optimizers.Adam(2e-4, beta_1=0.5), keras.optimizers.Adam(2e-4, beta_1=0.5)
    rng = np.random.default_rng(seed)

    def draw(batch=64):
        a, b, c = (np.empty(batch, int) for _ in range(3))
        for i, k in enumerate(rng.integers(len(by_class), size=batch)):
            a[i], b[i] = rng.choice(by_class[k], 2, replace=False)
            other = (k + 1 + rng.integers(len(by_class) - 1)) % len(by_class)
            c[i] = rng.choice(by_class[other])
        return data[a], data[b], data[c]

    @tf.function
    def step(x, same, other):
        z1 = tf.random.normal((tf.shape(x)[0], LATENT))
        z2 = tf.random.normal((tf.shape(x)[0], LATENT))
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake1, fake2 = G([x, z1], training=True), G([x, z2], training=True)
            real = D(tf.concat([x, same], -1), training=True)
            fake = D(tf.concat([x, fake1], -1), training=True)
            mismatched = D(tf.concat([x, other], -1), training=True)
            sp = tf.nn.softplus
            d_loss = tf.reduce_mean(sp(-real)) + 0.5 * tf.reduce_mean(sp(fake)) + 0.5 * tf.reduce_mean(sp(mismatched))
            image_gap = tf.reduce_mean(tf.abs(fake1 - fake2), [1, 2, 3])
            z_gap = tf.reduce_mean(tf.abs(z1 - z2), 1)
            g_loss = tf.reduce_mean(sp(-fake)) + FLAGS["mode-seeking"].value * tf.reduce_mean(1.0 / (image_gap / z_gap + 1e-5))
        d_opt.apply(d_tape.gradient(d_loss, D.trainable_variables), D.trainable_variables)
        g_opt.apply(g_tape.gradient(g_loss, G.trainable_variables), G.trainable_variables)

    for _ in range(steps):
        step(*draw())
    return G


def conditioned_images(G, shots, count, seed):
    import numpy as np

    rng = np.random.default_rng(seed)
    x = shots.astype("float32") / 127.5 - 1.0
    z = rng.standard_normal((count, LATENT)).astype("float32")
    out = G([x[np.arange(count) % len(x)], z], training=False).numpy()
    return np.clip(np.round((out + 1.0) * 127.5), 0, 255).astype("uint8")


def main(argv):
    del argv
    import numpy as np

    from experiments.common import benchmark_context, benchmark_episodes, print_benchmark_means
    from tfgen.few_shot_benchmark.methods import reference_images
    from tfgen.few_shot_benchmark.scores import score_images

    settings, data, judge, groups = benchmark_context(FLAGS.data, FLAGS["out-dir"].value, FLAGS.folds)
    names = np.asarray(data.class_names)
    rows = {"augmented_shots": {}, "pair_gan": {}}
    for index, group in enumerate(groups):
        keep = ~np.isin(names[data.labels], list(group))
        started = time.perf_counter()
        G = train_pair_gan(data.images[keep], data.labels[keep], steps=FLAGS.steps, width=FLAGS.width, seed=index)
        print(f"fold {index} (without {', '.join(group)}): trained in {time.perf_counter() - started:.0f} s", flush=True)
        for episode, baseline in benchmark_episodes(settings, data, judge, group, FLAGS.seeds):
            made = {"augmented_shots": reference_images("augmented_shots", episode),
                    "pair_gan": conditioned_images(G, episode.shots, episode.num_images, episode.seed)}  # fmt: skip
            for row, images in made.items():
                rows[row].setdefault(episode.class_name, []).append(score_images(judge, images, baseline))
    print_benchmark_means(rows)


if __name__ == "__main__":
    app.run(main)
