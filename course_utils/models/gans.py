"""Generative adversarial networks: the :class:`GAN`, :class:`WGAN` and :class:`WGANGP`
models on the course's adversarial training design, and how they are built and compiled.

All three use :class:`~course_utils.training.AdversarialModel`'s ``train_step``
(``critic_steps`` discriminator steps, then one generator step). They differ only in their
objectives, which are the tested functions of :mod:`course_utils.losses`: the GAN's binary
cross-entropy (minimax or non-saturating generator loss), the WGAN's critic loss with weight
clipping, and WGAN-GP's gradient penalty instead of clipping. Their networks are in
:mod:`course_utils.models.networks`; InfoGAN, a GAN with codes, is in
:mod:`course_utils.models.infogan`.

A conditional model (``num_classes`` set) trains on ``(images, labels)`` batches; both of its
networks take ``[inputs, labels]`` with integer labels ``(batch,)``
(:mod:`~course_utils.models.networks.labels`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from course_utils import losses
from course_utils._tensorflow import keras
from course_utils.batching import INFERENCE_BATCH, apply_in_batches
from course_utils.models.networks.conv import build_conv_discriminator, build_conv_generator
from course_utils.models.networks.mlp import build_mlp_discriminator, build_mlp_generator
from course_utils.training import AdversarialModel

ops = keras.ops
GENERATOR_LOSSES = ("non_saturating", "minimax")


class GAN(AdversarialModel):
    """A GAN (Goodfellow et al., 2014): the discriminator learns to tell real from generated,
    the generator to fool it.

    Args:
        generator: ``z (batch, latent_dim)`` (and labels) -> generated examples.
        discriminator: examples (and labels) -> ``(batch, 1)`` logits.
        latent_dim: size of ``z ~ N(0, I)``.
        generator_loss: ``"non_saturating"`` (``-log D(G(z))``, the practical choice) or
            ``"minimax"`` (``log(1 - D(G(z)))``, the original game's).
        num_classes: make the model conditional on integer labels in ``0..num_classes-1``.
        data_range: the range of the training data, e.g. ``(-1, 1)`` for ``tanh`` images;
            :meth:`sample` maps it back to [0, 1]. ``None`` leaves samples as generated.
        critic_steps: discriminator steps per generator step.
        generator_average: keep a second copy of the generator whose weights are an
            exponential moving average of the trained ones, ``a <- d * a + (1 - d) * w``
            after every generator step with this decay ``d`` (e.g. 0.999, an average over
            about the last 1,000 steps; Yazıcı et al., 2019); :meth:`sample` and
            :meth:`generate_from` then use the average. ``None``: no average.
        seed: seeds the latent draws during training.

    Losses reported each step: ``d_loss``, ``g_loss``, and ``real_score`` / ``fake_score``,
    the mean of ``D(x)`` and ``D(G(z))`` as probabilities (for the WGANs: mean critic scores).
    """

    loss_names = ("d_loss", "g_loss", "real_score", "fake_score")

    def __init__(self, generator: keras.Model, discriminator: keras.Model, *, latent_dim: int,
                 generator_loss: str = "non_saturating", num_classes: int | None = None,
                 data_range: tuple[float, float] | None = (-1.0, 1.0), critic_steps: int = 1,
                 generator_average: float | None = None, seed: int = 0, **kwargs):
        if generator_loss not in GENERATOR_LOSSES:
            raise ValueError(f"generator_loss must be one of {GENERATOR_LOSSES}, "
                             f"got {generator_loss!r}")
        if latent_dim < 1:
            raise ValueError(f"latent_dim must be positive, got {latent_dim}")
        if generator_average is not None and not 0.0 < generator_average < 1.0:
            raise ValueError(f"generator_average must be a decay in (0, 1) or None, got "
                             f"{generator_average}")
        super().__init__(critic_steps=critic_steps, **kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = latent_dim
        self.generator_loss_kind = generator_loss
        self.num_classes = num_classes
        self.data_range = data_range
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.generator_average = generator_average
        self.average_generator = None
        if generator_average is not None:
            self.average_generator = keras.models.clone_model(generator)
            self.average_generator.set_weights(generator.get_weights())
            self.average_generator.trainable = False

    # --- the two networks, with or without labels -------------------------------------------
    def split_batch(self, batch):
        """``(real examples, labels or None)`` from a training batch."""
        if self.num_classes is None:
            return (batch[0] if isinstance(batch, (tuple, list)) else batch), None
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise ValueError("a conditional GAN trains on (images, labels) batches; build the "
                             "dataset with labels, e.g. image_dataset(..., with_labels=True)")
        return batch[0], batch[1]

    def generate(self, z, labels=None, *, training: bool = False):
        """``G(z)`` (or ``G(z, labels)``), as tensors in the data's range."""
        inputs = z if self.num_classes is None else [z, labels]
        return self.generator(inputs, training=training)

    def score(self, x, labels=None, *, training: bool = False):
        """``D(x)`` (or ``D(x, labels)``): ``(batch, 1)`` logits or critic scores."""
        inputs = x if self.num_classes is None else [x, labels]
        return self.discriminator(inputs, training=training)

    def call(self, z, training=False):
        return self.generate(z, training=training)

    def score_gap(self, real, fake, labels=None, *, batch_size: int = INFERENCE_BATCH) -> float:
        """``mean D(real) - mean D(fake)`` in raw scores, for examples in the data's range and
        layout (``labels``, for a conditional model, go with both). For a WGAN's critic this
        is its estimate of the Wasserstein-1 distance between the two samples."""
        def mean_score(examples):
            inputs = examples if labels is None else (examples, np.asarray(labels, np.int32))
            return float(apply_in_batches(self.discriminator, inputs,
                                          batch_size=batch_size).mean())

        return mean_score(np.asarray(real, np.float32)) - mean_score(np.asarray(fake, np.float32))

    def after_generator_step(self):
        if self.average_generator is None:
            return
        decay = self.generator_average
        for average, current in zip(self.average_generator.weights, self.generator.weights,
                                    strict=True):
            average.assign(decay * average + (1.0 - decay) * current)

    # --- the objectives: what the GAN variants change -----------------------------------------
    def discriminator_objective(self, real_scores, fake_scores):
        return losses.discriminator_loss(real_scores, fake_scores)

    def generator_objective(self, fake_scores):
        return losses.generator_loss(fake_scores, kind=self.generator_loss_kind)

    def mean_score(self, scores):
        """How a batch of scores is reported: here the mean probability ``D = sigmoid``."""
        return ops.mean(ops.sigmoid(scores))

    def discriminator_terms(self, real, fake, labels, training: bool) -> dict:
        """The discriminator's loss and scores on one real and one generated batch."""
        real_scores = self.score(real, labels, training=training)
        fake_scores = self.score(fake, labels, training=training)
        return {"d_loss": self.discriminator_objective(real_scores, fake_scores),
                "real_score": self.mean_score(real_scores),
                "fake_score": self.mean_score(fake_scores)}

    # --- AdversarialModel's two halves ----------------------------------------------------------
    def latents(self, batch_size):
        """``(batch_size, latent_dim)`` draws of ``z ~ N(0, I)`` from the model's seed."""
        return keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)

    def discriminator_losses(self, batch, training: bool) -> dict:
        real, labels = self.split_batch(batch)
        fake = self.generate(self.latents(ops.shape(real)[0]), labels, training=training)
        return self.discriminator_terms(real, fake, labels, training)

    def generator_losses(self, batch, training: bool) -> dict:
        real, labels = self.split_batch(batch)
        fake = self.generate(self.latents(ops.shape(real)[0]), labels, training=training)
        return {"g_loss": self.generator_objective(self.score(fake, labels, training=training))}

    # --- using a trained model ------------------------------------------------------------------
    def sample(self, num_samples: int, *, seed: int = 0, labels=None, averaged: bool = True,
               batch_size: int = INFERENCE_BATCH) -> np.ndarray:
        """Generate ``num_samples`` examples from fresh latents drawn with ``seed``.

        Args:
            labels: ``(num_samples,)`` integer labels, required by a conditional model.
            averaged: use the averaged generator when there is one (see
                ``generator_average``); ``False`` uses the trained weights themselves.

        Returns:
            ``(num_samples, ...)`` NumPy array: images in [0, 1] when ``data_range`` is set,
            otherwise the generator's raw outputs.
        """
        z = np.random.default_rng(seed).standard_normal((num_samples, self.latent_dim))
        return self.generate_from(z.astype(np.float32), labels=labels, averaged=averaged,
                                  batch_size=batch_size)

    def to_data_range(self, images) -> np.ndarray:
        """Examples in [0, 1] (what :meth:`sample` returns, or real images) mapped to the
        range the networks work in, ``data_range``."""
        low, high = self.data_range
        return low + (high - low) * np.asarray(images, np.float32)

    def generate_from(self, latents, *, labels=None, averaged: bool = True,
                      batch_size: int = INFERENCE_BATCH) -> np.ndarray:
        """Like :meth:`sample`, from given latents ``(n, latent_dim)`` (e.g. fixed ones, or
        an interpolation)."""
        self.check_labels(labels)
        inputs = latents if labels is None else (latents, np.asarray(labels, np.int32))
        generator = self.generator
        if averaged and self.average_generator is not None:
            generator = self.average_generator
        outputs = apply_in_batches(generator, inputs, batch_size=batch_size)
        if self.data_range is None:
            return outputs
        low, high = self.data_range
        return np.clip((outputs - low) / (high - low), 0.0, 1.0)


