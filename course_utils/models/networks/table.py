"""The generator of mixed categorical and continuous table rows (chapter 07b)."""

from __future__ import annotations

from collections.abc import Sequence

from course_utils._tensorflow import keras
from course_utils.models.networks.labels import functional_model, label_inputs


def build_tabular_generator(latent_dim: int, category_sizes: Sequence[int], continuous_dim: int,
                            *, hidden_units: Sequence[int] = (128, 128),
                            name: str = "generator") -> keras.Model:
    """A generator of mixed table rows, Ferreira's design: ``(batch, latent_dim)`` ->
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
    inputs, x, _ = label_inputs((latent_dim,), None, name)
    for index, units in enumerate(hidden_units, start=1):
        x = keras.layers.Dense(units, name=f"{name}_{index}")(x)
        x = keras.layers.LeakyReLU(0.2)(x)
    heads = [keras.layers.Dense(size, activation="softmax", name=f"{name}_categorical_{index}")(x)
             for index, size in enumerate(category_sizes, start=1)]
    if continuous_dim:
        heads.append(keras.layers.Dense(continuous_dim, name=f"{name}_continuous")(x))
    outputs = keras.layers.Concatenate(name=f"{name}_row")(heads) if len(heads) > 1 else heads[0]
    return functional_model(inputs, outputs, name)
