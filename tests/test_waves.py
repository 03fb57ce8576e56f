"""The Waves data (seed 001), the fit of its parameters, and the recurrent GAN's networks."""

import numpy as np
import pytest

from course_utils import data, metrics
from course_utils.models import gans


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


@pytest.mark.parametrize("conditioning", gans.CONDITIONINGS)
def test_lstm_networks_shapes_and_labels(conditioning):
    generator = gans.build_lstm_generator(2, 30, units=8, num_classes=2)
    discriminator = gans.build_lstm_discriminator(30, units=8, num_classes=2,
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
