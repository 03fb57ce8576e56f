"""Metrics against independent computations, with a tiny stand-in classifier."""

import numpy as np
import pytest
import scipy.linalg

from course_utils import metrics
from course_utils._tensorflow import keras
from course_utils.models.classifier import FEATURES_LAYER, build_classifier


def test_frechet_distance_matches_scipy_sqrtm_on_full_rank_covariances():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
    cov_a, cov_b = a @ a.T + np.eye(6), b @ b.T + np.eye(6)
    mean_a, mean_b = rng.normal(size=6), rng.normal(size=6)
    expected = (np.sum((mean_a - mean_b) ** 2)
                + np.trace(cov_a + cov_b - 2 * scipy.linalg.sqrtm(cov_a @ cov_b).real))
    assert metrics.frechet_distance(mean_a, cov_a, mean_b, cov_b) == pytest.approx(expected,
                                                                                   rel=1e-8)


def test_frechet_distance_of_diagonal_gaussians_has_a_closed_form():
    var_a, var_b = np.array([1.0, 4.0, 0.0]), np.array([9.0, 1.0, 0.0])  # singular: one zero
    expected = 1.0 + np.sum(var_a + var_b - 2 * np.sqrt(var_a * var_b))
    value = metrics.frechet_distance([0, 0, 0], np.diag(var_a), [1, 0, 0], np.diag(var_b))
    assert value == pytest.approx(expected, rel=1e-10)
    assert metrics.frechet_distance([0, 0], np.eye(2), [0, 0], np.eye(2)) == pytest.approx(0)


def fixed_classifier(logit_rows):
    """A classifier whose logits depend only on the first pixel, to test the metrics."""
    inputs = keras.Input((28, 28, 1))
    flat = keras.layers.Flatten()(inputs)
    features = keras.layers.Dense(3, name=FEATURES_LAYER, use_bias=False)(flat)
    logits = keras.layers.Dense(len(logit_rows[0]), use_bias=False)(features)
    model = keras.Model(inputs, logits)
    first_pixel = np.zeros((784, 3), np.float32)
    first_pixel[0] = [1.0, 0.0, 0.0]
    model.layers[2].set_weights([first_pixel])
    out = np.zeros((3, len(logit_rows[0])), np.float32)
    out[0] = logit_rows[0]
    model.layers[3].set_weights([out])
    return model


def test_class_probabilities_conditional_accuracy_and_score():
    classifier = fixed_classifier([[0.0, 3.0, -3.0]])  # first pixel 1 -> class 1, 0 -> uniform
    images = np.zeros((4, 28, 28, 1), np.float32)
    images[:2, 0, 0, 0] = 1.0
    probabilities = metrics.class_probabilities(images, classifier=classifier)
    np.testing.assert_allclose(probabilities[0], np.exp([0, 3, -3]) / np.exp([0, 3, -3]).sum(),
                               rtol=1e-5)
    np.testing.assert_allclose(probabilities[3], 1 / 3, rtol=1e-5)
    accuracy = metrics.conditional_accuracy(images, [1, 1, 1, 0], classifier=classifier)
    assert accuracy == pytest.approx(0.75)  # read as 1, 1, 0, 0 (ties go to class 0)
    # Score: exp(mean KL(p(y|x) || p(y))) computed by hand.
    p = probabilities
    marginal = p.mean(axis=0)
    expected = np.exp(np.mean(np.sum(p * np.log(p / marginal), axis=1)))
    assert metrics.classifier_score(images, classifier=classifier) == pytest.approx(expected,
                                                                                   rel=1e-5)


def test_sample_quality_equals_the_separate_measures():
    """One classifier pass gives the same FID, score and accuracy as the three functions."""
    classifier = fixed_classifier([[0.0, 3.0, -3.0]])
    rng = np.random.default_rng(0)
    samples = rng.random((12, 28, 28, 1)).astype(np.float32)
    samples[::3, 0, 0, 0] = 0.0  # a third read as class 0 (uniform logits), the rest as 1
    reference = rng.random((9, 784)).astype(np.float32)
    labels = np.arange(12) % 2
    quality = metrics.sample_quality(samples, reference, requested_labels=labels,
                                     classifier=classifier)
    assert quality["fid"] == pytest.approx(
        metrics.classifier_fid(samples, reference, classifier=classifier), rel=1e-9)
    assert quality["classifier_score"] == pytest.approx(
        metrics.classifier_score(samples, classifier=classifier), rel=1e-9)
    assert quality["conditional_accuracy"] == pytest.approx(
        metrics.conditional_accuracy(samples, labels, classifier=classifier))
    np.testing.assert_allclose(quality["class_fractions"], [1 / 3, 2 / 3, 0])
    assert "conditional_accuracy" not in metrics.sample_quality(samples, reference,
                                                                classifier=classifier)


