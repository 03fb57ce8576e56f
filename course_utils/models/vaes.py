"""Variational autoencoders: Gaussian encoders, decoders, and the :class:`VAE` model.

An encoder maps images to the mean and log-variance of ``q(z|x) = N(z_mean, exp(z_log_var))``;
a decoder maps codes to the parameters of ``p(x|z)``: Bernoulli logits, or Gaussian means
with a fixed observation noise. Encoders are a *trunk* (dense or convolutional) plus two
linear heads, as in Olar's post, so architectures can be swapped without touching the model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import special

from course_utils import losses
from course_utils._tensorflow import keras
from course_utils.batching import INFERENCE_BATCH, apply_in_batches
from course_utils.geometry import BOTTLENECK_SIDE, IMAGE_SHAPE, NUM_PIXELS
from course_utils.models.autoencoders import build_mlp
from course_utils.training import GenerativeModel

ops = keras.ops
LIKELIHOODS = ("bernoulli", "gaussian")


def reparameterize(z_mean, z_log_var, *, seed):
    """Draw ``z = z_mean + exp(z_log_var / 2) * eps`` with ``eps ~ N(0, I)``.

    The randomness sits in ``eps``, so gradients flow to ``z_mean`` and ``z_log_var``.

    Args:
        z_mean, z_log_var: ``(batch, latent_dim)``.
        seed: a ``keras.random.SeedGenerator`` (or an int for a fixed draw).
    """
    noise = keras.random.normal(ops.shape(z_mean), seed=seed)
    return z_mean + ops.exp(0.5 * z_log_var) * noise


def build_gaussian_encoder(trunk: keras.Model, latent_dim: int) -> keras.Model:
    """Put the two linear heads ``z_mean`` and ``z_log_var`` on an encoder trunk.

    Returns:
        A model mapping the trunk's input to ``[z_mean, z_log_var]``, each
        ``(batch, latent_dim)``.
    """
    if latent_dim < 1:
        raise ValueError(f"latent_dim must be positive, got {latent_dim}")
    features = trunk.output
    z_mean = keras.layers.Dense(latent_dim, name="z_mean")(features)
    z_log_var = keras.layers.Dense(latent_dim, name="z_log_var")(features)
    return keras.Model(trunk.input, [z_mean, z_log_var], name="encoder")


def build_dense_trunk(input_dim: int, hidden_units: Sequence[int], *,
                      activation: str = "relu") -> keras.Model:
    """A dense encoder trunk ``input_dim -> hidden_units...`` (the last layer activated too)."""
    if not hidden_units:
        raise ValueError("a dense trunk needs at least one hidden layer")
    return build_mlp(input_dim, tuple(hidden_units[:-1]), hidden_units[-1],
                     activation=activation, output_activation=activation, name="trunk")


def build_conv_trunk(*, filters: Sequence[int] = (32, 64), dense_units: int = 256) -> keras.Model:
    """A convolutional trunk for ``(28, 28, 1)`` images: stride-2 3x3 convolutions, then a
    dense ReLU layer. Each convolution halves the image: 28 -> 14 -> 7."""
    inputs = keras.Input(IMAGE_SHAPE, name="trunk_input")
    x = inputs
    for index, count in enumerate(filters, start=1):
        x = keras.layers.Conv2D(count, 3, strides=2, padding="same", activation="relu",
                                name=f"trunk_conv_{index}")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(dense_units, activation="relu", name="trunk_dense")(x)
    return keras.Model(inputs, x, name="trunk")


def build_conv_decoder(latent_dim: int, *, filters: Sequence[int] = (64, 32),
                       dense_units: int = 256) -> keras.Model:
    """The mirror of :func:`build_conv_trunk`: ``(batch, latent_dim)`` to ``(batch, 28, 28, 1)``
    unbounded outputs (logits or means), through 7x7 and 14x14 feature maps."""
    inputs = keras.Input((latent_dim,), name="decoder_input")
    x = keras.layers.Dense(dense_units, activation="relu", name="decoder_dense")(inputs)
    x = keras.layers.Dense(BOTTLENECK_SIDE * BOTTLENECK_SIDE * filters[0], activation="relu",
                           name="decoder_project")(x)
    x = keras.layers.Reshape((BOTTLENECK_SIDE, BOTTLENECK_SIDE, filters[0]))(x)
    for index, count in enumerate(filters, start=1):
        x = keras.layers.Conv2DTranspose(count, 3, strides=2, padding="same", activation="relu",
                                         name=f"decoder_deconv_{index}")(x)
    outputs = keras.layers.Conv2D(1, 3, padding="same", name="decoder_out")(x)
    return keras.Model(inputs, outputs, name="decoder")


class VAE(GenerativeModel):
    """A variational autoencoder trained on the (beta-weighted) negative ELBO.

    ``loss = E_q[-log p(x|z)] + kl_weight * KL(q(z|x) || N(0, I))``, batch-averaged, with one
    reparameterized sample of ``z`` per image. ``kl_weight`` is a non-trainable variable
    (``beta`` by default) that :class:`~course_utils.callbacks.KLWarmup` ramps up to ``beta``.

    Args:
        encoder: images -> ``[z_mean, z_log_var]``.
        decoder: codes -> Bernoulli logits or Gaussian means, shaped like the images.
        likelihood: ``"bernoulli"`` (images in [0, 1], grey levels as probabilities) or
            ``"gaussian"`` (``N(mean, observation_std^2)`` per pixel).
        beta: weight of the KL term after any warm-up (1 gives the ELBO).
        observation_std: the Gaussian likelihood's fixed noise, in pixel units.
        seed: seeds the sampling of ``z``.
    """

    loss_names = ("loss", "reconstruction_loss", "kl_loss")

    def __init__(self, encoder: keras.Model, decoder: keras.Model, *,
                 likelihood: str = "bernoulli", beta: float = 1.0,
                 observation_std: float = 0.1, seed: int = 0, **kwargs):
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
        if beta < 0 or observation_std <= 0:
            raise ValueError(f"need beta >= 0 and observation_std > 0, got {beta}, "
                             f"{observation_std}")
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.likelihood = likelihood
        self.beta = float(beta)
        self.observation_log_var = 2.0 * math.log(observation_std)
        self.kl_weight = self.add_weight(shape=(), initializer=keras.initializers.Constant(beta),
                                         trainable=False, name="kl_weight")
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=False):
        """Reconstruct through the posterior mean: ``decoder(z_mean)`` (logits or means)."""
        z_mean, _ = self.encoder(images, training=training)
        return self.decoder(z_mean, training=training)

    def encode(self, images, *, batch_size: int = INFERENCE_BATCH) -> tuple[np.ndarray, np.ndarray]:
        """``(z_mean, z_log_var)`` of ``q(z|x)`` for ``(n, ...)`` images, each
        ``(n, latent_dim)``."""
        return apply_in_batches(self.encoder, images, batch_size=batch_size)

    def decode(self, codes, *, batch_size: int = INFERENCE_BATCH) -> np.ndarray:
        """The mean of ``p(x|z)`` for ``(n, latent_dim)`` codes: images in [0, 1], shaped like
        the training images (Bernoulli: ``sigmoid(logits)``; Gaussian: the clipped means)."""
        outputs = apply_in_batches(self.decoder, codes, batch_size=batch_size)
        if self.likelihood == "bernoulli":
            return special.expit(outputs)
        return np.clip(outputs, 0.0, 1.0)

    def sample(self, num_samples: int, *, seed: int = 0, labels=None) -> np.ndarray:
        """Decode ``num_samples`` codes drawn from the prior ``N(0, I)`` (see :meth:`decode`);
        a VAE is unconditional, so ``labels`` stays None."""
        self.check_labels(labels)
        latent_dim = self.decoder.inputs[0].shape[-1]
        codes = np.random.default_rng(seed).standard_normal((num_samples, latent_dim))
        return self.decode(codes.astype(np.float32))

    def reconstruction_nll(self, images, decoder_outputs):
        """``-log p(x|z)`` per image, in nats, under the model's likelihood."""
        if self.likelihood == "bernoulli":
            return losses.binary_cross_entropy(images, decoder_outputs)
        return losses.gaussian_negative_log_likelihood(images, decoder_outputs,
                                                       self.observation_log_var)

    def compute_losses(self, batch, training: bool) -> dict:
        images = batch[0] if isinstance(batch, (tuple, list)) else batch
        z_mean, z_log_var = self.encoder(images, training=training)
        z = reparameterize(z_mean, z_log_var, seed=self.seed_generator)
        reconstruction = ops.mean(self.reconstruction_nll(images, self.decoder(z,
                                                                               training=training)))
        kl = ops.mean(losses.kl_divergence_standard_normal(z_mean, z_log_var))
        return {"loss": reconstruction + self.kl_weight * kl,
                "reconstruction_loss": reconstruction, "kl_loss": kl}


