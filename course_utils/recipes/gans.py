"""The GANs of chapters 05-07b: image GANs, WGANs and their conditional versions, and the
GANs of chapter 05's ring of Gaussians."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from course_utils import callbacks, config, data, metrics
from course_utils.models.gans import (
    architecture_options,
    build_gan,
    real_batches_per_step,
    training_settings,
)
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

#: (full, fast) epochs of the image GANs of chapters 05-07b, by architecture.
GAN_EPOCHS = {"mlp": (10, 1), "conv": (2, 1)}


@dataclass(frozen=True)
class GANRecipe(Recipe):
    """An image GAN of chapters 05-07b on MNIST in [-1, 1]: a 64-D latent, batch 128, the
    optimizers and critic steps of :data:`~course_utils.models.gans.TRAINING_DEFAULTS`.

    Full mode trains on the 60,000 training images and measures classifier-FID with 10,000
    samples against the 10,000 test images; fast mode uses 6,000, 2,000 and 2,000. ``epochs``
    defaults to the architecture's entry of :data:`GAN_EPOCHS`. With ``measure_every``, the
    FID of ``measured_samples`` samples and the critic's score gap are measured every that
    many generator steps (:meth:`quality_and_critic_gap`).

    The run keeps snapshots of :data:`~course_utils.recipes.base.SNAPSHOT_SIZE` fixed
    latents after every epoch (for a conditional model, with the labels
    ``sample_labels(SNAPSHOT_SIZE, num_classes)``). ``metrics`` holds ``fid``,
    ``classifier_score``, ``class_fractions`` (the classifier's reading of the samples, 10
    fractions) and, for a conditional model, ``conditional_accuracy``.

    Fields ``model``, ``kind``, ``num_classes``, ``conditioning``, ``generator_loss`` and
    ``generator_average`` are those of :func:`~course_utils.models.gans.build_gan`;
    ``clip_value`` (a WGAN's), ``critic_steps``, ``learning_rate`` (both players') and
    ``critic_warm_up`` (``(generator steps, critic steps)``), when set, override the model's
    defaults. A step is one generator update; a WGAN's step reads
    a fresh real batch for each critic update (:meth:`examples_per_step`).
    :func:`dcgan` is chapter 05's DCGAN.
    """

    dataset: str = "mnist"
    model: str = "gan"
    kind: str = "mlp"
    num_classes: int | None = None
    conditioning: str = "concat"
    generator_loss: str = "non_saturating"
    generator_average: float | None = None
    clip_value: float | None = None
    critic_steps: int | None = None
    learning_rate: float | None = None
    critic_warm_up: tuple[int, ...] | None = None
    latent_dim: int = 64
    batch_size: int = 128
    epochs: int | None = None
    train_limit: int | None = by_mode(full=None, fast=6000)
    num_samples: int = by_mode(full=10_000, fast=2_000)
    measure_every: int | None = None
    measured_samples: int | None = None
    seed: int = 0

    def __post_init__(self):
        if self.kind not in GAN_EPOCHS:
            raise ValueError(f"kind must be one of {sorted(GAN_EPOCHS)}, got {self.kind!r}")
        full, fast = GAN_EPOCHS[self.kind]
        self._set_default("epochs", config.pick(full=full, fast=fast))
        if self.critic_warm_up is not None and len(self.critic_warm_up) != 2:
            raise ValueError(f"critic_warm_up is (generator steps, critic steps), got "
                             f"{self.critic_warm_up!r}")
        if self.measure_every is not None and self.measured_samples is None:
            raise ValueError("measure_every needs measured_samples (how many samples each "
                             "measurement draws)")
        super().__post_init__()

    @property
    def cache_name(self) -> str:
        name = f"{self.model}_{self.kind}_{self.dataset}"
        return name if self.num_classes is None else f"conditional_{name}"

    @property
    def flatten(self) -> bool:
        """Whether the networks read flat images (the MLP architecture)."""
        return self.kind == "mlp"

    def overrides(self) -> dict:
        """The model options this recipe sets besides the defaults (``clip_value``,
        ``critic_steps``, ``learning_rate``, ``critic_warm_up``)."""
        return {key: value for key, value in (("clip_value", self.clip_value),
                                              ("critic_steps", self.critic_steps),
                                              ("learning_rate", self.learning_rate),
                                              ("critic_warm_up", self.critic_warm_up))
                if value is not None}

    def training_settings(self) -> dict:
        """The optimizers and critic schedule this recipe trains with
        (:func:`~course_utils.models.gans.training_settings`)."""
        return training_settings(self.model, architecture_options(self.model, self.kind,
                                                                  self.overrides()))

    def cache_config(self, plan: TrainingPlan) -> dict:
        return {**super().cache_config(plan), "training": self.training_settings()}

    def num_train_examples(self) -> int:
        return data.split_size(self.dataset, "train", limit=self.train_limit)

    def examples_per_step(self) -> int:
        return self.batch_size * real_batches_per_step(self.training_settings())

    def build(self, plan: TrainingPlan):
        return build_gan(self.model, self.kind, latent_dim=self.latent_dim,
                         num_classes=self.num_classes, conditioning=self.conditioning,
                         generator_loss=self.generator_loss,
                         generator_average=self.generator_average, seed=self.seed,
                         steps_per_execution=plan.steps_per_execution, **self.overrides())

    def training_data(self, batch_size: int | None = None):
        """Batches of :meth:`examples_per_step` training images (or ``batch_size``)."""
        return data.image_dataset(self.dataset, "train",
                                  batch_size=batch_size or self.examples_per_step(),
                                  flatten=self.flatten, value_range=(-1, 1),
                                  limit=self.train_limit,
                                  with_labels=self.num_classes is not None, seed=self.seed,
                                  drop_remainder=True)

    def callbacks(self) -> list:
        fixed_labels = sample_labels(SNAPSHOT_SIZE, self.num_classes)
        recorders = [callbacks.SampleSnapshots(  # the same seed, so the same latents each time
            lambda model: model.sample(SNAPSHOT_SIZE, seed=self.seed + SeedStream.SNAPSHOTS,
                                       labels=fixed_labels),
            epochs=self.snapshot_epochs())]
        if self.measure_every:
            recorders.append(callbacks.PeriodicMeasurements(self.quality_and_critic_gap(),
                                                            every_steps=self.measure_every))
        warm_up = self.training_settings()["critic_warm_up"]
        if warm_up is not None:  # after the recorders, which see the model before it
            generator_steps, critic_steps = warm_up
            recorders.append(callbacks.CriticWarmUp(
                lambda: self.training_data(self.batch_size).repeat(),
                generator_steps=generator_steps, critic_steps=critic_steps))
        return recorders

    def quality_and_critic_gap(self):
        """``measure(model)`` for :class:`~course_utils.callbacks.PeriodicMeasurements`: the
        classifier-FID of ``measured_samples`` samples from fixed latents against as many
        test images (``fid``), and the critic's (or discriminator's) score gap between those
        test images and the samples (``score_gap``; a WGAN critic's Wasserstein estimate). A
        conditional model generates with the test images' labels, so both sets are scored
        with the same labels."""
        real, real_labels = data.load_images(self.dataset, "test", limit=self.measured_samples,
                                             flatten=self.flatten)
        labels = None if self.num_classes is None else real_labels
        latents = np.random.default_rng(self.seed + SeedStream.MEASUREMENTS).standard_normal(
            (len(real), self.latent_dim)).astype(np.float32)

        def measure(model) -> dict[str, float]:
            fake = model.generate_from(latents, labels=labels, averaged=False)
            gap = model.score_gap(model.to_data_range(real), model.to_data_range(fake), labels)
            return {"fid": metrics.classifier_fid(fake, real), "score_gap": gap}

        return measure

    def evaluate(self, model) -> dict:
        labels = sample_labels(self.num_samples, self.num_classes)
        samples = model.sample(self.num_samples, seed=self.seed + SeedStream.EVALUATION,
                               labels=labels)
        test_images, _ = data.load_images(self.dataset, "test", limit=len(samples))
        return metrics.sample_quality(samples, test_images, requested_labels=labels)


def dcgan() -> GANRecipe:
    """Chapter 05's DCGAN: the ``"conv"`` networks (a DCGAN generator; InfoGAN's
    batch-normalized discriminator body) at batch 64, trained as Chen et al. (2016) train
    InfoGAN on MNIST (:data:`~course_utils.models.gans.ARCHITECTURE_TRAINING`: the
    generator's Adam step 1e-3, the discriminator's 2e-4); 2 epochs, 1,874 generator steps
    (fast mode: 1 epoch of 6,000 images)."""
    return GANRecipe(kind="conv", batch_size=64)


def conditional_gan(conditioning: str = "projection") -> GANRecipe:
    """Chapter 06's conditional GAN: chapter 05's MLP GAN given the label, sampled from an
    exponential moving average of its generator's weights (decay 0.999) and trained for 12
    epochs (fast mode: 1).

    Args:
        conditioning: how the discriminator reads the label, ``"projection"`` or
            ``"concat"`` (:data:`~course_utils.models.networks.labels.CONDITIONINGS`).
    """
    return GANRecipe(num_classes=10, conditioning=conditioning, generator_average=0.999,
                     epochs=config.pick(full=12, fast=1))


def wasserstein_gan(model: str = "wgan_gp", *, num_classes: int | None = None) -> GANRecipe:
    """The image WGANs of chapters 07a and 07b: chapter 05's MLP networks (a conditional
    critic reads the label by projection), 5 critic updates per generator update, each on a
    fresh batch of 128 real images, for 20 epochs of 93 generator steps: 1,860 (fast mode:
    2 epochs of 6,400 images, 20 steps). Their samples come from an exponential moving
    average of the generator's weights (decay 0.99, about the last 100 steps).

    The clipped WGAN trains as Arjovsky et al. (2017) do: RMSprop 5e-5, weights clipped to
    0.01, and the critic's warm-up, 100 critic updates for each of the first 25 generator
    updates (fast mode: 20 for each of the first 2). WGAN-GP keeps Gulrajani et al.'s
    (2017) penalty weight 10 and Adam betas (0, 0.9), with a step of 6e-4 instead of their
    1e-4, which was meant for 200,000 generator steps. FID and the critic's estimate are
    measured on 2,000 samples every 93 generator steps (fast mode: 200 every 5); the final
    FID on 10,000 samples (fast mode: 1,000).

    Args:
        model: ``"wgan"`` (weight clipping) or ``"wgan_gp"`` (gradient penalty).
        num_classes: 10 for the conditional WGAN-GP (Ferreira's WGAN + CGAN).
    """
    by_model = {"wgan": {"critic_warm_up": config.pick(full=None, fast=(2, 20))},
                "wgan_gp": {"learning_rate": 6e-4}}
    if model not in by_model:
        raise ValueError(f"model must be 'wgan' or 'wgan_gp', got {model!r}")
    return GANRecipe(model=model, num_classes=num_classes,
                     conditioning="concat" if num_classes is None else "projection",
                     generator_average=0.99, epochs=config.pick(full=20, fast=2),
                     train_limit=config.pick(full=None, fast=6400),
                     num_samples=config.pick(full=10_000, fast=1_000),
                     measure_every=config.pick(full=93, fast=5),
                     measured_samples=config.pick(full=2000, fast=200), **by_model[model])


@dataclass(frozen=True)
class RingGANRecipe(Recipe):
    """A GAN on chapter 05's ring of 8 Gaussians (radius 2, std 0.02): 20,000 points, a 16-D
    latent, two hidden layers of 128 in each network, the DCGAN's Adam (2e-4,
    beta_1 = 0.5), batch 256, 80 epochs (fast mode: 10,000 points, 20 epochs).

    The run keeps snapshots of 1,000 points from fixed latents after every epoch;
    ``metrics`` holds :func:`~course_utils.metrics.mode_coverage` of ``num_samples`` fresh
    samples (``modes_covered``, ``high_quality_fraction``, ``counts``).

    Fields ``model`` (``"gan"``, ``"wgan"`` or ``"wgan_gp"``) and ``generator_loss`` are
    those of :func:`~course_utils.models.gans.build_gan`.
    """

    model: str = "gan"
    generator_loss: str = "non_saturating"
    num_modes: int = 8
    radius: float = 2.0
    std: float = 0.02
    num_points: int = by_mode(full=20_000, fast=10_000)
    latent_dim: int = 16
    learning_rate: float = 2e-4
    batch_size: int = 256
    epochs: int = by_mode(full=80, fast=20)
    num_samples: int = 2_000
    seed: int = 0

    #: Points kept in each snapshot.
    snapshot_points: ClassVar[int] = 1000

    @property
    def cache_name(self) -> str:
        return f"{self.model}_ring"

    def num_train_examples(self) -> int:
        return self.num_points

    def build(self, plan: TrainingPlan):
        return build_gan(self.model, "points", latent_dim=self.latent_dim,
                         learning_rate=self.learning_rate, generator_loss=self.generator_loss,
                         seed=self.seed, steps_per_execution=plan.steps_per_execution)

    def training_data(self):
        points, _ = data.gaussian_ring(self.num_points, num_modes=self.num_modes,
                                       radius=self.radius, std=self.std, seed=self.seed)
        return data.make_dataset(points, batch_size=self.batch_size, seed=self.seed,
                                 drop_remainder=True)

    def callbacks(self) -> list:
        return [callbacks.SampleSnapshots(
            lambda model: model.sample(self.snapshot_points,
                                       seed=self.seed + SeedStream.SNAPSHOTS),
            epochs=self.snapshot_epochs())]

    def evaluate(self, model) -> dict:
        centres = data.ring_centres(self.num_modes, radius=self.radius)
        samples = model.sample(self.num_samples, seed=self.seed + SeedStream.EVALUATION)
        return metrics.mode_coverage(samples, centres, std=self.std)


register(CourseModel("ring_gan", "GAN on the ring of Gaussians",
                     "05_generative_adversarial_networks", "GAN", RingGANRecipe))
register(CourseModel("ring_gan_minimax", "GAN on the ring of Gaussians, minimax loss",
                     "05_generative_adversarial_networks", "GAN",
                     lambda: RingGANRecipe(generator_loss="minimax")))
register(CourseModel("mlp_gan", "GAN (MLP)", "05_generative_adversarial_networks", "GAN",
                     GANRecipe, fid_key="fid_mlp_gan", benchmark=GANRecipe))
register(CourseModel("dcgan", "DCGAN", "05_generative_adversarial_networks", "GAN",
                     dcgan, fid_key="fid_dcgan"))
register(CourseModel("cgan", "CGAN (projection)", "06_conditional_gans", "conditional GAN",
                     conditional_gan, fid_key="fid_cgan"))
register(CourseModel("wgan", "WGAN (clipping)", "07a_wasserstein_gans", "GAN",
                     lambda: wasserstein_gan("wgan"), fid_key="fid_wgan"))
register(CourseModel("wgan_gp", "WGAN-GP", "07a_wasserstein_gans", "GAN", wasserstein_gan,
                     fid_key="fid_wgan_gp"))
register(CourseModel("cwgan_gp", "cWGAN-GP", "07b_conditional_and_tabular_wgans",
                     "conditional GAN",
                     lambda: wasserstein_gan(num_classes=10), fid_key="fid_cwgan_gp"))