def test_classifier_fid_is_zero_for_identical_sets_and_grows_with_a_shift():
    classifier = build_classifier()
    rng = np.random.default_rng(0)
    images = rng.random((64, 28, 28, 1)).astype(np.float32)
    assert metrics.classifier_fid(images, images, classifier=classifier) == pytest.approx(
        0.0, abs=1e-6)
    brighter = np.clip(images + 0.5, 0, 1)
    assert metrics.classifier_fid(brighter, images, classifier=classifier) > 0.01
    with pytest.raises(ValueError, match="28x28"):
        metrics.classifier_features(np.zeros((2, 10)), classifier=classifier)


def test_knn_accuracy_on_separable_and_on_shuffled_labels():
    rng = np.random.default_rng(0)
    codes = np.concatenate([rng.normal(0, 0.1, (50, 2)), rng.normal(5, 0.1, (50, 2))])
    labels = np.repeat([0, 1], 50)
    assert metrics.knn_accuracy(codes, labels, codes + 0.01, labels) == 1.0
    shuffled = rng.permutation(labels)
    assert metrics.knn_accuracy(codes, shuffled, codes, labels) < 0.8


def test_latent_recovery_against_pearson_correlations():
    from scipy import stats

    rng = np.random.default_rng(0)
    latents = rng.normal(size=(500, 3))
    recovered = latents * [2.0, -1.0, 0.5] + rng.normal(0, [0.1, 1.0, 5.0], (500, 3)) + 3.0
    expected = np.mean([stats.pearsonr(latents[:, i], recovered[:, i])[0] for i in range(3)])
    assert metrics.latent_recovery(latents, recovered) == pytest.approx(expected, rel=1e-10)
    assert metrics.latent_recovery(latents, 4 * latents - 1) == pytest.approx(1.0)
    assert abs(metrics.latent_recovery(latents, rng.normal(size=(500, 3)))) < 0.1
    with pytest.raises(ValueError, match="shape"):
        metrics.latent_recovery(latents, latents[:, :2])


def test_bits_per_dim_of_a_uniform_density():
    # Uniform on [0, 256)^D has density 256^-D: 8 bits per dimension; the same density
    # written for x / 256 (uniform on [0, 1), NLL 0) needs data_scale=256.
    dims = 784
    assert metrics.bits_per_dim(dims * np.log(256), dims) == pytest.approx(8.0)
    assert metrics.bits_per_dim(0.0, dims, data_scale=256) == pytest.approx(8.0)
    np.testing.assert_allclose(metrics.bits_per_dim(np.array([0.0, dims * np.log(2)]), dims),
                               [0.0, 1.0])
    with pytest.raises(ValueError):
        metrics.bits_per_dim(1.0, 0)


def test_the_course_classifier_is_trained_once_and_cached(isolated_cache, monkeypatch):
    # Fast mode trains on 6,000 images; shrink further with a fake data set would hide the
    # real pipeline, so this uses the real one when it is available.
    import os

    if not os.environ.get("COURSE_DATA_DIR"):
        pytest.skip("needs COURSE_DATA_DIR")
    from course_utils.recipes import classifiers

    classifiers._loaded_course_classifier.cache_clear()
    model = classifiers.course_classifier()
    assert list(isolated_cache.glob("course_classifier-*/entry.json"))
    assert classifiers.course_classifier() is model  # kept for the process
    classifiers._loaded_course_classifier.cache_clear()
    again = classifiers.course_classifier()  # loaded from the cache
    assert again is not model
    np.testing.assert_array_equal(model.get_weights()[0], again.get_weights()[0])
    classifiers._loaded_course_classifier.cache_clear()


def test_negative_elbo_is_bernoulli_nll_plus_gaussian_kl():
    rng = np.random.default_rng(0)
    images = rng.random((3, 784)).astype(np.float32)
    logits = rng.normal(0, 2, (3, 784)).astype(np.float32)
    z_mean = rng.normal(size=(3, 2)).astype(np.float32)
    z_log_var = rng.normal(0, 0.3, (3, 2)).astype(np.float32)
    p = 1 / (1 + np.exp(-logits.astype(np.float64)))
    nll = -(images * np.log(p) + (1 - images) * np.log(1 - p)).sum(axis=1)
    var = np.exp(z_log_var.astype(np.float64))
    kl = 0.5 * (var + z_mean**2 - 1 - np.log(var)).sum(axis=1)
    np.testing.assert_allclose(metrics.negative_elbo(images, logits, z_mean, z_log_var),
                               nll + kl, rtol=1e-5)
