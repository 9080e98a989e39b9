"""Morphing between the shots of a class: smooth registration of every
ordered pair of shots and images part way from one shot to another.

An in-between of two real images of a class (a digit half way between two
slants, a glyph half way between two fonts' strokes) is new, yet keeps what
the two agree on. Pure NumPy, so it runs under any Keras backend and needs
no gradient machinery: the registration's gradient is written out by hand.

Conventions: images are float arrays [N, H, W, C] in [-1, 1]; a flow is
[N, H, W, 2] of (down, right) pixel offsets and ``warp(a, f)(p) = a(p + f(p))``
(bilinear, the border repeated).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tfgen.errors import InputError

# The flow lives on a coarse grid of GRID x GRID control points, interpolated
# to the image: only smooth, large-scale deformations (pose, slant, stroke
# placement) can be fitted, not a pixel-by-pixel copy of the other image.
GRID = 8


def _interpolation_matrix(size: int, grid: int) -> np.ndarray:
    """[size, grid] linear interpolation from ``grid`` control points spread
    over the first to the last pixel."""
    positions = np.linspace(0.0, grid - 1.0, size)
    low = np.minimum(np.floor(positions).astype(int), grid - 2) if grid > 1 else np.zeros(size, int)
    weight = positions - low
    matrix = np.zeros((size, grid), np.float32)
    matrix[np.arange(size), low] = 1.0 - weight
    if grid > 1:
        matrix[np.arange(size), low + 1] += weight
    return matrix


def upsample_flow(coarse: np.ndarray, height: int, width: int) -> np.ndarray:
    """[N, G, G, 2] control-point offsets -> [N, H, W, 2] flow."""
    rows = _interpolation_matrix(height, coarse.shape[1])
    cols = _interpolation_matrix(width, coarse.shape[2])
    return np.einsum("hg,ngkc,wk->nhwc", rows, coarse, cols, optimize=True).astype(np.float32)


def _sample(images, flow):
    """Bilinear samples of ``images`` at p + flow(p) and their derivatives
    with respect to the flow's two components (zero where the border clamps)."""
    n, h, w, _ = images.shape
    y = np.arange(h, dtype=np.float32)[None, :, None] + flow[..., 0]
    x = np.arange(w, dtype=np.float32)[None, None, :] + flow[..., 1]
    inside_y = (y >= 0) & (y <= h - 1)
    inside_x = (x >= 0) & (x <= w - 1)
    y = np.clip(y, 0, h - 1)
    x = np.clip(x, 0, w - 1)
    y0 = np.minimum(np.floor(y).astype(int), h - 2) if h > 1 else np.zeros_like(y, int)
    x0 = np.minimum(np.floor(x).astype(int), w - 2) if w > 1 else np.zeros_like(x, int)
    wy = (y - y0)[..., None]
    wx = (x - x0)[..., None]
    batch = np.arange(n)[:, None, None]
    top_left = images[batch, y0, x0]
    top_right = images[batch, y0, np.minimum(x0 + 1, w - 1)]
    bottom_left = images[batch, np.minimum(y0 + 1, h - 1), x0]
    bottom_right = images[batch, np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)]
    top = top_left + wx * (top_right - top_left)
    bottom = bottom_left + wx * (bottom_right - bottom_left)
    values = top + wy * (bottom - top)
    d_y = (bottom - top) * inside_y[..., None]
    d_x = ((1 - wy) * (top_right - top_left) + wy * (bottom_right - bottom_left)) * inside_x[..., None]
    return values, d_y, d_x


