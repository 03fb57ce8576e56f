"""Chapter 08's InfoGAN."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from course_utils import callbacks, data, metrics
from course_utils.models.infogan import build_infogan
from course_utils.recipes.base import (
    SNAPSHOT_SIZE,
    CourseModel,
    Recipe,
    SeedStream,
    TrainingPlan,
    by_mode,
    register,
)
from course_utils.recipes.classifiers import course_classifier


@dataclass(frozen=True)
class AffineMoves:
    """The random moves of :class:`~course_utils.augmentation.RandomAffine`: rotations up to
    ``max_degrees``, zooms up to ``max_zoom`` (a fraction) and shifts up to ``max_shift``
    pixels."""

    max_degrees: float = 15.0
    max_zoom: float = 0.1
    max_shift: float = 2.0

    def options(self) -> dict[str, float]:
        """The keyword arguments of :class:`~course_utils.augmentation.RandomAffine`."""
        return asdict(self)


@dataclass(frozen=True)
class InfoGANRecipe(Recipe):
    """Chapter 08's InfoGAN on MNIST in [-1, 1]: 62 noise dimensions, a 10-way categorical
    and 2 continuous codes (Chen et al., 2016), a DCGAN generator and a convolutional
    discriminator with a Q head; batch 64, the optimizers of
    :data:`~course_utils.models.infogan.INFOGAN_TRAINING`, 3 epochs (2,811 generator steps;
    fast mode: 1 epoch of 3,000 images). Q reads the category from copies of the samples
    moved by ``augmentation`` and sorts real digits into categories that survive such moves
    (``clustering_weight``; see :class:`~course_utils.models.infogan.InfoGAN`). Purity and
    Q's accuracy on real digits are measured on 1,000 samples and test images every 250
    generator steps (fast mode: 200 every 16); the final measures on 10,000 (fast mode:
    2,000).

    ``metrics`` holds ``purity`` and ``mapping`` (:func:`~course_utils.metrics.code_purity`
    of samples with every code equally often), ``q_real_accuracy`` (Q's category of each
    test image, under its own best matching to the labels), ``fid`` and
    ``classifier_score`` of the same samples. ``arrays`` holds ``measured_purity`` and
    ``measured_q_real_accuracy`` over training, and snapshots of ten fixed samples of each
    code after every epoch. :func:`paper_infogan` is the paper's set-up.
    """

    dataset: str = "mnist"
    noise_dim: int = 62
    num_categories: int = 10
    num_continuous: int = 2
    generator_filters: tuple[int, ...] = (128, 64)
    discriminator_filters: tuple[int, ...] = (64, 128)
    hidden_units: int = 512
    augmentation: AffineMoves | None = AffineMoves()
    info_weight: float = 1.0
    continuous_weight: float = 0.1
    clustering_weight: float = 1.0
    batch_size: int = 64
    epochs: int = by_mode(full=3, fast=1)
    train_limit: int | None = by_mode(full=None, fast=3000)
    num_samples: int = by_mode(full=10_000, fast=2_000)
    measure_every: int = by_mode(full=250, fast=16)
    measured_samples: int = by_mode(full=1000, fast=200)
    seed: int = 0

    @property
    def cache_name(self) -> str:
        return "infogan_mnist" if self.augmentation else "infogan_plain_mnist"

    def num_train_examples(self) -> int:
        return data.split_size(self.dataset, "train", limit=self.train_limit)

    def build(self, plan: TrainingPlan):
        return build_infogan(
            noise_dim=self.noise_dim, num_categories=self.num_categories,
            num_continuous=self.num_continuous, generator_filters=self.generator_filters,
            discriminator_filters=self.discriminator_filters, hidden_units=self.hidden_units,
            augmentation=None if self.augmentation is None else self.augmentation.options(),
            info_weight=self.info_weight, continuous_weight=self.continuous_weight,
            clustering_weight=self.clustering_weight, seed=self.seed,
            steps_per_execution=plan.steps_per_execution)

    def training_data(self):
        course_classifier()  # the measurements need it: ready before the clock starts
        return data.image_dataset(self.dataset, "train", batch_size=self.batch_size,
                                  flatten=False, value_range=(-1, 1), limit=self.train_limit,
                                  seed=self.seed, drop_remainder=True)

    def code_measures(self, model, count: int, sample_seed: int):
        """The codes' measures, and the samples (every category equally often) they read."""
        codes = np.arange(count) % self.num_categories
        samples = model.sample(count, seed=sample_seed, categories=codes)
        purity, mapping = metrics.code_purity(samples, codes)
        images, labels = data.load_images(self.dataset, "test", limit=count)
        q_accuracy, _ = metrics.best_matching(model.recognize(images)[0].argmax(axis=1),
                                              labels, num_classes=self.num_categories)
        return {"purity": purity, "mapping": mapping, "q_real_accuracy": q_accuracy}, samples

    def callbacks(self) -> list:
        def measure(model):
            measures, _ = self.code_measures(model, self.measured_samples,
                                             self.seed + SeedStream.MEASUREMENTS)
            return {"purity": measures["purity"],
                    "q_real_accuracy": measures["q_real_accuracy"]}

        snapshot_codes = np.arange(SNAPSHOT_SIZE) // 10 % self.num_categories
        return [
            callbacks.SampleSnapshots(lambda model: model.sample(
                SNAPSHOT_SIZE, seed=self.seed + SeedStream.SNAPSHOTS, categories=snapshot_codes),
                epochs=self.snapshot_epochs()),
            callbacks.PeriodicMeasurements(measure, every_steps=self.measure_every),
        ]

    def evaluate(self, model) -> dict:
        measures, samples = self.code_measures(model, self.num_samples,
                                               self.seed + SeedStream.SECOND_DRAW)
        test_images, _ = data.load_images(self.dataset, "test", limit=len(samples))
        quality = metrics.sample_quality(samples, test_images)
        return {**measures, "fid": quality["fid"],
                "classifier_score": quality["classifier_score"]}


def paper_infogan() -> InfoGANRecipe:
    """The paper's InfoGAN with the same networks: Q reads the samples themselves and no
    real images are clustered."""
    return InfoGANRecipe(augmentation=None, clustering_weight=0.0)


register(CourseModel("infogan", "InfoGAN", "08_infogan", "GAN", InfoGANRecipe,
                     fid_key="fid_infogan"))
