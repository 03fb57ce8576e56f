"""Copying weights between a notebook's network and the package's, and measuring the gap."""

import numpy as np
import pytest

from course_utils import checks
from course_utils._tensorflow import keras


def dense_network(units=(3, 2), seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((4,)), *[keras.layers.Dense(n) for n in units]])


def test_copy_weights_makes_networks_identical_and_the_gap_is_the_largest_change():
    source, target = dense_network(seed=0), dense_network(seed=1)
    assert checks.largest_weight_difference(source, target) > 0
    checks.copy_weights(source, target)
    assert checks.largest_weight_difference(source, target) == 0.0
    x = np.random.default_rng(0).normal(size=(5, 4)).astype("float32")
    np.testing.assert_array_equal(source(x), target(x))
    weights = target.get_weights()
    weights[2][1] += 0.25  # the second layer's kernel
    weights[1][0] -= 0.5  # the first layer's bias
    target.set_weights(weights)
    assert checks.largest_weight_difference(source, target) == pytest.approx(0.5)


def test_sequences_of_networks_are_paired_in_order():
    sources = [dense_network(seed=0), dense_network((5,), seed=1)]
    targets = [dense_network(seed=2), dense_network((5,), seed=3)]
    checks.copy_weights(sources, targets)
    assert checks.largest_weight_difference(sources, targets) == 0.0
    for source, target in zip(sources, targets, strict=True):
        for a, b in zip(source.get_weights(), target.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)


def test_different_architectures_are_a_clear_error():
    with pytest.raises(ValueError, match="not the same architecture"):
        checks.largest_weight_difference(dense_network((3, 2)), dense_network((3,)))
    with pytest.raises(ValueError, match=r"shape \(4, 3\) in one network and \(4, 5\)"):
        checks.copy_weights(dense_network((3, 2)), dense_network((5, 2)))
