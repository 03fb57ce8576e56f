"""Generative adversarial networks: generators, discriminators and critics (dense,
convolutional and recurrent, optionally conditioned on a class label), and the :class:`GAN`,
:class:`WGAN`, :class:`WGANGP` and :class:`InfoGAN` models on the course's adversarial
training design.

The three models share one ``train_step`` (:class:`~course_utils.training.AdversarialModel`'s:
``critic_steps`` discriminator steps, then one generator step). They differ only in their
objectives, which are the tested functions of :mod:`course_utils.losses`: the GAN's binary
cross-entropy (minimax or non-saturating generator loss), the WGAN's critic loss with weight
clipping, and WGAN-GP's gradient penalty instead of clipping.

A conditional model (``num_classes`` set) trains on ``(images, labels)`` batches; both of its
networks take ``[inputs, labels]`` with integer labels ``(batch,)``. The generator joins the
one-hot label to ``z`` (seed 001's CGAN); the discriminator joins it to its input too, or
projects its features onto a learned embedding of the label (:data:`CONDITIONINGS`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from course_utils import losses
from course_utils._tensorflow import keras
from course_utils.training import AdversarialModel

ops = keras.ops
GENERATOR_LOSSES = ("non_saturating", "minimax")
#: How a conditional discriminator reads the label: ``"concat"``, joined to its input as
#: a one-hot vector (seed 001's CGAN, Mirza & Osindero, 2014), or ``"projection"``, an
#: inner product with its last features (Miyato & Koyama, 2018).
CONDITIONINGS = ("concat", "projection")


def _inputs(shape: tuple[int, ...], num_classes: int | None, name: str, *,
            join_label: bool = True):
    """Keras inputs ``[x]`` (``[x, labels]`` with integer labels when conditional), ``x``
    itself or, for a vector input and ``join_label``, ``x`` with the one-hot label
    concatenated on the last axis, and the one-hot label (or None)."""
    x = keras.Input(shape, name=f"{name}_input")
    if num_classes is None:
        return [x], x, None
    labels = keras.Input((), dtype="int32", name=f"{name}_labels")
    one_hot = keras.layers.CategoryEncoding(num_classes, output_mode="one_hot",
                                            name=f"{name}_one_hot")(labels)
    joined = keras.layers.Concatenate(name=f"{name}_joined")([x, one_hot]) \
        if len(shape) == 1 and join_label else x
    return [x, labels], joined, one_hot


def _score(features, inputs: list, conditioning: str, num_classes: int | None, name: str):
    """A discriminator's output ``(batch, 1)`` from its last ``(batch, units)`` features: a
    linear layer and, for ``conditioning="projection"`` (Miyato & Koyama, 2018), plus the
    inner product of the features with a learned embedding of the label, ``e_y . h(x)``."""
    score = keras.layers.Dense(1, name=f"{name}_out")(features)
    if conditioning != "projection" or num_classes is None:
        return score
    embedded = keras.layers.Embedding(num_classes, features.shape[-1],
                                      name=f"{name}_label_embedding")(inputs[1])
    projection = keras.layers.Dot(axes=1, name=f"{name}_projection")([embedded, features])
    return keras.layers.Add(name=f"{name}_score")([score, projection])


def _check_conditioning(conditioning: str) -> None:
    if conditioning not in CONDITIONINGS:
        raise ValueError(f"conditioning must be one of {CONDITIONINGS}, got {conditioning!r}")


def _model(inputs: list, outputs, name: str) -> keras.Model:
    return keras.Model(inputs if len(inputs) > 1 else inputs[0], outputs, name=name)


def build_mlp_generator(latent_dim: int, output_dim: int = 784, *,
                        hidden_units: Sequence[int] = (256, 512, 1024),
                        output_activation: str | None = "tanh", num_classes: int | None = None,
                        name: str = "generator") -> keras.Model:
    """A dense generator ``(batch, latent_dim)`` -> ``(batch, output_dim)``.

    Hidden layers use LeakyReLU(0.2); the output is ``tanh`` (images in [-1, 1]) or, with
    ``output_activation=None``, unbounded (e.g. points in the plane).
    """
    inputs, x, _ = _inputs((latent_dim,), num_classes, name)
    for index, units in enumerate(hidden_units, start=1):
        x = keras.layers.Dense(units, name=f"{name}_{index}")(x)
        x = keras.layers.LeakyReLU(0.2)(x)
    outputs = keras.layers.Dense(output_dim, activation=output_activation, name=f"{name}_out")(x)
    return _model(inputs, outputs, name)


def build_mlp_discriminator(input_dim: int = 784, *, hidden_units: Sequence[int] = (512, 256),
                            num_classes: int | None = None, conditioning: str = "concat",
                            name: str = "discriminator") -> keras.Model:
    """A dense discriminator (or critic) ``(batch, input_dim)`` -> ``(batch, 1)`` logits
    (or critic scores): LeakyReLU(0.2) hidden layers, a linear output, no normalization.
    A conditional one reads the label as :data:`CONDITIONINGS` says."""
    _check_conditioning(conditioning)
    inputs, x, _ = _inputs((input_dim,), num_classes, name, join_label=conditioning == "concat")
    for index, units in enumerate(hidden_units, start=1):
        x = keras.layers.Dense(units, name=f"{name}_{index}")(x)
        x = keras.layers.LeakyReLU(0.2)(x)
    return _model(inputs, _score(x, inputs, conditioning, num_classes, name), name)


def build_tabular_generator(latent_dim: int, category_sizes: Sequence[int], continuous_dim: int,
                            *, hidden_units: Sequence[int] = (128, 128),
                            name: str = "generator") -> keras.Model:
    """A generator of mixed table rows, seed 001's design: ``(batch, latent_dim)`` ->
    ``(batch, sum(category_sizes) + continuous_dim)``, one softmax head per categorical
    column (its size in ``category_sizes``), then ``continuous_dim`` linear outputs for the
    standardized continuous columns; the layout of
    :meth:`~course_utils.tabular.TableEncoder.encode`.

    The critic sees the softmax probabilities as they are; only decoding a sample turns each
    head into a one-hot category.
    """
    if not category_sizes or min(category_sizes) < 2:
        raise ValueError(f"each categorical column needs at least 2 categories, got "
                         f"{list(category_sizes)}")
    inputs, x, _ = _inputs((latent_dim,), None, name)
    for index, units in enumerate(hidden_units, start=1):
        x = keras.layers.Dense(units, name=f"{name}_{index}")(x)
        x = keras.layers.LeakyReLU(0.2)(x)
    heads = [keras.layers.Dense(size, activation="softmax", name=f"{name}_categorical_{index}")(x)
             for index, size in enumerate(category_sizes, start=1)]
    if continuous_dim:
        heads.append(keras.layers.Dense(continuous_dim, name=f"{name}_continuous")(x))
    outputs = keras.layers.Concatenate(name=f"{name}_row")(heads) if len(heads) > 1 else heads[0]
    return _model(inputs, outputs, name)


def build_conv_generator(latent_dim: int, *, filters: Sequence[int] = (64, 32),
                         num_classes: int | None = None,
                         name: str = "generator") -> keras.Model:
    """A DCGAN generator ``(batch, latent_dim)`` -> ``(batch, 28, 28, 1)`` in [-1, 1].

    A dense layer makes ``7 x 7 x filters[0]`` feature maps; a stride-2 transposed convolution
    doubles them to 14 x 14 with ``filters[1]`` channels, a second to 28 x 28 x 1 (``tanh``).
    Batch normalization follows the hidden layers, as in Radford et al. (2016).
    """
    first, second = filters
    inputs, x, _ = _inputs((latent_dim,), num_classes, name)
    x = keras.layers.Dense(7 * 7 * first, use_bias=False, name=f"{name}_project")(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn_0")(x)
    x = keras.layers.LeakyReLU(0.2)(x)
    x = keras.layers.Reshape((7, 7, first))(x)
    x = keras.layers.Conv2DTranspose(second, 4, strides=2, padding="same", use_bias=False,
                                     name=f"{name}_deconv_1")(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn_1")(x)
    x = keras.layers.LeakyReLU(0.2)(x)
    outputs = keras.layers.Conv2DTranspose(1, 4, strides=2, padding="same", activation="tanh",
                                           name=f"{name}_deconv_2")(x)
    return _model(inputs, outputs, name)


def conv_features(images, filters: Sequence[int], *, batch_norm: bool = False,
                  name: str = "discriminator"):
    """The DCGAN discriminator's body on ``(batch, 28, 28, channels)`` images: stride-2 4x4
    convolutions with LeakyReLU(0.2) (28 -> 14 -> 7 for two), batch normalization after all
    but the first when ``batch_norm``, flattened to ``(batch, 7 * 7 * filters[-1])``."""
    x = images
    for index, count in enumerate(filters, start=1):
        x = keras.layers.Conv2D(count, 4, strides=2, padding="same", name=f"{name}_conv_{index}")(x)
        if batch_norm and index > 1:
            x = keras.layers.BatchNormalization(name=f"{name}_bn_{index}")(x)
        x = keras.layers.LeakyReLU(0.2)(x)
    return keras.layers.Flatten()(x)


def build_conv_discriminator(*, filters: Sequence[int] = (32, 64), num_classes: int | None = None,
                             conditioning: str = "concat",
                             name: str = "discriminator") -> keras.Model:
    """A DCGAN discriminator (or critic) ``(batch, 28, 28, 1)`` -> ``(batch, 1)`` logits.

    Two stride-2 4x4 convolutions with LeakyReLU(0.2) (28 -> 14 -> 7), then a linear output.
    No batch normalization, so it also serves as a WGAN-GP critic, whose penalty needs each
    score to depend on its own input only. A conditional one reads the label as
    :data:`CONDITIONINGS` says; ``"concat"`` joins the one-hot label as ten constant channels.
    """
    _check_conditioning(conditioning)
    inputs, x, one_hot = _inputs((28, 28, 1), num_classes, name)
    if one_hot is not None and conditioning == "concat":
        label_maps = keras.layers.RepeatVector(28 * 28)(one_hot)  # (batch, 784, classes)
        label_maps = keras.layers.Reshape((28, 28, num_classes))(label_maps)
        x = keras.layers.Concatenate(name=f"{name}_joined")([x, label_maps])
    x = conv_features(x, filters, name=name)
    return _model(inputs, _score(x, inputs, conditioning, num_classes, name), name)


def build_infogan_discriminator(q_outputs: int, *, filters: Sequence[int] = (64, 128),
                                hidden_units: int = 512, batch_norm: bool = True,
                                name: str = "discriminator") -> keras.Model:
    """InfoGAN's discriminator with its recognition head Q: ``(batch, 28, 28, 1)`` ->
    ``[(batch, 1) logits, (batch, q_outputs) Q outputs]``.

    The shared body: two stride-2 4x4 convolutions (28 -> 14 -> 7) and a dense layer of
    ``hidden_units``, LeakyReLU(0.2), batch normalization after all but the first layer (as
    in Chen et al., 2016). The discriminator's head is one linear unit; Q's is a dense layer
    of 128 and a linear layer of ``q_outputs`` (for :class:`InfoGAN`: ``num_categories +
    2 * num_continuous``).
    """
    images = keras.Input((28, 28, 1), name=f"{name}_input")
    x = conv_features(images, filters, batch_norm=batch_norm, name=name)
    x = keras.layers.Dense(hidden_units, name=f"{name}_shared")(x)
    if batch_norm:
        x = keras.layers.BatchNormalization(name=f"{name}_bn_shared")(x)
    x = keras.layers.LeakyReLU(0.2)(x)
    score = keras.layers.Dense(1, name=f"{name}_out")(x)
    q = keras.layers.Dense(128, name=f"{name}_q_hidden")(x)
    if batch_norm:
        q = keras.layers.BatchNormalization(name=f"{name}_q_bn")(q)
    q = keras.layers.LeakyReLU(0.2)(q)
    q = keras.layers.Dense(q_outputs, name=f"{name}_q_out")(q)
    return keras.Model(images, [score, q], name=name)


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

    def score_gap(self, real, fake, labels=None, *, batch_size: int = 1000) -> float:
        """``mean D(real) - mean D(fake)`` in raw scores, for examples in the data's range and
        layout (``labels``, for a conditional model, go with both). For a WGAN's critic this
        is its estimate of the Wasserstein-1 distance between the two samples."""
        from course_utils.models import apply_in_batches

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
    def sample(self, num_samples: int, *, labels=None, seed: int = 0, averaged: bool = True,
               batch_size: int = 1000) -> np.ndarray:
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
                      batch_size: int = 1000) -> np.ndarray:
        """Like :meth:`sample`, from given latents ``(n, latent_dim)`` (e.g. fixed ones, or
        an interpolation)."""
        from course_utils.models import apply_in_batches

        if (labels is None) != (self.num_classes is None):
            raise ValueError("pass labels exactly when the model is conditional "
                             f"(num_classes={self.num_classes})")
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
    steps per generator step, so it stays near its optimum.

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


class InfoGAN(GAN):
    """InfoGAN (Chen et al., 2016): a GAN whose generator input is ``[noise, c]``, with a
    categorical code (one-hot, uniform over ``num_categories``) and ``num_continuous`` codes
    uniform on [-1, 1], and which maximizes a lower bound on the mutual information between
    ``c`` and ``G(noise, c)`` (:func:`~course_utils.losses.mutual_information_bound`).

    The bound needs a recognition network ``Q(c | x)``; here it is a second output head of
    the discriminator, which shares every other layer (seed 001: "computationally free").
    ``Q`` gives ``num_categories`` logits, then a mean and a log-variance per continuous code
    (a factored Gaussian). Both players add ``info_weight * (-log Q(c | G(z, c)))`` to their
    loss (``continuous_weight`` for the continuous part): the discriminator's step trains
    ``Q`` and the shared layers, the generator's step makes the code readable.

    Two additions of the course's, both off by default, make the category settle on digits
    within a few epochs (chapter 08): with a ``recognition_augmentation`` (a random
    move of the images, e.g. :class:`~course_utils.augmentation.RandomAffine`) Q reads the
    category from a moved copy of each sample, so a category cannot live in pose alone;
    with a ``clustering_weight`` the discriminator's step also maximizes
    :func:`~course_utils.losses.paired_mutual_information` between Q's categories of each
    real image and of a moved copy (invariant information clustering, Ji et al., 2019),
    so Q sorts real images into balanced, move-invariant categories that the generator's
    codes must then match.

    Args:
        generator: ``(batch, latent_dim)`` -> images, ``latent_dim = noise_dim +
            num_categories + num_continuous`` in that order (:meth:`latent_codes`).
        discriminator: images -> ``[(batch, 1) logits, (batch, num_categories + 2 *
            num_continuous) Q outputs]`` (:func:`build_infogan_discriminator`).
        noise_dim: size of the incompressible noise ``z ~ N(0, I)``.
        info_weight, continuous_weight: ``lambda`` of the categorical and the continuous
            terms (the paper: 1 for categorical codes, smaller for continuous ones).
        recognition_augmentation: a layer moving ``(batch, 28, 28, 1)`` images when called
            with ``training=True``, or None.
        clustering_weight: the weight of the real-image clustering term (needs a
            ``recognition_augmentation``); 0 leaves it out.
        **kwargs: :class:`GAN`'s (``generator_loss``, ``data_range``, ``seed``, ...).

    Reports, besides the GAN's losses, ``categorical_bound`` and ``continuous_bound``: the
    two mutual-information lower bounds in nats on the generator's batch. The first is at
    most ``H(c) = log(num_categories)``; the second has no such ceiling, as the information
    in a continuous code read back exactly is unbounded (its ``H(c)`` is the differential
    entropy ``num_continuous * log 2``, and ``-log Q`` of a sharp Gaussian is negative).
    """

    loss_names = (*GAN.loss_names, "categorical_bound", "continuous_bound")

    def __init__(self, generator: keras.Model, discriminator: keras.Model, *, noise_dim: int,
                 num_categories: int = 10, num_continuous: int = 2, info_weight: float = 1.0,
                 continuous_weight: float = 0.1, recognition_augmentation=None,
                 clustering_weight: float = 0.0, **kwargs):
        if num_categories < 2 or num_continuous < 0:
            raise ValueError(f"an InfoGAN needs num_categories >= 2 and num_continuous >= 0, "
                             f"got {num_categories} and {num_continuous}")
        if clustering_weight and recognition_augmentation is None:
            raise ValueError("clustering_weight needs a recognition_augmentation to make the "
                             "moved copies of real images")
        if kwargs.get("num_classes") is not None:
            raise ValueError("an InfoGAN learns its categories without labels: leave "
                             "num_classes unset")
        super().__init__(generator, discriminator,
                         latent_dim=noise_dim + num_categories + num_continuous, **kwargs)
        self.noise_dim = noise_dim
        self.num_categories = num_categories
        self.num_continuous = num_continuous
        self.info_weight = float(info_weight)
        self.continuous_weight = float(continuous_weight)
        self.recognition_augmentation = recognition_augmentation
        self.clustering_weight = float(clustering_weight)

    # --- codes ----------------------------------------------------------------------------------
    def latent_codes(self, noise, categories, continuous):
        """The generator's input ``(n, latent_dim)``: ``noise (n, noise_dim)``, the one-hot of
        integer ``categories (n,)``, and ``continuous (n, num_continuous)`` codes in [-1, 1]."""
        one_hot = np.eye(self.num_categories, dtype=np.float32)[np.asarray(categories)]
        return np.concatenate([np.asarray(noise, np.float32), one_hot,
                               np.asarray(continuous, np.float32)], axis=1)

    def latents(self, batch_size):
        noise = keras.random.normal((batch_size, self.noise_dim), seed=self.seed_generator)
        categories = keras.random.randint((batch_size,), 0, self.num_categories,
                                          seed=self.seed_generator)
        continuous = keras.random.uniform((batch_size, self.num_continuous), -1.0, 1.0,
                                          seed=self.seed_generator)
        return ops.concatenate([noise, ops.one_hot(categories, self.num_categories),
                                continuous], axis=1)

    def split_q(self, q_outputs):
        """``(category logits, continuous means, continuous log-variances)`` from Q's output."""
        k, d = self.num_categories, self.num_continuous
        return q_outputs[:, :k], q_outputs[:, k:k + d], q_outputs[:, k + d:]

    def info_terms(self, latents, q_outputs, moved_q_outputs=None) -> dict:
        """``-log Q(c | x)`` weighted for the loss (``info_loss``), and the two bounds; the
        category is read from ``moved_q_outputs`` (Q on moved copies) when given."""
        logits, means, log_variances = self.split_q(q_outputs)
        if moved_q_outputs is not None:
            logits = self.split_q(moved_q_outputs)[0]
        one_hot = latents[:, self.noise_dim:self.noise_dim + self.num_categories]
        continuous = latents[:, self.noise_dim + self.num_categories:]
        categorical_nll = losses.categorical_cross_entropy(one_hot, logits)
        continuous_nll = losses.gaussian_negative_log_likelihood(continuous, means,
                                                                 log_variances)
        return {
            "info_loss": self.info_weight * ops.mean(categorical_nll)
            + self.continuous_weight * ops.mean(continuous_nll),
            "categorical_bound": losses.mutual_information_bound(
                float(np.log(self.num_categories)), categorical_nll),
            "continuous_bound": losses.mutual_information_bound(
                self.num_continuous * float(np.log(2.0)), continuous_nll),
        }

    def judge_and_recognize(self, latents, training: bool):
        """``D``'s logits on ``G(latents)`` and the info terms of Q's reading of them
        (the category from a randomly moved copy, when there is a
        ``recognition_augmentation``)."""
        fake = self.generate(latents, training=training)
        scores, q_outputs = self.discriminator(fake, training=training)
        moved_q_outputs = None
        if self.recognition_augmentation is not None:
            moved = self.recognition_augmentation(fake, training=training)
            _, moved_q_outputs = self.discriminator(moved, training=training)
        return scores, self.info_terms(latents, q_outputs, moved_q_outputs)

    # --- the two players --------------------------------------------------------------------------
    def score(self, x, labels=None, *, training: bool = False):
        return self.discriminator(x, training=training)[0]

    def discriminator_losses(self, batch, training: bool) -> dict:
        real, _ = self.split_batch(batch)
        latents = self.latents(ops.shape(real)[0])
        real_scores, real_q = self.discriminator(real, training=training)
        fake_scores, info = self.judge_and_recognize(latents, training)
        d_loss = self.discriminator_objective(real_scores, fake_scores) + info["info_loss"]
        if self.clustering_weight:
            moved = self.recognition_augmentation(real, training=training)
            _, moved_q = self.discriminator(moved, training=training)
            d_loss -= self.clustering_weight * losses.paired_mutual_information(
                self.split_q(real_q)[0], self.split_q(moved_q)[0])
        return {"d_loss": d_loss,
                "real_score": self.mean_score(real_scores),
                "fake_score": self.mean_score(fake_scores)}

    def generator_losses(self, batch, training: bool) -> dict:
        real, _ = self.split_batch(batch)
        latents = self.latents(ops.shape(real)[0])
        fake_scores, info = self.judge_and_recognize(latents, training)
        return {"g_loss": self.generator_objective(fake_scores) + info["info_loss"],
                "categorical_bound": info["categorical_bound"],
                "continuous_bound": info["continuous_bound"]}

    # --- using a trained model ------------------------------------------------------------------
    def sample(self, num_samples: int, *, categories=None, continuous=None, seed: int = 0,
               batch_size: int = 1000) -> np.ndarray:
        """Images ``(num_samples, 28, 28, 1)`` in [0, 1] from fresh noise drawn with ``seed``
        and the given codes: integer ``categories (num_samples,)`` and ``continuous
        (num_samples, num_continuous)``, each drawn from its prior when None."""
        rng = np.random.default_rng(seed)
        noise = rng.standard_normal((num_samples, self.noise_dim))
        if categories is None:
            categories = rng.integers(0, self.num_categories, num_samples)
        if continuous is None:
            continuous = rng.uniform(-1.0, 1.0, (num_samples, self.num_continuous))
        return self.generate_from(self.latent_codes(noise, categories, continuous),
                                  batch_size=batch_size)

    def recognize(self, images, *, batch_size: int = 1000):
        """Q on images in [0, 1] ``(n, 28, 28, 1)``: ``(category probabilities (n,
        num_categories), continuous means (n, num_continuous))``."""
        from scipy.special import softmax

        from course_utils.models import apply_in_batches

        _, q_outputs = apply_in_batches(self.discriminator, self.to_data_range(images),
                                        batch_size=batch_size)
        logits, means, _ = self.split_q(q_outputs)
        return softmax(logits, axis=1), np.asarray(means)


