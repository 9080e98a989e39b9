"""The few-shot benchmark's pure parts: the protocol (which classes, which
images an episode shows and measures against), the scores against a fake
judge (checked with NumPy/SciPy computations written here), the report and
the reference rows. No training: fast."""

import dataclasses

import numpy as np
import pytest
from scipy import linalg

from tfgen.benchmark import methods, protocol, report, scores
from tfgen.benchmark.methods import METHODS, REFERENCES, Method, base_name, parse_methods, reference_images
from tfgen.benchmark.protocol import Episode
from tfgen.features.extractor import FeatureExtractor
from tfgen.checks import check_run_name

# ------------------------------------------------------------------ helpers


def marked_images(count, size=8, channels=1, seed=0):
    """uint8 images [count, size, size, channels], image i marked with i in its
    first two pixels (so that every image is distinct and identifiable)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (count, size, size, channels), dtype=np.uint8)
    images[:, 0, 0, 0] = np.arange(count) % 256
    images[:, 0, 1, 0] = np.arange(count) // 256
    return images


def ids(images):
    return {bytes(image.tobytes()) for image in images}


class ProjectionJudge(FeatureExtractor):
    """A judge without a network: features and logits are fixed random linear
    projections of the (grey-replicated, centred) pixels."""

    name = "projection"
    feature_dim = 6
    num_classes = 3
    fingerprint = "test"

    def __init__(self, size=8, seed=0):
        rng = np.random.default_rng(seed)
        self.w_features = rng.standard_normal((size * size * 3, self.feature_dim))
        self.w_logits = rng.standard_normal((size * size * 3, self.num_classes))

    def project(self, images):
        """The same outputs, computed here from uint8 [B, H, W, 1] images."""
        x = np.repeat(images, 3, axis=-1).reshape(len(images), -1).astype(np.float64) / 255.0 - 0.5
        return x @ self.w_features, x @ self.w_logits

    def _extract(self, images):
        x = images.reshape(len(images), -1).astype(np.float64) / 255.0 - 0.5
        return {"features": x @ self.w_features, "logits": x @ self.w_logits}


def frechet(a, b):
    """Fréchet distance of two feature sets, straight from the definition."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(cov_a @ cov_b).real
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2 * root))


def mean_nearest(query, reference):
    query, reference = np.asarray(query, np.float64), np.asarray(reference, np.float64)
    return float(np.mean([np.min(np.linalg.norm(reference - q, axis=1)) for q in query]))


def mean_pairwise_unit(features):
    f = np.asarray(features, np.float64)
    f = f / np.linalg.norm(f, axis=1, keepdims=True)
    n = len(f)
    return float(np.mean([np.linalg.norm(f[i] - f[j]) for i in range(n) for j in range(i + 1, n)]))


# ------------------------------------------------------------------ protocol


def test_spread_classes_takes_first_and_last_evenly():
    names = [f"c{i}" for i in range(10)]
    assert protocol.spread_classes(names, 4) == ["c0", "c3", "c6", "c9"]
    for count in range(2, 10):
        picked = protocol.spread_classes(names, count)
        positions = [names.index(p) for p in picked]
        assert picked[0] == "c0" and picked[-1] == "c9"
        assert len(set(picked)) == count
        gaps = np.diff(positions)
        assert gaps.min() >= 1 and gaps.max() - gaps.min() <= 1, (count, positions)
    assert protocol.spread_classes(names, 1) == ["c0"]
    with pytest.raises(ValueError, match=r"leaves no class to train the base on.*10 classes.*--num-classes"):
        protocol.spread_classes(names, 10)
    with pytest.raises(ValueError, match="leaves no class"):
        protocol.spread_classes(names, 11)
    for bad in (0, -1, 2.0):
        with pytest.raises(ValueError, match="positive integer"):
            protocol.spread_classes(names, bad)


def test_group_classes():
    assert protocol.group_classes("abcde", 2) == [("a", "b"), ("c", "d"), ("e",)]
    assert protocol.group_classes(["a", "b"], 2) == [("a", "b")]
    assert protocol.group_classes(["a", "b", "c"], 1) == [("a",), ("b",), ("c",)]
    assert protocol.group_classes(["a", "b"], 5) == [("a", "b")]
    with pytest.raises(ValueError, match="positive integer"):
        protocol.group_classes(["a"], 0)


