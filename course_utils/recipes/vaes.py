"""Chapter 03's variational autoencoders."""

from __future__ import annotations

from dataclasses import dataclass

from course_utils import callbacks, config, data, metrics
from course_utils._tensorflow import keras
from course_utils.models.vaes import build_vae
from course_utils.recipes.base import CourseModel, Recipe, TrainingPlan, by_mode, register

#: (full, fast) epochs per architecture, sized to chapter 03's budgets (the conv VAE's 3
#: epochs at batch 64 are 2,814 steps on the 60,000 training images).
VAE_EPOCHS = {"dense": (40, 6), "small_dense": (3, 3), "conv": (3, 1)}


@dataclass(frozen=True)
class VAERecipe(Recipe):
    """Chapter 03's VAE: Bernoulli likelihood, Adam with cosine learning-rate decay, batch
    256, and a linear KL warm-up over the first 3/7 of the epochs (as in Olar's post).

    Full mode trains on the 60,000 training images and measures on the 10,000 test images;
    fast mode uses the first 6,000 and 2,000; ``epochs`` defaults to the architecture's
    entry of :data:`VAE_EPOCHS`. ``metrics["test_neg_elbo"]`` is the test -ELBO in nats.
    """

    dataset: str = "mnist"
    kind: str = "dense"
    latent_dim: int = 2
    likelihood: str = "bernoulli"
    beta: float = 1.0
    learning_rate: float = 2e-3
    batch_size: int = 256
    warmup_fraction: float = 3 / 7
    epochs: int | None = None
    train_limit: int | None = by_mode(full=None, fast=6000)
    test_limit: int | None = by_mode(full=None, fast=2000)
    seed: int = 0

    drop_remainder = False

    def __post_init__(self):
        if self.kind not in VAE_EPOCHS:
            raise ValueError(f"kind must be one of {sorted(VAE_EPOCHS)}, got {self.kind!r}")
        full, fast = VAE_EPOCHS[self.kind]
        self._set_default("epochs", config.pick(full=full, fast=fast))
        super().__post_init__()

    @property
    def cache_name(self) -> str:
        return f"vae_{self.dataset}_{self.kind}_{self.latent_dim}d"

    @property
    def flatten(self) -> bool:
        """Whether the model reads flat images (the dense architectures)."""
        return self.kind != "conv"

    def num_train_examples(self) -> int:
        return data.split_size(self.dataset, "train", limit=self.train_limit)

    def build(self, plan: TrainingPlan):
        schedule = keras.optimizers.schedules.CosineDecay(self.learning_rate, plan.total_steps)
        return build_vae(self.kind, latent_dim=self.latent_dim, likelihood=self.likelihood,
                         beta=self.beta, learning_rate=schedule, seed=self.seed,
                         steps_per_execution=plan.steps_per_execution)

    def training_data(self):
        return data.image_dataset(self.dataset, "train", batch_size=self.batch_size,
                                  flatten=self.flatten, limit=self.train_limit, seed=self.seed)

    def callbacks(self) -> list:
        return [callbacks.KLWarmup(total_epochs=self.epochs,
                                   warmup_fraction=self.warmup_fraction)]

    def evaluate(self, model) -> dict:
        # the test images are loaded after training, not held during it
        test_images, _ = data.load_images(self.dataset, "test", flatten=self.flatten,
                                          limit=self.test_limit)
        return {"test_neg_elbo": float(metrics.vae_negative_elbo(model, test_images).mean())}


register(CourseModel("vae_2d", "VAE, 2-D code", "03_variational_autoencoders", "VAE",
                     lambda: VAERecipe(latent_dim=2), fid_key="fid_vae_2d",
                     likelihood_key="test_neg_elbo_2d",
                     likelihood_unit="-ELBO, nats (Bernoulli, bound)"))
register(CourseModel("vae_16d", "VAE, 16-D code", "03_variational_autoencoders", "VAE",
                     lambda: VAERecipe(latent_dim=16), fid_key="fid_vae_16d",
                     likelihood_key="test_nll_iw_16d",
                     likelihood_unit="NLL, nats (Bernoulli, IW bound)",
                     benchmark=lambda: VAERecipe(latent_dim=16)))