def clip_weights(variables, clip_value: float) -> None:
    """Clip each variable in place to ``[-clip_value, clip_value]`` (the WGAN's constraint)."""
    for variable in variables:
        variable.assign(ops.clip(variable, -clip_value, clip_value))


def _mlp_networks(latent_dim: int, num_classes: int | None, conditioning: str):
    return (build_mlp_generator(latent_dim, num_classes=num_classes),
            build_mlp_discriminator(num_classes=num_classes, conditioning=conditioning))


def _conv_networks(latent_dim: int, num_classes: int | None, conditioning: str):
    return (build_conv_generator(latent_dim, num_classes=num_classes),
            build_conv_discriminator(num_classes=num_classes, conditioning=conditioning))


def _point_networks(latent_dim: int, num_classes: int | None, conditioning: str):
    return (build_mlp_generator(latent_dim, 2, hidden_units=(128, 128), output_activation=None,
                                num_classes=num_classes),
            build_mlp_discriminator(2, hidden_units=(128, 128), num_classes=num_classes,
                                    conditioning=conditioning))


#: How each architecture builds its two networks,
#: ``(latent_dim, num_classes, conditioning) -> (G, D)``:
#: ``"mlp"`` and ``"conv"`` for 28x28 images in [-1, 1] (flat or ``(28, 28, 1)``),
#: ``"points"`` for points in the plane (unbounded, two hidden layers of 128).
ARCHITECTURES = {"mlp": _mlp_networks, "conv": _conv_networks, "points": _point_networks}

