"""LoFGAN's local fusion module (LFM), as functions of Keras ops.

Gu et al., "LoFGAN: Fusing Local Representations for Few-shot Image
Generation", ICCV 2021, section 3.2. Of the m images fused into one, the
first is the *base*; the others are references. The LFM

1. *selects* n random positions of the base's feature map (n = rate * h * w);
2. *matches* each selected base feature with its most similar feature
   (cosine similarity) in every reference's map;
3. *replaces* the base feature at each selected position by the sum of the
   base feature and its matches, weighted by random coefficients (one per
   image, summing to 1).

The local reconstruction loss (:mod:`tfgen.families.lofgan.losses`) applies
the same positions, matches and coefficients to the downsampled images, so
the fusion is written for any map ``[B, m, P, c]`` (P = h * w positions):
features or pixels.

Every tensor keeps the image axis in the order "base first": ``chosen[:, 0]``
is the base. Gathers and scatters are one-hot products: P is small (64 at
32 px) and they need no backend-specific indexing.
"""

from __future__ import annotations

import math

from keras import ops


def uniform_from_normal(z):
    """z ~ N(0, 1) as U(0, 1), entry by entry (the normal CDF)."""
    return 0.5 * (1.0 + ops.erf(ops.cast(z, "float32") / math.sqrt(2.0)))


def num_selected(rate, positions):
    """n: positions of the base the LFM replaces (the official ``int(rate * h * w)``, at least 1)."""
    return max(1, int(rate * positions))


def latent_size(positions, held, fused):
    """Entries of the generator's z: a key per position, a key per held image, a coefficient per fused image."""
    return positions + held + fused


def draw_fusion(z, *, positions, held, fused, selected):
    """The LFM's random choices, drawn from z [B, latent_size(...)] ~ N(0, I).

    Returns ``(chosen [B, fused] int32, positions [B, selected] int32,
    coefficients [B, fused] float32)``: which held images are fused (base
    first: the one with the largest key, so every image is the base equally
    often), which base positions are replaced (the ``selected`` largest of
    i.i.d. keys: a uniform subset), and coefficients U(0, 1) normalised to sum
    to 1 (the official code's draw).
    """
    uniform = uniform_from_normal(z)
    _, where = ops.top_k(uniform[:, :positions], selected)
    _, chosen = ops.top_k(uniform[:, positions : positions + held], fused)
    draws = uniform[:, positions + held : positions + held + fused] + 1e-6  # > 0 even where erf saturates
    coefficients = draws / ops.sum(draws, axis=1, keepdims=True)
    return ops.cast(chosen, "int32"), ops.cast(where, "int32"), coefficients


def take_images(values, chosen):
    """``values`` [B, k, ...] at ``chosen`` [B, m] along the image axis -> [B, m, ...]."""
    batch, held = ops.shape(values)[0], ops.shape(values)[1]
    flat = ops.reshape(values, (-1,) + tuple(values.shape[2:]))
    index = chosen + ops.arange(batch, dtype="int32")[:, None] * ops.cast(held, "int32")
    return ops.take(flat, index, axis=0)


def _one_hot(indices, depth, dtype):
    return ops.one_hot(indices, depth, dtype=dtype)


def match_positions(features, positions):
    """Step 2: for each selected base position, the most similar position
    (cosine similarity) in every image's map.

    Args:
        features: [B, m, P, c], base first.
        positions: [B, n] selected positions of the base.

    Returns:
        int32 [B, m, n]: row 0 is ``positions`` itself (the base keeps its
        own features, also where another position ties with it), row j > 0
        the argmax over reference j's positions.
    """
    features = ops.cast(features, "float32")
    num_positions = features.shape[2]
    select = _one_hot(positions, num_positions, "float32")  # [B, n, P]
    picked = ops.einsum("bnp,bpc->bnc", select, features[:, 0])
    unit = lambda x: x / ops.sqrt(ops.maximum(ops.sum(ops.square(x), axis=-1, keepdims=True), 1e-24))  # noqa: E731
    similarity = ops.einsum("bnc,bmpc->bmnp", unit(picked), unit(features[:, 1:]))  # [B, m-1, n, P]
    matched = ops.cast(ops.argmax(similarity, axis=-1), "int32")
    return ops.concatenate([ops.cast(positions, "int32")[:, None], matched], axis=1)


def fuse_local(maps, positions, matched, coefficients):
    """Step 3: the base map with each selected position replaced by the
    coefficient-weighted sum of the base's and the references' matched values.

    Args:
        maps: [B, m, P, c] (features, or downsampled pixels for the LRL), base first.
        positions: [B, n] selected base positions (distinct).
        matched: [B, m, n] from :func:`match_positions`.
        coefficients: [B, m], summing to 1.

    Returns:
        [B, P, c] in the dtype of ``maps``.
    """
    dtype = maps.dtype
    num_positions = maps.shape[2]
    picked = ops.einsum("bmnp,bmpc->bmnc", _one_hot(matched, num_positions, dtype), maps)  # [B, m, n, c]
    fused = ops.einsum("bm,bmnc->bnc", ops.cast(coefficients, dtype), picked)
    select = _one_hot(positions, num_positions, dtype)  # [B, n, P]
    keep = 1.0 - ops.sum(select, axis=1)[:, :, None]  # 0 at the replaced positions
    return maps[:, 0] * keep + ops.einsum("bnp,bnc->bpc", select, fused)


__all__ = ["draw_fusion", "fuse_local", "latent_size", "match_positions", "num_selected", "take_images",
           "uniform_from_normal"]  # fmt: skip
