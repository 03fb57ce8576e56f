"""Each loss against an independent NumPy/SciPy computation."""

import numpy as np
import pytest
import scipy.special
import scipy.stats

from course_utils import losses

rng = np.random.default_rng(0)


def test_mean_squared_error_matches_numpy():
    targets = rng.random((4, 28, 28, 1)).astype(np.float32)
    predictions = rng.random((4, 28, 28, 1)).astype(np.float32)
    expected = ((targets - predictions) ** 2).reshape(4, -1).mean(axis=1)
    np.testing.assert_allclose(losses.mean_squared_error(targets, predictions), expected,
                               rtol=1e-5)


def test_binary_cross_entropy_matches_probability_form():
    targets = rng.random((3, 10)).astype(np.float32)
    logits = rng.normal(0, 3, (3, 10)).astype(np.float32)
    p = scipy.special.expit(logits.astype(np.float64))
    expected = -(targets * np.log(p) + (1 - targets) * np.log1p(-p)).sum(axis=1)
    np.testing.assert_allclose(losses.binary_cross_entropy(targets, logits), expected, rtol=1e-5)


def test_binary_cross_entropy_is_stable_for_large_logits():
    value = losses.binary_cross_entropy(np.array([[1.0, 0.0]], np.float32),
                                        np.array([[200.0, -200.0]], np.float32))
    np.testing.assert_allclose(value, [0.0], atol=1e-6)


def test_kl_closed_form_matches_monte_carlo():
    z_mean = np.array([[0.5, -1.0, 2.0]], np.float32)
    z_log_var = np.array([[0.2, -0.7, 0.1]], np.float32)
    std = np.exp(0.5 * z_log_var[0])
    samples = z_mean[0] + std * np.random.default_rng(1).standard_normal((400_000, 3))
    log_q = scipy.stats.norm.logpdf(samples, z_mean[0], std).sum(axis=1)
    log_p = scipy.stats.norm.logpdf(samples).sum(axis=1)
    monte_carlo = np.mean(log_q - log_p)
    closed = float(losses.kl_divergence_standard_normal(z_mean, z_log_var)[0])
    assert closed == pytest.approx(monte_carlo, abs=0.01)


def test_kl_is_zero_for_the_prior_itself():
    zeros = np.zeros((2, 5), np.float32)
    np.testing.assert_allclose(losses.kl_divergence_standard_normal(zeros, zeros), 0.0,
                               atol=1e-7)


def test_standard_normal_log_prob_matches_scipy():
    z = rng.normal(size=(5, 3, 2)).astype(np.float32)
    expected = scipy.stats.norm.logpdf(z).reshape(5, -1).sum(axis=1)
    np.testing.assert_allclose(losses.standard_normal_log_prob(z), expected, rtol=1e-5)


def test_flow_nll_of_an_affine_map_equals_the_gaussian_nll():
    # x ~ N(mu, s^2) and z = (x - mu) / s has log|dz/dx| = -log s per dimension.
    mu, s = 1.5, 0.4
    x = rng.normal(mu, s, size=(6, 2)).astype(np.float32)
    z = (x - mu) / s
    log_det = np.full(6, -2 * np.log(s), np.float32)
    expected = -scipy.stats.norm.logpdf(x, mu, s).sum(axis=1)
    np.testing.assert_allclose(losses.flow_negative_log_likelihood(z, log_det), expected,
                               rtol=1e-5)


def test_discriminator_loss_matches_log_sigmoid_form():
    real = rng.normal(size=(8, 1)).astype(np.float32)
    fake = rng.normal(size=(8, 1)).astype(np.float32)
    expected = (-np.mean(np.log(scipy.special.expit(real)))
                - np.mean(np.log(1 - scipy.special.expit(fake))))
    assert float(losses.discriminator_loss(real, fake)) == pytest.approx(expected, rel=1e-5)


def test_generator_losses_and_their_saturation():
    fake = np.array([[-6.0], [-5.0]], np.float32)  # a confident discriminator: D(G(z)) ≈ 0
    d = scipy.special.expit(fake.astype(np.float64))
    assert float(losses.generator_loss(fake)) == pytest.approx(-np.mean(np.log(d)), rel=1e-5)
    assert float(losses.generator_loss(fake, kind="minimax")) == pytest.approx(
        np.mean(np.log1p(-d)), rel=1e-5)
    # The minimax loss is nearly flat there (d/dl log(1 - sigmoid l) = -sigmoid l ≈ 0),
    # the non-saturating one is not (d/dl -log sigmoid l = sigmoid l - 1 ≈ -1).
    from course_utils._tensorflow import tf

    logits = tf.Variable(fake)
    with tf.GradientTape(persistent=True) as tape:
        minimax = losses.generator_loss(logits, kind="minimax")
        non_saturating = losses.generator_loss(logits)
    assert np.abs(tape.gradient(minimax, logits).numpy()).max() < 0.005
    assert np.abs(tape.gradient(non_saturating, logits).numpy()).min() > 0.49


def test_generator_loss_rejects_unknown_kind():
    with pytest.raises(ValueError, match="non_saturating"):
        losses.generator_loss(np.zeros((2, 1), np.float32), kind="hinge")


def test_gaussian_nll_matches_scipy_for_scalar_and_per_pixel_variances():
    targets = rng.random((3, 4, 4)).astype(np.float32)
    means = rng.random((3, 4, 4)).astype(np.float32)
    expected = -scipy.stats.norm.logpdf(targets, means, 0.2).reshape(3, -1).sum(axis=1)
    np.testing.assert_allclose(
        losses.gaussian_negative_log_likelihood(targets, means, np.float32(2 * np.log(0.2))),
        expected, rtol=1e-5)
    log_var = rng.normal(0, 0.5, (3, 4, 4)).astype(np.float32)
    expected = -scipy.stats.norm.logpdf(targets, means, np.exp(0.5 * log_var))
    np.testing.assert_allclose(losses.gaussian_negative_log_likelihood(targets, means, log_var),
                               expected.reshape(3, -1).sum(axis=1), rtol=1e-5)
