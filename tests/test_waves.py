"""The Waves data (Ferreira's post), the fit of its parameters, and the recurrent GAN's networks."""

import numpy as np
import pytest

from course_utils import data, metrics
from course_utils.models.networks import labels, lstm


def test_waves_are_seeded_balanced_and_follow_their_parameters():
    series, kinds, parameters = data.waves(400, seed=3)
    again, _, _ = data.waves(400, seed=3)
    assert series.shape == (400, 30, 1) and series.dtype == np.float32
    np.testing.assert_array_equal(series, again)
    assert not np.allclose(series, data.waves(400, seed=4)[0])
    assert np.bincount(kinds).tolist() == [200, 200]
    for name, (low, high) in (("frequency", data.WAVE_FREQUENCIES),
                              ("amplitude", data.WAVE_AMPLITUDES),
                              ("offset", data.WAVE_OFFSETS)):
        assert low <= parameters[name].min() and parameters[name].max() <= high
    # one sine and one sawtooth written out by hand
    t = np.arange(30) / 30
    sine = np.flatnonzero(kinds == 0)[0]
    f, a, o = (parameters[k][sine] for k in ("frequency", "amplitude", "offset"))
    np.testing.assert_allclose(series[sine, :, 0], a * np.sin(2 * np.pi * (f * t + o)),
                               atol=1e-6)
    saw = np.flatnonzero(kinds == 1)[0]
    f, a, o = (parameters[k][saw] for k in ("frequency", "amplitude", "offset"))
    phase = (f * t + o) % 1
    np.testing.assert_allclose(series[saw, :, 0], a * (2 * phase - 1), atol=1e-6)
    assert np.abs(series).max() <= 1.0


def test_waves_reject_bad_sizes():
    with pytest.raises(ValueError, match="num_samples"):
        data.waves(0)


def test_fit_waves_recovers_the_parameters_of_real_waves():
    series, kinds, parameters = data.waves(200, seed=1)
    fit = metrics.fit_waves(series, kinds)
    assert np.all(np.abs(fit["frequency"] - parameters["frequency"]) <= 0.02)
    assert np.all(np.abs(fit["amplitude"] - parameters["amplitude"]) <= 0.03)
    offset_error = np.abs(fit["offset"] - parameters["offset"])
    assert np.all(np.minimum(offset_error, 1 - offset_error) <= 0.02)
    assert fit["residual"].max() < 0.05


def test_fit_waves_sees_a_wrong_kind_and_noise_in_the_residual():
    series, kinds, _ = data.waves(100, seed=2)
    right = metrics.fit_waves(series, kinds)["residual"]
    wrong = metrics.fit_waves(series, 1 - kinds)["residual"]
    assert np.median(wrong) > 5 * np.median(right)
    noisy = series + np.random.default_rng(0).normal(0, 0.1, series.shape)
    assert np.median(metrics.fit_waves(noisy, kinds)["residual"]) == pytest.approx(0.1, abs=0.02)


@pytest.mark.parametrize("conditioning", labels.CONDITIONINGS)
def test_lstm_networks_shapes_and_labels(conditioning):
    generator = lstm.build_lstm_generator(2, 30, units=8, num_classes=2)
    discriminator = lstm.build_lstm_discriminator(30, units=8, num_classes=2,
                                                  conditioning=conditioning)
    z = np.zeros((5, 2), np.float32)
    labels = np.array([0, 1, 0, 1, 1], np.int32)
    series = np.asarray(generator([z, labels]))
    assert series.shape == (5, 30, 1) and np.abs(np.asarray(series)).max() <= 1
    assert not np.allclose(series[0], series[1])  # the label changes the series
    scores = discriminator([series, labels])
    assert scores.shape == (5, 1)
    flipped = discriminator([series, 1 - labels])
    assert not np.allclose(scores, flipped)


@pytest.mark.parametrize("classifier", metrics.TRANSFER_CLASSIFIERS)
def test_transfer_accuracy_learns_separable_labels_and_not_shuffled_ones(classifier):
    series, kinds, _ = data.waves(600, seed=5)
    test, test_kinds, _ = data.waves(300, seed=6)
    assert metrics.transfer_accuracy(series, kinds, test, test_kinds,
                                     classifier=classifier) > 0.95
    shuffled = np.random.default_rng(0).permutation(kinds)
    assert metrics.transfer_accuracy(series, shuffled, test, test_kinds,
                                     classifier=classifier) < 0.8


def test_only_the_convolution_classifies_phases_it_never_saw():
    """Trained on waves that all start at phase offset 0, tested on every offset."""
    rng = np.random.default_rng(0)
    kinds = np.arange(600) % 2
    frequencies, amplitudes = rng.uniform(1, 3, 600), rng.uniform(0.3, 1, 600)
    one_phase = data.wave_shapes(kinds, frequencies, amplitudes, np.zeros(600))
    test, test_kinds, _ = data.waves(400, seed=7)
    conv = metrics.transfer_accuracy(one_phase, kinds, test, test_kinds, classifier="conv")
    dense = metrics.transfer_accuracy(one_phase, kinds, test, test_kinds, classifier="dense")
    assert conv > 0.9 and conv > dense + 0.1
    with pytest.raises(ValueError, match="classifier"):
        metrics.transfer_accuracy(test, test_kinds, test, test_kinds, classifier="svm")


def test_rcgan_recipe_trains_measures_and_caches(isolated_cache):
    from course_utils import recipes

    small = recipes.RCGANRecipe(num_train=256, units=8, epochs=1, num_samples=100)
    run = recipes.load(small)
    assert set(run.metrics) == {"tstr_conv_accuracy", "trtr_conv_accuracy",
                                "tstr_dense_accuracy", "trtr_dense_accuracy",
                                "median_residual", "ks_frequency", "ks_amplitude", "ks_offset"}
    assert run.metrics["trtr_conv_accuracy"] > 0.9 and 0 <= run.metrics["ks_offset"] <= 1
    assert run.snapshots()[1].shape == (16, 30, 1)
    assert int(run.model.d_optimizer.iterations) == 3 * int(run.model.optimizer.iterations)
    assert recipes.load(small).from_cache
