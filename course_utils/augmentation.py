"""Data augmentation: for the low-data regime of chapter 04, and inside a model's graph.

Two families for chapter 04:

- hand-crafted, in pixel space: small random shifts and rotations (:func:`shift_and_rotate`);
- learned, in a VAE's latent space (DeVries & Taylor, 2017; Jorge et al., 2018): alter the
  code ``c`` of a labelled image and decode the result. With ``c_k`` one of the ``k`` nearest
  codes *of the same class*,

  - noise:         ``c' = c + sigma * eps``, ``eps ~ N(0, I)``;
  - interpolation: ``c' = c + lam * (c_k - c)`` (towards the neighbour);
  - extrapolation: ``c' = c + lam * (c - c_k)`` (away from it).

The operators are pure NumPy functions of codes; decoding is left to the caller, so they work
with any encoder and decoder.

For use inside a training step, :class:`RandomAffine` moves a batch of images by random
rotations, zooms and shifts in one differentiable resampling (chapter 08's InfoGAN reads its
codes from such moved copies).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from course_utils._tensorflow import keras
from course_utils.geometry import IMAGE_SIDE

LATENT_SCHEMES = ("noise", "interpolation", "extrapolation")


def add_noise(codes, sigma, *, rng: np.random.Generator) -> np.ndarray:
    """``codes + sigma * eps`` with ``eps ~ N(0, I)``.

    Args:
        codes: ``(n, d)``.
        sigma: a scalar or a ``(d,)`` per-dimension standard deviation.
        rng: the source of ``eps``.
    """
    codes = np.asarray(codes, dtype=np.float64)
    return codes + np.asarray(sigma) * rng.standard_normal(codes.shape)


def interpolate(codes, neighbour_codes, lam) -> np.ndarray:
    """``c + lam * (c_k - c)``: ``lam = 0`` keeps ``c``, ``lam = 1`` gives the neighbour.

    Args:
        codes, neighbour_codes: ``(n, d)``, row ``i`` of each forming a pair.
        lam: a scalar or an ``(n,)`` array (one value per pair).
    """
    codes, neighbour_codes, lam = _pairs(codes, neighbour_codes, lam)
    return codes + lam * (neighbour_codes - codes)


def extrapolate(codes, neighbour_codes, lam) -> np.ndarray:
    """``c + lam * (c - c_k)``: step *away* from the neighbour, beyond ``c``.

    Args: as :func:`interpolate`.
    """
    codes, neighbour_codes, lam = _pairs(codes, neighbour_codes, lam)
    return codes + lam * (codes - neighbour_codes)


def _pairs(codes, neighbour_codes, lam):
    codes = np.asarray(codes, dtype=np.float64)
    neighbour_codes = np.asarray(neighbour_codes, dtype=np.float64)
    if codes.shape != neighbour_codes.shape or codes.ndim != 2:
        raise ValueError(f"codes and neighbour_codes must both be (n, d), got {codes.shape} "
                         f"and {neighbour_codes.shape}")
    lam = np.asarray(lam, dtype=np.float64)
    return codes, neighbour_codes, lam[:, None] if lam.ndim == 1 else lam


def same_class_neighbours(codes, labels, *, k: int = 5) -> np.ndarray:
    """The ``k`` nearest codes (Euclidean) of the same label, for every code, itself excluded.

    Args:
        codes: ``(n, d)``.
        labels: ``(n,)`` integer labels.
        k: neighbours per code; every label needs at least ``k + 1`` codes.

    Returns:
        ``(n, k)`` indices into ``codes``, nearest first.
    """
    codes = np.asarray(codes, dtype=np.float64)
    labels = np.asarray(labels)
    if len(codes) != len(labels):
        raise ValueError(f"{len(codes)} codes but {len(labels)} labels")
    neighbours = np.empty((len(codes), k), dtype=np.int64)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if len(members) <= k:
            raise ValueError(f"label {label} has {len(members)} codes; k = {k} same-class "
                             f"neighbours need at least {k + 1}")
        points = codes[members]
        distances = ((points[:, None, :] - points[None, :, :]) ** 2).sum(axis=-1)
        np.fill_diagonal(distances, np.inf)
        neighbours[members] = members[np.argsort(distances, axis=1, kind="stable")[:, :k]]
    return neighbours


def augment_codes(codes, labels, *, scheme: str, strength: float, copies: int, k: int = 5,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """New codes for a labelled set: ``copies`` per code, by one latent scheme.

    - ``"noise"``: ``sigma = strength * codes.std(axis=0)``, the noise scaled to the codes'
      spread in each dimension.
    - ``"interpolation"`` / ``"extrapolation"``: for each new code, a neighbour drawn uniformly
      from the ``k`` nearest same-class codes and ``lam`` drawn uniformly from
      ``[0, strength]``. (DeVries & Taylor use one fixed ``lam`` and one neighbour; drawing both
      keeps the ``copies`` new codes of an image distinct when ``copies > k``.)

    Args:
        codes: ``(n, d)`` codes of the labelled images (e.g. the encoder's posterior means).
        labels: ``(n,)``.
        scheme: one of :data:`LATENT_SCHEMES`.
        strength: the noise scale relative to the spread, or the largest ``lam``; >= 0.
        copies: new codes per labelled code.
        k: same-class neighbours to choose from.
        rng: the source of every random choice.

    Returns:
        ``(n * copies, d)`` new codes (code ``i``'s copies are rows ``i*copies`` to
        ``(i+1)*copies - 1``) and their ``(n * copies,)`` labels.
    """
    if scheme not in LATENT_SCHEMES:
        raise ValueError(f"scheme must be one of {LATENT_SCHEMES}, got {scheme!r}")
    if strength < 0 or copies < 1:
        raise ValueError(f"need strength >= 0 and copies >= 1, got {strength}, {copies}")
    codes = np.asarray(codes, dtype=np.float64)
    labels = np.asarray(labels)
    sources = np.repeat(np.arange(len(codes)), copies)
    if scheme == "noise":
        new_codes = add_noise(codes[sources], strength * codes.std(axis=0), rng=rng)
    else:
        neighbours = same_class_neighbours(codes, labels, k=k)
        chosen = neighbours[sources, rng.integers(0, k, size=len(sources))]
        lam = strength * rng.uniform(size=len(sources))
        operator = interpolate if scheme == "interpolation" else extrapolate
        new_codes = operator(codes[sources], codes[chosen], lam)
    return new_codes.astype(np.float32), labels[sources]


def shift_and_rotate(images, *, copies: int, max_shift: float = 2.0, max_degrees: float = 10.0,
                     rng: np.random.Generator) -> np.ndarray:
    """Classical augmentation: ``copies`` randomly shifted and rotated versions of each image.

    Each copy is rotated by an angle uniform in ``[-max_degrees, max_degrees]`` about the
    image centre, then shifted by offsets uniform in ``[-max_shift, max_shift]`` pixels along
    each axis (bilinear; uncovered pixels take the darkest value of ``images``, the
    background).

    Args:
        images: ``(n, 28, 28)``, ``(n, 28, 28, 1)`` or flat ``(n, 784)`` images.
        copies: new images per image.
        max_shift: pixels; max_degrees: degrees.
        rng: the source of the shifts and angles.

    Returns:
        ``(n * copies, ...)`` float32 images, shaped like the input (copies of image ``i``
        first), values clipped to the input's range.
    """
    images = np.asarray(images, dtype=np.float32)
    shape = images.shape[1:]
    if copies < 1 or len(images) == 0:
        raise ValueError(f"need copies >= 1 and at least one image, got {copies}, "
                         f"{len(images)}")
    side = round(float(np.sqrt(np.prod(shape))))
    if side * side != np.prod(shape):
        raise ValueError(f"expected square images, got shape {shape}")
    squares = images.reshape(len(images), side, side)
    low, high = float(images.min()), float(images.max())
    out = np.empty((len(images) * copies, side, side), dtype=np.float32)
    for row, source in enumerate(np.repeat(np.arange(len(images)), copies)):
        angle = rng.uniform(-max_degrees, max_degrees)
        rotated = ndimage.rotate(squares[source], angle, reshape=False, order=1, cval=low)
        offset = rng.uniform(-max_shift, max_shift, size=2)
        out[row] = ndimage.shift(rotated, offset, order=1, cval=low)
    return np.clip(out, low, high).reshape(len(out), *shape)


def affine_transforms(angles, zooms, shifts, *, side: int = IMAGE_SIDE):
    """The rows ``[a0, a1, a2, b0, b1, b2, 0, 0]`` of ``keras.ops.image.affine_transform``
    for images of ``side x side`` pixels scaled by ``zooms``, rotated by ``angles`` about
    their centre, then shifted by ``shifts``: output pixel ``p`` reads input pixel
    ``R(-angle) (p - centre - shift) / zoom + centre`` (``(x, y)`` = (column, row), so a
    positive angle turns the image clockwise as displayed).

    Args:
        angles: ``(n,)`` radians; zooms: ``(n,)`` factors (> 1 enlarges);
        shifts: ``(n, 2)`` pixels, ``(x, y)``.

    Returns:
        ``(n, 8)`` float32 tensor.
    """
    ops = keras.ops
    centre = (side - 1) / 2.0
    cos, sin = ops.cos(angles) / zooms, ops.sin(angles) / zooms
    x, y = centre + shifts[:, 0], centre + shifts[:, 1]
    zeros = ops.zeros_like(cos)
    return ops.stack([cos, sin, centre - cos * x - sin * y,
                      -sin, cos, centre + sin * x - cos * y, zeros, zeros], axis=1)


class RandomAffine(keras.layers.Layer):
    """Random rotations (uniform in ``[-max_degrees, max_degrees]``), zooms (uniform in
    ``[1 - max_zoom, 1 + max_zoom]``) and shifts (uniform in ``[-max_shift, max_shift]``
    pixels per axis) of ``(batch, side, side, channels)`` images, bilinear, in one
    resampling that gradients flow through; uncovered pixels take ``fill_value`` (the
    background, e.g. -1 for images in [-1, 1]). The identity when not training.
    """

    def __init__(self, *, max_degrees: float = 15.0, max_zoom: float = 0.1,
                 max_shift: float = 2.0, fill_value: float = -1.0, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.max_degrees, self.max_zoom = float(max_degrees), float(max_zoom)
        self.max_shift, self.fill_value = float(max_shift), float(fill_value)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _uniform(self, shape, bound: float):
        return keras.random.uniform(shape, -bound, bound, seed=self.seed_generator)

    def call(self, images, training=False):
        if not training:
            return images
        count = keras.ops.shape(images)[0]
        transforms = affine_transforms(self._uniform((count,), np.deg2rad(self.max_degrees)),
                                       1.0 + self._uniform((count,), self.max_zoom),
                                       self._uniform((count, 2), self.max_shift),
                                       side=images.shape[1])
        return keras.ops.image.affine_transform(images, transforms, interpolation="bilinear",
                                                fill_mode="constant",
                                                fill_value=self.fill_value)
