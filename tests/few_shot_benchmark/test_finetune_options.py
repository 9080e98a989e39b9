"""Fine-tuning options of the transfer baselines used by the benchmark
(tfgen.families.transfer.adapt.finetune_on_shots, through adapt_run: base_mix,
freeze_d, generator_part) and the weighted batches base_mix draws from
(tfgen.data.episodes.weighted_labelled_batches). Tiny runs trained here."""

import itertools

import numpy as np
import pytest

from tfgen.config import RunConfig
from tfgen.families.transfer.config import CDCGANConfig, DCGANConfig
from tfgen.runs import load_generator, load_run_config
from tfgen.data.episodes import load_shots, weighted_labelled_batches
from tfgen.registry import get_family
from tfgen.sampling import generate
from tfgen.adaptation import adapt_run
from tfgen.families.transfer.adapt import GENERATOR_PARTS
from tfgen.families.transfer.trainer import CDCGANTrainer, DCGANTrainer

# The bases trained here are a few steps old: their collapse warning is expected.
pytestmark = pytest.mark.filterwarnings("ignore:The trained generator.*failed the health check")

# ------------------------------------------------- weighted_labelled_batches


def toy_rows(count=5):
    """Image i is filled with i / 10 (in [-1, 1]); its label is 10 + i."""
    images = np.repeat(np.arange(count, dtype=np.float32)[:, None, None, None] / 10, 4, axis=1)
    images = np.repeat(images, 4, axis=2)  # [count, 4, 4, 1]
    return images, np.arange(count) + 10


def draw(dataset, batches):
    images, labels = [], []
    for batch_images, batch_labels in itertools.islice(iter(dataset.dataset), batches):
        images.append(batch_images.numpy())
        labels.append(batch_labels.numpy())
    return np.concatenate(images), np.concatenate(labels)


def test_weighted_batches_follow_the_weights():
    images, labels = toy_rows(5)
    weights = [0.25] + [0.75 / 4] * 4
    data = weighted_labelled_batches(images, labels, weights, batch_size=64, seed=3)
    assert data.num_images == 5 and data.batch_size == 64
    drawn_images, drawn_labels = draw(data, 100)  # 6400 rows
    assert drawn_images.shape == (6400, 4, 4, 1) and drawn_images.dtype == np.float32
    assert drawn_labels.dtype == np.int32
    rows = np.rint(drawn_images[:, 0, 0, 0] * 10).astype(int)
    np.testing.assert_array_equal(drawn_images, images[rows])  # whole images, unchanged
    np.testing.assert_array_equal(drawn_labels, labels[rows])  # each with its own label
    shares = np.bincount(rows, minlength=5) / len(rows)
    np.testing.assert_allclose(shares, weights, atol=0.025)  # sd of a share here: about 0.005


def test_weighted_batches_normalise_the_weights_and_skip_zero_weights():
    images, labels = toy_rows(3)
    data = weighted_labelled_batches(images, labels, [3.0, 0.0, 1.0], batch_size=50, seed=0)
    _, drawn = draw(data, 40)
    assert 11 not in drawn  # weight 0: never drawn
    np.testing.assert_allclose(np.mean(drawn == 10), 0.75, atol=0.03)


def test_weighted_batches_are_deterministic_for_a_seed():
    images, labels = toy_rows(6)
    weights = np.arange(1, 7, dtype=float)
    first = draw(weighted_labelled_batches(images, labels, weights, batch_size=16, seed=7), 5)
    again = draw(weighted_labelled_batches(images, labels, weights, batch_size=16, seed=7), 5)
    other = draw(weighted_labelled_batches(images, labels, weights, batch_size=16, seed=8), 5)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[1], other[1])
    # Batch t depends only on (seed, t): batches are not all the same draw.
    assert not np.array_equal(first[1][:16], first[1][16:32])


