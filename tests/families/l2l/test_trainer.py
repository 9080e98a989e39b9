"""L2L-GAN's Algorithm 1 (tfgen.families.l2l.trainer): the GAN stages, GEM training
and its strategies, the combined generator and a tiny end-to-end run."""

import dataclasses
import json
import os

import keras
import numpy as np
import pytest

from tfgen.config import RunConfig
from tfgen.families.l2l.config import L2LConfig
from tfgen.data.builtin import LabelledImages
from tfgen.families.l2l.networks import L2LGenerator
from tfgen.adaptation import adapt_run
from tfgen.runs import load_generator
from tfgen.sampling import generate
from tfgen.families.l2l.trainer import (
    GEMStage,
    GEMTrainer,
    L2LTrainer,
    PairTrainer,
    copy_generator_weights,
    gem_stages,
)

TINY = dict(resolution=32, channels=1, latent_dim=8, width=4, noise_channels=2, batch_size=2, critic_steps=1)


def tiny_generator(**kwargs):
    return L2LGenerator(**dict(resolution=32, channels=1, latent_dim=8, width=4, noise_channels=2), **kwargs)


def values(variables):
    return [np.array(v) for v in variables]


def changed(before, variables):
    return [not np.array_equal(b, np.array(v)) for b, v in zip(before, variables)]


def labelled(num_classes=3, per_class=4, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (num_classes * per_class, 32, 32, 1), dtype=np.uint8)
    labels = np.repeat(np.arange(num_classes), per_class)
    return LabelledImages(images, labels, [f"c{k}" for k in range(num_classes)])


# ----------------------------------------------------------- strategies


def test_gem_stages_follow_strategies_a_b_c():
    assert gem_stages("A", (4, 2)) == [GEMStage((2,), (2,), (2,)), GEMStage((4,), (4,), (4,))]
    assert gem_stages("B", (2, 4, 5)) == [
        GEMStage((2,), (2,), (2,)),
        GEMStage((2, 4), (2, 4), (4,)),
        GEMStage((2, 4, 5), (2, 4, 5), (5,)),
    ]
    assert gem_stages("C", (2, 4)) == [GEMStage((2, 4), (2, 4), (2, 4))]
    with pytest.raises(ValueError, match="A, B or C"):
        gem_stages("D", (2,))


def gem_setup(slots="2,4", seed=0):
    keras.utils.set_random_seed(seed)
    reference = tiny_generator(name="reference")
    student = tiny_generator(gem_layers=slots, name="student")
    config = L2LConfig(**TINY, gem_layers=slots, gem_learning_rate=1e-2)
    images = np.random.default_rng(seed).uniform(-1, 1, (6, 32, 32, 1)).astype("float32")
    return reference, student, GEMTrainer(reference, student, config, seed=seed), images


def test_gem_training_updates_only_the_gems_of_each_stage():
    reference, student, trainer, images = gem_setup()
    gem2, gem4 = (student.gem_variables((k,)) for k in (2, 4))
    frozen = reference.weights + student.base_variables() + [v for v in student.weights if not v.trainable]
    frozen_before = values(frozen)
    stages = gem_stages("A", student.gem_slots)

    before2, before4 = values(gem2), values(gem4)
    trainer.run_stage(stages[0], images, steps=3)
    assert all(changed(before2, gem2)) and not any(changed(before4, gem4))

    before2, before4 = values(gem2), values(gem4)
    trainer.run_stage(stages[1], images, steps=3)
    assert not any(changed(before2, gem2)) and all(changed(before4, gem4))
    assert not any(changed(frozen_before, frozen)), "GEM training touched a non-GEM variable"


@pytest.mark.parametrize("strategy", ["B", "C"])
def test_strategies_b_and_c_update_earlier_gems_too(strategy):
    reference, student, trainer, images = gem_setup()
    gem2, gem4 = (student.gem_variables((k,)) for k in (2, 4))
    last = gem_stages(strategy, student.gem_slots)[-1]
    before2, before4 = values(gem2), values(gem4)
    trainer.run_stage(last, images, steps=3)
    assert all(changed(before2, gem2)) and all(changed(before4, gem4))


