"""Normalizing flows: RealNVP (Dinh, Sohl-Dickstein & Bengio, 2017) in plain Keras 3.

A flow is an invertible map ``f: x -> z`` with a tractable Jacobian determinant. With a
standard normal ``p(z)``, the change of variables gives the exact log-likelihood

    log p(x) = log N(f(x); 0, I) + log |det df/dx|.

Every piece here is a *bijector* with ``forward(x) -> (y, log_det)`` (``log_det`` of shape
``(batch,)``) and ``inverse(y) -> x``; a flow chains them and sums the log-determinants.

- :class:`AffineCoupling`: the pixels a binary mask keeps pass through unchanged and
  condition a scale and a shift of the others, ``y = m * x + (1 - m) * (x * exp(s) + t)``
  with ``s, t`` functions of ``m * x``. Its Jacobian is triangular (the kept coordinates do
  not depend on the changed ones), so ``log |det| = sum((1 - m) * s)``.
- :class:`LogitTransform`: maps dequantized pixels in (0, 1) to the real line (RealNVP's
  preprocessing), with its log-determinant counted.
- :class:`ActNorm`: a per-coordinate affine map initialized from data (Glow's).
- :class:`Squeeze` and :class:`Unsqueeze`: trade space for channels, for the multi-scale
  flow of :func:`build_multiscale_realnvp` (convolutional conditioners on a coarser image
  with more channels at each scale, as in Dinh et al.).
- :class:`RealNVP`: the chain, trained by maximum likelihood on the course's one training
  step; optionally dequantizing its 8-bit inputs itself.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from course_utils import losses
from course_utils._tensorflow import keras
from course_utils.batching import INFERENCE_BATCH, apply_in_batches
from course_utils.training import GenerativeModel

ops = keras.ops

#: Pixel levels of 8-bit images: dequantized pixels are ``(level + u) / 256``.
PIXEL_LEVELS = 256


def _check_parity(parity) -> None:
    """A mask's parity picks one of its two complementary halves: 0 or 1."""
    if parity not in (0, 1):
        raise ValueError(f"parity must be 0 or 1, got {parity!r}")


def checkerboard_mask(shape: Sequence[int], parity: int) -> np.ndarray:
    """A ``{0, 1}`` float32 mask of ``shape`` (without the batch axis) that alternates
    like a checkerboard over the first two axes of an image ``(height, width[, channels])``,
    or over the coordinates of a vector ``(dims,)``; ``parity`` 0 or 1 picks which squares
    are 1 (kept)."""
    _check_parity(parity)
    shape = tuple(int(size) for size in shape)
    if len(shape) == 1:
        return ((np.arange(shape[0]) + parity) % 2 == 0).astype(np.float32)
    rows, cols = np.indices(shape[:2])
    mask = ((rows + cols + parity) % 2 == 0).astype(np.float32)
    return np.broadcast_to(mask.reshape(shape[:2] + (1,) * (len(shape) - 2)), shape).copy()


class AffineCoupling(keras.layers.Layer):
    """An affine coupling layer: ``y = m * x + (1 - m) * (x * exp(s) + t)``.

    Args:
        mask: ``{0, 1}`` array of the example shape; 1 marks the coordinates kept.
        conditioner: a Keras model from ``m * x`` ``(batch, *shape)`` to
            ``(batch, *shape[:-1], 2 * shape[-1])``: the raw log-scales then the shifts.
            Vectors ``(batch, dims)`` give ``(batch, 2 * dims)``.

    The log-scale is ``s = scale * tanh(raw)`` with a learned ``scale`` per coordinate
    (initially 1), which keeps early steps from exploding, as in the RealNVP code.
    """

    def __init__(self, mask, conditioner: keras.Model, **kwargs):
        super().__init__(**kwargs)
        self.mask = np.asarray(mask, np.float32)
        self.conditioner = conditioner
        self.scale = self.add_weight(shape=self.mask.shape, initializer="ones", name="scale")
        self.built = True  # its weights exist now; the conditioner was built on creation

    def _scale_and_shift(self, kept):
        raw_scale, shift = ops.split(self.conditioner(kept), 2, axis=-1)
        changed = 1.0 - ops.convert_to_tensor(self.mask)
        return changed * self.scale * ops.tanh(raw_scale), changed * shift

    def forward(self, x):
        """``(y, log_det)``: ``y`` of ``x``'s shape, ``log_det`` ``(batch,)`` nats."""
        mask = ops.convert_to_tensor(self.mask)
        log_scale, shift = self._scale_and_shift(mask * x)
        y = mask * x + (1.0 - mask) * x * ops.exp(log_scale) + shift
        return y, ops.sum(ops.reshape(log_scale, (ops.shape(x)[0], -1)), axis=1)

    def inverse(self, y):
        mask = ops.convert_to_tensor(self.mask)
        log_scale, shift = self._scale_and_shift(mask * y)
        return mask * y + (1.0 - mask) * (y - shift) * ops.exp(-log_scale)


