"""Chapter 07b's GANs of a mixed categorical and continuous table (the Palmer penguins)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from course_utils import callbacks, data, tabular
from course_utils.models.gans import assemble_gan, real_batches_per_step, training_settings
from course_utils.models.networks.mlp import build_mlp_discriminator
from course_utils.models.networks.table import build_tabular_generator
from course_utils.recipes.base import (
    CourseModel,
    Recipe,
    SeedStream,
    TrainingPlan,
    by_mode,
    register,
)


def penguin_tables(*, held_out_fraction: float = 1 / 3, seed: int = 0):
    """Chapter 07b's Palmer penguins (:func:`~course_utils.data.load_penguins`, cleaned: 342
    rows), split at random into training rows and held-out rows, and the
    :class:`~course_utils.tabular.TableEncoder` fitted on the training rows.

    Returns:
        ``(train, held_out, encoder)``: 228 and 114 rows by default.
    """
    train, held_out = tabular.split_rows(data.load_penguins(),
                                         held_out_fraction=held_out_fraction, seed=seed)
    encoder = tabular.TableEncoder.fit(train, categorical=data.PENGUIN_CATEGORICAL,
                                       continuous=data.PENGUIN_CONTINUOUS)
    return train, held_out, encoder


@dataclass(frozen=True)
class TabularGANRecipe(Recipe):
    """A GAN of chapter 07b's penguin table: a 16-D latent, two hidden layers of 128 in each
    network (the generator ending in a softmax head per categorical column), batch 64, the
    optimizers and critic steps of :data:`~course_utils.models.gans.TRAINING_DEFAULTS`. An
    epoch is 178 generator steps: 50 passes over the 228 training rows for each real batch
    a step reads (one for the GAN, five for WGAN-GP, whose every critic update takes a fresh
    batch); 20 epochs. The largest marginal distance to the held-out rows is measured every
    89 generator steps. (Fast mode: 2 epochs of 10 passes, measured every 10 steps.)

    ``metrics`` holds :func:`~course_utils.tabular.compare_tables` of as many generated rows
    as there are training rows against the held-out rows, and ``closest_record_ratio``
    (:func:`~course_utils.tabular.closest_record_ratio`); ``arrays`` holds
    ``measured_max_marginal_distance`` over training.

    ``model``: ``"wgan_gp"`` (Ferreira's choice) or ``"gan"`` (the vanilla GAN it fails
    with).
    """

    table: str = "penguins"
    held_out_fraction: float = 1 / 3
    model: str = "wgan_gp"
    latent_dim: int = 16
    hidden_units: tuple[int, ...] = (128, 128)
    batch_size: int = 64
    passes_per_epoch: int = by_mode(full=50, fast=10)
    epochs: int = by_mode(full=20, fast=2)
    measure_every: int = by_mode(full=89, fast=10)
    seed: int = 0

    def __post_init__(self):
        if self.table != "penguins":
            raise ValueError(f"the course has one table, 'penguins'; got {self.table!r}")
        super().__post_init__()

    @property
    def cache_name(self) -> str:
        return f"{self.model}_{self.table}"

    def tables(self):
        """``(train, held_out, encoder)`` of :func:`penguin_tables` for this recipe."""
        return penguin_tables(held_out_fraction=self.held_out_fraction, seed=self.seed)

    def num_train_examples(self) -> int:
        """Rows in an epoch: ``passes_per_epoch`` passes over the training rows for each real
        batch a step reads, so every model takes the same generator steps per epoch."""
        return (len(self.tables()[0]) * self.passes_per_epoch
                * real_batches_per_step(self.training_settings()))

    def training_settings(self) -> dict:
        """The optimizers and critic schedule of ``model``
        (:data:`~course_utils.models.gans.TRAINING_DEFAULTS`)."""
        return training_settings(self.model, {})

    def examples_per_step(self) -> int:
        return self.batch_size * real_batches_per_step(self.training_settings())

    def cache_config(self, plan: TrainingPlan) -> dict:
        return {**super().cache_config(plan), "training": self.training_settings()}

    def build(self, plan: TrainingPlan):
        encoder = self.tables()[2]
        generator = build_tabular_generator(self.latent_dim, encoder.category_sizes,
                                            encoder.continuous_dim,
                                            hidden_units=self.hidden_units)
        critic = build_mlp_discriminator(encoder.width, hidden_units=self.hidden_units)
        return assemble_gan(self.model, generator, critic, latent_dim=self.latent_dim,
                            data_range=None, seed=self.seed, name=f"penguin_{self.model}",
                            steps_per_execution=plan.steps_per_execution)

    def training_data(self):
        train, _, encoder = self.tables()
        rows = np.tile(encoder.encode(train),
                       (self.num_train_examples() // len(train), 1))
        return data.make_dataset(rows, batch_size=self.examples_per_step(), seed=self.seed,
                                 drop_remainder=True)

    def generated_rows(self, model):
        """As many rows of ``model`` as there are training rows, decoded to a table."""
        train, _, encoder = self.tables()
        return encoder.decode(model.sample(len(train), seed=self.seed + SeedStream.EVALUATION))

    def callbacks(self) -> list:
        _, held_out, encoder = self.tables()

        def max_marginal_distance(model):
            distances = tabular.marginal_distances(self.generated_rows(model), held_out,
                                                   encoder)
            return {"max_marginal_distance": max(distances.values())}

        return [callbacks.PeriodicMeasurements(max_marginal_distance,
                                               every_steps=self.measure_every)]

    def evaluate(self, model) -> dict:
        train, held_out, encoder = self.tables()
        generated = self.generated_rows(model)
        return {**tabular.compare_tables(generated, held_out, encoder, seed=self.seed),
                "closest_record_ratio": tabular.closest_record_ratio(generated, held_out,
                                                                     train, encoder)}


TABLES_CHAPTER = "07b_conditional_and_tabular_wgans"
register(CourseModel("penguin_wgan_gp", "WGAN-GP of the penguin table", TABLES_CHAPTER, "GAN",
                     TabularGANRecipe))
register(CourseModel("penguin_gan", "GAN of the penguin table", TABLES_CHAPTER, "GAN",
                     lambda: TabularGANRecipe(model="gan")))
