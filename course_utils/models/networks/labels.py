"""How the course's networks read a class label: integer label inputs, the one-hot label
joined to a vector input, and the projection discriminator's score.

A conditional network takes ``[inputs, labels]`` with integer labels ``(batch,)``. A
generator joins the one-hot label to ``z`` (Ferreira's CGAN); a discriminator joins it to
its input too, or projects its features onto a learned embedding of the label
(:data:`CONDITIONINGS`).
"""

from __future__ import annotations

from course_utils._tensorflow import keras

#: How a conditional discriminator reads the label: ``"concat"``, joined to its input as
#: a one-hot vector (Ferreira's CGAN, Mirza & Osindero, 2014), or ``"projection"``, an
#: inner product with its last features (Miyato & Koyama, 2018).
CONDITIONINGS = ("concat", "projection")


def label_inputs(shape: tuple[int, ...], num_classes: int | None, name: str, *,
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


def label_score(features, inputs: list, conditioning: str, num_classes: int | None, name: str):
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


def check_conditioning(conditioning: str) -> None:
    """Raise ValueError unless ``conditioning`` is one of :data:`CONDITIONINGS`."""
    if conditioning not in CONDITIONINGS:
        raise ValueError(f"conditioning must be one of {CONDITIONINGS}, got {conditioning!r}")


def functional_model(inputs: list, outputs, name: str) -> keras.Model:
    """A Functional model of ``inputs`` (one input unwrapped from its list)."""
    return keras.Model(inputs if len(inputs) > 1 else inputs[0], outputs, name=name)
