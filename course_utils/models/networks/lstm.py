"""Recurrent generators and discriminators of time series (the RCGAN, chapter 10)."""

from __future__ import annotations

from course_utils._tensorflow import keras
from course_utils.models.networks.labels import (
    check_conditioning,
    functional_model,
    label_inputs,
    label_score,
)


def build_lstm_generator(latent_dim: int, length: int, *, units: int = 64,
                         num_classes: int | None = None, name: str = "generator") -> keras.Model:
    """A recurrent generator (RCGAN, Esteban et al., 2017): ``(batch, latent_dim)`` (and
    integer labels) -> ``(batch, length, 1)`` series in [-1, 1].

    ``z`` (joined to the one-hot label) is fed to an LSTM of ``units`` at every time step;
    a linear unit with ``tanh`` reads each step's state.
    """
    inputs, x, _ = label_inputs((latent_dim,), num_classes, name)
    x = keras.layers.RepeatVector(length, name=f"{name}_every_step")(x)
    x = keras.layers.LSTM(units, return_sequences=True, name=f"{name}_lstm")(x)
    outputs = keras.layers.Dense(1, activation="tanh", name=f"{name}_out")(x)
    return functional_model(inputs, outputs, name)


def build_lstm_discriminator(length: int, *, units: int = 64, num_classes: int | None = None,
                             conditioning: str = "concat",
                             name: str = "discriminator") -> keras.Model:
    """A recurrent discriminator (RCGAN): ``(batch, length, 1)`` series (and integer labels)
    -> ``(batch, 1)`` logits from an LSTM of ``units``'s last state; a conditional one reads
    the label as :data:`.labels.CONDITIONINGS` says (``"concat"``: the one-hot label joined to every
    time step).
    """
    check_conditioning(conditioning)
    inputs, x, one_hot = label_inputs((length, 1), num_classes, name)
    if one_hot is not None and conditioning == "concat":
        label_steps = keras.layers.RepeatVector(length, name=f"{name}_label_steps")(one_hot)
        x = keras.layers.Concatenate(name=f"{name}_joined")([x, label_steps])
    x = keras.layers.LSTM(units, name=f"{name}_lstm")(x)
    return functional_model(inputs, label_score(x, inputs, conditioning, num_classes, name), name)