class WGAN(GAN):
    """A Wasserstein GAN (Arjovsky et al., 2017): the discriminator becomes a *critic* whose
    score difference ``mean f(x) - mean f(G(z))`` estimates the Wasserstein-1 distance, provided
    ``f`` is 1-Lipschitz; here that is enforced, crudely, by clipping every critic weight to
    ``[-clip_value, clip_value]`` after each critic step. The critic takes ``critic_steps`` (5)
    steps per generator step, so it stays near its optimum (with ``fresh_batches``, each on
    its own real batch, as in the paper).

    ``real_score`` and ``fake_score`` are mean critic scores; their difference is the
    critic's Wasserstein estimate.
    """

    def __init__(self, generator: keras.Model, critic: keras.Model, *, latent_dim: int,
                 clip_value: float | None = 0.01, critic_steps: int = 5, **kwargs):
        if clip_value is not None and clip_value <= 0:
            raise ValueError(f"clip_value must be positive or None, got {clip_value}")
        super().__init__(generator, critic, latent_dim=latent_dim, critic_steps=critic_steps,
                         **kwargs)
        self.clip_value = clip_value

    @property
    def critic(self) -> keras.Model:
        return self.discriminator

    def discriminator_objective(self, real_scores, fake_scores):
        return losses.wasserstein_critic_loss(real_scores, fake_scores)

    def generator_objective(self, fake_scores):
        return losses.wasserstein_generator_loss(fake_scores)

    def mean_score(self, scores):
        return ops.mean(scores)

    def after_critic_step(self):
        if self.clip_value is not None:
            clip_weights(self.critic.trainable_variables, self.clip_value)


