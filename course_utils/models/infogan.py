"""InfoGAN (Chen et al., 2016): a GAN whose generator reads codes besides its noise, and whose
discriminator carries a recognition head Q that reads the codes back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy.special import softmax

from course_utils import losses
from course_utils._tensorflow import keras
from course_utils.augmentation import RandomAffine
from course_utils.batching import INFERENCE_BATCH, apply_in_batches
from course_utils.geometry import IMAGE_SHAPE
from course_utils.models.gans import GAN, make_optimizer
from course_utils.models.networks.conv import build_conv_generator, conv_body

ops = keras.ops
#: InfoGAN's optimizers (Chen et al., 2016, for MNIST): Adam with beta_1 = 0.5, a step of
#: 2e-4 for the discriminator and Q, 1e-3 for the generator.
INFOGAN_TRAINING = {"optimizer": "adam", "learning_rate": 2e-4, "beta_1": 0.5,
                    "beta_2": 0.999, "generator_learning_rate": 1e-3}


def build_infogan_discriminator(q_outputs: int, *, filters: Sequence[int] = (64, 128),
                                hidden_units: int = 512, batch_norm: bool = True,
                                name: str = "discriminator") -> keras.Model:
    """InfoGAN's discriminator with its recognition head Q: ``(batch, 28, 28, 1)`` ->
    ``[(batch, 1) logits, (batch, q_outputs) Q outputs]``.

    The shared body (:func:`~course_utils.models.networks.conv.conv_body`): two stride-2 4x4
    convolutions (28 -> 14 -> 7) and a dense layer of ``hidden_units``, LeakyReLU(0.2), batch
    normalization after all but the first layer (as in Chen et al., 2016). The
    discriminator's head is one linear unit; Q's is a dense layer of 128 and a linear layer
    of ``q_outputs`` (for :class:`InfoGAN`: ``num_categories + 2 * num_continuous``).
    """
    images = keras.Input(IMAGE_SHAPE, name=f"{name}_input")
    x = conv_body(images, filters, hidden_units=hidden_units, batch_norm=batch_norm, name=name)
    score = keras.layers.Dense(1, name=f"{name}_out")(x)
    q = keras.layers.Dense(128, name=f"{name}_q_hidden")(x)
    if batch_norm:
        q = keras.layers.BatchNormalization(name=f"{name}_q_bn")(q)
    q = keras.layers.LeakyReLU(0.2)(q)
    q = keras.layers.Dense(q_outputs, name=f"{name}_q_out")(q)
    return keras.Model(images, [score, q], name=name)


class InfoGAN(GAN):
    """InfoGAN (Chen et al., 2016): a GAN whose generator input is ``[noise, c]``, with a
    categorical code (one-hot, uniform over ``num_categories``) and ``num_continuous`` codes
    uniform on [-1, 1], and which maximizes a lower bound on the mutual information between
    ``c`` and ``G(noise, c)`` (:func:`~course_utils.losses.mutual_information_bound`).

    The bound needs a recognition network ``Q(c | x)``; here it is a second output head of
    the discriminator, which shares every other layer (Ferreira: "computationally free").
    ``Q`` gives ``num_categories`` logits, then a mean and a log-variance per continuous code
    (a factored Gaussian). Both players add ``info_weight * (-log Q(c | G(z, c)))`` to their
    loss (``continuous_weight`` for the continuous part): the discriminator's step trains
    ``Q`` and the shared layers, the generator's step makes the code readable.

    Two additions of the course's, both off by default, make the category settle on digits
    within a few epochs (chapter 08): with a ``recognition_augmentation`` (a random
    move of the images, e.g. :class:`~course_utils.augmentation.RandomAffine`) Q reads the
    category from a moved copy of each sample, so a category cannot live in pose alone;
    with a ``clustering_weight`` the discriminator's step also maximizes
    :func:`~course_utils.losses.paired_mutual_information` between Q's categories of each
    real image and of a moved copy (invariant information clustering, Ji et al., 2019),
    so Q sorts real images into balanced, move-invariant categories that the generator's
    codes must then match.

    Args:
        generator: ``(batch, latent_dim)`` -> images, ``latent_dim = noise_dim +
            num_categories + num_continuous`` in that order (:meth:`latent_codes`).
        discriminator: images -> ``[(batch, 1) logits, (batch, num_categories + 2 *
            num_continuous) Q outputs]`` (:func:`build_infogan_discriminator`).
        noise_dim: size of the incompressible noise ``z ~ N(0, I)``.
        info_weight, continuous_weight: ``lambda`` of the categorical and the continuous
            terms (the paper: 1 for categorical codes, smaller for continuous ones).
        recognition_augmentation: a layer moving ``(batch, 28, 28, 1)`` images when called
            with ``training=True``, or None.
        clustering_weight: the weight of the real-image clustering term (needs a
            ``recognition_augmentation``); 0 leaves it out.
        **kwargs: :class:`GAN`'s (``generator_loss``, ``data_range``, ``seed``, ...).

    Reports, besides the GAN's losses, ``categorical_bound`` and ``continuous_bound``: the
    two mutual-information lower bounds in nats on the generator's batch. The first is at
    most ``H(c) = log(num_categories)``; the second has no such ceiling, as the information
    in a continuous code read back exactly is unbounded (its ``H(c)`` is the differential
    entropy ``num_continuous * log 2``, and ``-log Q`` of a sharp Gaussian is negative).
    """

    loss_names = (*GAN.loss_names, "categorical_bound", "continuous_bound")

    def __init__(self, generator: keras.Model, discriminator: keras.Model, *, noise_dim: int,
                 num_categories: int = 10, num_continuous: int = 2, info_weight: float = 1.0,
                 continuous_weight: float = 0.1, recognition_augmentation=None,
                 clustering_weight: float = 0.0, **kwargs):
        if num_categories < 2 or num_continuous < 0:
            raise ValueError(f"an InfoGAN needs num_categories >= 2 and num_continuous >= 0, "
                             f"got {num_categories} and {num_continuous}")
        if clustering_weight and recognition_augmentation is None:
            raise ValueError("clustering_weight needs a recognition_augmentation to make the "
                             "moved copies of real images")
        if kwargs.get("num_classes") is not None:
            raise ValueError("an InfoGAN learns its categories without labels: leave "
                             "num_classes unset")
        super().__init__(generator, discriminator,
                         latent_dim=noise_dim + num_categories + num_continuous, **kwargs)
        self.noise_dim = noise_dim
        self.num_categories = num_categories
        self.num_continuous = num_continuous
        self.info_weight = float(info_weight)
        self.continuous_weight = float(continuous_weight)
        self.recognition_augmentation = recognition_augmentation
        self.clustering_weight = float(clustering_weight)

    # --- codes ----------------------------------------------------------------------------------
    def latent_codes(self, noise, categories, continuous):
        """The generator's input ``(n, latent_dim)``: ``noise (n, noise_dim)``, the one-hot of
        integer ``categories (n,)``, and ``continuous (n, num_continuous)`` codes in [-1, 1]."""
        one_hot = np.eye(self.num_categories, dtype=np.float32)[np.asarray(categories)]
        return np.concatenate([np.asarray(noise, np.float32), one_hot,
                               np.asarray(continuous, np.float32)], axis=1)

    def latents(self, batch_size):
        noise = keras.random.normal((batch_size, self.noise_dim), seed=self.seed_generator)
        categories = keras.random.randint((batch_size,), 0, self.num_categories,
                                          seed=self.seed_generator)
        continuous = keras.random.uniform((batch_size, self.num_continuous), -1.0, 1.0,
                                          seed=self.seed_generator)
        return ops.concatenate([noise, ops.one_hot(categories, self.num_categories),
                                continuous], axis=1)

    def split_q(self, q_outputs):
        """``(category logits, continuous means, continuous log-variances)`` from Q's output."""
        k, d = self.num_categories, self.num_continuous
        return q_outputs[:, :k], q_outputs[:, k:k + d], q_outputs[:, k + d:]

    def info_terms(self, latents, q_outputs, moved_q_outputs=None) -> dict:
        """``-log Q(c | x)`` weighted for the loss (``info_loss``), and the two bounds; the
        category is read from ``moved_q_outputs`` (Q on moved copies) when given."""
        logits, means, log_variances = self.split_q(q_outputs)
        if moved_q_outputs is not None:
            logits = self.split_q(moved_q_outputs)[0]
        one_hot = latents[:, self.noise_dim:self.noise_dim + self.num_categories]
        continuous = latents[:, self.noise_dim + self.num_categories:]
        categorical_nll = losses.categorical_cross_entropy(one_hot, logits)
        continuous_nll = losses.gaussian_negative_log_likelihood(continuous, means,
                                                                 log_variances)
        return {
            "info_loss": self.info_weight * ops.mean(categorical_nll)
            + self.continuous_weight * ops.mean(continuous_nll),
            "categorical_bound": losses.mutual_information_bound(
                float(np.log(self.num_categories)), categorical_nll),
            "continuous_bound": losses.mutual_information_bound(
                self.num_continuous * float(np.log(2.0)), continuous_nll),
        }

    def judge_and_recognize(self, latents, training: bool):
        """``D``'s logits on ``G(latents)`` and the info terms of Q's reading of them
        (the category from a randomly moved copy, when there is a
        ``recognition_augmentation``)."""
        fake = self.generate(latents, training=training)
        scores, q_outputs = self.discriminator(fake, training=training)
        moved_q_outputs = None
        if self.recognition_augmentation is not None:
            moved = self.recognition_augmentation(fake, training=training)
            _, moved_q_outputs = self.discriminator(moved, training=training)
        return scores, self.info_terms(latents, q_outputs, moved_q_outputs)

    # --- the two players --------------------------------------------------------------------------
    def score(self, x, labels=None, *, training: bool = False):
        return self.discriminator(x, training=training)[0]

    def discriminator_losses(self, batch, training: bool) -> dict:
        real, _ = self.split_batch(batch)
        latents = self.latents(ops.shape(real)[0])
        real_scores, real_q = self.discriminator(real, training=training)
        fake_scores, info = self.judge_and_recognize(latents, training)
        d_loss = self.discriminator_objective(real_scores, fake_scores) + info["info_loss"]
        if self.clustering_weight:
            moved = self.recognition_augmentation(real, training=training)
            _, moved_q = self.discriminator(moved, training=training)
            d_loss -= self.clustering_weight * losses.paired_mutual_information(
                self.split_q(real_q)[0], self.split_q(moved_q)[0])
        return {"d_loss": d_loss,
                "real_score": self.mean_score(real_scores),
                "fake_score": self.mean_score(fake_scores)}

    def generator_losses(self, batch, training: bool) -> dict:
        real, _ = self.split_batch(batch)
        latents = self.latents(ops.shape(real)[0])
        fake_scores, info = self.judge_and_recognize(latents, training)
        return {"g_loss": self.generator_objective(fake_scores) + info["info_loss"],
                "categorical_bound": info["categorical_bound"],
                "continuous_bound": info["continuous_bound"]}

    # --- using a trained model ------------------------------------------------------------------
    def sample(self, num_samples: int, *, seed: int = 0, labels=None, categories=None,
               continuous=None, batch_size: int = INFERENCE_BATCH) -> np.ndarray:
        """Images ``(num_samples, 28, 28, 1)`` in [0, 1] from fresh noise drawn with ``seed``
        and the given codes: integer ``categories (num_samples,)`` and ``continuous
        (num_samples, num_continuous)``, each drawn from its prior when None.

        ``labels`` must stay None: an InfoGAN has no labels, its categories are codes."""
        if labels is not None:
            raise ValueError("an InfoGAN has no labels: pass categories= to choose its "
                             "categorical code")
        rng = np.random.default_rng(seed)
        noise = rng.standard_normal((num_samples, self.noise_dim))
        if categories is None:
            categories = rng.integers(0, self.num_categories, num_samples)
        if continuous is None:
            continuous = rng.uniform(-1.0, 1.0, (num_samples, self.num_continuous))
        return self.generate_from(self.latent_codes(noise, categories, continuous),
                                  batch_size=batch_size)

    def recognize(self, images, *, batch_size: int = INFERENCE_BATCH):
        """Q on images in [0, 1] ``(n, 28, 28, 1)``: ``(category probabilities (n,
        num_categories), continuous means (n, num_continuous))``."""

        _, q_outputs = apply_in_batches(self.discriminator, self.to_data_range(images),
                                        batch_size=batch_size)
        logits, means, _ = self.split_q(q_outputs)
        return softmax(logits, axis=1), np.asarray(means)