#: The dense architectures of chapter 03: encoder trunk units, decoder units, activation
#: (SiLU is ``x * sigmoid(x)``, a smooth ReLU; Olar's SmallDenseVAE keeps its ReLU).
DENSE_SHAPES = {
    "dense": ((512, 256), (256, 512), "silu"),
    "small_dense": ((420, 210, 105), (200, 400, 800), "relu"),  # Olar's SmallDenseVAE
}


def build_vae(kind: str = "dense", *, latent_dim: int = 2, likelihood: str = "bernoulli",
              beta: float = 1.0, learning_rate=1e-3, seed: int = 0,
              steps_per_execution: int = 32, **vae_options) -> VAE:
    """Build and compile a VAE of one of the course's architectures.

    Args:
        kind: ``"dense"`` (784-512-256 / 256-512-784, SiLU), ``"small_dense"`` (Olar's
            784-420-210-105 / 200-400-800-784, ReLU), both on flat ``(batch, 784)`` images; or
            ``"conv"`` (:func:`build_conv_trunk` / :func:`build_conv_decoder`) on
            ``(batch, 28, 28, 1)`` images.
        latent_dim, likelihood, beta, seed: see :class:`VAE`.
        learning_rate: Adam's, a number or a ``keras.optimizers.schedules`` schedule.
        steps_per_execution: training steps per call from Python.
        **vae_options: passed to :class:`VAE` (e.g. ``observation_std``).
    """
    if kind in DENSE_SHAPES:
        trunk_units, decoder_units, activation = DENSE_SHAPES[kind]
        trunk = build_dense_trunk(NUM_PIXELS, trunk_units, activation=activation)
        decoder = build_mlp(latent_dim, decoder_units, NUM_PIXELS, activation=activation,
                            name="decoder")
    elif kind == "conv":
        trunk = build_conv_trunk()
        decoder = build_conv_decoder(latent_dim)
    else:
        raise ValueError(f"kind must be one of {[*DENSE_SHAPES, 'conv']}, got {kind!r}")
    model = VAE(build_gaussian_encoder(trunk, latent_dim), decoder, likelihood=likelihood,
                beta=beta, seed=seed, name=f"{kind}_vae", **vae_options)
    model.compile(keras.optimizers.Adam(learning_rate), steps_per_execution=steps_per_execution)
    return model
