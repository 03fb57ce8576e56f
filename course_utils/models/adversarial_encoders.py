"""Models that learn an encoder adversarially, on the course's one adversarial training step
(:class:`~course_utils.training.AdversarialModel`): the BiGAN and the adversarial
autoencoder (AAE). In both, the "generator" player is two networks, an encoder and a
generator (or decoder), so they override ``generator_variables``.

- **BiGAN** (Donahue, Krähenbühl & Darrell, 2017; ALI, Dumoulin et al., 2017): a generator
  ``G: z -> x``, an encoder ``E: x -> z``, and a discriminator of *pairs* ``(x, z)`` that
  tells ``(x, E(x))`` from ``(G(z), z)``. At the optimum ``E`` inverts ``G``.
- **AAE** (Makhzani et al., 2016): an autoencoder whose codes ``E(x)`` a discriminator
  tells from draws of a prior; the encoder learns to make its codes look like the prior,
  so decoding prior draws generates. Given labels, the decoder also reads the label and
  the code is left to hold the style (the supervised AAE).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from course_utils import losses
from course_utils._tensorflow import keras
from course_utils.batching import INFERENCE_BATCH, apply_in_batches
from course_utils.geometry import IMAGE_SHAPE, NUM_PIXELS
from course_utils.models.autoencoders import build_mlp
from course_utils.models.gans import GAN, TRAINING_DEFAULTS, make_optimizer
from course_utils.models.networks.conv import (
    build_conv_encoder,
    build_conv_generator,
    conv_features,
)
from course_utils.models.networks.mlp import build_mlp_discriminator, build_mlp_generator
from course_utils.training import AdversarialModel

ops = keras.ops


def build_joint_discriminator(latent_dim: int, *, filters: Sequence[int] = (32, 64),
                              latent_units: int = 512, hidden_units: int = 512,
                              dropout: float = 0.2, name: str = "discriminator") -> keras.Model:
    """A BiGAN discriminator of pairs: ``[(batch, 28, 28, 1) x, (batch, latent_dim) z]`` ->
    ``(batch, 1)`` logits.

    ``x`` goes through the DCGAN discriminator's body, ``z`` through a dense layer of
    ``latent_units`` (so that the 784 pixels do not drown the code), then the two joined go
    through dropout, a dense layer of ``hidden_units`` and dropout again (as in ALI,
    Dumoulin et al., 2017), LeakyReLU(0.2) throughout.
    """
    x = keras.Input(IMAGE_SHAPE, name=f"{name}_x")
    z = keras.Input((latent_dim,), name=f"{name}_z")
    z_features = keras.layers.LeakyReLU(0.2)(
        keras.layers.Dense(latent_units, name=f"{name}_z_dense")(z))
    h = keras.layers.Concatenate(name=f"{name}_pair")(
        [conv_features(x, filters, name=name), z_features])
    h = keras.layers.Dropout(dropout, name=f"{name}_dropout_1")(h)
    h = keras.layers.LeakyReLU(0.2)(keras.layers.Dense(hidden_units, name=f"{name}_joint")(h))
    h = keras.layers.Dropout(dropout, name=f"{name}_dropout_2")(h)
    return keras.Model([x, z], keras.layers.Dense(1, name=f"{name}_out")(h), name=name)


class BiGAN(GAN):
    """A bidirectional GAN on data in the generator's range (e.g. images in [-1, 1]).

    Args:
        generator: ``(batch, latent_dim)`` -> ``(batch, *data_shape)``.
        encoder: ``(batch, *data_shape)`` -> ``(batch, latent_dim)``.
        discriminator: ``[x, z]`` -> ``(batch, 1)`` logits
            (:func:`build_joint_discriminator`).
        **kwargs: :class:`~course_utils.models.gans.GAN`'s (``latent_dim``, ``data_range``,
            ``seed``, ...); a BiGAN is unconditional.

    The discriminator minimizes the GAN's binary cross-entropy with ``(x, E(x))`` as real and
    ``(G(z), z)`` as generated; the generator and the encoder minimize the same with the
    labels swapped (each player's non-saturating loss). ``real_score`` and ``fake_score``
    are the mean ``D`` of the two kinds of pairs.
    """

    def __init__(self, generator: keras.Model, encoder: keras.Model,
                 discriminator: keras.Model, **kwargs):
        if kwargs.get("num_classes") is not None:
            raise ValueError("the course's BiGAN is unconditional: leave num_classes unset")
        super().__init__(generator, discriminator, **kwargs)
        self.encoder = encoder

    @property
    def generator_variables(self):
        return self.generator.trainable_variables + self.encoder.trainable_variables

    def pair_scores(self, batch, training: bool):
        """``D(x, E(x))`` on the real batch and ``D(G(z), z)`` on as many fresh ``z``."""
        real, _ = self.split_batch(batch)
        z = self.latents(ops.shape(real)[0])
        real_scores = self.discriminator([real, self.encoder(real, training=training)],
                                         training=training)
        fake_scores = self.discriminator([self.generate(z, training=training), z],
                                         training=training)
        return real_scores, fake_scores

    def discriminator_losses(self, batch, training: bool) -> dict:
        real_scores, fake_scores = self.pair_scores(batch, training)
        return {"d_loss": self.discriminator_objective(real_scores, fake_scores),
                "real_score": self.mean_score(real_scores),
                "fake_score": self.mean_score(fake_scores)}

    def generator_losses(self, batch, training: bool) -> dict:
        real_scores, fake_scores = self.pair_scores(batch, training)
        return {"g_loss": losses.discriminator_loss(fake_scores, real_scores)}

    def encode(self, images, *, batch_size: int = INFERENCE_BATCH) -> np.ndarray:
        """``E(x)`` ``(n, latent_dim)`` of images in [0, 1] ``(n, *data_shape)``."""
        return apply_in_batches(self.encoder, self.to_data_range(images),
                                batch_size=batch_size)

    def reconstruct(self, images) -> np.ndarray:
        """``G(E(x))`` in [0, 1], for images in [0, 1]."""
        return self.generate_from(self.encode(images))


class AdversarialAutoencoder(AdversarialModel):
    """An adversarial autoencoder on flat images in [0, 1] with a Gaussian prior.

    Args:
        encoder: ``(batch, input_dim)`` -> ``(batch, latent_dim)`` codes (deterministic).
        decoder: codes (and integer labels, when ``num_classes`` is set) -> ``(batch,
            input_dim)`` logits of a Bernoulli likelihood.
        discriminator: ``(batch, latent_dim)`` -> ``(batch, 1)`` logits, prior draws vs codes.
        latent_dim: size of the code.
        prior_std: the prior is ``N(0, prior_std^2 I)``.
        adversarial_weight: weight of the encoder's adversarial loss against the
            reconstruction loss (summed binary cross-entropy per image, in nats).
        num_classes: make the decoder read the label (the supervised AAE); the encoder
            never sees it.
        seed: seeds the prior draws during training.

    The discriminator's step minimizes the GAN's cross-entropy with prior draws as real and
    codes as generated; the encoder-decoder step minimizes reconstruction plus the
    encoder's non-saturating loss (Makhzani et al. run the two as separate phases per
    batch; here they share the generator's step). Reports ``d_loss``, ``g_loss``,
    ``reconstruction`` and the mean ``D`` of prior draws and of codes.
    """

    loss_names = ("d_loss", "g_loss", "reconstruction", "real_score", "fake_score")

    def __init__(self, encoder: keras.Model, decoder: keras.Model, discriminator: keras.Model,
                 *, latent_dim: int, prior_std: float = 5.0, adversarial_weight: float = 1.0,
                 num_classes: int | None = None, seed: int = 0, **kwargs):
        if prior_std <= 0 or adversarial_weight < 0:
            raise ValueError(f"need prior_std > 0 and adversarial_weight >= 0, got "
                             f"{prior_std}, {adversarial_weight}")
        super().__init__(**kwargs)
        self.encoder, self.decoder, self.discriminator = encoder, decoder, discriminator
        self.latent_dim = latent_dim
        self.prior_std = float(prior_std)
        self.adversarial_weight = float(adversarial_weight)
        self.num_classes = num_classes
        self.seed_generator = keras.random.SeedGenerator(seed)

    @property
    def generator_variables(self):
        return self.encoder.trainable_variables + self.decoder.trainable_variables

    def split_batch(self, batch):
        """``(images, labels or None)``: a supervised AAE trains on ``(images, labels)``."""
        if self.num_classes is None:
            return (batch[0] if isinstance(batch, (tuple, list)) else batch), None
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise ValueError("a supervised AAE trains on (images, labels) batches")
        return batch[0], batch[1]

    def decode_logits(self, codes, labels=None, *, training: bool = False):
        inputs = codes if self.num_classes is None else [codes, labels]
        return self.decoder(inputs, training=training)

    def discriminator_losses(self, batch, training: bool) -> dict:
        images, _ = self.split_batch(batch)
        codes = self.encoder(images, training=training)
        prior = self.prior_std * keras.random.normal(ops.shape(codes), seed=self.seed_generator)
        prior_scores = self.discriminator(prior, training=training)
        code_scores = self.discriminator(codes, training=training)
        return {"d_loss": losses.discriminator_loss(prior_scores, code_scores),
                "real_score": ops.mean(ops.sigmoid(prior_scores)),
                "fake_score": ops.mean(ops.sigmoid(code_scores))}

    def generator_losses(self, batch, training: bool) -> dict:
        images, labels = self.split_batch(batch)
        codes = self.encoder(images, training=training)
        logits = self.decode_logits(codes, labels, training=training)
        reconstruction = ops.mean(losses.binary_cross_entropy(images, logits))
        adversarial = losses.generator_loss(self.discriminator(codes, training=training))
        return {"g_loss": reconstruction + self.adversarial_weight * adversarial,
                "reconstruction": reconstruction}

    def encode(self, images, *, batch_size: int = INFERENCE_BATCH) -> np.ndarray:
        """Codes ``(n, latent_dim)`` of flat images in [0, 1]."""
        return apply_in_batches(self.encoder, images, batch_size=batch_size)

    def decode(self, codes, labels=None, *, batch_size: int = INFERENCE_BATCH) -> np.ndarray:
        """Images in [0, 1] ``(n, input_dim)``: the Bernoulli means of the decoder."""
        self.check_labels(labels)
        inputs = np.asarray(codes, np.float32) if labels is None else (
            np.asarray(codes, np.float32), np.asarray(labels, np.int32))
        logits = apply_in_batches(self.decoder, inputs, batch_size=batch_size)
        return 1.0 / (1.0 + np.exp(-logits))

    def sample(self, num_samples: int, *, seed: int = 0, labels=None) -> np.ndarray:
        """Decode ``num_samples`` draws of the prior (with ``labels`` when supervised)."""
        codes = self.prior_std * np.random.default_rng(seed).standard_normal(
            (num_samples, self.latent_dim))
        return self.decode(codes, labels)


def build_bigan(*, latent_dim: int = 32, generator_filters: Sequence[int] = (64, 32),
                encoder_filters: Sequence[int] = (32, 64),
                discriminator_filters: Sequence[int] = (32, 64),
                latent_units: int = 512, hidden_units: int = 512, dropout: float = 0.2,
                seed: int = 0, steps_per_execution: int = 32) -> BiGAN:
    """Build and compile a convolutional BiGAN for MNIST digits in [-1, 1]: chapter 05's DCGAN
    generator, :func:`build_conv_encoder` and :func:`build_joint_discriminator`, each player
    with the DCGAN's Adam (:data:`~course_utils.models.gans.TRAINING_DEFAULTS`)."""
    generator = build_conv_generator(latent_dim, filters=generator_filters)
    encoder = build_conv_encoder(latent_dim, filters=encoder_filters)
    discriminator = build_joint_discriminator(
        latent_dim, filters=discriminator_filters, latent_units=latent_units,
        hidden_units=hidden_units, dropout=dropout)
    model = BiGAN(generator, encoder, discriminator, latent_dim=latent_dim, seed=seed,
                  name="bigan")
    settings = TRAINING_DEFAULTS["gan"]
    model.compile(d_optimizer=make_optimizer(settings),
                  g_optimizer=make_optimizer(settings),
                  steps_per_execution=steps_per_execution)
    return model


def build_aae(*, latent_dim: int = 2, hidden_units: Sequence[int] = (512, 256),
              discriminator_units: Sequence[int] = (256, 256), prior_std: float = 5.0,
              adversarial_weight: float = 1.0, num_classes: int | None = None,
              learning_rate: float = 1e-3, seed: int = 0,
              steps_per_execution: int = 32) -> AdversarialAutoencoder:
    """Build and compile a dense adversarial autoencoder for flat images in [0, 1].

    The encoder is a ReLU MLP ``784 -> hidden_units -> latent_dim``, the decoder the mirror
    image (LeakyReLU, :func:`~course_utils.models.networks.mlp.build_mlp_generator`, reading the
    label when ``num_classes`` is set), the code discriminator a LeakyReLU MLP of
    ``discriminator_units``. Adam with ``beta_1 = 0.5``: ``learning_rate`` for the
    autoencoder, half of it for the discriminator.
    """
    encoder = build_mlp(NUM_PIXELS, hidden_units, latent_dim, activation="relu", name="encoder")
    decoder = build_mlp_generator(latent_dim, NUM_PIXELS, hidden_units=tuple(hidden_units)[::-1],
                                       output_activation=None, num_classes=num_classes,
                                       name="decoder")
    discriminator = build_mlp_discriminator(latent_dim, hidden_units=discriminator_units)
    model = AdversarialAutoencoder(encoder, decoder, discriminator, latent_dim=latent_dim,
                                   prior_std=prior_std, adversarial_weight=adversarial_weight,
                                   num_classes=num_classes, seed=seed, name="aae")
    model.compile(d_optimizer=keras.optimizers.Adam(learning_rate / 2, beta_1=0.5),
                  g_optimizer=keras.optimizers.Adam(learning_rate, beta_1=0.5),
                  steps_per_execution=steps_per_execution)
    return model