def test_gem_training_lowers_the_feature_loss_and_l2_differs_from_l1():
    import tensorflow as tf

    reference, student, trainer, images = gem_setup(slots="3")
    stage = gem_stages("A", student.gem_slots)[0]
    x = tf.constant(images)
    z = tf.constant(np.random.default_rng(1).standard_normal((6, 8)).astype("float32"))
    before = float(trainer.feature_loss(x, z, stage))
    # By hand: the mean absolute difference of block 3's features.
    target = reference.decoder_features(x, z, gems="none")[2]
    feature = student.decoder_features(x, z, gems=(3,))[2]
    np.testing.assert_allclose(before, float(np.mean(np.abs(np.array(feature) - np.array(target)))), rtol=1e-5)
    losses = trainer.run_stage(stage, images, steps=30)
    assert float(trainer.feature_loss(x, z, stage)) < 0.9 * before
    assert np.mean(losses[-5:]) < np.mean(losses[:5])

    trainer.config = dataclasses.replace(trainer.config, gem_loss="l2")
    squared = float(np.mean(np.square(np.array(student.decoder_features(x, z, gems=(3,))[2]) - np.array(target))))
    np.testing.assert_allclose(float(trainer.feature_loss(x, z, stage)), squared, rtol=1e-5)


# ------------------------------------------------------------- weights


def test_copy_generator_weights_moves_base_and_gems_separately():
    keras.utils.set_random_seed(3)
    plain = tiny_generator(name="plain")
    slotted = tiny_generator(gem_layers="1,5", conditioning_images=2, name="slotted")
    copy_generator_weights(slotted, plain, gems=False)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 1)).astype("float32")
    z = np.random.default_rng(1).standard_normal((2, 8)).astype("float32")
    np.testing.assert_array_equal(np.array(slotted((x, z), gems="none")), np.array(plain((x, z))))

    other = tiny_generator(gem_layers="1,5", name="other")
    for variable in other.gem_variables():
        variable.assign(np.full(variable.shape, 0.3, "float32"))
    base_before = values(slotted.base_variables())
    copy_generator_weights(slotted, other, base=False)
    assert not any(changed(base_before, slotted.base_variables()))
    for a, b in zip(slotted.gem_variables(), other.gem_variables()):
        np.testing.assert_array_equal(np.array(a), np.array(b))

    with pytest.raises(ValueError, match="same resolution"):
        copy_generator_weights(tiny_generator(gem_layers="2"), slotted)  # no GEM 2 in slotted


# ----------------------------------------------------------- GAN stage


def stage_run(tmp_path, name, steps=2):
    return RunConfig(name=name, runs_dir=str(tmp_path), data="unused", steps=steps, sample_every=steps,
                     checkpoint_every=steps, log_every=1)  # fmt: skip


@pytest.mark.parametrize("gems", ["none", "all"])
def test_pair_trainer_trains_gems_only_when_they_are_active(tmp_path, gems):
    config = L2LConfig(**TINY, gem_layers="3")
    trainer = PairTrainer(config, stage_run(tmp_path, gems), images=labelled(), gems=gems, quiet=True)
    generator = trainer.generator
    gem_weights = [v for gem in generator.gems for v in gem.weights]  # trainable or not
    gem_before, base_before = values(gem_weights), values(generator.base_variables())
    trainer.fit()
    assert gem_weights and any(changed(base_before, generator.base_variables()))
    assert any(changed(gem_before, gem_weights)) == (gems == "all")
    grid = os.path.join(tmp_path, gems, "samples", "final.png")
    assert os.path.isfile(grid)


