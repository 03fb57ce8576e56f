"""Checking a network written in a notebook against the package's.

Each chapter writes the model it teaches in plain Keras, copies the weights of the package's
model into it, runs both on the same batch and compares what they compute.
:func:`copy_weights` does the copy and :func:`largest_weight_difference` measures how far
two networks are apart afterwards, e.g. after one training step of each.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from course_utils._tensorflow import keras

Networks = keras.Model | Sequence[keras.Model]


def _network_list(networks: Networks) -> list[keras.Model]:
    """A network, or several in order, as a list of networks."""
    return [networks] if isinstance(networks, keras.Model) else list(networks)


def _weight_arrays(networks: Networks) -> list[np.ndarray]:
    """The weights of a network, or of several in order, as one list of arrays."""
    return [np.asarray(weight) for network in _network_list(networks)
            for weight in network.get_weights()]


def _paired_weights(first: Networks, second: Networks) -> list[tuple[np.ndarray, np.ndarray]]:
    """Corresponding weight arrays of two networks; a clear error when they cannot match."""
    first_weights, second_weights = _weight_arrays(first), _weight_arrays(second)
    if len(first_weights) != len(second_weights):
        raise ValueError(
            f"the networks have {len(first_weights)} and {len(second_weights)} weight arrays: "
            "they are not the same architecture (compare their summary())"
        )
    for index, (a, b) in enumerate(zip(first_weights, second_weights, strict=True)):
        if a.shape != b.shape:
            raise ValueError(
                f"weight array {index} has shape {a.shape} in one network and {b.shape} in "
                "the other: check the layer sizes and their order"
            )
    return list(zip(first_weights, second_weights, strict=True))


def copy_weights(source: Networks, target: Networks) -> None:
    """Give ``target`` the weights of ``source`` (networks, or sequences of networks paired
    in order, with the same layers in the same order)."""
    source_weights = iter([weight for weight, _ in _paired_weights(source, target)])
    for network in _network_list(target):
        network.set_weights([next(source_weights) for _ in network.weights])


def largest_weight_difference(first: Networks, second: Networks) -> float:
    """The largest absolute difference between corresponding weights of two networks (or
    of two sequences of networks paired in order); 0.0 for identical weights."""
    return max((float(np.max(np.abs(a - b), initial=0.0))
                for a, b in _paired_weights(first, second)), default=0.0)
