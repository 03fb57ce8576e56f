"""Dense generators and discriminators (critics), optionally conditioned on a label."""

from __future__ import annotations

from collections.abc import Sequence

from course_utils._tensorflow import keras
from course_utils.geometry import NUM_PIXELS
from course_utils.models.networks.labels import (
    check_conditioning,
    functional_model,
    label_inputs,
    label_score,
)


def build_mlp_generator(latent_dim: int, output_dim: int = NUM_PIXELS, *,
                        hidden_units: Sequence[int] = (256, 512, 1024),
                        output_activation: str | None = "tanh", num_classes: int | None = None,
                        name: str = "generator") -> keras.Model:
    """A dense generator ``(batch, latent_dim)`` -> ``(batch, output_dim)``.

    Hidden layers use LeakyReLU(0.2); the output is ``tanh`` (images in [-1, 1]) or, with
    ``output_activation=None``, unbounded (e.g. points in the plane).
    """
    inputs, x, _ = label_inputs((latent_dim,), num_classes, name)
    for index, units in enumerate(hidden_units, start=1):
        x = keras.layers.Dense(units, name=f"{name}_{index}")(x)
        x = keras.layers.LeakyReLU(0.2)(x)
    outputs = keras.layers.Dense(output_dim, activation=output_activation, name=f"{name}_out")(x)
    return functional_model(inputs, outputs, name)


def build_mlp_discriminator(input_dim: int = NUM_PIXELS, *,
                            hidden_units: Sequence[int] = (512, 256),
                            num_classes: int | None = None, conditioning: str = "concat",
                            name: str = "discriminator") -> keras.Model:
    """A dense discriminator (or critic) ``(batch, input_dim)`` -> ``(batch, 1)`` logits
    (or critic scores): LeakyReLU(0.2) hidden layers, a linear output, no normalization.
    A conditional one reads the label as :data:`.labels.CONDITIONINGS` says."""
    check_conditioning(conditioning)
    inputs, x, _ = label_inputs((input_dim,), num_classes, name,
                                join_label=conditioning == "concat")
    for index, units in enumerate(hidden_units, start=1):
        x = keras.layers.Dense(units, name=f"{name}_{index}")(x)
        x = keras.layers.LeakyReLU(0.2)(x)
    score = label_score(x, inputs, conditioning, num_classes, name)
    return functional_model(inputs, score, name)