@pytest.mark.slow  # a learning check of about 80 s
def test_pair_trainer_critic_loss_falls(tmp_path):
    # The critic learns to tell a class's real pairs from (x, G(x, z)) (G held still).
    config = L2LConfig(**dict(TINY, batch_size=4, critic_steps=3), gem_layers="", d_learning_rate=1e-3, g_learning_rate=0.0)
    trainer = PairTrainer(config, stage_run(tmp_path, "falls", steps=1), images=labelled(4, 6), quiet=True)
    batches = iter(trainer.distribute(trainer.data.dataset))
    losses = [float(trainer.train_function(next(batches))["d_loss"]) for _ in range(24)]
    assert np.mean(losses[-6:]) < np.mean(losses[:6]) - 0.05  # the gradient penalty dominates at first


# ---------------------------------------------------------- Algorithm 1


ALGORITHM_1 = dict(
    TINY, source_steps=2, few_steps=2, gem_epochs=2, gem_steps=2, finetune_steps=2, gem_layers="3,4",
    test_classes="latin/x,latin/y,latin/z",
)  # fmt: skip


def algorithm_1_run(tmp_path, name="l2l", **overrides):
    run = RunConfig(name=name, runs_dir=str(tmp_path), data="glyphs:latin", sample_every=100, log_every=1)
    return L2LTrainer(L2LConfig(**dict(ALGORITHM_1, **overrides)), run, quiet=True)


@pytest.mark.slow  # minutes on 2 CPU cores; CI runs the CLI's Algorithm 1 run instead
def test_algorithm_1_end_to_end_writes_a_generator_of_the_novel_classes(tmp_path):
    trainer = algorithm_1_run(tmp_path, strategy_gem="B", gem_type=3)
    run_dir = trainer.fit()
    stages = sorted(os.listdir(os.path.join(run_dir, "stages")))
    assert stages == ["source_few_1", "source_few_2", "source_full", "target_finetune", "target_plain"]
    assert os.path.isfile(os.path.join(run_dir, "gems", "epoch_2.weights.h5"))
    assert os.path.isfile(os.path.join(run_dir, "samples", "final.png"))
    with open(os.path.join(run_dir, "config.json")) as f:
        saved = json.load(f)
    assert saved["family"] == "l2l" and saved["model"]["conditioning_images"] == 6  # p=2 x 3 classes
    with open(os.path.join(run_dir, "conditioning_classes.json")) as f:
        assert sorted(set(json.load(f))) == ["latin/x", "latin/y", "latin/z"]

    # The combined, fine-tuned phi_t round-trips through its .weights.h5.
    phi_t = trainer.stage_generators()["phi_t"]
    loaded = load_generator(run_dir)
    assert loaded.gem_slots == (3, 4) and loaded.conditioning_count == 6
    np.testing.assert_array_equal(generate(loaded, 5, seed=1), generate(phi_t, 5, seed=1))
    stored = np.array(loaded.conditioning)
    novel = trainer.novel.images.astype("float32") / 127.5 - 1.0
    np.testing.assert_allclose(stored, novel, atol=1e-6)

    # New shots: phi_t itself, storing them (no training with steps=0).
    shots = trainer.novel.images[:3]
    adaptation = adapt_run(run_dir, shots)
    conditioned = adaptation.generator
    assert conditioned.conditioning_count == 3 and adaptation.config.conditioning_images == 3
    x = shots.astype("float32") / 127.5 - 1.0
    z = np.random.default_rng(2).standard_normal((3, 8)).astype("float32")
    np.testing.assert_array_equal(np.array(conditioned((x, z))), np.array(phi_t((x, z))))
    with pytest.raises(ValueError, match="at least two shots"):
        adapt_run(run_dir, shots[:1], steps=2)

    # Run again: every stage is done, nothing retrains.
    stamps = {p: os.path.getmtime(os.path.join(run_dir, "stages", p, "generator.weights.h5")) for p in stages}
    algorithm_1_run(tmp_path, strategy_gem="B", gem_type=3).fit()
    assert stamps == {p: os.path.getmtime(os.path.join(run_dir, "stages", p, "generator.weights.h5")) for p in stages}


