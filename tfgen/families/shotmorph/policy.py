"""How much to vary the shots of a new class, learnt from the other classes.

Images of a new class are drawn from its shots
(:class:`tfgen.families.shotmorph.networks.ShotMorphGenerator`): a share of morphs
between two shots (:mod:`tfgen.morph`), the rest the shots themselves; all
then deformed by a scaled flow of the *bank* (:func:`flow_bank`: how two
images of one training class differ, so the variation comes from the classes
the base knows), given a position, size, slant and ink level drawn from the
training classes' spread of them (:mod:`tfgen.families.shotmorph.restyle`), and shifted,
rotated, zoomed and re-lit with ranges scaled by a strength. The right amounts differ by domain (fonts' glyphs are
centred and upright, so shifting them makes them less real; handwritten
digits gain from all of it), so they are not guessed: :func:`fit_policy` draws few-shot episodes from the
classes the user *has* plenty of images of, tries every candidate policy, and
keeps the one whose images are closest (Fréchet distance in a classifier of
those classes) to the rest of each class.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np

from tfgen.morph import ShotMorpher
from tfgen.errors import InputError


@dataclasses.dataclass(frozen=True)
class ShotPolicy:
    morph_share: float  # share of the images that are morphs between two shots
    strength: float  # multiplies augment_shots' ranges; 0: no augmentation
    reach: float = 0.0  # morphs go this far past either shot
    bank_scale: float = 0.0  # each image is deformed by a bank flow times this (0: none)
    pose_spread: float = 0.0  # position, size and slant drawn from the style prior, deviations times this (0: kept)
    ink_spread: float = 0.0  # the same for the ink level

    @property
    def restyles(self) -> bool:
        return self.pose_spread > 0 or self.ink_spread > 0

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def of(cls, config) -> "ShotPolicy":
        """The policy a :class:`tfgen.families.shotmorph.config.ShotMorphConfig` holds."""
        return cls(**{field.name: getattr(config, field.name) for field in dataclasses.fields(cls)})


# Plain (augmented) shots, and morphs for half or all of the images, close to
# the shots or reaching past them, under four augmentation strengths; then
# the same shares of morphs deformed by bank flows at three scales, with no
# or half augmentation; then the ink level drawn from the style prior for
# shots, morphs and bank-deformed ones (without augmentation: the prior
# replaces its re-lighting). Drawing the pose too (pose_spread 0.5 or 1) was
# measured and lost on every set (docs/few_shot_benchmark.md), so it is not
# a candidate.
CANDIDATES = (
    tuple(ShotPolicy(0.0, s) for s in (0.0, 0.25, 0.5, 1.0))
    + tuple(ShotPolicy(m, s, r) for m, s, r in itertools.product((0.5, 1.0), (0.0, 0.25, 0.5, 1.0), (0.0, 0.5)))
    + tuple(ShotPolicy(m, s, 0.0, b) for m, s, b in itertools.product((0.0, 0.5, 1.0), (0.0, 0.5), (0.5, 0.75, 1.0)))
    + tuple(ShotPolicy(m, 0.0, 0.5 if m else 0.0, b, 0.0, 1.0) for m, b in itertools.product((0.0, 0.5, 1.0), (0.0, 0.75)))
)
# Flow bank: pairs of images registered per training class (at most BANK_CLASSES classes).
BANK_PAIRS_PER_CLASS, BANK_CLASSES = 40, 12


def spread_labels(labels, count):
    """At most ``count`` of the distinct ``labels``, spread evenly over them."""
    distinct = np.unique(labels)
    return distinct[np.round(np.linspace(0, len(distinct) - 1, min(count, len(distinct)))).astype(int)]


def flow_bank(images, labels, *, pairs_per_class=BANK_PAIRS_PER_CLASS, max_classes=BANK_CLASSES, seed=0):
    """``(flows [M, R, R, 2], their class labels [M])``: for each of up to
    ``max_classes`` classes, ``pairs_per_class`` random pairs of its images
    registered (:func:`tfgen.morph.register`), i.e. how one image of the
    class is deformed into another."""
    from tfgen.morph import register

    images, labels = np.asarray(images), np.asarray(labels)
    rng = np.random.default_rng([int(seed), 0xBA4C])
    moving, fixed, owners = [], [], []
    for label in spread_labels(labels, max_classes):
        members = np.flatnonzero(labels == label)
        if len(members) < 2:
            continue
        first = rng.choice(members, pairs_per_class)
        second = np.array([rng.choice(members[members != i]) for i in first])
        moving.append(images[first])
        fixed.append(images[second])
        owners.append(np.full(pairs_per_class, label))
    if not moving:
        raise InputError("The flow bank needs a class with at least 2 images.")
    to_float = lambda batch: np.concatenate(batch).astype(np.float32) / 127.5 - 1.0  # noqa: E731
    return register(to_float(moving), to_float(fixed)), np.concatenate(owners)


def policy_generator(morpher: ShotMorpher, policy: ShotPolicy, bank=None, style_prior=None):
    """A :class:`tfgen.families.shotmorph.networks.ShotMorphGenerator` of the morpher's
    shots under ``policy``, holding ``bank`` (flows [M, R, R, 2]) and the
    style of ``style_prior`` (a :class:`tfgen.families.shotmorph.restyle.StylePrior`) when the
    policy uses them (named as ``tfgen.load_generator`` names it)."""
    from keras import ops

    from tfgen.families.shotmorph.networks import ShotMorphGenerator
    from tfgen.families.shotmorph.restyle import moments

    _, side, _, channels = morpher.shots.shape
    bank = bank if policy.bank_scale > 0 else None
    if policy.bank_scale > 0 and (bank is None or len(bank) == 0):
        raise InputError(f"{policy} deforms with bank flows, but no bank was given.")
    style_prior = style_prior if policy.restyles else None
    if policy.restyles and style_prior is None:
        raise InputError(f"{policy} draws styles, but no style prior was given.")
    generator = ShotMorphGenerator(resolution=side, channels=channels, num_shots=len(morpher.shots),
                                   bank_size=0 if bank is None else len(bank),
                                   style_size=0 if style_prior is None else len(style_prior.deviations),
                                   name="generator", **policy.to_json())  # fmt: skip
    generator.set_shots(morpher)
    if bank is not None:
        generator.set_bank(np.asarray(bank, np.float32))
    if style_prior is not None:
        shot_styles = ops.convert_to_numpy(moments(morpher.shots))
        generator.set_style(style_prior.class_mean(shot_styles), style_prior.deviations)
    return generator


def fit_policy(images, labels, extractor, *, bank=None, styles=None, shots=4, seeds=(0, 1), num_images=100,
               max_classes=12, candidates=CANDIDATES):  # fmt: skip
    """The candidate whose images of each class come closest to the class.

    For every class in ``labels`` (at most ``max_classes``, spread over
    them, to bound the time) and seed, ``shots`` images are drawn as an
    episode's shots, the rest are the reference; every candidate makes
    ``min(num_images, rest)`` images from the shots, scored by the Fréchet
    distance to the reference in ``extractor``'s features divided by that of
    as many real images of the class (log-averaged over episodes).
    ``bank`` is ``flow_bank``'s ``(flows, labels)``; an episode's images use
    only the flows of *other* classes, as a held-out class's would.
    ``styles`` are the images' style moments (:func:`tfgen.families.shotmorph.restyle.moments_of_uint8`);
    an episode's style prior is fitted on the other classes' alone. Without a
    bank or styles, the candidates that need them are skipped.

    Returns ``(best policy, {policy: mean log FD ratio})``.
    """
    from tfgen.metrics import extract_features, fid_from_features
    from tfgen.families.shotmorph.restyle import StylePrior
    from tfgen.sampling import generate

    images, labels = np.asarray(images), np.asarray(labels)
    if bank is None:
        candidates = tuple(c for c in candidates if c.bank_scale == 0)
    if styles is None:
        candidates = tuple(c for c in candidates if not c.restyles)
    scores = {index: [] for index in range(len(candidates))}
    for label in spread_labels(labels, max_classes):
        class_images = images[labels == label]
        # What the other classes teach, the same for every episode of this class.
        others = None if bank is None else bank[0][bank[1] != label]
        prior = None
        if styles is not None and np.any(labels != label):
            prior = StylePrior.fit(styles[labels != label], labels[labels != label], shots=shots)
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
                if (policy.bank_scale > 0 and not len(others)) or (policy.restyles and prior is None):
                    continue  # the bank (or the images) hold only this class
                made = generate(policy_generator(morpher, policy, others, prior), count, batch_size=count,
                                seed=int(seed))  # fmt: skip
                fd = fid_from_features(reference_features, extract_features(extractor, made)["features"])
                scores[index].append(np.log(max(fd, 1e-12) / max(real_fd, 1e-12)))
    if not scores[0]:
        raise InputError(
            f"Fitting the shot policy needs classes with at least {shots + 20} images "
            f"({shots} shots and two halves of 10); the largest class has {np.bincount(labels).max()}."
        )
    means = {candidates[index]: float(np.mean(values)) for index, values in scores.items() if values}
    return min(means, key=means.get), means


__all__ = ["CANDIDATES", "ShotPolicy", "fit_policy", "flow_bank", "policy_generator"]
