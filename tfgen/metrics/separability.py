"""Linear separability of a generator's latent space.

Karras et al., "A Style-Based Generator Architecture for Generative
Adversarial Networks" (CVPR 2019), section 4.2: if a latent space is
disentangled, a binary attribute of the images should be a linear function
of the latent point. Generate images from random z, label them with an
auxiliary classifier, keep the half of the samples the classifier is most
confident about, fit a linear SVM predicting the label Y from the latent
point (z, or w = f(z) for a style-based generator), and measure how much
label information the SVM's side of the hyperplane X leaves unexplained:
the conditional entropy H(Y|X). The score is

    separability = exp(sum over attributes i of H(Y_i | X_i))

(H in nats; StyleGAN's code sums H in bits and reports 2^sum: the same
number). 1 is perfect separability (every attribute linear in the latent);
an attribute the SVM cannot predict at all adds H(Y_i) <= ln 2 to the sum.
Lower is better.

Attributes here are the **classes** of tfgen's domain classifier
(:mod:`tfgen.features.classifier`; CelebA's 40 binary attribute classifiers in
StyleGAN): class c is the binary attribute "c or not c" (one-vs-rest) with
probability p = softmax(logits)[c], label p >= 0.5 and confidence
max(p, 1 - p). An attribute whose kept half has one label only (for instance
a class the generator never draws) cannot be separated or mispredicted: it
is skipped and listed in ``"skipped"`` (StyleGAN's code counts it as perfectly
predicted, which adds 0 to the sum: the same score).

    from tfgen.metrics import get_extractor
    from tfgen.metrics.separability import linear_separability
    classifier = get_extractor("classifier", path="runs/classifiers/digits")
    linear_separability(G, classifier, space="w", num_samples=10000)["separability_w"]

Details. The SVM is scikit-learn's ``LinearSVC`` with its defaults
(C = 1, squared hinge, ``dual="auto"``: the primal problem when there are more
samples than latent dimensions; StyleGAN's code uses ``LinearSVC()`` too) on
the raw latents, fitted and evaluated on the same kept samples; an SVM that
stops at ``max_iter`` is still used (its entropy is at worst a little high)
and named in ``"not_converged"``. Images come without truncation; those of a
style-based generator are ``synthesize(broadcast_w(mapping(z)))`` in both
spaces (so w and z are scored on the same images, as in StyleGAN), those of
any other generator ``G(z)``. z is row i of
``tfgen.sampling.create_input_noise(num_samples, latent_dim, seed)``, the
same z and images as ``tfgen.generate(G, num_samples, seed=seed)`` (which
sets the generator's noise from the seed per batch).
"""

from __future__ import annotations

import contextlib
import math
import warnings

import numpy as np

from tfgen.metrics.ppl import SPACES, _check_choice
from tfgen.errors import InputError
from tfgen.style_interface import is_style_generator, require_style_generator

KEEP_FRACTION = 0.5  # StyleGAN: the most confident 100,000 of 200,000 samples
DEFAULT_NUM_SAMPLES = 10000  # StyleGAN: 200,000


# ------------------------------------------------------------ pure functions


def conditional_entropy(labels, predictions) -> float:
    """H(Y|X) in nats of discrete labels Y given predictions X (1-D arrays of
    equal length, e.g. 0/1): ``-sum p(x, y) ln(p(x, y) / p(x))`` over the
    empirical joint distribution (the 2x2 table of counts for binary ones).

    0 when the predictions determine the labels; H(Y) when they are
    independent of them. Never negative.
    """
    labels, predictions = np.asarray(labels).ravel(), np.asarray(predictions).ravel()
    if labels.size != predictions.size:
        raise InputError(
            f"labels and predictions must have the same length. Received: {labels.size} and {predictions.size}"
        )
    if labels.size == 0:
        raise InputError("conditional_entropy needs at least one (label, prediction) pair.")
    _, y = np.unique(labels, return_inverse=True)
    _, x = np.unique(predictions, return_inverse=True)
    joint = np.zeros((x.max() + 1, y.max() + 1), np.float64)  # rows X, columns Y
    np.add.at(joint, (x, y), 1.0)
    joint /= labels.size
    p_x = joint.sum(axis=1, keepdims=True)
    nonzero = joint > 0
    entropy = -np.sum(joint[nonzero] * np.log((joint / p_x)[nonzero]))
    return max(0.0, float(entropy))  # -0.0 and rounding just below 0