@pytest.mark.parametrize(
    "images, labels, weights",
    [
        (np.zeros((0, 4, 4, 1)), [], []),  # no images
        (np.zeros((3, 4, 4, 1)), [0, 1], [1, 1, 1]),  # too few labels
        (np.zeros((3, 4, 4, 1)), [0, 1, 2], [1, 1]),  # too few weights
        (np.zeros((3, 4, 4, 1)), [0, 1, 2], [[1, 1, 1]]),  # weights of another shape
        (np.zeros((3, 4, 4, 1)), [0, 1, 2], [1, -1, 1]),  # a negative weight
    ],
)
def test_weighted_batches_reject_bad_inputs(images, labels, weights):
    with pytest.raises(ValueError, match="weighted_labelled_batches needs as many labels and finite non-negative weights"):
        weighted_labelled_batches(images, labels, weights, batch_size=4)


def test_weighted_batches_reject_a_bad_batch_size():
    images, labels = toy_rows(3)
    for batch_size in (0, -1, 2.5):
        with pytest.raises(ValueError, match="batch_size must be a positive integer"):
            weighted_labelled_batches(images, labels, [1, 1, 1], batch_size=batch_size)


@pytest.mark.parametrize("weights", [[0.0, 0.0, 0.0], [np.nan, 1.0, 1.0], [np.inf, 1.0, 1.0]])
def test_weighted_batches_reject_weights_without_a_distribution(weights):
    images, labels = toy_rows(3)
    with pytest.raises(ValueError):
        weighted_labelled_batches(images, labels, weights, batch_size=4)


# ---------------------------------------------------- fine-tuning options


def run_config(runs_dir, name, steps=3):
    return RunConfig(
        name=name, runs_dir=str(runs_dir), data="digits", steps=steps, seed=0, flip=False,
        sample_every=steps, checkpoint_every=steps, log_every=1,
    )  # fmt: skip


@pytest.fixture(scope="module")
def cdcgan_run(tmp_path_factory):
    """A 3-step cDCGAN pre-trained on digits 0-8 (9 held out: label 9 is the free slot)."""
    runs_dir = tmp_path_factory.mktemp("finetune_runs")
    config = CDCGANConfig(
        resolution=32, channels=1, width=8, batch_size=8, latent_dim=8, test_classes="9",
        augmented_shots=16, adapt_steps=2,
    )  # fmt: skip
    return CDCGANTrainer(config, run_config(runs_dir, "cdcgan"), quiet=True).fit()


@pytest.fixture(scope="module")
def dcgan_run(tmp_path_factory):
    runs_dir = tmp_path_factory.mktemp("finetune_dcgan")
    config = DCGANConfig(resolution=32, channels=1, width=4, batch_size=8, latent_dim=8, augmented_shots=16)
    return DCGANTrainer(config, run_config(runs_dir, "dcgan", steps=1), quiet=True).fit()


@pytest.fixture(scope="module")
def shots():
    return load_shots("digits:9", shots=4, resolution=32, channels=1, seed=0)


@pytest.fixture
def trainers(monkeypatch):
    """The trainers fine-tuning builds (it returns only G): D is checked through them."""
    built = []
    original = CDCGANTrainer.__init__

    def recording_init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        built.append(self)

    monkeypatch.setattr(CDCGANTrainer, "__init__", recording_init)
    return built


def pretrained_discriminator(run_dir):
    family, model_config, _ = load_run_config(run_dir)
    D = get_family(family).build_discriminator(model_config)
    D.load_weights(f"{run_dir}/discriminator.weights.h5")
    return D


def test_cdcgan_run_has_a_free_class(cdcgan_run):
    _, model_config, _ = load_run_config(cdcgan_run)
    assert model_config.num_classes == 10 and model_config.test_classes == "9"


def _project_kernel_index(generator):
    kernel = generator.trunk.project.kernel
    return next(i for i, v in enumerate(generator.variables) if v is kernel)


