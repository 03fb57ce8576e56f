"""Chapter 10's recurrent conditional GAN of the Waves series."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from course_utils import callbacks, data, metrics, tabular
from course_utils.models.gans import assemble_gan
from course_utils.models.networks.lstm import build_lstm_discriminator, build_lstm_generator
from course_utils.recipes.base import (
    CourseModel,
    Recipe,
    SeedStream,
    TrainingPlan,
    by_mode,
    register,
    sample_labels,
)


@dataclass(frozen=True)
class RCGANRecipe(Recipe):
    """Chapter 10's recurrent conditional GAN on the Waves data
    (:func:`~course_utils.data.waves`, 10,000 training series; fast mode 1,000): a 2-D
    latent, LSTMs of 64 units, a projection discriminator, 3 discriminator steps per
    generator step (with one, the discriminator's loss stays at 2 log 2: an LSTM learns too
    slowly to keep up), Adam (1e-3, beta_1 = 0.5), batch 32, 12 epochs (fast mode: 2). It is
    measured on 2,000 generated series and 2,000 new real ones (fast mode: 400).

    ``metrics`` holds ``tstr_conv_accuracy``, ``trtr_conv_accuracy``,
    ``tstr_dense_accuracy`` and ``trtr_dense_accuracy``
    (:func:`~course_utils.metrics.transfer_accuracy` with each classifier, of
    ``num_samples`` generated, or real training, series and their kinds, tested on the real
    test series), ``median_residual`` (of :func:`~course_utils.metrics.fit_waves` on the
    generated series), and ``ks_frequency``, ``ks_amplitude``, ``ks_offset``: the
    Kolmogorov-Smirnov distance between the fitted parameters of generated and of real test
    series.
    """

    num_train: int = by_mode(full=10_000, fast=1_000)
    length: int = 30
    latent_dim: int = 2
    units: int = 64
    conditioning: str = "projection"
    critic_steps: int = 3
    learning_rate: float = 1e-3
    batch_size: int = 32
    epochs: int = by_mode(full=12, fast=2)
    num_samples: int = by_mode(full=2000, fast=400)
    seed: int = 0

    #: Series kept in each snapshot.
    snapshot_series: ClassVar[int] = 16

    @property
    def cache_name(self) -> str:
        return "rcgan_waves"

    @property
    def num_kinds(self) -> int:
        """The wave kinds the model is conditioned on."""
        return len(data.WAVE_KINDS)

    def waves_splits(self):
        """``(train, test)`` Waves, each ``(series, kinds, parameters)`` of
        :func:`~course_utils.data.waves`, the test set drawn with its own seed."""
        return (data.waves(self.num_train, length=self.length, seed=self.seed),
                data.waves(self.num_samples, length=self.length,
                           seed=self.seed + SeedStream.TEST_DATA))

    def num_train_examples(self) -> int:
        return self.num_train

    def build(self, plan: TrainingPlan):
        generator = build_lstm_generator(self.latent_dim, self.length, units=self.units,
                                         num_classes=self.num_kinds)
        discriminator = build_lstm_discriminator(self.length, units=self.units,
                                                 num_classes=self.num_kinds,
                                                 conditioning=self.conditioning)
        return assemble_gan("gan", generator, discriminator, latent_dim=self.latent_dim,
                            num_classes=self.num_kinds, data_range=None, seed=self.seed,
                            name="rcgan", learning_rate=self.learning_rate,
                            critic_steps=self.critic_steps,
                            steps_per_execution=plan.steps_per_execution)

    def training_data(self):
        (series, kinds, _), _ = self.waves_splits()
        return data.make_dataset(series, kinds, batch_size=self.batch_size, seed=self.seed,
                                 drop_remainder=True)

    def callbacks(self) -> list:
        fixed_labels = sample_labels(self.snapshot_series, self.num_kinds)
        return [callbacks.SampleSnapshots(
            lambda model: model.sample(self.snapshot_series,
                                       seed=self.seed + SeedStream.SNAPSHOTS,
                                       labels=fixed_labels),
            epochs=self.snapshot_epochs())]

    def evaluate(self, model) -> dict:
        (series, kinds, _), (test_series, test_kinds, _) = self.waves_splits()
        count = self.num_samples
        labels = sample_labels(count, self.num_kinds)
        generated = model.sample(count, seed=self.seed + SeedStream.EVALUATION, labels=labels)
        fitted = metrics.fit_waves(generated, labels)
        real = metrics.fit_waves(test_series, test_kinds)
        transfers = {
            f"{train}_{classifier}_accuracy": metrics.transfer_accuracy(
                *sets, test_series, test_kinds, classifier=classifier, seed=self.seed)
            for train, sets in (("tstr", (generated, labels)),
                                ("trtr", (series[:count], kinds[:count])))
            for classifier in metrics.TRANSFER_CLASSIFIERS}
        return {
            **transfers,
            "median_residual": float(np.median(fitted["residual"])),
            **{f"ks_{name}": tabular.ks_distance(fitted[name], real[name])
               for name in ("frequency", "amplitude", "offset")},
        }


register(CourseModel("rcgan", "RCGAN of the Waves", "10_recurrent_conditional_gan",
                     "conditional GAN", RCGANRecipe))