def separability_from_latents(
    latents,
    probabilities,
    *,
    attribute_names=None,
    keep_fraction=KEEP_FRACTION,
    seed=0,
) -> dict:
    """Linear separability of binary attributes of samples, from arrays.

    Args:
        latents: ``[N, D]`` latent points (z or w) of the N samples.
        probabilities: ``[N, K]``: column i is the probability that sample n
            has attribute i (softmax class probabilities for one-vs-rest class
            attributes, or independent sigmoids; rows need not sum to 1).
            Label: p >= 0.5; confidence: max(p, 1 - p).
        attribute_names: K names for the result (default "0", "1", ...).
        keep_fraction: share of the samples kept per attribute, the most
            confident ones (StyleGAN: 0.5); at least 2 samples are kept.
        seed: the SVM's random state (its solver's shuffling).

    Returns:
        ``{"separability": exp(sum of H), "per_class_entropy": {name: H(Y|X)
        in nats} of the scored attributes, "skipped": names whose kept samples
        all have one label, "not_converged": names whose SVM hit max_iter,
        "num_samples": N, "num_kept": samples kept per attribute}``. NaN
        (with a warning) when latents or probabilities are not finite; 1.0
        (with a warning) when every attribute is skipped.
    """
    latents = np.asarray(latents, np.float64)
    probabilities = np.asarray(probabilities, np.float64)
    if latents.ndim != 2 or probabilities.ndim != 2 or len(latents) != len(probabilities):
        raise InputError(
            "latents must be [N, D] and probabilities [N, K] with the same N. "
            f"Received: latents.shape={latents.shape}, probabilities.shape={probabilities.shape}"
        )
    num_samples, num_attributes = probabilities.shape
    if num_samples * keep_fraction < 10 * latents.shape[1]:
        # The SVM is scored on the points it was fitted to (as in StyleGAN's
        # code, which uses 200k samples): with few points per dimension any
        # labels are separable and the score is meaninglessly close to 1.
        warnings.warn(
            f"Linear separability from {num_samples} samples of a {latents.shape[1]}-d latent keeps "
            f"{int(num_samples * keep_fraction)} points per class, fewer than 10 per dimension: the "
            "SVM can separate any labels and the score reads too good. Use more samples (--num-images).",
            stacklevel=2,
        )
    names = [str(i) for i in range(num_attributes)] if attribute_names is None else [str(n) for n in attribute_names]
    if len(names) != num_attributes:
        raise InputError(f"Got {len(names)} attribute names for {num_attributes} attributes.")
    if not 0.0 < float(keep_fraction) <= 1.0:
        raise InputError(f"keep_fraction must be in (0, 1]. Received: keep_fraction={keep_fraction!r}")
    num_kept = max(2, int(num_samples * float(keep_fraction)))
    if num_samples < num_kept:
        raise InputError(f"Need at least 2 samples. Received: {num_samples}")
    result = {"num_samples": int(num_samples), "num_kept": int(num_kept)}
    if not (np.all(np.isfinite(latents)) and np.all(np.isfinite(probabilities))):
        warnings.warn(
            "The latents or the classifier's probabilities are not finite (the generator's images "
            "contain NaN or inf?); the linear separability is NaN.",
            RuntimeWarning,
            stacklevel=2,
        )
        return {"separability": float("nan"), "per_class_entropy": {}, "skipped": [], "not_converged": [], **result}

    entropies, skipped, not_converged = {}, [], []
    for index, name in enumerate(names):
        p = probabilities[:, index]
        confidence = np.maximum(p, 1.0 - p)
        kept = np.argsort(-confidence, kind="stable")[:num_kept]  # ties: the earlier sample
        labels = (p[kept] >= 0.5).astype(np.int64)
        if labels.min() == labels.max():
            skipped.append(name)
            continue
        predictions, converged = _fit_predict_linear_svm(latents[kept], labels, seed)
        if not converged:
            not_converged.append(name)
        entropies[name] = conditional_entropy(labels, predictions)
    if not entropies:
        warnings.warn(
            f"Every attribute was skipped: the {num_kept} most confident samples of each carry one "
            "label only (e.g. the generator draws one class), so nothing was separated; the score is 1.",
            RuntimeWarning,
            stacklevel=2,
        )
    return {
        "separability": float(math.exp(sum(entropies.values()))),
        "per_class_entropy": entropies,
        "skipped": skipped,
        "not_converged": not_converged,
        **result,
    }