def test_check_class_sizes_names_the_short_class_and_the_remedy():
    names = ["zero", "one", "two"]
    labels = np.repeat([0, 1, 2], [30, 23, 24])  # shots 4: need 4 + 2 * 10 = 24
    protocol.check_class_sizes(labels, names, ["zero", "two"], shots=4)  # enough
    with pytest.raises(ValueError) as info:
        protocol.check_class_sizes(labels, names, ["zero", "one", "two"], shots=4)
    message = str(info.value)
    assert "at least 24 images" in message
    assert "one (23 images)" in message
    assert "zero (" not in message and "two (" not in message
    assert "--classes" in message and "--shots" in message
    protocol.check_class_sizes(labels, names, ["one"], shots=3)  # 23 is enough for 3 shots


def test_draw_episode_partitions_the_class():
    images = marked_images(50)
    episode = protocol.draw_episode(images, "c", shots=4, seed=0, num_images=100)
    assert isinstance(episode, Episode) and episode.class_name == "c" and episode.seed == 0
    rest = 50 - 4
    assert episode.shots.shape == (4, 8, 8, 1) and episode.shots.dtype == np.uint8
    assert len(episode.real) == rest // 2 == episode.num_images
    assert len(episode.reference) == rest - rest // 2
    shots, real, reference = ids(episode.shots), ids(episode.real), ids(episode.reference)
    assert len(shots) == 4 and len(real) == len(episode.real) and len(reference) == len(episode.reference)
    assert not shots & real and not shots & reference and not real & reference
    assert shots | real | reference == ids(images)

    small = protocol.draw_episode(images, "c", shots=4, seed=0, num_images=15)
    assert len(small.real) == 15 and len(small.reference) == rest - 15
    assert ids(small.shots) == shots  # the shots do not depend on num_images
    assert not ids(small.real) & ids(small.reference)


