"""LoFGAN's training on labelled episodes, its exact resume, and its
adaptation (the shots put in the generator's hands, nothing trained)."""

import hashlib
import os
import textwrap

import numpy as np
import pytest

from tests.scripts import run_result_script
from tfgen.adaptation import adapt_run, save_adapted
from tfgen.config import RunConfig
from tfgen.data.builtin import LabelledImages
from tfgen.data.episodes import load_shots, task_dataset
from tfgen.families.lofgan.config import LoFGANConfig
from tfgen.families.lofgan.adapt import held_images
from tfgen.families.lofgan.trainer import LoFGANTrainer
from tfgen.runs import load_generator
from tfgen.sampling import generate

TINY = dict(width=4, tasks_per_step=2)


def make_trainer(tmp_path, name="lofgan", steps=2, **config):
    run_config = RunConfig(name=name, runs_dir=str(tmp_path), data="digits", steps=steps, sample_every=1000,
                           checkpoint_every=2, seed=0, flip=False)  # fmt: skip
    return LoFGANTrainer(LoFGANConfig(**{**TINY, **config}), run_config, quiet=True)


def arrays(trainer):
    """Every variable of both networks and both optimizers, by path."""
    variables = [*trainer.generator.variables, *trainer.discriminator.variables,
                 *trainer.g_optimizer.variables, *trainer.d_optimizer.variables]  # fmt: skip
    return [(v.path, np.array(v.numpy())) for v in variables]


@pytest.fixture(scope="module")
def meta_run(tmp_path_factory):
    """A finished 2-step run (shared by the adaptation tests)."""
    return make_trainer(tmp_path_factory.mktemp("runs")).fit()


def test_a_step_trains_both_networks_on_labelled_episodes(tmp_path):
    trainer = make_trainer(tmp_path)
    assert trainer.class_split.test == ("9",) and trainer.model_config.num_classes == 9
    before = arrays(trainer)
    losses = trainer.loss_values(trainer.train_function(next(iter(trainer.distribute(trainer.data.dataset)))))
    assert set(losses) >= {"d_loss", "g_loss", "d_class", "g_class", "class_penalty", "reconstruction"}
    assert losses["class_penalty"] > 0 and losses["reconstruction"] > 0
    moved = {path for (path, a), (_, b) in zip(before, arrays(trainer)) if not np.array_equal(a, b)}
    for part in ("encoder/", "decoder/", "class_head/", "adversarial_head/", "stem/"):
        assert any(path.startswith(part) for path in moved), part
    # The held shots are not trained: the base keeps its sample episode.
    assert not any(path.endswith("/shots") for path in moved)


def test_resuming_gives_the_weights_of_an_uninterrupted_run(tmp_path):
    whole = make_trainer(tmp_path, name="whole", steps=4)
    whole.fit()
    make_trainer(tmp_path, name="parts", steps=2).fit()
    resumed = make_trainer(tmp_path, name="parts", steps=4)
    resumed.fit()
    assert int(resumed.step.numpy()) == 4
    expected, found = arrays(whole), arrays(resumed)
    assert len(expected) == len(found)  # networks' paths match; the optimizers' names are numbered apart
    for (path, a), (_, b) in zip(expected, found):
        np.testing.assert_array_equal(a, b, err_msg=path)


def test_episodes_are_one_class_each_with_its_label_and_reproducible():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), [5, 2, 6, 3])
    # Each image's first pixel says its index: the batch can be traced back.
    images = np.zeros((len(labels), 4, 4, 1), np.uint8)
    images[:, 0, 0, 0] = np.arange(len(labels))
    order = rng.permutation(len(labels))  # classes interleaved
    labels, images = labels[order], images[order]
    data = LabelledImages(images, labels, ["a", "b", "c", "d"])
    first = task_dataset(data, shots=3, tasks_per_batch=5, seed=7, labels=True).dataset
    again = task_dataset(data, shots=3, tasks_per_batch=5, seed=7, labels=True).dataset
    seen = set()
    for (batch, batch_labels), (same, same_labels) in zip(first.take(20), again.take(20)):
        np.testing.assert_array_equal(batch.numpy(), same.numpy())
        pixel = np.rint((batch.numpy()[:, 0, 0, 0] + 1.0) * 127.5).astype(int)
        index = np.argsort(images[:, 0, 0, 0])[pixel].reshape(5, 3)  # positions in the (shuffled) data
        for episode, episode_labels in zip(index, batch_labels.numpy().reshape(5, 3)):
            assert len(set(episode)) == 3  # distinct images
            assert set(labels[episode]) == {episode_labels[0]} and len(set(episode_labels)) == 1
            seen.add(int(episode_labels[0]))
    assert seen == {0, 2, 3}  # class 1 has 2 images: never an episode of 3