def _fit_predict_linear_svm(inputs, labels, seed):
    """(the predictions of a LinearSVC fitted to (inputs, labels) on inputs, converged?)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import LinearSVC

    svm = LinearSVC(dual="auto", random_state=int(seed))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        svm.fit(inputs, labels)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    for w in caught:  # pass on anything else
        if not issubclass(w.category, ConvergenceWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return svm.predict(inputs), converged


# ------------------------------------------------------------- a generator


def check_classifier_extractor(extractor):
    """ValueError unless ``extractor`` returns class logits (a domain classifier)."""
    num_classes = getattr(extractor, "num_classes", None)
    if not callable(extractor) or num_classes is None or int(num_classes) < 2:
        raise InputError(
            "Linear separability labels generated images with a classifier's class logits: pass "
            "tfgen.metrics.get_extractor('classifier', path=CLASSIFIER_FOLDER) (train one with "
            "tfgen.features.classifier.train_domain_classifier or `evaluate.py --train-classifier DATA`). "
            f"Received: {getattr(extractor, 'name', type(extractor).__name__)!r} with num_classes={num_classes!r}"
        )


def check_separability_arguments(generator, space, num_samples, batch_size):
    """Validate the arguments of :func:`linear_separability` before any work."""
    _check_choice("space", space, SPACES)
    if space == "w":
        require_style_generator(generator, "Linear separability in W (separability_w)")
    if getattr(generator, "latent_dim", None) is None:
        raise InputError(
            f"Linear separability in Z needs a generator with a `latent_dim` (z -> images). "
            f"Received: {type(generator).__name__}"
        )
    for key, value, minimum in (("num_samples", num_samples, 4), ("batch_size", batch_size, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
            raise InputError(f"{key} must be an integer >= {minimum}. Received: {key}={value!r}")


class _UntruncatedStyleSampler:
    """``z -> synthesize(broadcast_w(mapping(z), psi=1))``: a style generator
    sampled through its mapping without truncation, whatever its
    ``truncation_psi`` and ``sampling`` attributes; exposes ``variables`` so
    that tfgen.sampling seeds the generator's noise."""

    def __init__(self, generator):
        self.generator = generator
        self.latent_dim = generator.latent_dim
        self.name = getattr(generator, "name", "generator")

    @property
    def variables(self):
        return self.generator.variables

    def __call__(self, z, training=False):
        return self.generator.synthesize(self.generator.map(z, truncation_psi=1.0), training=False)


@contextlib.contextmanager
def _untruncated(generator):
    """A generator with ``truncation_psi`` set to 1 inside the block (restored after)."""
    psi = getattr(generator, "truncation_psi", None)
    if psi is None or psi == 1.0:
        yield generator
        return
    generator.truncation_psi = 1.0
    try:
        yield generator
    finally:
        generator.truncation_psi = psi


def generated_latents_and_probabilities(
    generator, classifier_extractor, *, num_samples, batch_size=50, seed=0, progress=False
) -> dict:
    """``{"z": [N, latent_dim], "w": [N, w_dim] (style generators only),
    "probabilities": [N, K]}`` (float64): the latents of N generated images
    and the classifier's softmax class probabilities of them (untruncated
    images; see the module doc)."""
    from scipy.special import softmax

    from tfgen.features.extractor import extract_features
    from tfgen.sampling import create_input_noise, iter_generate

    num_samples, batch_size = int(num_samples), int(batch_size)
    seed = int(np.random.default_rng().integers(2**31)) if seed is None else int(seed)
    style = is_style_generator(generator)
    z = create_input_noise(num_samples, int(generator.latent_dim), seed)  # the rows iter_generate feeds
    with contextlib.ExitStack() as stack:
        source = _UntruncatedStyleSampler(generator) if style else stack.enter_context(_untruncated(generator))
        images = iter_generate(source, num_samples, batch_size=batch_size, seed=seed, progress=progress)
        logits = extract_features(
            classifier_extractor, images, batch_size=batch_size, total=num_samples, description="classifying"
        )["logits"]
    result = {
        "z": z.astype(np.float64),
        "probabilities": softmax(np.asarray(logits, np.float64), axis=-1),
    }
    if style:
        from keras import ops

        result["w"] = np.concatenate(
            [
                np.asarray(ops.convert_to_numpy(generator.mapping(z[i : i + batch_size])), np.float64)
                for i in range(0, num_samples, batch_size)
            ]
        )
    return result