#: Each model's optimizers and critic schedule, as its paper trains it: the DCGAN's Adam,
#: the WGAN's RMSprop with a small step, WGAN-GP's Adam with a short memory (beta_2 = 0.9).
TRAINING_DEFAULTS = {
    "gan": {"optimizer": "adam", "learning_rate": 2e-4, "beta_1": 0.5, "beta_2": 0.999,
            "critic_steps": 1},
    "wgan": {"optimizer": "rmsprop", "learning_rate": 5e-5, "critic_steps": 5},
    "wgan_gp": {"optimizer": "adam", "learning_rate": 1e-4, "beta_1": 0.5, "beta_2": 0.9,
                "critic_steps": 5},
}
MODELS = {"gan": GAN, "wgan": WGAN, "wgan_gp": WGANGP}
#: InfoGAN's optimizers (Chen et al., 2016, for MNIST): Adam with beta_1 = 0.5, a step of
#: 2e-4 for the discriminator and Q, 1e-3 for the generator.
INFOGAN_TRAINING = {"optimizer": "adam", "learning_rate": 2e-4, "beta_1": 0.5,
                    "beta_2": 0.999, "generator_learning_rate": 1e-3}


#: The options of :func:`assemble_gan` that override :data:`TRAINING_DEFAULTS`.
TRAINING_OPTIONS = ("learning_rate", "beta_1", "beta_2", "critic_steps")