def test_settings_only_adaptation_makes_are_refused_in_training(tmp_path):
    with pytest.raises(ValueError, match="held_shots is set by adaptation"):
        make_trainer(tmp_path, held_shots=5)
    with pytest.raises(ValueError, match="number of training classes, 9"):
        make_trainer(tmp_path, num_classes=4)
    with pytest.raises(ValueError, match="bfloat16"):
        LoFGANTrainer(LoFGANConfig(**TINY), RunConfig(runs_dir=str(tmp_path), mixed_precision="float16"), quiet=True)


def _digest(folder):
    return {name: hashlib.sha256(open(os.path.join(folder, name), "rb").read()).hexdigest()
            for name in ("generator.weights.h5", "discriminator.weights.h5", "config.json")}  # fmt: skip


def test_adaptation_holds_the_shots_and_trains_nothing(meta_run, tmp_path):
    before = _digest(meta_run)
    trained = load_generator(meta_run)
    shots = load_shots("digits:9", shots=5, resolution=32, channels=1, seed=0)
    adaptation = adapt_run(meta_run, shots, seed=0)
    generator = adaptation.generator
    assert adaptation.config.held_shots == 5 and generator.held_shots == 5 and generator.num_fused == 3
    np.testing.assert_allclose(np.asarray(generator.shots.numpy()), shots / 127.5 - 1.0, atol=1e-6)
    for part in ("encoder", "decoder"):
        for a, b in zip(getattr(generator, part).get_weights(), getattr(trained, part).get_weights()):
            np.testing.assert_array_equal(a, b)
    images = generate(generator, 6, seed=3)
    assert images.shape == (6, 32, 32, 1) and images.dtype == np.uint8
    assert _digest(meta_run) == before  # the run folder is only read
    # Saved as a run folder, it loads and makes the same images.
    saved = save_adapted(adaptation, tmp_path / "adapted")
    np.testing.assert_array_equal(generate(load_generator(saved), 6, seed=3), images)
    with pytest.raises(ValueError, match="without training"):
        adapt_run(meta_run, shots, steps=3)


def test_one_shot_is_fused_with_augmentations_of_itself(meta_run):
    shot = load_shots("digits:9", shots=1, resolution=32, channels=1, seed=1)
    held = held_images(shot, 3, seed=0)
    assert held.shape == (3, 32, 32, 1)
    np.testing.assert_allclose(held[0], shot[0] / 127.5 - 1.0, atol=1e-6)  # the shot itself comes first
    assert np.abs(held[1] - held[0]).max() > 0.1  # the others are moved copies
    adaptation = adapt_run(meta_run, shot)
    assert adaptation.config.held_shots == 3
    assert generate(adaptation.generator, 4, seed=0).shape == (4, 32, 32, 1)


# Runs in a fresh process: the CPU must be split before TensorFlow starts.
_MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import numpy as np
    from tfgen.config import RunConfig
    from tfgen.families.lofgan.config import LoFGANConfig
    from tfgen.families.lofgan.trainer import LoFGANTrainer

    run = RunConfig(runs_dir=sys.argv[1], steps=1, strategy="mirrored", sample_every=1000)
    trainer = LoFGANTrainer(LoFGANConfig(width=4, tasks_per_step=2), run, quiet=True)
    batches = iter(trainer.distribute(trainer.data.dataset))
    batch = next(batches)
    shares = [labels.numpy().tolist() for labels in trainer.strategy.experimental_local_results(batch[1])]
    before = [v.numpy().copy() for v in trainer.generator.trainable_variables]
    losses = {k: float(v) for k, v in trainer.train_function(batch).items()}
    moved = max(float(np.abs(b - v.numpy()).max()) for b, v in zip(before, trainer.generator.trainable_variables))
    result = {"replicas": trainer.num_replicas, "shares": shares, "losses": losses, "moved": moved}
    try:
        LoFGANTrainer(LoFGANConfig(width=4, tasks_per_step=3), run, quiet=True)
    except ValueError as e:
        result["odd_tasks_error"] = str(e)
    print("RESULT " + json.dumps(result))
    """
)


def test_each_replica_trains_on_whole_episodes(tmp_path):
    result = run_result_script(_MIRRORED_SCRIPT, tmp_path)
    assert result["replicas"] == 2
    # Each replica gets one episode: its 3 images, all with the episode's label.
    assert [len(share) for share in result["shares"]] == [3, 3]
    assert all(len(set(share)) == 1 for share in result["shares"])
    assert all(np.isfinite(v) for v in result["losses"].values()) and result["moved"] > 0
    assert "divisible by the number of replicas (2)" in result["odd_tasks_error"]