def linear_separability(
    generator,
    classifier_extractor,
    *,
    space="w",
    num_samples=DEFAULT_NUM_SAMPLES,
    batch_size=50,
    seed=0,
    keep_fraction=KEEP_FRACTION,
    progress=False,
) -> dict:
    """Linear separability of ``generator``'s latent space (StyleGAN, section 4.2)
    for one-vs-rest attributes from a domain classifier's classes.

    Args:
        generator: a style-based generator for ``space="w"`` (mapping f and
            synthesis g, e.g. ``StyleGenerator``); any ``z -> images``
            generator with a ``latent_dim`` for ``"z"``.
        classifier_extractor: ``get_extractor("classifier", path=...)`` (any
            extractor with ``num_classes`` that returns ``"logits"``).
        space: ``"w"`` (the SVM sees w = f(z)) or ``"z"``.
        num_samples: generated images (StyleGAN: 200,000); at least 4.
        batch_size: images per generator and classifier call.
        seed: fixes z, the generator's noise and the SVM (None: fresh).
        keep_fraction: share of the most confident samples kept per class.
        progress: progress bars.

    Returns:
        ``{"separability_<space>": exp(sum_c H(Y_c|X_c)) (>= 1, lower is
        better), "per_class_entropy": {class name: H in nats},
        "skipped": class names whose kept samples all had one label,
        "not_converged": classes whose SVM hit its iteration limit,
        "num_samples": N, "num_kept": samples per class, "space": space,
        "entropy_unit": "nats", "svm": "LinearSVC"}``.

    Raises:
        ValueError: ``space="w"`` with a generator that is not style-based, an
            extractor without class logits, an unknown space, num_samples < 4.
    """
    check_separability_arguments(generator, space, num_samples, batch_size)
    check_classifier_extractor(classifier_extractor)
    seed = int(np.random.default_rng().integers(2**31)) if seed is None else int(seed)
    samples = generated_latents_and_probabilities(
        generator, classifier_extractor, num_samples=num_samples, batch_size=batch_size, seed=seed, progress=progress
    )
    names = getattr(classifier_extractor, "class_names", None)
    if not names or len(names) != samples["probabilities"].shape[1]:
        names = None
    result = separability_from_latents(
        samples[space], samples["probabilities"], attribute_names=names, keep_fraction=keep_fraction, seed=seed
    )
    score = result.pop("separability")
    return {f"separability_{space}": score, **result, "space": space, "entropy_unit": "nats", "svm": "LinearSVC"}


def check_classifier_features(features, names=("separability_w", "separability_z")):
    """ValueError unless ``features`` (an extractor name or a built extractor)
    is the domain classifier, which linear separability labels images with."""
    name = features if isinstance(features, str) else getattr(features, "name", type(features).__name__)
    if name != "classifier":
        raise InputError(
            f"Metrics {list(names)} label generated images with a domain classifier's classes: use "
            "features='classifier' (evaluate.py --features classifier with --classifier FOLDER or "
            f"--train-classifier DATA). Received: features={name!r}"
        )


def separability_measure(
    generator,
    features="classifier",
    extractor_options=None,
    *,
    num_samples=DEFAULT_NUM_SAMPLES,
    batch_size=50,
    seed=0,
    progress=False,
    names=("separability_w", "separability_z"),
):
    """``space -> linear_separability(...)`` for an evaluation (what
    ``registry.MetricInputs.separability`` holds), each space computed once.

    ``features`` must be ``"classifier"`` (then ``extractor_options["path"]``
    is the classifier folder) or a built classifier extractor. The features,
    the generator and the arguments are checked now for the spaces of
    ``names`` (the metrics asked for), before any other metric runs; the
    extractor is built on the first call.
    """
    check_classifier_features(features, names)
    if generator is None:
        raise InputError(
            f"Metrics {list(names)} sample a generator's latent space: pass generator= (--generator), "
            "not generated images."
        )
    for name in names:
        check_separability_arguments(generator, name.rsplit("_", 1)[-1], num_samples, batch_size)
    results, extractor = {}, [None if isinstance(features, str) else features]

    def measure(space):
        if space not in results:
            check_separability_arguments(generator, space, num_samples, batch_size)
            if extractor[0] is None:
                from tfgen.features.extractor import get_extractor

                extractor[0] = get_extractor("classifier", **(extractor_options or {}))
            results[space] = linear_separability(
                generator, extractor[0], space=space, num_samples=num_samples, batch_size=batch_size,
                seed=seed, progress=progress,
            )  # fmt: skip
        return results[space]

    return measure