class WGANGP(WGAN):
    """WGAN-GP (Gulrajani et al., 2017): a WGAN whose critic is kept near 1-Lipschitz by the
    gradient penalty ``penalty_weight * mean((||grad f(x_hat)|| - 1)^2)`` on random points
    between real and generated examples, instead of weight clipping.

    Reports ``gradient_penalty`` (unweighted) besides the WGAN's losses; ``d_loss`` includes
    the weighted penalty.
    """

    loss_names = (*GAN.loss_names, "gradient_penalty")

    def __init__(self, generator: keras.Model, critic: keras.Model, *, latent_dim: int,
                 penalty_weight: float = 10.0, **kwargs):
        if penalty_weight <= 0:
            raise ValueError(f"penalty_weight must be positive, got {penalty_weight}")
        super().__init__(generator, critic, latent_dim=latent_dim, clip_value=None, **kwargs)
        self.penalty_weight = float(penalty_weight)

    def discriminator_terms(self, real, fake, labels, training: bool) -> dict:
        terms = super().discriminator_terms(real, fake, labels, training)
        penalty = losses.gradient_penalty(
            lambda points: self.score(points, labels, training=training), real, fake,
            seed=self.seed_generator)
        return {**terms, "d_loss": terms["d_loss"] + self.penalty_weight * penalty,
                "gradient_penalty": penalty}


def clip_weights(variables, clip_value: float) -> None:
    """Clip each variable in place to ``[-clip_value, clip_value]`` (the WGAN's constraint)."""
    for variable in variables:
        variable.assign(ops.clip(variable, -clip_value, clip_value))


