"""DAGAN's training on pairs of the training classes, its exact resume, and
its adaptation (the shots put in the generator's hands, nothing trained)."""

import hashlib
import os

import numpy as np
import pytest
import tensorflow as tf

from tfgen.adaptation import adapt_run, save_adapted
from tfgen.config import RunConfig
from tfgen.data.episodes import load_few_shot_data, load_few_shot_data_for, load_shots, task_dataset
from tfgen.families.dagan.config import TRAINING_HELD, DAGANConfig
from tfgen.families.dagan.trainer import DAGANTrainer, pairs_of, rotate_pairs
from tfgen.runs import load_generator
from tfgen.sampling import generate

# An even number of pairs: odd batches crashed oneDNN's convolution gradients on this CPU (TF 2.21, docs/dagan.md).
TINY = dict(width=4, pairs_per_step=2, critic_steps=2, latent_dim=8)


def make_trainer(tmp_path, name="dagan", steps=2, **config):
    run_config = RunConfig(name=name, runs_dir=str(tmp_path), data="digits", steps=steps, sample_every=1000,
                           checkpoint_every=2, seed=0, flip=False)  # fmt: skip
    return DAGANTrainer(DAGANConfig(**{**TINY, **config}), run_config, quiet=True)


def arrays(trainer):
    """Every variable of both networks and both optimizers, by path."""
    variables = [*trainer.generator.variables, *trainer.discriminator.variables,
                 *trainer.g_optimizer.variables, *trainer.d_optimizer.variables]  # fmt: skip
    return [(v.path, np.array(v.numpy())) for v in variables]


def to_uint8(images):
    return np.rint((np.asarray(images) + 1.0) * 127.5).astype(np.uint8)


@pytest.fixture(scope="module")
def digit_labels():
    """Each digit image's class found from its pixels in the bundled set (not from the pipeline)."""
    data = load_few_shot_data("digits", resolution=32, channels=1)  # resized as the trainer's
    table = {}
    for part in (data.train, data.test):
        for image, label in zip(np.asarray(part.images), np.asarray(part.labels)):
            table.setdefault(image.tobytes(), set()).add(part.class_names[label])
    return table


@pytest.fixture(scope="module")
def meta_run(tmp_path_factory):
    """A finished 2-step run (shared by the adaptation tests)."""
    return make_trainer(tmp_path_factory.mktemp("runs")).fit()


def unturned(image, table):
    """{(quarter turns k, class)} such that ``image`` is a data image turned k times."""
    return {(k, c) for k in range(4) for c in table.get(np.ascontiguousarray(np.rot90(image, -k)).tobytes(), ())}


def critic_inputs_of_a_step(trainer, batch):
    """[(images, candidates)] of every pair the critic scores in one eager train step on ``batch``."""
    seen = []
    original = trainer.discriminator.score_pairs

    def spy(images, candidates, training=False):
        seen.append((np.asarray(images), np.asarray(candidates)))
        return original(images, candidates, training=training)

    trainer.discriminator.score_pairs = spy
    tf.config.run_functions_eagerly(True)
    try:
        trainer.train_step(batch)
    finally:
        tf.config.run_functions_eagerly(False)
        del trainer.discriminator.score_pairs
    return seen


def test_the_critic_sees_real_pairs_of_one_class_and_fake_pairs_of_x(tmp_path, digit_labels):
    trainer = make_trainer(tmp_path)  # pairs rotated (the default)
    assert trainer.class_split.test == ("9",) and trainer.model_config.rotate_pairs
    batch = next(iter(trainer.data.dataset))
    seen = critic_inputs_of_a_step(trainer, batch)
    # Per critic update: real pairs, fake pairs, the penalty's candidates; then the generator's fake pairs.
    assert len(seen) == 3 * TINY["critic_steps"] + 1
    drawn = {image.tobytes() for image in to_uint8(batch[0])}
    for step in range(TINY["critic_steps"]):
        (x, x_other), (x_fake, fake), (x_penalty, _) = seen[3 * step : 3 * step + 3]
        for a, b in zip(to_uint8(x), to_uint8(x_other)):
            # Both images are data images of one training class, turned alike, and two different images.
            common = unturned(a, digit_labels) & unturned(b, digit_labels)
            assert common and all(c != "9" for _, c in common), (unturned(a, digit_labels), unturned(b, digit_labels))
            k = next(iter(common))[0]
            assert {np.ascontiguousarray(np.rot90(i, -k)).tobytes() for i in (a, b)} <= drawn  # from this batch
            assert not np.array_equal(a, b)
        np.testing.assert_array_equal(x_fake, x)  # the fake pair is (x, G(x, z)) with the same x
        np.testing.assert_array_equal(x_penalty, x)  # the penalty holds x fixed
        assert not any(unturned(f, digit_labels) for f in to_uint8(fake))  # made, not taken from the data
    np.testing.assert_array_equal(seen[-1][0], seen[-4][0])  # G trains on the last update's x


def test_without_rotation_the_critic_gets_the_pipelines_pairs(tmp_path):
    trainer = make_trainer(tmp_path, rotate_pairs=False)
    batch = next(iter(trainer.data.dataset))
    seen = critic_inputs_of_a_step(trainer, batch)
    pairs = to_uint8(pairs_of(batch[0], TINY["critic_steps"]))  # [S, B, 2, R, R, 1]
    labels = np.asarray(batch[1]).reshape(TINY["critic_steps"], -1, 2)
    for step in range(TINY["critic_steps"]):
        x, x_other = seen[3 * step]
        np.testing.assert_array_equal(to_uint8(x), pairs[step, :, 0])
        np.testing.assert_array_equal(to_uint8(x_other), pairs[step, :, 1])
        np.testing.assert_array_equal(labels[step, :, 0], labels[step, :, 1])


