"""How much to vary the shots of a new class, learnt from the other classes.

Images of a new class are drawn from its shots
(:class:`tfgen.models.shot_morph.ShotMorphGenerator`): a share of morphs
between two shots (:mod:`tfgen.morph`), the rest the shots themselves, all
then shifted, rotated, zoomed and re-lit with ranges scaled by a strength. The
right amounts differ by domain (fonts' glyphs are centred and upright, so
shifting them makes them less real; handwritten digits gain from both), so
they are not guessed: :func:`fit_policy` draws few-shot episodes from the
classes the user *has* plenty of images of, tries every candidate policy, and
keeps the one whose images are closest (Fréchet distance in a classifier of
those classes) to the rest of each class.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np

from tfgen.morph import ShotMorpher


@dataclasses.dataclass(frozen=True)
class ShotPolicy:
    morph_share: float  # share of the images that are morphs between two shots
    strength: float  # multiplies augment_shots' ranges; 0: no augmentation
    reach: float = 0.0  # morphs go this far past either shot

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


# Plain (augmented) shots, and morphs for half or all of the images, close to
# the shots or reaching past them, under four augmentation strengths.
CANDIDATES = tuple(ShotPolicy(0.0, s) for s in (0.0, 0.25, 0.5, 1.0)) + tuple(
    ShotPolicy(m, s, r) for m, s, r in itertools.product((0.5, 1.0), (0.0, 0.25, 0.5, 1.0), (0.0, 0.5))
)


def policy_generator(morpher: ShotMorpher, policy: ShotPolicy):
    """A :class:`tfgen.models.shot_morph.ShotMorphGenerator` of the morpher's shots under ``policy``."""
    from tfgen.models.shot_morph import ShotMorphGenerator

    _, side, _, channels = morpher.shots.shape
    generator = ShotMorphGenerator(resolution=side, channels=channels, num_shots=len(morpher.shots),
                                   morph_share=policy.morph_share, strength=policy.strength, reach=policy.reach)  # fmt: skip
    generator.set_shots(morpher)
    return generator


def fit_policy(images, labels, extractor, *, shots=4, seeds=(0, 1), num_images=100, max_classes=12,
               candidates=CANDIDATES):  # fmt: skip
    """The candidate whose images of each class come closest to the class.

    For every class in ``labels`` (at most ``max_classes``, spread over
    them, to bound the time) and seed, ``shots`` images are drawn as an
    episode's shots, the rest are the reference; every candidate makes
    ``min(num_images, rest)`` images from the shots, scored by the Fréchet
    distance to the reference in ``extractor``'s features divided by that of
    as many real images of the class (log-averaged over episodes).

    Returns ``(best policy, {policy index: mean log FD ratio})``.
    """
    from tfgen.metrics import extract_features, fid_from_features
    from tfgen.sampling import generate

    images, labels = np.asarray(images), np.asarray(labels)
    scores = {index: [] for index in range(len(candidates))}
    classes = np.unique(labels)
    classes = classes[np.round(np.linspace(0, len(classes) - 1, min(max_classes, len(classes)))).astype(int)]
    for label in classes:
        class_images = images[labels == label]
        for seed in seeds:
            order = np.random.default_rng([int(seed), int(label), 0x9011]).permutation(len(class_images))
            rest = class_images[order[shots:]]
            count = min(int(num_images), len(rest) // 2)
            if count < 10:
                continue  # too few images to measure a Fréchet distance on
            real, reference = rest[:count], rest[count:]
            reference_features = extract_features(extractor, reference)["features"]
            real_fd = fid_from_features(reference_features, extract_features(extractor, real)["features"])
            morpher = ShotMorpher.from_shots(class_images[order[:shots]])
            for index, policy in enumerate(candidates):
                made = generate(policy_generator(morpher, policy), count, batch_size=count, seed=int(seed))
                fd = fid_from_features(reference_features, extract_features(extractor, made)["features"])
                scores[index].append(np.log(max(fd, 1e-12) / max(real_fd, 1e-12)))
    if not scores[0]:
        raise ValueError(
            f"Fitting the shot policy needs classes with at least {shots + 20} images "
            f"({shots} shots and two halves of 10); the largest class has {np.bincount(labels).max()}."
        )
    means = {index: float(np.mean(values)) for index, values in scores.items()}
    return candidates[min(means, key=means.get)], means


__all__ = ["CANDIDATES", "ShotPolicy", "fit_policy", "policy_generator"]
