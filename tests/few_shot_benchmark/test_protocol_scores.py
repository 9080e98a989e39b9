"""The few-shot benchmark's pure parts: the protocol (which classes, which
images an episode shows and measures against), the scores against a fake
judge (checked with NumPy/SciPy computations written here), the report and
the reference rows. No training: fast."""

import dataclasses

import numpy as np
import pytest
from scipy import linalg

from tfgen.few_shot_benchmark import methods, protocol, report, scores
from tfgen.few_shot_benchmark.methods import METHODS, REFERENCES, Method, base_name, parse_methods, reference_images
from tfgen.few_shot_benchmark.protocol import Episode
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
    # The floor: the real row's features moved onto the shots' mean.
    np.testing.assert_allclose(baseline.floor_fd, frechet(reference, real - real.mean(0) + shots.mean(0)), rtol=1e-3)
    _, real_logits = judge.project(episode.real)
    assert baseline.real_judge_accuracy == pytest.approx(float(np.mean(real_logits.argmax(1) == 1)))
    every_real = np.concatenate([episode.real, episode.reference])
    assert baseline.copy_distance == pytest.approx(min(nearest_pixel_mse(image, episode.shots) for image in every_real))


def nearest_pixel_mse(image, shots):
    """Mean squared pixel error from one image to its nearest shot, by a plain loop."""
    return min(float(np.mean((image.astype(np.float64) - shot.astype(np.float64)) ** 2)) for shot in shots)


def test_the_real_row_scores_one(judged):
    judge, episode, baseline = judged
    result = scores.score_images(judge, episode.real, baseline)
    assert result["fd_ratio"] == pytest.approx(1.0, abs=1e-9)
    assert result["novelty"] == pytest.approx(1.0, abs=1e-9)
    assert result["diversity_ratio"] == pytest.approx(1.0, abs=1e-9)
    assert result["fd"] == pytest.approx(baseline.real_fd) and result["real_fd"] == baseline.real_fd
    assert result["fd_floor"] == pytest.approx(baseline.real_fd / baseline.floor_fd)
    assert result["judge_accuracy_ratio"] == pytest.approx(1.0)
    assert result["pixel_copies"] == 0.0  # no real image is closer to a shot than the closest real image


def test_copies_of_the_shots_have_no_novelty(judged):
    judge, episode, baseline = judged
    copies = reference_images("copies", episode)
    result = scores.score_images(judge, copies, baseline)
    assert result["novelty"] == 0.0
    assert baseline.copy_distance > 0 and result["pixel_copies"] == 1.0


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
    np.testing.assert_allclose(result["fd_floor"], frechet(reference, features) / baseline.floor_fd, rtol=1e-3)
    assert result["judge_accuracy_ratio"] == pytest.approx(expected_accuracy / baseline.real_judge_accuracy)
    # Other images are as far from the shots as random images are: no pixel copies.
    assert result["pixel_copies"] == 0.0
    # Another target class: only the accuracy changes.
    other = scores.score_images(judge, images, dataclasses.replace(baseline, target=2))
    assert other["judge_accuracy"] == pytest.approx(float(np.mean(np.argmax(logits, axis=1) == 2)))
    assert other["fd_ratio"] == result["fd_ratio"]


def test_pixel_copies_counts_images_closer_to_a_shot_than_any_real_image(judged):
    judge, episode, baseline = judged
    rng = np.random.default_rng(5)
    shots = episode.shots.astype(np.int64)
    # Noise whose MSE is a chosen fraction of the copy distance: below it a near-copy, above it not.
    def jittered(shot, fraction):
        noise = rng.choice([-1, 1], size=shot.shape) * np.sqrt(fraction * baseline.copy_distance)
        return np.clip(np.round(shot + noise), 0, 255).astype(np.uint8)

    near = [jittered(shots[i % 4], 0.25) for i in range(6)]
    far = [jittered(shots[i % 4], 4.0) for i in range(10)]
    images = np.stack(near + far + list(marked_images(4, seed=11)))
    expected = np.mean([nearest_pixel_mse(image, episode.shots) < baseline.copy_distance for image in images])
    assert expected == pytest.approx(6 / 20)  # the construction did what it meant to
    assert scores.score_images(judge, images, baseline)["pixel_copies"] == pytest.approx(expected)