class LogitTransform(keras.layers.Layer):
    """RealNVP's preprocessing of pixels ``v`` in (0, 1): ``y = logit(a + (1 - 2a) v)``.

    ``a`` (``alpha``; Dinh et al. use 0.05 on CIFAR-10) keeps the logit away from the
    infinities at 0 and 1. Per pixel ``log |dy/dv| = log(1 - 2a) - log(p) - log(1 - p)``
    with ``p = a + (1 - 2a) v``, so that densities of ``y`` convert to densities of ``v``.
    """

    def __init__(self, alpha: float = 0.05, **kwargs):
        if not 0.0 < alpha < 0.5:
            raise ValueError(f"alpha must be in (0, 0.5), got {alpha}")
        super().__init__(**kwargs)
        self.alpha = float(alpha)

    def forward(self, v):
        p = self.alpha + (1.0 - 2.0 * self.alpha) * v
        y = ops.log(p) - ops.log1p(-p)
        per_pixel = math.log(1.0 - 2.0 * self.alpha) - ops.log(p) - ops.log1p(-p)
        return y, ops.sum(ops.reshape(per_pixel, (ops.shape(v)[0], -1)), axis=1)

    def inverse(self, y):
        return (ops.sigmoid(y) - self.alpha) / (1.0 - 2.0 * self.alpha)


class ActNorm(keras.layers.Layer):
    """A per-coordinate affine bijector, ``y = (x - bias) * exp(-log_scale)`` (Kingma &
    Dhariwal, 2018), ``log |det| = -sum(log_scale)``. :meth:`initialize` sets it from a
    batch so that its outputs start with zero mean and unit variance per coordinate; both
    parameters are then trained.

    Args:
        shape: one example's shape.
    """

    def __init__(self, shape: Sequence[int], **kwargs):
        super().__init__(**kwargs)
        shape = tuple(int(size) for size in shape)
        self.bias = self.add_weight(shape=shape, initializer="zeros", name="bias")
        self.log_scale = self.add_weight(shape=shape, initializer="zeros", name="log_scale")
        self.built = True

    def initialize(self, x, *, min_std: float = 1e-3) -> None:
        """Set ``bias`` and ``log_scale`` to the mean and log standard deviation (at least
        ``min_std``) of each coordinate over the batch ``x``."""
        x = np.asarray(x, np.float64)
        self.bias.assign(x.mean(axis=0).astype(np.float32))
        self.log_scale.assign(np.log(np.maximum(x.std(axis=0), min_std)).astype(np.float32))

    def forward(self, x):
        y = (x - self.bias) * ops.exp(-self.log_scale)
        return y, -ops.sum(self.log_scale) * ops.ones((ops.shape(x)[0],))

    def inverse(self, y):
        return y * ops.exp(self.log_scale) + self.bias