def test_the_batch_labels_pair_one_class():
    trainer_batches = []
    config = DAGANConfig(**TINY)
    data = load_few_shot_data_for("digits", config)
    dataset = task_dataset(data.train, shots=2, tasks_per_batch=config.pairs_per_step * config.critic_steps,
                           seed=4, labels=True).dataset  # fmt: skip
    for images, labels in dataset.take(10):
        trainer_batches.append(labels.numpy().reshape(config.critic_steps, config.pairs_per_step, 2))
    labels = np.stack(trainer_batches)
    np.testing.assert_array_equal(labels[..., 0], labels[..., 1])
    assert len(np.unique(labels)) > 3  # pairs of many classes


def test_rotated_pairs_turn_both_images_alike():
    rng = np.random.default_rng(0)
    pairs = rng.uniform(-1, 1, (2, 3, 2, 5, 5, 1)).astype(np.float32)
    turns = np.array([[0, 1, 2], [3, 1, 0]])
    found = np.asarray(rotate_pairs(tf.constant(pairs), tf.constant(turns)))
    for s in range(2):
        for p in range(3):
            for i in range(2):
                np.testing.assert_array_equal(found[s, p, i], np.rot90(pairs[s, p, i], turns[s, p]))


def test_a_step_trains_both_networks(tmp_path):
    trainer = make_trainer(tmp_path, mode_seeking_weight=1.0, rotate_pairs=True)
    networks = {"G": trainer.generator, "D": trainer.discriminator}
    before = {(name, v.path): v.numpy().copy() for name, net in networks.items() for v in net.variables}
    losses = trainer.loss_values(trainer.train_function(next(iter(trainer.distribute(trainer.data.dataset)))))
    assert set(losses) == {"d_loss", "g_loss", "d_wasserstein", "gradient_penalty", "mode_seeking"}
    assert all(np.isfinite(v) for v in losses.values())
    assert losses["gradient_penalty"] > 0 and losses["mode_seeking"] > 0
    moved = {key for key, value in before.items()
             if not np.array_equal(value, next(v for v in networks[key[0]].variables if v.path == key[1]).numpy())}
    for part in ("G stem/", "G encoder", "G decoder", "G noise0/", "D stem/", "D block", "D score/"):
        assert any(f"{name} {path}".startswith(part) for name, path in moved), part
    assert ("G", "generator/shots") not in moved  # the held images are not trained


def test_resuming_gives_the_weights_of_an_uninterrupted_run(tmp_path):
    whole = make_trainer(tmp_path, name="whole", steps=4)
    whole.fit()
    make_trainer(tmp_path, name="parts", steps=2).fit()
    resumed = make_trainer(tmp_path, name="parts", steps=4)
    resumed.fit()
    assert int(resumed.step.numpy()) == 4
    expected, found = arrays(whole), arrays(resumed)
    assert len(expected) == len(found)
    for (path, a), (_, b) in zip(expected, found):
        np.testing.assert_array_equal(a, b, err_msg=path)


def test_settings_only_adaptation_makes_are_refused_in_training(tmp_path):
    with pytest.raises(ValueError, match="held_shots is set by adaptation"):
        make_trainer(tmp_path, held_shots=5)
    with pytest.raises(ValueError, match="bfloat16"):
        DAGANTrainer(DAGANConfig(**TINY), RunConfig(runs_dir=str(tmp_path), mixed_precision="float16"), quiet=True)


def _digest(folder):
    return {name: hashlib.sha256(open(os.path.join(folder, name), "rb").read()).hexdigest()
            for name in ("generator.weights.h5", "discriminator.weights.h5", "config.json")}  # fmt: skip


def test_a_trained_run_holds_training_images(meta_run):
    generator = load_generator(meta_run)
    assert generator.held_shots == TRAINING_HELD
    held = to_uint8(generator.shots.numpy())
    assert len({image.tobytes() for image in held}) == TRAINING_HELD
    assert generate(generator, 3, seed=0).shape == (3, 32, 32, 1)


@pytest.mark.parametrize("count", [1, 4])
def test_adaptation_holds_the_shots_and_trains_nothing(meta_run, tmp_path, count):
    before = _digest(meta_run)
    trained = load_generator(meta_run)
    shots = load_shots("digits:9", shots=count, resolution=32, channels=1, seed=0)
    adaptation = adapt_run(meta_run, shots, seed=0)
    generator = adaptation.generator
    assert adaptation.config.held_shots == count and generator.held_shots == count
    np.testing.assert_allclose(np.asarray(generator.shots.numpy()), shots / 127.5 - 1.0, atol=1e-6)
    for a, b in zip(generator.unet.get_weights(), trained.unet.get_weights()):
        np.testing.assert_array_equal(a, b)
    images = generate(generator, 6, seed=3)
    assert images.shape == (6, 32, 32, 1) and images.dtype == np.uint8
    assert _digest(meta_run) == before  # the run folder is only read
    saved = save_adapted(adaptation, tmp_path / "adapted")
    np.testing.assert_array_equal(generate(load_generator(saved), 6, seed=3), images)
    with pytest.raises(ValueError, match="without training"):
        adapt_run(meta_run, shots, steps=3)
