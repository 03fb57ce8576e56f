"""The course classifier (the ruler of every image model), and chapter 06's digit classifiers
trained on generated or on real images."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from course_utils import config, data, metrics
from course_utils._tensorflow import keras
from course_utils.batching import apply_in_batches
from course_utils.geometry import IMAGE_SHAPE, NUM_CLASSES
from course_utils.models.classifier import build_classifier
from course_utils.recipes.base import (
    CourseModel,
    Recipe,
    SeedStream,
    TrainingPlan,
    by_mode,
    load,
    register,
    sample_labels,
)
from course_utils.recipes.gans import GANRecipe, conditional_gan


@dataclass(frozen=True)
class CourseClassifierRecipe(Recipe):
    """The course classifier (:func:`~course_utils.models.classifier.build_classifier`):
    full mode trains on all 60,000 MNIST training images for 3 epochs, fast mode on the
    first 6,000 for 1. ``metrics["test_accuracy"]`` is its accuracy on the 10,000 test
    images."""

    train_size: int = by_mode(full=60_000, fast=6_000)
    epochs: int = by_mode(full=3, fast=1)
    batch_size: int = 128
    seed: int = 0

    drop_remainder = False

    @property
    def cache_name(self) -> str:
        return "course_classifier"

    def num_train_examples(self) -> int:
        return data.split_size("mnist", "train", limit=self.train_size)

    def build(self, plan: TrainingPlan):
        return build_classifier(steps_per_execution=plan.steps_per_execution)

    def training_data(self):
        raw = data.load_raw("mnist")  # uint8, scaled batch by batch: a quarter of float32's
        images = raw["x_train"][:self.train_size, ..., np.newaxis]
        dataset = data.make_dataset(images, raw["y_train"][:self.train_size],
                                    batch_size=self.batch_size, seed=self.seed)
        return dataset.map(lambda images, labels: (keras.ops.cast(images, "float32") / 255.0,
                                                   labels))

    def evaluate(self, model) -> dict:
        test_images, test_labels = data.load_images("mnist", "test")
        logits = apply_in_batches(model, test_images)
        return {"test_accuracy": float(np.mean(logits.argmax(axis=1) == test_labels))}


@functools.lru_cache(maxsize=2)
def _loaded_course_classifier(mode: str, cache_dir: str) -> keras.Model:
    run = load(CourseClassifierRecipe())
    if run.interrupted:  # a half-trained ruler must not measure anything, nor be kept
        raise KeyboardInterrupt("the course classifier's training was interrupted")
    return run.model


def course_classifier() -> keras.Model:
    """The course classifier of the current mode and cache, trained once and then loaded
    (and kept for the process). It maps ``(batch, 28, 28, 1)`` images in [0, 1] to 10
    logits."""
    return _loaded_course_classifier(config.mode(), str(config.cache_dir()))


@dataclass(frozen=True)
class DownstreamClassifierRecipe(Recipe):
    """Chapter 06's train-on-synthetic, test-on-real (TSTR): the course classifier's
    architecture trained on 10,000 samples of the conditional GAN ``gan`` (1,000 of each
    digit) or, with ``gan=None``, on as many real training images (1,000 of each digit
    drawn at random), for 5 epochs; fast mode: 2,000 images, 2 epochs. Tested on the 10,000
    real test images (fast mode: the first 2,000).

    ``metrics`` holds ``test_accuracy`` and ``class_accuracy``, the accuracy on each
    digit's test images.
    """

    gan: GANRecipe | None = None
    num_images: int = by_mode(full=10_000, fast=2_000)
    epochs: int = by_mode(full=5, fast=2)
    test_limit: int | None = by_mode(full=None, fast=2_000)
    batch_size: int = 128
    seed: int = 0

    drop_remainder = False

    def __post_init__(self):
        if self.gan is not None and self.gan.num_classes is None:
            raise ValueError("train-on-synthetic needs a conditional GAN: its samples need "
                             "labels; set num_classes in the GAN's recipe")
        super().__post_init__()

    @property
    def cache_name(self) -> str:
        source = "real" if self.gan is None else f"{self.gan.model}_{self.gan.kind}"
        return f"digit_classifier_on_{source}"

    def num_train_examples(self) -> int:
        return self.num_images

    def build(self, plan: TrainingPlan):
        return build_classifier(num_classes=NUM_CLASSES,
                                steps_per_execution=plan.steps_per_execution)

    def training_images(self) -> tuple[np.ndarray, np.ndarray]:
        """``(images (num_images, 28, 28, 1), labels)``: real, or the GAN's samples."""
        if self.gan is None:
            images, labels = data.load_images("mnist", "train")
            chosen = data.balanced_subset(labels, per_class=self.num_images // NUM_CLASSES,
                                          rng=np.random.default_rng(self.seed))
            return images[chosen], labels[chosen]
        labels = sample_labels(self.num_images, NUM_CLASSES)
        images = load(self.gan).model.sample(
            self.num_images, seed=self.seed + SeedStream.SECOND_DRAW, labels=labels)
        return images.reshape(self.num_images, *IMAGE_SHAPE), labels.astype(np.int32)

    def training_data(self):
        return data.make_dataset(*self.training_images(), batch_size=self.batch_size,
                                 seed=self.seed)

    def evaluate(self, model) -> dict:
        test_images, test_labels = data.load_images("mnist", "test", limit=self.test_limit)
        predicted = metrics.class_probabilities(test_images, classifier=model).argmax(axis=1)
        correct = predicted == test_labels
        return {"test_accuracy": float(correct.mean()),
                "class_accuracy": [float(correct[test_labels == c].mean())
                                   for c in range(NUM_CLASSES)]}


register(CourseModel("course_classifier", "course classifier", "00_setup_and_tour",
                     "classifier", CourseClassifierRecipe))
register(CourseModel("tstr_classifier", "digit classifier trained on CGAN samples",
                     "06_conditional_gans", "classifier",
                     lambda: DownstreamClassifierRecipe(gan=conditional_gan())))
register(CourseModel("trtr_classifier", "digit classifier trained on real digits",
                     "06_conditional_gans", "classifier", DownstreamClassifierRecipe))