def channel_mask(shape: Sequence[int], parity: int) -> np.ndarray:
    """A ``{0, 1}`` float32 mask of an image ``shape`` ``(height, width, channels)`` that
    keeps the first half of the channels (``parity`` 0) or the second half (1)."""
    _check_parity(parity)
    height, width, channels = (int(size) for size in shape)
    if channels % 2:
        raise ValueError(f"a channel mask needs an even number of channels, got {channels}")
    kept = (np.arange(channels) < channels // 2) == (parity == 0)
    return np.broadcast_to(kept.astype(np.float32), (height, width, channels)).copy()


class Squeeze(keras.layers.Layer):
    """RealNVP's squeeze: ``(batch, h, w, c) -> (batch, h/2, w/2, 4c)``, each 2 x 2 block of
    pixels becoming 4 channels (channel ``(2 dy + dx) c + k`` holds pixel ``(dy, dx)``'s
    channel ``k``). A permutation of the coordinates, so ``log |det| = 0``; later couplings
    then see a coarser image with more channels."""

    def forward(self, x):
        _, height, width, channels = ops.shape(x)
        blocks = ops.reshape(x, (-1, height // 2, 2, width // 2, 2, channels))
        y = ops.reshape(ops.transpose(blocks, (0, 1, 3, 2, 4, 5)),
                        (-1, height // 2, width // 2, 4 * channels))
        return y, ops.zeros((ops.shape(x)[0],))

    def inverse(self, y):
        _, height, width, channels = ops.shape(y)
        blocks = ops.reshape(y, (-1, height, width, 2, 2, channels // 4))
        return ops.reshape(ops.transpose(blocks, (0, 1, 3, 2, 4, 5)),
                           (-1, 2 * height, 2 * width, channels // 4))


class Unsqueeze(Squeeze):
    """The inverse of :class:`Squeeze`, ``(batch, h, w, 4c) -> (batch, 2h, 2w, c)``: put
    last in a multi-scale flow, it gives the code ``z`` the image's own shape."""

    def forward(self, x):
        return super().inverse(x), ops.zeros((ops.shape(x)[0],))

    def inverse(self, y):
        return super().forward(y)[0]


class RealNVP(GenerativeModel):
    """A flow of bijectors with a standard normal base, trained by maximum likelihood.

    Args:
        bijectors: applied in order from data to latent (e.g. a :class:`LogitTransform`,
            then :class:`AffineCoupling` layers with alternating masks).
        dequantize: the inputs are 8-bit images scaled to [0, 1] (``level / 255``); each
            training and evaluation batch is dequantized to ``(level + u) / 256`` with
            ``u ~ U(0, 1)``, so the model is a density on [0, 1)^D whose NLL converts to
            bits per dimension of the 0..255 levels with ``data_scale=256``
            (:func:`~course_utils.metrics.bits_per_dim`). Without it, the inputs are used
            as they are (e.g. points in the plane).
        seed: seeds the dequantization noise.

    ``compute_losses`` reports ``loss``: the mean NLL per example in nats.
    """

    def __init__(self, bijectors: Sequence[keras.layers.Layer], *, dequantize: bool = False,
                 seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.bijectors = list(bijectors)
        self.dequantize = dequantize
        self.seed_generator = keras.random.SeedGenerator(seed)

    def dequantized(self, images):
        """``(round(255 x) + u) / 256`` with ``u ~ U(0, 1)``, for images ``x`` in [0, 1]."""
        levels = ops.round(ops.convert_to_tensor(images, "float32") * (PIXEL_LEVELS - 1))
        noise = keras.random.uniform(ops.shape(levels), seed=self.seed_generator)
        return (levels + noise) / PIXEL_LEVELS

    def forward(self, x):
        """``(z, log_det)`` of ``x`` (already dequantized, when the model dequantizes)."""
        x = ops.convert_to_tensor(x, "float32")
        log_det = ops.zeros((ops.shape(x)[0],))
        for bijector in self.bijectors:
            x, step_log_det = bijector.forward(x)
            log_det = log_det + step_log_det
        return x, log_det

    def initialize(self, x, *, batch_size: int = INFERENCE_BATCH) -> None:
        """Initialize every :class:`ActNorm` from the examples ``x`` (images in [0, 1] when
        the model dequantizes): each sees them as the bijectors before it leave them. They
        pass one bijector at a time, ``batch_size`` at a time, so a convolutional
        conditioner's activations never exist for all of ``x`` at once."""
        x = np.asarray(self.dequantized(x) if self.dequantize else x, np.float32)
        for bijector in self.bijectors:
            if isinstance(bijector, ActNorm):
                bijector.initialize(x)
            x = apply_in_batches(lambda batch, bijector=bijector: bijector.forward(batch)[0], x,
                                 batch_size=batch_size)

    def forward_steps(self, x) -> list:
        """``x`` and its image after each bijector (for plotting a flow layer by layer)."""
        steps = [x]
        for bijector in self.bijectors:
            steps.append(bijector.forward(steps[-1])[0])
        return steps

    def inverse(self, z):
        for bijector in reversed(self.bijectors):
            z = bijector.inverse(z)
        return z

    def negative_log_likelihood(self, x):
        """``(batch,)`` nats of ``x`` (dequantized first, when the model dequantizes)."""
        if self.dequantize:
            x = self.dequantized(x)
        return losses.flow_negative_log_likelihood(*self.forward(x))

    def compute_losses(self, batch, training: bool) -> dict:
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        return {"loss": ops.mean(self.negative_log_likelihood(x))}

    def sample(self, num_samples: int, *, seed: int = 0, labels=None, temperature: float = 1.0,
               batch_size: int = INFERENCE_BATCH) -> np.ndarray:
        """Invert ``num_samples`` draws of ``N(0, temperature^2 I)``; images are clipped
        to [0, 1]. A RealNVP is unconditional, so ``labels`` stays None."""
        self.check_labels(labels)
        shape = self.example_shape
        z = np.random.default_rng(seed).standard_normal((num_samples, *shape), np.float32)
        z *= temperature
        return self.decode(z, batch_size=batch_size)

    def encode(self, x, *, batch_size: int = INFERENCE_BATCH) -> np.ndarray:
        """``z = f(x)`` in batches; images are taken at their pixel centres,
        ``(level + 1/2) / 256``, when the model dequantizes."""
        return apply_in_batches(lambda batch: self.forward(self._centred(batch))[0], x,
                                batch_size=batch_size)

    def decode(self, z, *, batch_size: int = INFERENCE_BATCH) -> np.ndarray:
        """``x = f^-1(z)`` in batches (clipped to [0, 1] when the model dequantizes)."""
        x = apply_in_batches(self.inverse, z, batch_size=batch_size)
        return np.clip(x, 0.0, 1.0, out=x) if self.dequantize else x

    def _centred(self, x):
        if not self.dequantize:
            return ops.convert_to_tensor(x, "float32")
        levels = ops.round(ops.convert_to_tensor(x, "float32") * (PIXEL_LEVELS - 1))
        return (levels + 0.5) / PIXEL_LEVELS

    @property
    def example_shape(self) -> tuple[int, ...]:
        """The shape of one example (without the batch axis)."""
        coupling = next(b for b in self.bijectors if isinstance(b, AffineCoupling))
        return coupling.mask.shape


class TakeCoordinates(keras.layers.Layer):
    """``(batch, *any)`` -> ``(batch, len(indices))``: the flattened inputs at ``indices``,
    a fixed gather; an index of -1 gives a zero."""

    def __init__(self, indices: Sequence[int], **kwargs):
        super().__init__(**kwargs)
        self.indices = [int(index) for index in indices]

    def call(self, inputs):
        size = math.prod(inputs.shape[1:])
        padded = ops.pad(ops.reshape(inputs, (-1, size)), ((0, 0), (0, 1)))  # a zero at `size`
        indices = np.asarray(self.indices, np.int32)
        return ops.take(padded, np.where(indices < 0, size, indices), axis=1)

    def get_config(self):
        return {**super().get_config(), "indices": self.indices}


def build_dense_conditioner(mask, hidden_units: Sequence[int], *,
                            name: str = "conditioner") -> keras.Model:
    """A coupling layer's dense conditioner for the ``{0, 1}`` ``mask`` of an example's
    shape ``(*spatial, c)`` (vectors: ``(dims,)``).

    Its input layer sees only the ``k`` kept coordinates (the others are masked to zero),
    ReLU dense layers of ``hidden_units`` follow, and a linear layer gives a log-scale and
    a shift for each of the ``m`` changed coordinates only: ``(k + 2m) * units`` weights
    where a conditioner of the whole example would need ``3 D * units``. The outputs are
    laid out as :class:`AffineCoupling` reads them, ``(*spatial, 2 c)`` (vectors:
    ``(2 dims,)``), with zeros at the kept coordinates. The last layer starts at zero, so
    every coupling starts as the identity (log-scale 0, shift 0)."""
    mask = np.asarray(mask, np.float32)
    flat = mask.reshape(-1).astype(bool)
    kept, changed = np.flatnonzero(flat), np.flatnonzero(~flat)
    inputs = keras.Input(mask.shape, name=f"{name}_input")
    h = TakeCoordinates(kept, name=f"{name}_kept")(inputs)
    for index, units in enumerate(hidden_units, start=1):
        h = keras.layers.Dense(units, activation="relu", name=f"{name}_{index}")(h)
    out = keras.layers.Dense(2 * len(changed), kernel_initializer="zeros",
                             name=f"{name}_out")(h)
    # Where each output of the (*spatial, 2c) layout comes from: part * m + the rank of a
    # changed coordinate (part 0: its log-scale, 1: its shift), or -1 (zero) for a kept one.
    rank = np.full(flat.size, -1)
    rank[changed] = np.arange(len(changed))
    coordinates = np.arange(flat.size).reshape((*mask.shape[:-1], 1, mask.shape[-1]))
    parts = np.arange(2).reshape(2, 1)
    source = np.where(flat[coordinates], -1, parts * len(changed) + rank[coordinates])
    out = TakeCoordinates(source.reshape(-1), name=f"{name}_layout")(out)
    out = keras.layers.Reshape((*mask.shape[:-1], 2 * mask.shape[-1]))(out)
    return keras.Model(inputs, out, name=name)


def build_conv_conditioner(shape: Sequence[int], filters: int, *, num_blocks: int = 1,
                           name: str = "conditioner") -> keras.Model:
    """A coupling layer's residual convolutional conditioner for images of ``shape``
    ``(h, w, c)``, after RealNVP's: a 3 x 3 convolution to ``filters`` channels, then
    ``num_blocks`` residual blocks (ReLU, 3 x 3 convolution, ReLU, 1 x 1 convolution, added
    to the block's input), then ReLU and a 3 x 3 convolution to ``2 c`` channels that starts
    at zero (every coupling starts as the identity). Its weights do not grow with the
    image's size, as a dense conditioner's do."""
    shape = tuple(int(size) for size in shape)
    inputs = keras.Input(shape, name=f"{name}_input")
    h = keras.layers.Conv2D(filters, 3, padding="same", name=f"{name}_in")(inputs)
    for block in range(1, num_blocks + 1):
        r = keras.layers.Conv2D(filters, 3, padding="same", name=f"{name}_{block}a")(
            keras.layers.ReLU()(h))
        r = keras.layers.Conv2D(filters, 1, name=f"{name}_{block}b")(keras.layers.ReLU()(r))
        h = keras.layers.Add()([h, r])
    out = keras.layers.Conv2D(2 * shape[-1], 3, padding="same", kernel_initializer="zeros",
                              name=f"{name}_out")(keras.layers.ReLU()(h))
    return keras.Model(inputs, out, name=name)


def _preprocessing(shape, logit_alpha: float | None, actnorm: bool) -> list:
    """The bijectors before the first coupling: the logit transform and an ActNorm."""
    bijectors = [] if logit_alpha is None else [LogitTransform(logit_alpha, name="logit")]
    if actnorm:
        bijectors.append(ActNorm(shape, name="actnorm_input"))
    return bijectors


def _compiled(bijectors, *, name: str, dequantize: bool, seed: int, learning_rate,
              steps_per_execution: int) -> RealNVP:
    """A :class:`RealNVP` of ``bijectors``, compiled with Adam at ``learning_rate``."""
    model = RealNVP(bijectors, dequantize=dequantize, seed=seed, name=name)
    model.compile(keras.optimizers.Adam(learning_rate), steps_per_execution=steps_per_execution)
    return model


def build_realnvp(shape: Sequence[int], *, num_couplings: int = 8,
                  hidden_units: Sequence[int] = (1024, 1024), logit_alpha: float | None = None,
                  actnorm: bool = False, dequantize: bool = False, learning_rate=1e-3,
                  seed: int = 0, steps_per_execution: int = 32) -> RealNVP:
    """Build and compile a RealNVP of ``num_couplings`` affine couplings with checkerboard
    masks of alternating parity, each with a :func:`build_dense_conditioner`.

    Args:
        shape: one example's shape, e.g. ``(28, 28, 1)`` or ``(2,)``.
        logit_alpha: put a :class:`LogitTransform` with this ``alpha`` first (for images).
        actnorm: put an :class:`ActNorm` before the first coupling and after each (call
            :meth:`RealNVP.initialize` on a batch before training).
        dequantize: see :class:`RealNVP`.
        learning_rate: Adam's (a float or a schedule).
    """
    bijectors = _preprocessing(shape, logit_alpha, actnorm)
    for index in range(num_couplings):
        mask = checkerboard_mask(shape, index % 2)
        conditioner = build_dense_conditioner(mask, hidden_units, name=f"conditioner_{index}")
        bijectors.append(AffineCoupling(mask, conditioner, name=f"coupling_{index}"))
        if actnorm:
            bijectors.append(ActNorm(shape, name=f"actnorm_{index}"))
    return _compiled(bijectors, name="realnvp", dequantize=dequantize, seed=seed,
                     learning_rate=learning_rate, steps_per_execution=steps_per_execution)


def build_multiscale_realnvp(shape: Sequence[int], *, filters: Sequence[int] = (16, 32, 64),
                             couplings_per_scale: int = 4, num_blocks: int = 1,
                             logit_alpha: float | None = None,
                             dequantize: bool = False, learning_rate=1e-3, seed: int = 0,
                             steps_per_execution: int = 32) -> RealNVP:
    """Build and compile a multi-scale RealNVP with convolutional conditioners.

    One scale per entry of ``filters``: at the first, ``couplings_per_scale`` checkerboard
    couplings on the ``(h, w, c)`` image; before each further one a :class:`Squeeze`, then
    as many couplings with channel masks of alternating halves on ``(h/2, w/2, 4c)``, then
    ``(h/4, w/4, 16c)``, ... Each conditioner is a :func:`build_conv_conditioner` of that
    scale's ``filters`` and ``num_blocks``; an :class:`ActNorm` follows the logit transform
    and every coupling. :class:`Unsqueeze` layers at the end give ``z`` the image's shape.
    Call :meth:`RealNVP.initialize` on a batch before training.

    Args:
        shape: one image's shape, e.g. ``(28, 28, 1)``; its sides divisible by
            ``2 ** (len(filters) - 1)``.
        logit_alpha, dequantize, learning_rate, seed, steps_per_execution: as in
            :func:`build_realnvp`.
    """
    height, width, channels = (int(size) for size in shape)
    factor = 2 ** (len(filters) - 1)
    if height % factor or width % factor:
        raise ValueError(f"{len(filters)} scales need sides divisible by {factor}, got {shape}")
    bijectors = _preprocessing(shape, logit_alpha, actnorm=True)
    scale_shape = (height, width, channels)
    for scale, scale_filters in enumerate(filters):
        if scale:
            bijectors.append(Squeeze(name=f"squeeze_{scale}"))
            scale_shape = (scale_shape[0] // 2, scale_shape[1] // 2, 4 * scale_shape[2])
        for index in range(couplings_per_scale):
            mask = (channel_mask if scale else checkerboard_mask)(scale_shape, index % 2)
            name = f"{scale}_{index}"
            conditioner = build_conv_conditioner(scale_shape, scale_filters,
                                                 num_blocks=num_blocks,
                                                 name=f"conditioner_{name}")
            bijectors.append(AffineCoupling(mask, conditioner, name=f"coupling_{name}"))
            bijectors.append(ActNorm(scale_shape, name=f"actnorm_{name}"))
    bijectors += [Unsqueeze(name=f"unsqueeze_{scale}") for scale in range(len(filters) - 1)]
    return _compiled(bijectors, name="multiscale_realnvp", dequantize=dequantize, seed=seed,
                     learning_rate=learning_rate, steps_per_execution=steps_per_execution)