@pytest.fixture(scope="module")
def class_row_finetuned(cdcgan_run, shots):
    """(pre-trained variable values, generator fine-tuned 3 steps with generator_part="class")."""
    pretrained = load_generator(cdcgan_run, ema=False)
    before = [np.array(v.numpy()) for v in pretrained.variables]
    generator = adapt_run(cdcgan_run, shots, steps=3, seed=0, generator_part="class").generator
    assert [v.name for v in generator.variables] == [v.name for v in pretrained.variables]
    return before, generator


def _is_moving_statistic(variable):
    return variable.name in ("moving_mean", "moving_variance")


def test_generator_part_class_trains_only_the_free_class_row(class_row_finetuned):
    before, generator = class_row_finetuned
    after = [np.array(v.numpy()) for v in generator.variables]
    index = _project_kernel_index(generator)
    row = generator.latent_dim + generator.num_classes - 1  # z, then the one-hot label: the free slot's row
    assert row == 8 + 9
    assert [v.path for v in generator.trainable_variables] == [generator.trunk.project.kernel.path]
    checked = 0
    for i, (a, b) in enumerate(zip(before, after)):
        variable = generator.variables[i]
        if i == index or _is_moving_statistic(variable):  # the statistics: the test below
            continue
        np.testing.assert_array_equal(b, a, err_msg=f"{variable.path} changed")
        checked += 1
    assert checked >= 8  # the convolutions, BN scales and offsets
    changed_rows = np.flatnonzero(np.any(after[index] != before[index], axis=1))
    assert changed_rows.tolist() == [row]
    assert generate(generator, 2).shape == (2, 32, 32, 1)


def test_generator_part_class_leaves_the_batchnorm_statistics(class_row_finetuned):
    before, generator = class_row_finetuned
    statistics = [(v, a) for v, a in zip(generator.variables, before) if _is_moving_statistic(v)]
    assert len(statistics) == 6  # project_bn, up0_bn, up1_bn
    for variable, value in statistics:
        np.testing.assert_array_equal(variable.numpy(), value, err_msg=f"{variable.path} changed")


def test_freeze_d_keeps_the_first_convolution(cdcgan_run, shots, trainers):
    reference = pretrained_discriminator(cdcgan_run)
    frozen_conv = [np.array(v.numpy()) for v in reference.trunk.convs[0].weights]
    second_conv = [np.array(v.numpy()) for v in reference.trunk.convs[1].weights]

    adapt_run(cdcgan_run, shots, steps=2, seed=0, freeze_d=1)
    (trainer,) = trainers
    D = trainer.discriminator
    assert frozen_conv and not any(v is D.trunk.convs[0].kernel for v in D.trainable_variables)
    for a, b in zip(frozen_conv, D.trunk.convs[0].weights):
        np.testing.assert_array_equal(b.numpy(), a)
    # D trained otherwise: the next convolution moved.
    assert any(not np.array_equal(b.numpy(), a) for a, b in zip(second_conv, D.trunk.convs[1].weights))

    adapt_run(cdcgan_run, shots, steps=2, seed=0)  # freeze_d=0: the first convolution trains too
    trained = trainers[1].discriminator.trunk.convs[0].weights
    assert any(not np.array_equal(b.numpy(), a) for a, b in zip(frozen_conv, trained))


def test_base_mix_draws_base_classes_beside_the_shots(cdcgan_run, shots, trainers):
    adaptation = adapt_run(cdcgan_run, shots, steps=2, seed=0, base_mix=0.5)
    generator = adaptation.generator
    assert generate(generator, 2).shape == (2, 32, 32, 1)
    assert adaptation.config.sample_class == 9
    (trainer,) = trainers
    labels = np.concatenate([b[1].numpy() for b in itertools.islice(iter(trainer.data.dataset), 30)])  # 240 rows
    assert set(labels) <= set(range(10))
    np.testing.assert_allclose(np.mean(labels == 9), 0.5, atol=0.12)  # the shots' share
    assert len(set(labels[labels != 9])) >= 5  # the pre-training classes with their own labels