@pytest.mark.slow  # two Algorithm 1 runs, minutes on 2 CPU cores
def test_plain_stages_are_shared_by_runs_that_differ_in_gem_settings(tmp_path):
    import shutil

    first = algorithm_1_run(tmp_path, name="type1", finetune_steps=0)
    first.fit()
    # A type-2 run with the first run's plain stages trains only its GEMs.
    os.makedirs(os.path.join(tmp_path, "type2"))
    for stage in ("source_full", "source_few_1", "source_few_2", "target_plain"):
        shutil.copytree(os.path.join(tmp_path, "type1", "stages", stage), os.path.join(tmp_path, "type2", "stages", stage))
    second = algorithm_1_run(tmp_path, name="type2", gem_type=2, strategy_gem="C", finetune_steps=0)
    second.fit()
    assert load_generator(os.path.join(tmp_path, "type2")).gem_type == 2
    plain = second.stage_generators()["phi_t_plain"]
    np.testing.assert_array_equal(
        np.array(plain.weights[0]), np.array(first.stage_generators()["phi_t_plain"].weights[0])
    )


def test_l2l_trainer_errors(tmp_path):
    with pytest.raises(ValueError, match="at least one GEM"):
        algorithm_1_run(tmp_path, gem_layers="")
    run = RunConfig(name="x", runs_dir=str(tmp_path), data="glyphs:latin", fid=True)
    with pytest.raises(ValueError, match="--fid"):
        L2LTrainer(L2LConfig(**ALGORITHM_1), run, quiet=True)
    with pytest.raises(ValueError, match="samples_per_class"):
        algorithm_1_run(tmp_path, samples_per_class=1)
    with pytest.raises(ValueError, match="fewer"):
        algorithm_1_run(tmp_path, samples_per_class=25)  # glyph classes have 20 images


_PRECISION_AND_MIRRORED_SCRIPT = """
import json, sys, tempfile
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import numpy as np
from tfgen.config import RunConfig
from tfgen.families.l2l.config import L2LConfig
from tfgen.data.builtin import LabelledImages
from tfgen.families.l2l.trainer import PairTrainer

rng = np.random.default_rng(0)
images = LabelledImages(rng.integers(0, 256, (24, 32, 32, 1), dtype=np.uint8), np.repeat(np.arange(6), 4),
                        [str(k) for k in range(6)])
config = L2LConfig(resolution=32, channels=1, latent_dim=8, width=4, noise_channels=2, batch_size=4,
                   critic_steps=2, gem_layers="3")
result = {}
for precision, strategy in (("bfloat16", "default"), ("off", "mirrored")):
    run = RunConfig(name=precision + strategy, runs_dir=sys.argv[1], data="x", steps=2, mixed_precision=precision,
                    strategy=strategy, sample_every=2, checkpoint_every=2)
    trainer = PairTrainer(config, run, images=images, gems="all", quiet=True)
    before = [np.array(v) for v in trainer.generator.gem_variables()]
    batches = iter(trainer.distribute(trainer.data.dataset))
    losses = [trainer.train_function(next(batches)) for _ in range(2)]
    result[precision + "_" + strategy] = {
        "replicas": trainer.num_replicas,
        "finite": bool(all(np.isfinite(float(v)) for step in losses for v in step.values())),
        "gems_changed": bool(any(not np.array_equal(b, np.array(v))
                                 for b, v in zip(before, trainer.generator.gem_variables()))),
    }
print("RESULT " + json.dumps(result))
"""


@pytest.mark.slow  # minutes on 2 CPU cores; the float32 pair-trainer tests run in CI
def test_pair_trainer_under_bfloat16_and_mirrored_strategy(tmp_path):
    from tests.scripts import run_result_script

    result = run_result_script(_PRECISION_AND_MIRRORED_SCRIPT, tmp_path)
    assert result["bfloat16_default"] == {"replicas": 1, "finite": True, "gems_changed": True}
    assert result["off_mirrored"] == {"replicas": 2, "finite": True, "gems_changed": True}
