"""Chapter 01's autoencoder, and chapter 02's way of generating with it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.mixture import GaussianMixture

from course_utils import cache, data, metrics
from course_utils.batching import apply_in_batches
from course_utils.geometry import IMAGE_SIDE
from course_utils.models.autoencoders import build_autoencoder
from course_utils.recipes.base import CourseModel, Recipe, TrainingPlan, by_mode, register


@dataclass(frozen=True)
class AutoencoderRecipe(Recipe):
    """Chapter 01's autoencoder, as in Lee's lecture notes: 784-500-300-2, tanh, Adam 1e-4,
    batch 50, on the MNIST digits {1, 5, 6}; 50 epochs in full mode, 3 in fast mode.

    ``metrics["knn_accuracy_2d"]`` is the test accuracy of a 5-nearest-neighbour classifier
    on the codes."""

    digits: tuple[int, ...] = (1, 5, 6)
    hidden_units: tuple[int, ...] = (500, 300)
    latent_dim: int = 2
    activation: str = "tanh"
    learning_rate: float = 1e-4
    batch_size: int = 50
    epochs: int = by_mode(full=50, fast=3)
    seed: int = 0

    drop_remainder = False

    @property
    def cache_name(self) -> str:
        return "digit_autoencoder"

    def images(self, split: str):
        """This recipe's ``(images (n, 784), labels)`` of a split."""
        return data.load_images("mnist", split, digits=self.digits, flatten=True)

    def num_train_examples(self) -> int:
        return len(self.images("train")[1])

    def build(self, plan: TrainingPlan):
        return build_autoencoder(hidden_units=self.hidden_units, latent_dim=self.latent_dim,
                                 activation=self.activation, learning_rate=self.learning_rate,
                                 steps_per_execution=plan.steps_per_execution)

    def training_data(self):
        return data.make_dataset(self.images("train")[0], batch_size=self.batch_size,
                                 seed=self.seed)

    def validation_data(self):
        return data.make_dataset(self.images("test")[0], batch_size=1000, shuffle=False)

    def evaluate(self, model) -> dict:
        (train_images, train_labels), (test_images, test_labels) = (
            self.images("train"), self.images("test"))
        return {"knn_accuracy_2d": metrics.knn_accuracy(
            apply_in_batches(model.encoder, train_images), train_labels,
            apply_in_batches(model.encoder, test_images), test_labels)}


def draw_from_code_mixture(run: cache.CachedRun, num_samples: int, seed: int) -> np.ndarray:
    """Chapter 02's generator: a three-component Gaussian mixture fitted to the autoencoder's
    codes of its training digits, decoded (and clipped to [0, 1], as the decoder's linear
    output can overshoot). Returns ``(num_samples, 28, 28)``."""
    images, _ = AutoencoderRecipe().images("train")
    codes = apply_in_batches(run.model.encoder, images)
    mixture = GaussianMixture(n_components=3, covariance_type="full", random_state=seed)
    drawn = mixture.fit(codes).sample(num_samples)[0].astype(np.float32)
    decoded = apply_in_batches(run.model.decoder, drawn)
    return np.clip(decoded, 0.0, 1.0).reshape(num_samples, IMAGE_SIDE, IMAGE_SIDE)


register(CourseModel("autoencoder", "autoencoder + code mixture",
                     "02_generating_from_latent_space", "autoencoder", AutoencoderRecipe,
                     fid_key="fid_autoencoder_mixture", draw=draw_from_code_mixture,
                     benchmark=AutoencoderRecipe))