@pytest.mark.parametrize(
    "options, message",
    [
        ({"base_mix": 1.0}, r"base_mix must be in \[0, 1\)"),
        ({"base_mix": -0.1}, r"base_mix must be in \[0, 1\)"),
        ({"freeze_d": -1}, "freeze_d must be a non-negative integer"),
        ({"freeze_d": 1.5}, "freeze_d must be a non-negative integer"),
        ({"generator_part": "trunk"}, "generator_part must be one of"),
    ],
)
def test_bad_options_raise(cdcgan_run, shots, options, message):
    with pytest.raises(ValueError, match=message):
        adapt_run(cdcgan_run, shots, steps=1, **options)


def test_conditional_options_on_a_dcgan_run_raise(dcgan_run, shots):
    with pytest.raises(ValueError, match="base_mix needs class labels.*dcgan run"):
        adapt_run(dcgan_run, shots, steps=1, base_mix=0.5)
    with pytest.raises(ValueError, match="generator_part.*'class' for cdcgan runs only.*dcgan run"):
        adapt_run(dcgan_run, shots, steps=1, generator_part="class")
    assert GENERATOR_PARTS == ("all", "class")
    # freeze_d needs no labels: it works on a dcgan run.
    assert generate(adapt_run(dcgan_run, shots, steps=1, freeze_d=2).generator, 1).shape == (1, 32, 32, 1)


# ------------------------------------------- truncation, EMA, DiffAugment


def test_truncation_scales_z_only_when_sampling():
    from tfgen.families.transfer.networks import DCGANGenerator

    G = DCGANGenerator(resolution=32, latent_dim=8, width=4, num_classes=3, truncation_psi=0.5)
    plain = DCGANGenerator(resolution=32, latent_dim=8, width=4, num_classes=3)
    plain.set_weights(G.get_weights())
    z = np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32)
    labels = np.array([0, 1, 2, 0], np.int32)
    np.testing.assert_allclose(G((z, labels), training=False), plain((0.5 * z, labels), training=False), atol=1e-6)
    # training never truncates (BatchNorm uses batch statistics: compare two training calls)
    np.testing.assert_allclose(G((z, labels), training=True), plain((z, labels), training=True), atol=1e-5)
    with pytest.raises(ValueError, match="truncation_psi"):
        DCGANGenerator(resolution=32, latent_dim=8, width=4, truncation_psi=0.0)


def test_finetuned_generator_samples_with_the_truncation_asked_for(cdcgan_run, shots):
    adaptation = adapt_run(cdcgan_run, shots, steps=2, truncation_psi=0.7)
    assert adaptation.generator.truncation_psi == 0.7 and adaptation.config.truncation_psi == 0.7
    assert adapt_run(cdcgan_run, shots, steps=2).generator.truncation_psi == 0.8  # the base's adapt_truncation_psi


def test_finetuning_with_an_ema_returns_the_average(cdcgan_run, shots, trainers):
    G = adapt_run(cdcgan_run, shots, steps=3, ema_decay=0.5).generator
    trainer = trainers[-1]
    assert G is trainer.generator_ema is not trainer.generator
    # the average lies between the pre-trained and the last weights: it differs from both
    last = trainer.generator.trunk.project.kernel.numpy()
    assert not np.array_equal(G.trunk.project.kernel.numpy(), last)


def test_finetuning_with_diff_augment_runs_and_rejects_unknown_policies(cdcgan_run, shots):
    G = adapt_run(cdcgan_run, shots, steps=2, diff_augment="translation,cutout").generator
    assert generate(G, 2).shape == (2, 32, 32, 1)
    with pytest.raises(ValueError, match="Unknown DiffAugment policy"):
        adapt_run(cdcgan_run, shots, steps=1, diff_augment="blur")