def test_a_real_image_that_duplicates_a_shot_does_not_set_the_copy_distance():
    shots = marked_images(3, seed=20)
    real = marked_images(12, seed=21)
    expected = min(nearest_pixel_mse(image, shots) for image in real)
    assert scores.copy_distance(real, shots) == pytest.approx(expected)
    with_duplicate = np.concatenate([real, shots[1:2]])
    assert scores.copy_distance(with_duplicate, shots) == pytest.approx(expected)
    assert scores.copy_distance(shots, shots) == float("inf")


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
    assert scores.TARGETS == {"fd_floor": 2.0, "judge_accuracy_ratio": 0.95, "novelty": 0.8,
                              "pixel_copies": 0.05, "diversity_ratio": 0.8}  # fmt: skip
    assert not scores.meets_targets(at)  # fewer than 5% pixel copies: 5% itself fails
    at["pixel_copies"] = 0.0499
    assert scores.meets_targets(at)  # the other bounds are inclusive
    assert scores.meets_targets({**at, "fd_floor": 0.5, "judge_accuracy_ratio": 1.1, "novelty": 1.2,
                                 "pixel_copies": 0.0, "diversity_ratio": 1.5})  # fmt: skip
    assert not scores.meets_targets({**at, "fd_floor": 2.0001})
    assert not scores.meets_targets({**at, "judge_accuracy_ratio": 0.9499})
    assert not scores.meets_targets({**at, "novelty": 0.7999})
    assert not scores.meets_targets({**at, "diversity_ratio": 0.7999})


# ------------------------------------------------------------------ report


# Student's t 97.5% quantiles from a printed table, to check the intervals.
T_975 = {1: 12.7062, 2: 4.3027, 4: 2.7764}


def row(method, name, seed, fd_floor, acc_ratio, novelty=0.9, copies=0.0, diversity=0.9, seconds=1.0, shots=4):
    return {"method": method, "class": name, "seed": seed, "shots": shots, "fd_floor": fd_floor,
            "fd_ratio": 3.0 * fd_floor, "judge_accuracy": acc_ratio, "judge_accuracy_ratio": acc_ratio,
            "novelty": novelty, "pixel_copies": copies, "diversity_ratio": diversity, "seconds": seconds}  # fmt: skip


@pytest.fixture
def hand_made_episodes():
    return [
        *(row("real", c, seed, 0.3, 1.0, 1.0, 0.0, 1.0, 0.0) for c in "ab" for seed in (0, 1)),
        row("augmented_shots", "a", 0, 2.0, 0.9),
        row("augmented_shots", "a", 1, 4.0, 0.7),  # class a: FD ×floor 3
        row("augmented_shots", "b", 0, 2.0, 1.0),
        row("augmented_shots", "b", 1, 2.0, 1.0),  # class b: 2; mean 2.5
        row("gan", "a", 0, 1.0, 0.96, seconds=10.0),
        row("gan", "a", 1, 1.4, 0.98, seconds=20.0),  # class a: 1.2, acc 0.97, meets every target
        row("gan", "b", 0, 1.2, 0.85, copies=0.1),
        row("gan", "b", 1, 1.2, 0.95, copies=0.0),  # class b: 1.2, acc 0.90 < 0.95, copies 0.05: fails
    ]


def shotmorph_rows(fd_a, fd_b):
    return [row("shotmorph", c, seed, fd, 1.0) for c, fd in (("a", fd_a), ("b", fd_b)) for seed in (0, 1)]


