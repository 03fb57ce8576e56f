"""Convolutional networks for 28 x 28 images: the DCGAN generator, the DCGAN discriminator
(critic) and its bodies, and the matching encoder."""

from __future__ import annotations

from collections.abc import Sequence

from course_utils._tensorflow import keras
from course_utils.geometry import BOTTLENECK_SIDE, IMAGE_SHAPE, IMAGE_SIDE, NUM_PIXELS
from course_utils.models.networks.labels import (
    check_conditioning,
    functional_model,
    label_inputs,
    label_score,
)


def build_conv_generator(latent_dim: int, *, filters: Sequence[int] = (64, 32),
                         num_classes: int | None = None,
                         name: str = "generator") -> keras.Model:
    """A DCGAN generator ``(batch, latent_dim)`` -> ``(batch, 28, 28, 1)`` in [-1, 1].

    A dense layer makes ``7 x 7 x filters[0]`` feature maps; a stride-2 transposed convolution
    doubles them to 14 x 14 with ``filters[1]`` channels, a second to 28 x 28 x 1 (``tanh``).
    Batch normalization follows the hidden layers, as in Radford et al. (2016).
    """
    first, second = filters
    inputs, x, _ = label_inputs((latent_dim,), num_classes, name)
    x = keras.layers.Dense(BOTTLENECK_SIDE * BOTTLENECK_SIDE * first, use_bias=False,
                           name=f"{name}_project")(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn_0")(x)
    x = keras.layers.LeakyReLU(0.2)(x)
    x = keras.layers.Reshape((BOTTLENECK_SIDE, BOTTLENECK_SIDE, first))(x)
    x = keras.layers.Conv2DTranspose(second, 4, strides=2, padding="same", use_bias=False,
                                     name=f"{name}_deconv_1")(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn_1")(x)
    x = keras.layers.LeakyReLU(0.2)(x)
    outputs = keras.layers.Conv2DTranspose(1, 4, strides=2, padding="same", activation="tanh",
                                           name=f"{name}_deconv_2")(x)
    return functional_model(inputs, outputs, name)


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


def conv_body(images, filters: Sequence[int], *, hidden_units: int, batch_norm: bool = True,
              name: str = "discriminator"):
    """:func:`conv_features`, then a dense layer of ``hidden_units`` with LeakyReLU(0.2)
    (batch normalization before it when ``batch_norm``): the body of InfoGAN's
    discriminator (Chen et al., 2016) and of the DCGAN's, ``(batch, hidden_units)``."""
    x = conv_features(images, filters, batch_norm=batch_norm, name=name)
    x = keras.layers.Dense(hidden_units, name=f"{name}_shared")(x)
    if batch_norm:
        x = keras.layers.BatchNormalization(name=f"{name}_bn_shared")(x)
    return keras.layers.LeakyReLU(0.2)(x)


def build_conv_discriminator(*, filters: Sequence[int] = (32, 64), hidden_units: int | None = None,
                             batch_norm: bool = False, num_classes: int | None = None,
                             conditioning: str = "concat",
                             name: str = "discriminator") -> keras.Model:
    """A DCGAN discriminator (or critic) ``(batch, 28, 28, 1)`` -> ``(batch, 1)`` logits.

    Two stride-2 4x4 convolutions with LeakyReLU(0.2) (28 -> 14 -> 7), with ``hidden_units``
    a dense layer (:func:`conv_body`), then a linear output. ``batch_norm`` normalizes all
    but the first layer, as in Radford et al. (2016); without it the network also serves as
    a WGAN-GP critic, whose penalty needs each score to depend on its own input only. A
    conditional one reads the label as :data:`.labels.CONDITIONINGS` says; ``"concat"``
    joins the one-hot label as ten constant channels.
    """
    check_conditioning(conditioning)
    inputs, x, one_hot = label_inputs(IMAGE_SHAPE, num_classes, name)
    if one_hot is not None and conditioning == "concat":
        label_maps = keras.layers.RepeatVector(NUM_PIXELS)(one_hot)  # (batch, pixels, classes)
        label_maps = keras.layers.Reshape((IMAGE_SIDE, IMAGE_SIDE, num_classes))(label_maps)
        x = keras.layers.Concatenate(name=f"{name}_joined")([x, label_maps])
    if hidden_units is None:
        x = conv_features(x, filters, batch_norm=batch_norm, name=name)
    else:
        x = conv_body(x, filters, hidden_units=hidden_units, batch_norm=batch_norm, name=name)
    return functional_model(inputs, label_score(x, inputs, conditioning, num_classes, name), name)


def build_conv_encoder(latent_dim: int, *, filters: Sequence[int] = (32, 64),
                       name: str = "encoder") -> keras.Model:
    """An encoder ``(batch, 28, 28, 1)`` images in [-1, 1] -> ``(batch, latent_dim)`` (the
    BiGAN's): the DCGAN discriminator's body (:func:`conv_features`, batch normalization
    after the second convolution) and a linear layer."""
    images = keras.Input(IMAGE_SHAPE, name=f"{name}_input")
    features = conv_features(images, filters, batch_norm=True, name=name)
    return keras.Model(images, keras.layers.Dense(latent_dim, name=f"{name}_out")(features),
                       name=name)