def _mlp_networks(latent_dim: int, num_classes: int | None, conditioning: str):
    return (build_mlp_generator(latent_dim, num_classes=num_classes),
            build_mlp_discriminator(num_classes=num_classes, conditioning=conditioning))


def _conv_networks(latent_dim: int, num_classes: int | None, conditioning: str):
    return (build_conv_generator(latent_dim, num_classes=num_classes),
            build_conv_discriminator(filters=(64, 128), hidden_units=512, batch_norm=True,
                                     num_classes=num_classes, conditioning=conditioning))


def _point_networks(latent_dim: int, num_classes: int | None, conditioning: str):
    return (build_mlp_generator(latent_dim, 2, hidden_units=(128, 128), output_activation=None,
                                num_classes=num_classes),
            build_mlp_discriminator(2, hidden_units=(128, 128), num_classes=num_classes,
                                    conditioning=conditioning))


#: How each architecture builds its two networks,
#: ``(latent_dim, num_classes, conditioning) -> (G, D)``:
#: ``"mlp"`` and ``"conv"`` for 28x28 images in [-1, 1] (flat or ``(28, 28, 1)``; the conv
#: discriminator is InfoGAN's body, batch-normalized, so it is no WGAN-GP critic),
#: ``"points"`` for points in the plane (unbounded, two hidden layers of 128).
ARCHITECTURES = {"mlp": _mlp_networks, "conv": _conv_networks, "points": _point_networks}

#: Each model's optimizers and critic schedule, as its paper trains it: the DCGAN's Adam;
#: the WGAN's RMSprop with a small step, a fresh real batch for each of its 5 critic steps
#: (``fresh_batches``, Algorithm 1 of Arjovsky et al., 2017) and its reference code's
#: warm-up, 100 critic steps for each of the first 25 generator steps (``critic_warm_up``,
#: ``(generator steps, critic steps)``, see :class:`~course_utils.callbacks.CriticWarmUp`);
#: WGAN-GP's Adam without momentum and with a short memory (beta_1 = 0, beta_2 = 0.9) and
#: fresh real batches (Algorithm 1 of Gulrajani et al., 2017).
TRAINING_DEFAULTS = {
    "gan": {"optimizer": "adam", "learning_rate": 2e-4, "beta_1": 0.5, "beta_2": 0.999,
            "critic_steps": 1, "fresh_batches": False, "critic_warm_up": None},
    "wgan": {"optimizer": "rmsprop", "learning_rate": 5e-5, "critic_steps": 5,
             "fresh_batches": True, "critic_warm_up": (25, 100)},
    "wgan_gp": {"optimizer": "adam", "learning_rate": 1e-4, "beta_1": 0.0, "beta_2": 0.9,
                "critic_steps": 5, "fresh_batches": True, "critic_warm_up": None},
}
#: What an architecture changes in a model's :data:`TRAINING_DEFAULTS`: the DCGAN
#: (``"conv"``), whose discriminator is InfoGAN's, trains as InfoGAN does on MNIST
#: (Chen et al., 2016), its generator with a larger Adam step than its discriminator.
ARCHITECTURE_TRAINING = {("gan", "conv"): {"generator_learning_rate": 1e-3}}
MODELS = {"gan": GAN, "wgan": WGAN, "wgan_gp": WGANGP}
#: The options of :func:`assemble_gan` that override :data:`TRAINING_DEFAULTS`
#: (``generator_learning_rate``: the generator's own step, when it differs).
TRAINING_OPTIONS = ("learning_rate", "generator_learning_rate", "beta_1", "beta_2",
                    "critic_steps", "fresh_batches", "critic_warm_up")


def training_settings(model: str, options: Mapping[str, Any]) -> dict:
    """``TRAINING_DEFAULTS[model]`` with the overrides found in ``options`` (other keys,
    the model's own options, are ignored)."""
    if model not in MODELS:
        raise ValueError(f"model must be one of {sorted(MODELS)}, got {model!r}")
    return {**TRAINING_DEFAULTS[model],
            **{key: options[key] for key in TRAINING_OPTIONS if key in options}}