def build_infogan(*, noise_dim: int = 62, num_categories: int = 10, num_continuous: int = 2,
                  generator_filters: Sequence[int] = (128, 64),
                  discriminator_filters: Sequence[int] = (64, 128), hidden_units: int = 512,
                  augmentation: Mapping[str, float] | None = None, seed: int = 0,
                  steps_per_execution: int = 32, **options) -> InfoGAN:
    """Build and compile an InfoGAN for MNIST digits in [-1, 1] with the optimizers of
    :data:`INFOGAN_TRAINING`.

    Args:
        noise_dim, num_categories, num_continuous: the latent layout (:class:`InfoGAN`).
        generator_filters: :func:`build_conv_generator`'s ``filters``.
        discriminator_filters, hidden_units: :func:`build_infogan_discriminator`'s.
        augmentation: ``None``, or the options of
            :class:`~course_utils.augmentation.RandomAffine` (``max_degrees``, ``max_zoom``,
            ``max_shift``) for the copies Q reads (``recognition_augmentation``).
        **options: :class:`InfoGAN`'s (``info_weight``, ``continuous_weight``,
            ``clustering_weight``, ...).
    """
    generator = build_conv_generator(noise_dim + num_categories + num_continuous,
                                     filters=generator_filters)
    discriminator = build_infogan_discriminator(num_categories + 2 * num_continuous,
                                                filters=discriminator_filters,
                                                hidden_units=hidden_units)
    moved = None if augmentation is None else RandomAffine(seed=seed, **augmentation)
    gan = InfoGAN(generator, discriminator, noise_dim=noise_dim, num_categories=num_categories,
                  num_continuous=num_continuous, recognition_augmentation=moved, seed=seed,
                  name="infogan", **options)
    gan.compile(d_optimizer=make_optimizer(INFOGAN_TRAINING),
                g_optimizer=make_optimizer(INFOGAN_TRAINING, "generator_learning_rate"),
                steps_per_execution=steps_per_execution)
    return gan
