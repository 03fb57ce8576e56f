"""Chapter 11's RealNVP flows: on the two moons, and a dense and a multi-scale one on MNIST
digits 0-8."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from course_utils import data, metrics
from course_utils._tensorflow import keras
from course_utils.batching import apply_in_batches
from course_utils.geometry import IMAGE_SHAPE
from course_utils.models.flows import build_multiscale_realnvp, build_realnvp
from course_utils.recipes.base import (
    CourseModel,
    Recipe,
    SeedStream,
    TrainingPlan,
    by_mode,
    register,
)

#: The digits chapter 11's RealNVP learns; the 9 is kept for the transfer.
FLOW_DIGITS = tuple(range(9))
#: Examples that set the ActNorm layers' scales and shifts before training.
INITIALIZATION_EXAMPLES = 2000


@dataclass(frozen=True)
class MoonsFlowRecipe(Recipe):
    """Chapter 11's 2-D RealNVP on the two moons (:func:`~course_utils.data.two_moons`,
    20,000 points, noise 0.05): 8 couplings with alternating masks, each conditioner two
    ReLU layers of 64, ActNorm between them, Adam 1e-3, batch 256, 30 epochs (fast mode:
    4,000 points, 20 epochs). ``metrics["nll"]`` is the mean NLL in nats of 10,000 new
    points."""

    num_points: int = by_mode(full=20_000, fast=4_000)
    noise: float = 0.05
    num_couplings: int = 8
    hidden_units: tuple[int, ...] = (64, 64)
    learning_rate: float = 1e-3
    batch_size: int = 256
    epochs: int = by_mode(full=30, fast=20)
    seed: int = 0

    #: Points the NLL is measured on.
    test_points: ClassVar[int] = 10_000

    @property
    def cache_name(self) -> str:
        return "realnvp_two_moons"

    def points(self) -> np.ndarray:
        """The training points ``(num_points, 2)``."""
        return data.two_moons(self.num_points, noise=self.noise, seed=self.seed)[0]

    def num_train_examples(self) -> int:
        return self.num_points

    def build(self, plan: TrainingPlan):
        model = build_realnvp((2,), num_couplings=self.num_couplings,
                              hidden_units=self.hidden_units, actnorm=True,
                              learning_rate=self.learning_rate, seed=self.seed,
                              steps_per_execution=plan.steps_per_execution)
        model.initialize(self.points()[:INITIALIZATION_EXAMPLES])
        return model

    def training_data(self):
        return data.make_dataset(self.points(), batch_size=self.batch_size, seed=self.seed,
                                 drop_remainder=True)

    def evaluate(self, model) -> dict:
        new_points, _ = data.two_moons(self.test_points, noise=self.noise,
                                       seed=self.seed + SeedStream.TEST_DATA)
        return {"nll": float(np.mean(apply_in_batches(model.negative_log_likelihood,
                                                      new_points)))}


@dataclass(frozen=True)
class DigitFlowRecipe(Recipe):
    """What chapter 11's two flows on MNIST digits 0-8 share (as in the *Transfer learning
    with RealNVP* report): 8-bit images that the model dequantizes uniformly, the logit
    transform (alpha 1e-5), ActNorm layers set from 2,000 training digits, Adam with cosine
    decay, and the measurement on the test digits 0-8 (fast mode: 1,000) and on samples at
    two temperatures. A subclass builds the flow (:meth:`build_flow`).

    ``metrics`` holds ``test_bpd`` (:func:`~course_utils.metrics.flow_bits_per_dim` of the
    test digits), and ``fid`` and ``fid_cool`` of ``num_samples`` samples at temperature 1
    and 0.7, against as many test digits.
    """

    dataset: str = "mnist"
    digits: tuple[int, ...] = FLOW_DIGITS
    logit_alpha: float = 1e-5
    learning_rate: float = 1e-3
    train_limit: int | None = by_mode(full=None, fast=3000)
    test_limit: int | None = by_mode(full=None, fast=1000)
    num_samples: int = by_mode(full=10_000, fast=500)
    seed: int = 0

    #: The sampling temperatures the evaluation measures, by metric name.
    temperatures: ClassVar[tuple[tuple[str, float], ...]] = (("fid", 1.0), ("fid_cool", 0.7))

    def num_train_examples(self) -> int:
        return data.split_size(self.dataset, "train", digits=self.digits,
                               limit=self.train_limit)

    def build_flow(self, plan: TrainingPlan, learning_rate):
        """The compiled, uninitialized flow, with Adam at ``learning_rate`` (a schedule)."""
        raise NotImplementedError

    def build(self, plan: TrainingPlan):
        model = self.build_flow(plan, keras.optimizers.schedules.CosineDecay(
            self.learning_rate, plan.total_steps))
        model.initialize(data.load_images(self.dataset, "train", digits=self.digits,
                                          limit=INITIALIZATION_EXAMPLES)[0])
        return model

    def training_data(self):  # uint8 in memory, scaled batch by batch
        return data.image_dataset(self.dataset, "train", batch_size=self.batch_size,
                                  digits=self.digits, limit=self.train_limit, seed=self.seed,
                                  drop_remainder=True)

    def evaluate(self, model) -> dict:
        test_images, _ = data.load_images(self.dataset, "test", digits=self.digits,
                                          limit=self.test_limit)
        count = self.num_samples
        return {"test_bpd": metrics.flow_bits_per_dim(model, test_images),
                **{key: metrics.classifier_fid(
                    model.sample(count, seed=self.seed + SeedStream.EVALUATION,
                                 temperature=temperature), test_images[:count])
                   for key, temperature in self.temperatures}}


@dataclass(frozen=True)
class RealNVPRecipe(DigitFlowRecipe):
    """Chapter 11's dense RealNVP: ActNorm, then 8 affine couplings with checkerboard
    masks, each conditioner a dense network from the 392 kept pixels through two ReLU
    layers of 512 to a log-scale and a shift for each of the 392 changed pixels, an
    ActNorm after each; Adam 1e-3, batch 128, 3 epochs (fast mode: 1 epoch of 3,000
    images). See :class:`DigitFlowRecipe` for the data and the ``metrics``."""

    num_couplings: int = 8
    hidden_units: tuple[int, ...] = (512, 512)
    batch_size: int = 128
    epochs: int = by_mode(full=3, fast=1)

    @property
    def cache_name(self) -> str:
        return "realnvp_mnist"

    def build_flow(self, plan: TrainingPlan, learning_rate):
        return build_realnvp(
            IMAGE_SHAPE, num_couplings=self.num_couplings, hidden_units=self.hidden_units,
            logit_alpha=self.logit_alpha, actnorm=True, dequantize=True, seed=self.seed,
            learning_rate=learning_rate, steps_per_execution=plan.steps_per_execution)


@dataclass(frozen=True)
class MultiscaleRealNVPRecipe(DigitFlowRecipe):
    """Chapter 11's multi-scale convolutional RealNVP (Dinh et al., 2017, on a CPU budget):
    4 couplings with checkerboard masks on the 28 x 28 image, a squeeze, 4 with channel
    masks on 14 x 14 x 4, a squeeze, 4 more on 7 x 7 x 16; residual convolutional
    conditioners of ``filters`` channels at the three scales, an ActNorm after every
    coupling; Adam 1e-3, batch 64, 2 epochs (fast mode: 1 of 1,000 images). See
    :class:`DigitFlowRecipe` for the data and the ``metrics``."""

    filters: tuple[int, ...] = (16, 32, 64)
    couplings_per_scale: int = 4
    num_blocks: int = 1
    batch_size: int = 64
    epochs: int = by_mode(full=2, fast=1)
    train_limit: int | None = by_mode(full=None, fast=1000)

    @property
    def cache_name(self) -> str:
        return "multiscale_realnvp_mnist"

    def build_flow(self, plan: TrainingPlan, learning_rate):
        return build_multiscale_realnvp(
            IMAGE_SHAPE, filters=self.filters, couplings_per_scale=self.couplings_per_scale,
            num_blocks=self.num_blocks, logit_alpha=self.logit_alpha, dequantize=True,
            seed=self.seed, learning_rate=learning_rate,
            steps_per_execution=plan.steps_per_execution)


register(CourseModel("moons_flow", "RealNVP on the two moons", "11_normalizing_flows", "flow",
                     MoonsFlowRecipe))
register(CourseModel("realnvp", "RealNVP", "11_normalizing_flows", "flow", RealNVPRecipe,
                     fid_key="fid_realnvp", likelihood_key="flow_test_bpd",
                     likelihood_unit="bits/dim (dequantized 0-255)",
                     benchmark=lambda: RealNVPRecipe(train_limit=6016)))
register(CourseModel("multiscale_realnvp", "multi-scale RealNVP", "11_normalizing_flows", "flow",
                     MultiscaleRealNVPRecipe, fid_key="fid_multiscale_realnvp",
                     likelihood_key="multiscale_flow_test_bpd",
                     likelihood_unit="bits/dim (dequantized 0-255)"))