def training_settings(model: str, options: Mapping[str, Any]) -> dict:
    """``TRAINING_DEFAULTS[model]`` with the overrides found in ``options`` (other keys,
    the model's own options, are ignored)."""
    if model not in MODELS:
        raise ValueError(f"model must be one of {sorted(MODELS)}, got {model!r}")
    return {**TRAINING_DEFAULTS[model],
            **{key: options[key] for key in TRAINING_OPTIONS if key in options}}


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
        **options: see :func:`assemble_gan`.
    """
    if kind not in ARCHITECTURES:
        raise ValueError(f"kind must be one of {sorted(ARCHITECTURES)}, got {kind!r}")
    generator, discriminator = ARCHITECTURES[kind](latent_dim, num_classes, conditioning)
    return assemble_gan(model, generator, discriminator, latent_dim=latent_dim,
                        num_classes=num_classes, seed=seed, name=f"{kind}_{model}",
                        data_range=None if kind == "points" else (-1.0, 1.0), **options)


def assemble_gan(model: str, generator: keras.Model, discriminator: keras.Model, *,
                 latent_dim: int, steps_per_execution: int = 32, jit_compile: bool = False,
                 **options) -> GAN:
    """Make a GAN, WGAN or WGAN-GP of two given networks, compiled with the optimizers of
    :data:`TRAINING_DEFAULTS`.

    Args:
        model: ``"gan"``, ``"wgan"`` or ``"wgan_gp"``.
        generator, discriminator: the two networks (the discriminator is the critic).
        latent_dim: size of ``z``.
        steps_per_execution: training steps per call from Python (the course's 32, or 1 as
            in keras-io, for the benchmark).
        jit_compile: compile the training step with XLA (faster for dense networks on CPUs).
        **options: overrides of :data:`TRAINING_DEFAULTS` (``learning_rate``, ``beta_1``,
            ``beta_2``, ``critic_steps``), and the model's own options (``num_classes``,
            ``generator_loss``, ``clip_value``, ``penalty_weight``, ``data_range``, ``seed``,
            ``name``, ...).
    """
    settings = training_settings(model, options)
    options = {key: value for key, value in options.items() if key not in TRAINING_OPTIONS}
    gan = MODELS[model](generator, discriminator, latent_dim=latent_dim,
                        critic_steps=settings["critic_steps"], **options)
    gan.compile(d_optimizer=make_optimizer(settings), g_optimizer=make_optimizer(settings),
                steps_per_execution=steps_per_execution, jit_compile=jit_compile)
    return gan


def build_infogan(*, noise_dim: int = 62, num_categories: int = 10, num_continuous: int = 2,
                  generator_filters: Sequence[int] = (128, 64),
                  discriminator_filters: Sequence[int] = (64, 128), hidden_units: int = 512,
                  augmentation: Mapping[str, float] | None = None, seed: int = 0,
                  steps_per_execution: int = 32, **options) -> InfoGAN:
    """Build and compile an InfoGAN for MNIST digits in [-1, 1] with the optimizers of
    :data:`INFOGAN_TRAINING`.

    Args:
        noise_dim, num_categories, num_continuous: the latent layout (:class:`InfoGAN`).
        generator_filters: :func:`build_conv_generator`'s ``filters``.
        discriminator_filters, hidden_units: :func:`build_infogan_discriminator`'s.
        augmentation: ``None``, or the options of
            :class:`~course_utils.augmentation.RandomAffine` (``max_degrees``, ``max_zoom``,
            ``max_shift``) for the copies Q reads (``recognition_augmentation``).
        **options: :class:`InfoGAN`'s (``info_weight``, ``continuous_weight``,
            ``clustering_weight``, ...).
    """
    from course_utils.augmentation import RandomAffine

    generator = build_conv_generator(noise_dim + num_categories + num_continuous,
                                     filters=generator_filters)
    discriminator = build_infogan_discriminator(num_categories + 2 * num_continuous,
                                                filters=discriminator_filters,
                                                hidden_units=hidden_units)
    moved = None if augmentation is None else RandomAffine(seed=seed, **augmentation)
    gan = InfoGAN(generator, discriminator, noise_dim=noise_dim, num_categories=num_categories,
                  num_continuous=num_continuous, recognition_augmentation=moved, seed=seed,
                  name="infogan", **options)
    gan.compile(d_optimizer=make_optimizer(INFOGAN_TRAINING),
                g_optimizer=make_optimizer(INFOGAN_TRAINING, "generator_learning_rate"),
                steps_per_execution=steps_per_execution)
    return gan


def build_lstm_generator(latent_dim: int, length: int, *, units: int = 64,
                         num_classes: int | None = None, name: str = "generator") -> keras.Model:
    """A recurrent generator (RCGAN, Esteban et al., 2017): ``(batch, latent_dim)`` (and
    integer labels) -> ``(batch, length, 1)`` series in [-1, 1].

    ``z`` (joined to the one-hot label) is fed to an LSTM of ``units`` at every time step;
    a linear unit with ``tanh`` reads each step's state.
    """
    inputs, x, _ = _inputs((latent_dim,), num_classes, name)
    x = keras.layers.RepeatVector(length, name=f"{name}_every_step")(x)
    x = keras.layers.LSTM(units, return_sequences=True, name=f"{name}_lstm")(x)
    outputs = keras.layers.Dense(1, activation="tanh", name=f"{name}_out")(x)
    return _model(inputs, outputs, name)


def build_lstm_discriminator(length: int, *, units: int = 64, num_classes: int | None = None,
                             conditioning: str = "concat",
                             name: str = "discriminator") -> keras.Model:
    """A recurrent discriminator (RCGAN): ``(batch, length, 1)`` series (and integer labels)
    -> ``(batch, 1)`` logits from an LSTM of ``units``'s last state; a conditional one reads
    the label as :data:`CONDITIONINGS` says (``"concat"``: the one-hot label joined to every
    time step).
    """
    _check_conditioning(conditioning)
    inputs, x, one_hot = _inputs((length, 1), num_classes, name)
    if one_hot is not None and conditioning == "concat":
        label_steps = keras.layers.RepeatVector(length, name=f"{name}_label_steps")(one_hot)
        x = keras.layers.Concatenate(name=f"{name}_joined")([x, label_steps])
    x = keras.layers.LSTM(units, name=f"{name}_lstm")(x)
    return _model(inputs, _score(x, inputs, conditioning, num_classes, name), name)