def test_summarise_means_intervals_worst_and_counts(hand_made_episodes):
    summary = report.summarise(hand_made_episodes)
    assert list(summary) == ["real", "augmented_shots", "gan"]
    gan = summary["gan"]
    a, b = gan["classes"]["a"], gan["classes"]["b"]
    assert a["fd_floor"] == pytest.approx(1.2) and a["judge_accuracy_ratio"] == pytest.approx(0.97)
    assert a["seconds"] == pytest.approx(15.0) and a["seeds"] == 2 and gan["num_classes"] == 2
    assert b["pixel_copies"] == pytest.approx(0.05) and b["judge_accuracy_ratio"] == pytest.approx(0.90)
    # A class's interval is over its seeds: two values 1.0, 1.4 -> t(1) * sd / sqrt(2) = t(1) * 0.2.
    assert a["fd_floor_ci"] == pytest.approx(T_975[1] * 0.2, rel=1e-4)
    assert b["fd_floor_ci"] == 0.0
    # The mean's interval is over the seeds' class means: 1.1 and 1.3 -> t(1) * 0.1.
    assert gan["mean"]["fd_floor"] == pytest.approx(1.2)
    assert gan["ci"]["fd_floor"] == pytest.approx(T_975[1] * 0.1, rel=1e-4)
    assert gan["mean"]["judge_accuracy_ratio"] == pytest.approx(0.935)
    # Worst class: the largest of the lower-is-better scores, the smallest of the others.
    assert gan["worst"]["fd_floor"] == pytest.approx(1.2) and gan["worst"]["pixel_copies"] == pytest.approx(0.05)
    assert gan["worst"]["judge_accuracy_ratio"] == pytest.approx(0.90)
    assert gan["classes_meeting_targets"] == 1  # a; b misses accuracy and has 5% copies
    assert summary["augmented_shots"]["mean"]["fd_floor"] == pytest.approx(2.5)
    assert summary["real"]["classes_meeting_targets"] == 2


def test_interval_matches_a_t_table():
    values = [1.0, 2.0, 4.0, 3.0, 5.0]
    sd = np.std(values, ddof=1)
    assert report.interval(values) == pytest.approx(T_975[4] * sd / np.sqrt(5), rel=1e-4)
    assert report.interval([1.0, 2.0, 6.0]) == pytest.approx(T_975[2] * np.std([1, 2, 6], ddof=1) / np.sqrt(3), rel=1e-4)
    assert report.interval([3.0]) == 0.0


def test_milestone_is_below_the_augmented_shots_and_near_shot_morphing(hand_made_episodes):
    # gan: 1.2 < 2.5 (augmented), accuracy 0.935 >= 0.9, no shot morphing row: reached.
    assert report.summarise(hand_made_episodes)["gan"]["milestone"] is True
    # Shot morphing at 1.0: 1.2 <= 1.2 x 1.0 (inclusive) is within; at 0.9 it is not.
    with_shotmorph = report.summarise(hand_made_episodes + shotmorph_rows(1.0, 1.0))
    assert with_shotmorph["gan"]["milestone"] is True
    assert with_shotmorph["shotmorph"]["milestone"] is None  # the bar it sets is not one it is judged by
    assert report.summarise(hand_made_episodes + shotmorph_rows(0.8, 1.0))["gan"]["milestone"] is False
    # Too few recognisable images: not reached.
    low = [dict(e, judge_accuracy_ratio=0.8) if e["method"] == "gan" else e for e in hand_made_episodes]
    assert report.summarise(low)["gan"]["milestone"] is False
    # The references are not methods: no milestone; without the augmented shots no method has one.
    summary = report.summarise(hand_made_episodes)
    assert summary["augmented_shots"]["milestone"] is None and summary["real"]["milestone"] is None
    without = [e for e in hand_made_episodes if e["method"] != "augmented_shots"]
    assert all(entry["milestone"] is None for entry in report.summarise(without).values())


def test_recommended_bar(hand_made_episodes):
    summary = report.summarise(hand_made_episodes)
    assert report.meets_recommended_bar(summary["real"])
    assert not report.meets_recommended_bar(summary["gan"])  # class b misses its targets
    only_a = report.summarise([e for e in hand_made_episodes if e["class"] == "a"])
    assert report.meets_recommended_bar(only_a["gan"])  # 1.2 <= 1.3 and a meets every target
    worse = report.summarise([dict(e, fd_floor=1.35) for e in hand_made_episodes if e["class"] == "a"])
    assert not report.meets_recommended_bar(worse["gan"])