def architecture_options(model: str, kind: str, options: Mapping[str, Any]) -> dict:
    """``options`` on top of what :data:`ARCHITECTURE_TRAINING` sets for ``(model, kind)``:
    the options :func:`build_gan` trains a model of that architecture with."""
    return {**ARCHITECTURE_TRAINING.get((model, kind), {}), **options}


def real_batches_per_step(settings: Mapping[str, Any]) -> int:
    """Real batches one training step consumes under these :func:`training_settings`:
    ``critic_steps`` with ``fresh_batches``, else 1."""
    return settings["critic_steps"] if settings["fresh_batches"] else 1


def make_optimizer(settings: dict, learning_rate_key: str = "learning_rate"):
    """The optimizer a training-settings dict names (e.g. :data:`TRAINING_DEFAULTS`' entries),
    with its learning rate read from ``learning_rate_key``."""
    if settings["optimizer"] == "rmsprop":
        return keras.optimizers.RMSprop(settings[learning_rate_key])
    return keras.optimizers.Adam(settings[learning_rate_key], beta_1=settings["beta_1"],
                                 beta_2=settings["beta_2"])


def build_gan(model: str = "gan", kind: str = "mlp", *, latent_dim: int = 64,
              num_classes: int | None = None, conditioning: str = "concat", seed: int = 0,
              **options) -> GAN:
    """Build and compile a GAN, WGAN or WGAN-GP for images or points.

    Args:
        model: ``"gan"``, ``"wgan"`` or ``"wgan_gp"``.
        kind: a key of :data:`ARCHITECTURES`: ``"mlp"`` (flat ``(batch, 784)`` images in
            [-1, 1]), ``"conv"`` (``(batch, 28, 28, 1)`` images) or ``"points"`` (``(batch, 2)``).
        latent_dim, num_classes, seed: see :class:`GAN`.
        conditioning: how a conditional discriminator reads the label (:data:`CONDITIONINGS`).
        **options: see :func:`assemble_gan`; they override :data:`ARCHITECTURE_TRAINING`.
    """
    if kind not in ARCHITECTURES:
        raise ValueError(f"kind must be one of {sorted(ARCHITECTURES)}, got {kind!r}")
    if (kind, model) == ("conv", "wgan_gp"):
        raise ValueError("the conv discriminator is batch-normalized, and a gradient penalty "
                         "needs each score to depend on its own image only: use kind='mlp'")
    generator, discriminator = ARCHITECTURES[kind](latent_dim, num_classes, conditioning)
    options = architecture_options(model, kind, options)
    return assemble_gan(model, generator, discriminator, latent_dim=latent_dim,
                        num_classes=num_classes, seed=seed, name=f"{kind}_{model}",
                        data_range=None if kind == "points" else (-1.0, 1.0), **options)


def assemble_gan(model: str, generator: keras.Model, discriminator: keras.Model, *,
                 latent_dim: int, steps_per_execution: int = 32, **options) -> GAN:
    """Make a GAN, WGAN or WGAN-GP of two given networks, compiled with the optimizers of
    :data:`TRAINING_DEFAULTS`.

    Args:
        model: ``"gan"``, ``"wgan"`` or ``"wgan_gp"``.
        generator, discriminator: the two networks (the discriminator is the critic).
        latent_dim: size of ``z``.
        steps_per_execution: training steps per call from Python (the course's 32, or 1 as
            in keras-io, for the benchmark).
        **options: overrides of :data:`TRAINING_DEFAULTS` (``learning_rate``,
            ``generator_learning_rate``, ``beta_1``, ``beta_2``, ``critic_steps``,
            ``fresh_batches``; ``critic_warm_up`` is the training loop's), and the
            model's own options (``num_classes``, ``generator_loss``, ``clip_value``,
            ``penalty_weight``, ``data_range``, ``seed``, ``name``, ...).
    """
    settings = training_settings(model, options)
    options = {key: value for key, value in options.items() if key not in TRAINING_OPTIONS}
    gan = MODELS[model](generator, discriminator, latent_dim=latent_dim,
                        critic_steps=settings["critic_steps"],
                        fresh_batches=settings["fresh_batches"], **options)
    generator_rate = ("generator_learning_rate" if "generator_learning_rate" in settings
                      else "learning_rate")
    gan.compile(d_optimizer=make_optimizer(settings),
                g_optimizer=make_optimizer(settings, generator_rate),
                steps_per_execution=steps_per_execution)
    return gan
