"""Chapter 09's BiGAN and adversarial autoencoders."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from course_utils import callbacks, config, data, metrics
from course_utils.batching import apply_in_batches
from course_utils.geometry import NUM_CLASSES
from course_utils.models.adversarial_encoders import build_aae, build_bigan
from course_utils.models.networks.conv import build_conv_encoder
from course_utils.recipes.base import (
    SNAPSHOT_SIZE,
    CourseModel,
    Recipe,
    SeedStream,
    TrainingPlan,
    by_mode,
    register,
    sample_labels,
)


@dataclass(frozen=True)
class BiGANRecipe(Recipe):
    """Chapter 09's BiGAN on MNIST in [-1, 1]: a 32-D latent, chapter 05's DCGAN generator,
    a convolutional encoder and a discriminator of (image, code) pairs
    (:func:`~course_utils.models.adversarial_encoders.build_bigan`), Adam(2e-4, 0.5),
    batch 128, 6 epochs (fast mode: 1 epoch of 6,000 images). Measured on 10,000 samples and
    test images, with 10,000 training images as the kNN's references (fast mode: 2,000).

    ``metrics`` holds ``fid`` and ``classifier_score`` of ``num_samples`` samples;
    ``knn_accuracy`` (5 nearest neighbours among the codes ``E(x)`` of ``num_samples``
    training images, tested on as many test images) and ``random_encoder_knn_accuracy`` (the
    same with an untrained encoder of the same architecture); ``reconstruction_accuracy``
    (the course classifier's label of ``G(E(x))`` equal to ``x``'s, on the test images) and
    ``latent_recovery`` (:func:`~course_utils.metrics.latent_recovery` of ``E(G(z))``).
    ``arrays`` holds snapshots of :data:`~course_utils.recipes.base.SNAPSHOT_SIZE` fixed
    samples after every epoch.
    """

    dataset: str = "mnist"
    latent_dim: int = 32
    generator_filters: tuple[int, ...] = (64, 32)
    encoder_filters: tuple[int, ...] = (32, 64)
    discriminator_filters: tuple[int, ...] = (32, 64)
    latent_units: int = 512
    hidden_units: int = 512
    dropout: float = 0.2
    batch_size: int = 128
    epochs: int = by_mode(full=6, fast=1)
    train_limit: int | None = by_mode(full=None, fast=6000)
    num_samples: int = by_mode(full=10_000, fast=2_000)
    seed: int = 0

    @property
    def cache_name(self) -> str:
        return "bigan_mnist"

    def num_train_examples(self) -> int:
        return data.split_size(self.dataset, "train", limit=self.train_limit)

    def build(self, plan: TrainingPlan):
        return build_bigan(latent_dim=self.latent_dim, generator_filters=self.generator_filters,
                           encoder_filters=self.encoder_filters,
                           discriminator_filters=self.discriminator_filters,
                           latent_units=self.latent_units, hidden_units=self.hidden_units,
                           dropout=self.dropout, seed=self.seed,
                           steps_per_execution=plan.steps_per_execution)

    def training_data(self):
        return data.image_dataset(self.dataset, "train", batch_size=self.batch_size,
                                  flatten=False, value_range=(-1, 1), limit=self.train_limit,
                                  seed=self.seed, drop_remainder=True)

    def callbacks(self) -> list:
        return [callbacks.SampleSnapshots(
            lambda model: model.sample(SNAPSHOT_SIZE, seed=self.seed + SeedStream.SNAPSHOTS),
            epochs=self.snapshot_epochs())]

    def evaluate(self, model) -> dict:
        count = self.num_samples
        train_images, train_labels = data.load_images(self.dataset, "train", limit=count)
        test_images, test_labels = data.load_images(self.dataset, "test", limit=count)
        config.set_seed(self.seed + SeedStream.BASELINE)
        untrained = build_conv_encoder(self.latent_dim, filters=self.encoder_filters)

        def knn(encode):
            return metrics.knn_accuracy(encode(train_images), train_labels,
                                        encode(test_images), test_labels)

        latents = np.random.default_rng(self.seed + SeedStream.SECOND_DRAW).standard_normal(
            (count, self.latent_dim)).astype(np.float32)
        reconstructed = metrics.class_probabilities(model.reconstruct(test_images))
        samples = model.sample(count, seed=self.seed + SeedStream.EVALUATION)
        return {
            **metrics.sample_quality(samples, test_images),
            "knn_accuracy": knn(model.encode),
            "random_encoder_knn_accuracy": knn(
                lambda images: apply_in_batches(untrained, model.to_data_range(images))),
            "reconstruction_accuracy": float(np.mean(reconstructed.argmax(axis=1)
                                                     == test_labels)),
            "latent_recovery": metrics.latent_recovery(
                latents, model.encode(model.generate_from(latents))),
        }


@dataclass(frozen=True)
class AAERecipe(Recipe):
    """Chapter 09's adversarial autoencoder on flat MNIST in [0, 1]: a code of ``latent_dim``
    (2 by default, as in Ferreira's post) pushed to a Gaussian prior of std 5 (Makhzani et
    al., 2016), dense networks 784-512-256-``latent_dim`` and back,
    a code discriminator 256-256 (:func:`~course_utils.models.adversarial_encoders.build_aae`),
    Adam 1e-3 (the discriminator 5e-4), batch 100, 10 epochs (fast mode: 5 epochs of 6,000
    images). Measured on 10,000 samples of the prior and 10,000 test images (fast mode:
    2,000).

    ``metrics`` holds :func:`~course_utils.metrics.sample_quality` of ``num_samples``
    decoded prior draws (with every label equally often for a supervised AAE: then also
    ``conditional_accuracy``), and ``code_mean`` and ``code_std`` (per coordinate) of the
    test images' codes, to compare with the prior's 0 and ``prior_std``.

    ``supervised``: the decoder also reads the label, so the code holds the style only.
    """

    dataset: str = "mnist"
    supervised: bool = False
    latent_dim: int = 2
    hidden_units: tuple[int, ...] = (512, 256)
    discriminator_units: tuple[int, ...] = (256, 256)
    prior_std: float = 5.0
    adversarial_weight: float = 1.0
    learning_rate: float = 1e-3
    batch_size: int = 100
    epochs: int = by_mode(full=10, fast=5)
    train_limit: int | None = by_mode(full=None, fast=6000)
    num_samples: int = by_mode(full=10_000, fast=2_000)
    seed: int = 0

    drop_remainder = False

    @property
    def cache_name(self) -> str:
        return "supervised_aae_mnist" if self.supervised else "aae_mnist"

    @property
    def num_classes(self) -> int | None:
        """The decoder's classes: ten when supervised."""
        return NUM_CLASSES if self.supervised else None

    def num_train_examples(self) -> int:
        return data.split_size(self.dataset, "train", limit=self.train_limit)

    def build(self, plan: TrainingPlan):
        return build_aae(latent_dim=self.latent_dim, hidden_units=self.hidden_units,
                         discriminator_units=self.discriminator_units,
                         prior_std=self.prior_std, adversarial_weight=self.adversarial_weight,
                         learning_rate=self.learning_rate, num_classes=self.num_classes,
                         seed=self.seed, steps_per_execution=plan.steps_per_execution)

    def training_data(self):
        return data.image_dataset(self.dataset, "train", batch_size=self.batch_size,
                                  flatten=True, limit=self.train_limit,
                                  with_labels=self.supervised, seed=self.seed)

    def evaluate(self, model) -> dict:
        test_images, _ = data.load_images(self.dataset, "test", flatten=True,
                                          limit=self.num_samples)
        labels = sample_labels(self.num_samples, self.num_classes)
        samples = model.sample(self.num_samples, seed=self.seed + SeedStream.EVALUATION,
                               labels=labels)
        codes = model.encode(test_images)
        return {**metrics.sample_quality(samples, test_images, requested_labels=labels),
                "code_mean": codes.mean(axis=0).tolist(), "code_std": codes.std(axis=0).tolist()}


register(CourseModel("bigan", "BiGAN", "09_bigan_and_adversarial_autoencoders", "GAN",
                     BiGANRecipe, fid_key="fid_bigan"))
register(CourseModel("aae", "AAE, 2-D code", "09_bigan_and_adversarial_autoencoders",
                     "adversarial autoencoder", AAERecipe, fid_key="fid_aae"))
register(CourseModel("aae_16d", "AAE, 16-D code", "09_bigan_and_adversarial_autoencoders",
                     "adversarial autoencoder", lambda: AAERecipe(latent_dim=16),
                     fid_key="fid_aae_16d"))
register(CourseModel("supervised_aae", "supervised AAE", "09_bigan_and_adversarial_autoencoders",
                     "adversarial autoencoder", lambda: AAERecipe(supervised=True),
                     fid_key="fid_supervised_aae"))