def warp(images: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``images`` [N, H, W, C] resampled at p + ``flow(p)`` (bilinear, border repeated)."""
    return _sample(np.asarray(images, np.float32), np.asarray(flow, np.float32))[0]


def registration_loss(moving, fixed, coarse, smoothness):
    """``(loss, gradient with respect to coarse)``: mean squared difference of
    the warped ``moving`` and ``fixed`` plus ``smoothness`` times the mean
    squared difference of neighbouring control points."""
    n, h, w, c = moving.shape
    flow = upsample_flow(coarse, h, w)
    warped, d_y, d_x = _sample(moving, flow)
    residual = warped - fixed
    loss = float(np.mean(residual**2))
    scale = 2.0 / residual.size
    grad_flow = np.stack([np.sum(residual * d_y, -1), np.sum(residual * d_x, -1)], -1) * scale
    rows = _interpolation_matrix(h, coarse.shape[1])
    cols = _interpolation_matrix(w, coarse.shape[2])
    grad = np.einsum("hg,nhwc,wk->ngkc", rows, grad_flow, cols, optimize=True)
    step_y = np.diff(coarse, axis=1)
    step_x = np.diff(coarse, axis=2)
    loss += smoothness * float(np.mean(step_y**2) + np.mean(step_x**2))
    smooth_grad = np.zeros_like(coarse)
    smooth_grad[:, 1:] += 2 * step_y / step_y.size
    smooth_grad[:, :-1] -= 2 * step_y / step_y.size
    smooth_grad[:, :, 1:] += 2 * step_x / step_x.size
    smooth_grad[:, :, :-1] -= 2 * step_x / step_x.size
    return loss, (grad + smoothness * smooth_grad).astype(np.float32)


def register(moving, fixed, *, grid=GRID, steps=300, learning_rate=0.3, smoothness=0.05):
    """Flows [N, H, W, 2] with ``warp(moving, flow) ~ fixed``, pair by pair:
    Adam on the coarse control points from zero offsets (deterministic)."""
    moving = np.asarray(moving, np.float32)
    fixed = np.asarray(fixed, np.float32)
    if moving.shape != fixed.shape or moving.ndim != 4:
        raise InputError(
            f"register expects two image batches of one shape [N, H, W, C]. Received: {moving.shape} and {fixed.shape}"
        )
    coarse = np.zeros((len(moving), grid, grid, 2), np.float32)
    first = np.zeros_like(coarse)
    second = np.zeros_like(coarse)
    beta1, beta2 = 0.9, 0.999
    for step in range(1, steps + 1):
        _, grad = registration_loss(moving, fixed, coarse, smoothness)
        first = beta1 * first + (1 - beta1) * grad
        second = beta2 * second + (1 - beta2) * grad**2
        corrected = first / (1 - beta1**step) / (np.sqrt(second / (1 - beta2**step)) + 1e-8)
        coarse -= learning_rate * corrected
    return upsample_flow(coarse, moving.shape[1], moving.shape[2])


def ordered_pairs(num_shots: int) -> list[tuple[int, int]]:
    """Every (i, j), i != j, in the order :class:`ShotMorpher` registers them."""
    return [(i, j) for i in range(num_shots) for j in range(num_shots) if i != j]


@dataclasses.dataclass
class ShotMorpher:
    """Every ordered pair of shots registered once; ``morphs`` then draws
    in-betweens: pair (i, j) and t ~ U(0, 1) give
    ``(1 - t) * warp(shot_i, t * f_ij) + t * warp(shot_j, -(1 - t) * f_ij)``,
    shot i's content moved t of the way to where shot j has it, cross-faded
    (t = 0: shot i, t = 1: shot j)."""

    shots: np.ndarray  # float32 [k, H, W, C] in [-1, 1]
    pairs: np.ndarray  # int [k (k - 1), 2]
    flows: np.ndarray | None  # [k (k - 1), H, W, 2]; None with one shot

    @classmethod
    def from_shots(cls, shots_uint8, **register_options):
        shots = np.asarray(shots_uint8)
        if shots.dtype != np.uint8 or shots.ndim != 4 or len(shots) < 1:
            raise InputError(f"ShotMorpher expects uint8 shots [k, H, W, C]. Received: {shots.dtype} {shots.shape}")
        floats = shots.astype(np.float32) / 127.5 - 1.0
        pairs = np.array(ordered_pairs(len(shots)), int).reshape(-1, 2)
        flows = register(floats[pairs[:, 0]], floats[pairs[:, 1]], **register_options) if len(pairs) else None
        return cls(floats, pairs, flows)

    def morphs(self, count: int, rng: np.random.Generator, reach: float = 0.0) -> np.ndarray:
        """``count`` in-betweens (float32 [count, H, W, C]); copies of the shot
        with one shot. ``reach`` > 0 also goes past the shots: t ~ U(-reach, 1 + reach)."""
        if self.flows is None:
            return self.shots[np.zeros(count, int)]
        choice = rng.integers(0, len(self.pairs), count)
        t = rng.uniform(-reach, 1.0 + reach, count).astype(np.float32)[:, None, None, None]
        flow = self.flows[choice]
        first = warp(self.shots[self.pairs[choice, 0]], t * flow)
        second = warp(self.shots[self.pairs[choice, 1]], -(1.0 - t) * flow)
        return (1.0 - t) * first + t * second


def shots_and_morphs(shots: np.ndarray, *, count: int = 300, seed: int = 0) -> np.ndarray:
    """The shots, their in-betweens and augmentations of both: float32 [count, R, R, C] in [-1, 1].

    A third of the rows past the shots are morphs (``ShotMorpher``: each
    ordered pair of shots registered, a random point on the warp between them;
    copies with one shot); the rest augment the shots and morphs alike
    (:func:`tfgen.data.episodes.augment_shots`). Training data for a GAN fine-tuned on a class
    that should see more than shifted shots. Same seed, same rows.
    """
    from tfgen.data.episodes import augment_shots

    shots = np.asarray(shots)
    if shots.ndim != 4 or shots.dtype != np.uint8 or len(shots) == 0 or count < len(shots):
        raise InputError(
            "shots_and_morphs expects uint8 images [n >= 1, R, R, C] and count >= n. "
            f"Received: shape={shots.shape}, dtype={shots.dtype}, count={count}"
        )
    extra = count - len(shots)
    morphs = ShotMorpher.from_shots(shots).morphs(extra // 3, np.random.default_rng([int(seed) & 0xFFFFFFFF, 0x3097]))
    morphs = np.clip(np.rint((morphs + 1.0) * 127.5), 0, 255).astype(np.uint8)
    return augment_shots(np.concatenate([shots, morphs]), count=count, seed=seed)


__all__ = ["GRID", "ShotMorpher", "ordered_pairs", "register", "registration_loss", "shots_and_morphs", "upsample_flow",
           "warp"]  # fmt: skip