def test_draw_episode_seeds():
    images = marked_images(40)
    a = protocol.draw_episode(images, "c", shots=4, seed=3, num_images=10)
    b = protocol.draw_episode(images, "c", shots=4, seed=3, num_images=10)
    for field in ("shots", "real", "reference"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    others = [protocol.draw_episode(images, "c", shots=4, seed=s, num_images=10) for s in (0, 1, 2, 4)]
    for other in others:
        assert ids(other.shots) != ids(a.shots)


def test_draw_episode_needs_enough_images():
    protocol.draw_episode(marked_images(24), "c", shots=4, seed=0, num_images=100)  # 20 left: two halves of 10
    with pytest.raises(ValueError, match=r"Class 'tiny' leaves 19 images besides its 4 shots.*at least 20"):
        protocol.draw_episode(marked_images(23), "tiny", shots=4, seed=0, num_images=100)
    with pytest.raises(ValueError, match="leaves"):
        protocol.draw_episode(marked_images(50), "c", shots=4, seed=0, num_images=5)  # row under MIN_HALF


# ------------------------------------------------------------------ scores


@pytest.fixture(scope="module")
def judged():
    judge = ProjectionJudge()
    images = marked_images(60, seed=1)
    episode = protocol.draw_episode(images, "c", shots=4, seed=0, num_images=20)
    baseline = scores.episode_baseline(judge, episode, target=1)
    return judge, episode, baseline


def test_episode_baseline_matches_an_independent_computation(judged):
    judge, episode, baseline = judged
    real, _ = judge.project(episode.real)
    reference, _ = judge.project(episode.reference)
    shots, _ = judge.project(episode.shots)
    assert baseline.target == 1
    np.testing.assert_allclose(baseline.reference_features, reference, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(baseline.shot_features, shots, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(baseline.real_fd, frechet(reference, real), rtol=1e-3)
    np.testing.assert_allclose(baseline.real_nearest_shot, mean_nearest(real, shots), rtol=1e-4)
    np.testing.assert_allclose(baseline.real_diversity, mean_pairwise_unit(real), rtol=1e-4)


def test_the_real_row_scores_one(judged):
    judge, episode, baseline = judged
    result = scores.score_images(judge, episode.real, baseline)
    assert result["fd_ratio"] == pytest.approx(1.0, abs=1e-9)
    assert result["novelty"] == pytest.approx(1.0, abs=1e-9)
    assert result["diversity_ratio"] == pytest.approx(1.0, abs=1e-9)
    assert result["fd"] == pytest.approx(baseline.real_fd) and result["real_fd"] == baseline.real_fd


def test_copies_of_the_shots_have_no_novelty(judged):
    judge, episode, baseline = judged
    copies = reference_images("copies", episode)
    result = scores.score_images(judge, copies, baseline)
    assert result["novelty"] == 0.0


def test_scores_of_other_images_match_numpy(judged):
    judge, episode, baseline = judged
    images = marked_images(20, seed=7)
    features, logits = judge.project(images)
    reference, _ = judge.project(episode.reference)
    real, _ = judge.project(episode.real)
    shots, _ = judge.project(episode.shots)
    result = scores.score_images(judge, images, baseline)

    expected_accuracy = float(np.mean(np.argmax(logits, axis=1) == 1))
    assert 0 < expected_accuracy < 1  # the check means something
    assert result["judge_accuracy"] == pytest.approx(expected_accuracy)
    np.testing.assert_allclose(result["fd"], frechet(reference, features), rtol=1e-3)
    np.testing.assert_allclose(result["fd_ratio"], frechet(reference, features) / frechet(reference, real), rtol=1e-3)
    np.testing.assert_allclose(result["novelty"], mean_nearest(features, shots) / mean_nearest(real, shots), rtol=1e-4)
    np.testing.assert_allclose(result["diversity"], mean_pairwise_unit(features), rtol=1e-4)
    np.testing.assert_allclose(
        result["diversity_ratio"], mean_pairwise_unit(features) / mean_pairwise_unit(real), rtol=1e-4
    )
    # Another target class: only the accuracy changes.
    other = scores.score_images(judge, images, dataclasses.replace(baseline, target=2))
    assert other["judge_accuracy"] == pytest.approx(float(np.mean(np.argmax(logits, axis=1) == 2)))
    assert other["fd_ratio"] == result["fd_ratio"]


def test_score_images_through_a_monkeypatched_judge(monkeypatch):
    """The judge is only reached through judge_outputs: any function of the images works."""

    def outputs(judge, images):
        x = images.reshape(len(images), -1).astype(np.float64)
        return {"features": x[:, :4] + x[:, 4:8] ** 0.5, "logits": x[:, :3]}

    monkeypatch.setattr(scores, "judge_outputs", outputs)
    episode = protocol.draw_episode(marked_images(40, seed=2), "c", shots=4, seed=1, num_images=12)
    baseline = scores.episode_baseline(None, episode, target=0)
    result = scores.score_images(None, episode.real, baseline)
    assert result["fd_ratio"] == pytest.approx(1.0) and result["diversity_ratio"] == pytest.approx(1.0)
    logits = outputs(None, episode.shots)["logits"]
    shots_result = scores.score_images(None, episode.shots, baseline)
    assert shots_result["novelty"] == 0.0
    assert shots_result["judge_accuracy"] == pytest.approx(float(np.mean(logits.argmax(1) == 0)))


def test_meets_targets_boundaries():
    at = dict(scores.TARGETS)
    assert scores.TARGETS == {"fd_ratio": 3.0, "judge_accuracy": 0.95, "novelty": 0.8, "diversity_ratio": 0.8}
    assert scores.meets_targets(at)  # every bound is inclusive
    assert scores.meets_targets({**at, "fd_ratio": 0.5, "judge_accuracy": 1.0, "novelty": 1.2, "diversity_ratio": 1.5})
    assert not scores.meets_targets({**at, "fd_ratio": 3.0001})
    assert not scores.meets_targets({**at, "judge_accuracy": 0.9499})
    assert not scores.meets_targets({**at, "novelty": 0.7999})
    assert not scores.meets_targets({**at, "diversity_ratio": 0.7999})


# ------------------------------------------------------------------ report


def row(method, name, seed, fd, acc, novelty, diversity, seconds=1.0):
    return {"method": method, "class": name, "seed": seed, "fd_ratio": fd, "judge_accuracy": acc,
            "novelty": novelty, "diversity_ratio": diversity, "seconds": seconds}  # fmt: skip


@pytest.fixture
def hand_made_episodes():
    return [
        row("real", "a", 0, 1.0, 1.0, 1.0, 1.0, 0.0),
        row("real", "b", 0, 1.0, 1.0, 1.0, 1.0, 0.0),
        row("augmented_shots", "a", 0, 6.0, 0.9, 0.5, 1.0),
        row("augmented_shots", "a", 1, 10.0, 0.7, 0.7, 1.0),  # class a: fd 8, acc 0.8
        row("augmented_shots", "b", 0, 4.0, 1.0, 0.6, 0.9),
        row("gan", "a", 0, 2.0, 1.0, 0.9, 0.9, 10.0),
        row("gan", "a", 1, 3.0, 0.96, 1.1, 0.8, 20.0),  # class a: fd 2.5, acc 0.98, nov 1.0, div 0.85, 15 s
        row("gan", "b", 0, 2.5, 0.85, 0.8, 1.2, 30.0),  # fd 2.5 >= 0.5 * 4: no milestone; acc < 0.9
        row("gan", "c", 0, 1.0, 1.0, 1.0, 1.0, 0.0),  # no augmented row for c: never at the milestone
    ]


def test_summarise_means_worst_and_counts(hand_made_episodes):
    summary = report.summarise(hand_made_episodes)
    assert list(summary) == ["real", "augmented_shots", "gan"]
    gan = summary["gan"]
    a = gan["classes"]["a"]
    assert a["fd_ratio"] == pytest.approx(2.5) and a["judge_accuracy"] == pytest.approx(0.98)
    assert a["novelty"] == pytest.approx(1.0) and a["diversity_ratio"] == pytest.approx(0.85)
    assert a["seconds"] == pytest.approx(15.0) and a["seeds"] == 2
    assert gan["classes"]["b"]["seeds"] == 1 and gan["num_classes"] == 3
    # Worst class: the largest FD ratio, the smallest of the others.
    assert gan["worst"] == pytest.approx(
        {"fd_ratio": 2.5, "judge_accuracy": 0.85, "novelty": 0.8, "diversity_ratio": 0.85}
    )
    assert gan["mean"]["fd_ratio"] == pytest.approx((2.5 + 2.5 + 1.0) / 3)
    assert gan["mean"]["judge_accuracy"] == pytest.approx((0.98 + 0.85 + 1.0) / 3)
    assert gan["mean"]["diversity_ratio"] == pytest.approx((0.85 + 1.2 + 1.0) / 3)
    # a and c meet every target, b's accuracy does not.
    assert gan["classes_meeting_targets"] == 2
    # Milestone: FD below half the augmented shots' (a: 2.5 < 4) and accuracy >= 0.9;
    # b fails both, c has no augmented row.
    assert gan["classes_at_milestone"] == 1
    augmented = summary["augmented_shots"]
    assert augmented["classes"]["a"]["fd_ratio"] == pytest.approx(8.0)
    assert augmented["worst"]["fd_ratio"] == pytest.approx(8.0)
    assert augmented["worst"]["judge_accuracy"] == pytest.approx(0.8)
    assert augmented["classes_at_milestone"] == 0  # never below half of itself
    # The real row: FD 1 is below half the augmented shots' (8 and 4) for both classes.
    assert summary["real"]["classes_meeting_targets"] == 2 and summary["real"]["classes_at_milestone"] == 2


def test_summarise_without_an_augmented_row_has_no_milestone(hand_made_episodes):
    episodes = [e for e in hand_made_episodes if e["method"] != "augmented_shots"]
    summary = report.summarise(episodes)
    assert all(entry["classes_at_milestone"] == 0 for entry in summary.values())


def test_markdown_names_every_method_and_class(hand_made_episodes):
    summary = report.summarise(hand_made_episodes)
    result = {
        "settings": {"data": "toy", "resolution": 32, "channels": 1, "per_base": 2, "shots": 4,
                     "seeds": [0, 1], "num_images": 30},  # fmt: skip
        "judge": {"epochs": 3, "validation_accuracy": 0.97},
        "held_out": [["a", "b"], ["c"]],
        "summary": summary,
        "bases": {"gan_toy_fold0": {"held_out": ["a", "b"], "train_seconds": 12.0}},
    }
    text = report.markdown(result)
    for method in ("real", "augmented_shots", "gan"):
        assert f"| {method} |" in text
    for name in ("a", "b", "c"):
        assert name in text
    assert "| method | a | b | c |" in text
    assert "toy" in text and "0.970" in text and "gan_toy_fold0" in text
    # The row of a method missing a class shows a dash.
    real_row = [line for line in text.splitlines() if line.startswith("| real |")][-1]
    assert real_row.endswith("| – |")
    result["judge"]["validation_accuracy"] = None
    result["bases"] = {}
    assert "validation accuracy" not in report.markdown(result)


# --------------------------------------------------------------- methods


def small_episode(shots=3, real=7, seed=0):
    images = marked_images(shots + real + 12, size=16, seed=seed)
    return Episode("c", seed, images[:shots], images[shots : shots + real], images[shots + real :])


def test_reference_images():
    episode = small_episode()
    np.testing.assert_array_equal(reference_images("real", episode), episode.real)
    copies = reference_images("copies", episode)
    np.testing.assert_array_equal(copies, episode.shots[[0, 1, 2, 0, 1, 2, 0]])
    augmented = reference_images("augmented_shots", episode)
    assert augmented.shape == episode.real.shape and augmented.dtype == np.uint8
    np.testing.assert_array_equal(augmented[:3], episode.shots)
    assert not ids(augmented[3:]) & ids(episode.shots)  # the rest are augmented, not copies
    np.testing.assert_array_equal(reference_images("augmented_shots", episode), augmented)  # seeded
    # Fewer images asked for than shots: the first shots.
    few = Episode("c", 0, episode.shots, episode.real[:2], episode.reference)
    np.testing.assert_array_equal(reference_images("augmented_shots", few), episode.shots[:2])
    np.testing.assert_array_equal(reference_images("copies", few), episode.shots[:2])
    with pytest.raises(ValueError, match="Unknown reference 'nope'"):
        reference_images("nope", episode)


def test_parse_methods():
    rows = parse_methods(["real", "copies", "cdcgan", "dcgan"], ["--steps", "3"])
    assert rows[:2] == ["real", "copies"]
    assert rows[2] == Method("cdcgan", "cdcgan", ("--steps", "3")) and rows[3].model == "dcgan"
    assert METHODS["cdcgan"].train_flags == ()  # the defaults are left alone
    with pytest.raises(ValueError) as info:
        parse_methods(["real", "bogus"])
    message = str(info.value)
    assert "'bogus'" in message
    for name in (*METHODS, *REFERENCES):
        assert name in message


def test_base_name_is_a_plain_folder_name_shared_by_adapt_variants():
    group_a, group_b = ("greek/α", "greek/β"), ("greek/γ",)
    method = Method("cdcgan", "cdcgan", ("--steps", "5"))
    name = base_name(method, "glyphs-greek_r32c1", 0, group_a)
    assert check_run_name(name) == name and "/" not in name
    assert base_name(method, "glyphs-greek_r32c1", 0, group_a) == name  # stable
    # Other groups (index or classes), other flags, other data, other model: other bases.
    others = {
        base_name(method, "glyphs-greek_r32c1", 1, group_b),
        base_name(method, "glyphs-greek_r32c1", 0, group_b),
        base_name(method, "glyphs-greek_r32c1", 1, group_a),
        base_name(Method("cdcgan", "cdcgan", ("--steps", "6")), "glyphs-greek_r32c1", 0, group_a),
        base_name(Method("cdcgan", "cdcgan"), "glyphs-greek_r32c1", 0, group_a),
        base_name(method, "digits_r32c1", 0, group_a),
        base_name(Method("cdcgan", "dcgan", ("--steps", "5")), "glyphs-greek_r32c1", 0, group_a),
    }
    assert len(others) == 7 and name not in others
    for other in others:
        assert check_run_name(other) == other
    # A method that adapts the same base another way (another name, other adapt options) shares it.
    variant = Method("cdcgan_class_only", "cdcgan", ("--steps", "5"),
                     adapt=(("options", {"generator_part": "class"}), ("steps", 50)))  # fmt: skip
    assert base_name(variant, "glyphs-greek_r32c1", 0, group_a) == name
    assert methods.Method.signature(variant) == method.signature()


# --------------------------------------------------------------- glyphs K


def test_glyphs_samples_per_class_extends_the_default():
    from tfgen.data.builtin import load_builtin

    default = load_builtin("glyphs:greek/αβ")
    more = load_builtin("glyphs:greek/αβ::25")
    assert np.bincount(default.labels).tolist() == [20, 20]
    assert np.bincount(more.labels).tolist() == [25, 25]
    assert more.class_names == default.class_names == ["greek/α", "greek/β"]
    for k in range(2):  # sample j of a character does not depend on K
        np.testing.assert_array_equal(more.images[more.labels == k][:20], default.images[default.labels == k])
    np.testing.assert_array_equal(load_builtin("glyphs:greek/αβ:all:25").images, more.images)
    limited = load_builtin("glyphs:greek/αβ:30:25")
    assert np.bincount(limited.labels).tolist() == [25, 5]
    for bad in ("0", "x", "-2"):
        with pytest.raises(ValueError, match="samples per class must be a positive integer"):
            load_builtin(f"glyphs:greek/αβ::{bad}")


def test_grid_names_of_non_ascii_classes_do_not_collide():
    from tfgen.benchmark.runner import grid_slug

    assert grid_slug("augmented_shots") == "augmented-shots" and grid_slug("9") == "9"
    names = {grid_slug(name) for name in ("greek/Α", "greek/α", "greek/Ω", "greek/ω")}
    assert len(names) == 4 and all(name.isascii() and name.startswith("greek-") for name in names)