def test_shot_sweep_summarises_each_k_alone(hand_made_episodes):
    one_shot = [dict(e, shots=1, fd_floor=e["fd_floor"] * 2) for e in hand_made_episodes]
    table = report.shot_sweep(hand_made_episodes + one_shot)
    assert set(table["gan"]) == {1, 4}
    assert table["gan"][4][0] == pytest.approx(1.2) and table["gan"][1][0] == pytest.approx(2.4)
    assert table["gan"][1][1] == pytest.approx(T_975[1] * 0.2, rel=1e-4)  # seeds' means 2.2, 2.6
    assert table["gan"][4][2] == pytest.approx(3.6)  # FD ×real beside it


def markdown_result(episodes, **extra):
    return {
        "settings": {"data": "toy", "resolution": 32, "channels": 1, "per_base": 2, "shots": 4,
                     "seeds": [0, 1], "num_images": 30},  # fmt: skip
        "judge": {"epochs": 3, "validation_accuracy": 0.97},
        "held_out": [["a", "b"], ["c"]],
        "summary": report.summarise(episodes),
        "episodes": episodes,
        "bases": {"gan_toy_fold0": {"held_out": ["a", "b"], "train_seconds": 12.0}},
        **extra,
    }


def test_markdown_names_every_method_class_and_mark(hand_made_episodes):
    result = markdown_result(hand_made_episodes)
    text = report.markdown(result)
    for method in ("real", "augmented_shots", "gan"):
        assert f"| {method} |" in text
    assert "| method | a | b | c |" in text
    assert "toy" in text and "0.970" in text and "gan_toy_fold0" in text
    assert "1.20 ± 1.27 (1.20)" in text  # gan's FD ×floor: mean ± interval (worst)
    # A class no method was measured on shows a dash.
    real_row = [line for line in text.splitlines() if line.startswith("| real |")][-1]
    assert real_row.endswith("| – |")
    assert "†" not in text and "k = " not in text
    # A method that saw held-out images is marked, with the reason, and the sweep gets its table.
    one_shot = [dict(e, shots=1) for e in hand_made_episodes]
    text = report.markdown(markdown_result(hand_made_episodes, sees_held_out={"gan": "trains on p images"},
                                           shot_sweep=one_shot))  # fmt: skip
    assert "| gan † |" in text and "† gan: trains on p images" in text
    assert "| method | k = 1 | k = 4 |" in text
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


def test_the_methods_that_see_held_out_images_are_named():
    from tfgen.few_shot_benchmark.runner import sees_held_out

    found = sees_held_out(parse_methods(["real", "l2l", "cdcgan", "lofgan", "shotmorph"]))
    assert list(found) == ["l2l"] and "p = --samples-per-class images" in found["l2l"]


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
    from tfgen.few_shot_benchmark.runner import grid_slug

    assert grid_slug("augmented_shots") == "augmented-shots" and grid_slug("9") == "9"
    names = {grid_slug(name) for name in ("greek/Α", "greek/α", "greek/Ω", "greek/ω")}
    assert len(names) == 4 and all(name.isascii() and name.startswith("greek-") for name in names)


def test_the_score_cache_keeps_entries_another_process_wrote(tmp_path):
    from tfgen.few_shot_benchmark.runner import EpisodeScorer
    from tfgen.files import read_json, write_json_atomic

    path = str(tmp_path / "scores.json")
    write_json_atomic(path, {"theirs": {"fd_floor": 1.0}, "shared": {"fd_floor": 9.0}})  # written after we read
    mine = {"mine": {"fd_floor": 2.0}, "shared": {"fd_floor": 3.0}}
    judge = ProjectionJudge()
    judge.class_names = ["a", "b", "c"]
    scorer = EpisodeScorer(None, None, judge, {}, [], [], {}, mine, path)
    scorer._save_cache()
    expected = {"theirs": {"fd_floor": 1.0}, "mine": {"fd_floor": 2.0}, "shared": {"fd_floor": 3.0}}
    assert read_json(path, {}) == expected and scorer.cache == expected
