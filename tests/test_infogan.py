"""InfoGAN's pieces: the recognition loss and the mutual-information bound against exact
computations, the matching purity against a brute-force search, the code layout, the
discriminator's two heads, and one training step of each player."""

import itertools
import os

import numpy as np
import pytest
import scipy.special

from course_utils import losses, metrics
from course_utils._tensorflow import keras
from course_utils.models import infogan as infogans
from course_utils.models.networks import conv

rng = np.random.default_rng(0)


def test_categorical_cross_entropy_is_minus_log_softmax_of_the_code():
    logits = rng.normal(0, 2, (6, 5)).astype(np.float32)
    codes = np.eye(5, dtype=np.float32)[rng.integers(0, 5, 6)]
    expected = -np.sum(codes * scipy.special.log_softmax(logits.astype(np.float64), axis=1),
                       axis=1)
    np.testing.assert_allclose(losses.categorical_cross_entropy(codes, logits), expected,
                               rtol=1e-5)


def test_the_bound_is_below_the_exact_mutual_information_and_tight_at_the_posterior():
    """A discrete joint p(c, x): I(c; x) computed exactly; the bound with the true posterior
    Q = p(c | x) equals it, with any other Q it is lower."""
    joint = rng.random((4, 7))
    joint /= joint.sum()  # p(c, x), 4 codes and 7 outcomes
    p_c, p_x = joint.sum(axis=1), joint.sum(axis=0)
    exact = np.sum(joint * np.log(joint / np.outer(p_c, p_x)))
    entropy = -np.sum(p_c * np.log(p_c))
    pairs = [(c, x) for c in range(4) for x in range(7)]
    weights = np.array([joint[c, x] for c, x in pairs])
    codes = np.eye(4, dtype=np.float32)[[c for c, _ in pairs]]

    def bound(q_logits):  # (7, 4) logits of Q(c | x); the mean weighted by p(c, x)
        logits = np.asarray(q_logits, np.float32)[[x for _, x in pairs]]
        nll = np.asarray(losses.categorical_cross_entropy(codes, logits), np.float64)
        # the package's bound is an unweighted mean: repeat each pair by its weight instead
        return float(losses.mutual_information_bound(entropy, nll * weights * len(pairs)))

    posterior = np.log(joint / p_x).T  # log p(c | x), (7, 4)
    assert bound(posterior) == pytest.approx(exact, abs=1e-5)
    for _ in range(5):
        assert bound(rng.normal(0, 1, (7, 4))) < exact


def test_the_bound_ranges_from_zero_to_the_code_entropy():
    codes = np.eye(10, dtype=np.float32)[np.arange(20) % 10]
    uniform = losses.categorical_cross_entropy(codes, np.zeros((20, 10), np.float32))
    certain = losses.categorical_cross_entropy(codes, 50.0 * codes)
    assert float(losses.mutual_information_bound(np.log(10), uniform)) == pytest.approx(0, abs=1e-5)
    assert float(losses.mutual_information_bound(np.log(10), certain)) == pytest.approx(
        np.log(10), abs=1e-5)


def test_paired_mutual_information_matches_numpy_and_peaks_at_log_k():
    a, b = rng.normal(0, 2, (32, 4)), rng.normal(0, 2, (32, 4))
    p_a, p_b = scipy.special.softmax(a, axis=1), scipy.special.softmax(b, axis=1)
    joint = p_a.T @ p_b / 32
    joint = (joint + joint.T) / 2
    expected = np.sum(joint * np.log(joint / np.outer(joint.sum(1), joint.sum(0))))
    assert float(losses.paired_mutual_information(a.astype(np.float32), b.astype(np.float32))) \
        == pytest.approx(expected, rel=1e-4)
    certain = 50.0 * np.eye(4, dtype=np.float32)[np.arange(32) % 4]  # same, balanced
    assert float(losses.paired_mutual_information(certain, certain)) == pytest.approx(
        np.log(4), abs=1e-4)
    many = 50.0 * np.eye(4, dtype=np.float32)[rng.integers(0, 4, 4000)]
    independent = 50.0 * np.eye(4, dtype=np.float32)[rng.integers(0, 4, 4000)]
    assert float(losses.paired_mutual_information(many, independent)) < 0.01


def test_best_matching_equals_a_brute_force_search_over_permutations():
    labels = rng.integers(0, 4, 60)
    predicted = np.where(rng.random(60) < 0.7, (labels + 1) % 4, rng.integers(0, 4, 60))
    accuracy, mapping = metrics.best_matching(predicted, labels, num_classes=4)
    best = max(np.mean(np.array(permutation)[predicted] == labels)
               for permutation in itertools.permutations(range(4)))
    assert accuracy == pytest.approx(best)
    assert np.mean(mapping[predicted] == labels) == pytest.approx(accuracy)
    assert sorted(mapping) == [0, 1, 2, 3]


def test_best_matching_rejects_bad_input():
    with pytest.raises(ValueError, match="same length"):
        metrics.best_matching([0, 1], [0, 1, 2])
    with pytest.raises(ValueError, match=r"0\.\.9"):
        metrics.best_matching([0, 10], [0, 1])


def _small_infogan(**options):
    keras.utils.set_random_seed(0)
    generator = conv.build_conv_generator(8 + 10 + 2, filters=(8, 4))
    discriminator = infogans.build_infogan_discriminator(10 + 2 * 2, filters=(4, 8),
                                                         hidden_units=16)
    model = infogans.InfoGAN(generator, discriminator, noise_dim=8, **options)
    model.compile(d_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5),
                  g_optimizer=keras.optimizers.Adam(1e-3, beta_1=0.5), steps_per_execution=1)
    return model


def test_discriminator_has_a_score_head_and_a_q_head():
    model = _small_infogan()
    scores, q = model.discriminator(np.zeros((3, 28, 28, 1), np.float32))
    assert scores.shape == (3, 1) and q.shape == (3, 14)
    assert model.latent_dim == 20


def test_latents_hold_noise_a_one_hot_category_and_uniform_codes():
    model = _small_infogan()
    latents = np.asarray(model.latents(4000))
    one_hot, continuous = latents[:, 8:18], latents[:, 18:]
    assert latents.shape == (4000, 20)
    np.testing.assert_array_equal(one_hot.sum(axis=1), 1.0)
    assert set(np.unique(one_hot)) == {0.0, 1.0}
    assert np.all(np.bincount(one_hot.argmax(axis=1), minlength=10) > 300)
    assert continuous.min() >= -1 and continuous.max() <= 1 and abs(continuous.mean()) < 0.05
    made = model.latent_codes(np.ones((2, 8)), [3, 7], [[0.5, -0.5], [1, 0]])
    np.testing.assert_array_equal(made[:, 8:18].argmax(axis=1), [3, 7])
    np.testing.assert_array_equal(made[:, 18:], [[0.5, -0.5], [1, 0]])


def test_info_terms_weight_the_two_negative_log_likelihoods():
    model = _small_infogan(info_weight=2.0, continuous_weight=0.5)
    latents = model.latent_codes(rng.normal(size=(5, 8)), np.arange(5), rng.uniform(-1, 1, (5, 2)))
    q = rng.normal(size=(5, 14)).astype(np.float32)
    terms = model.info_terms(latents, q)
    categorical = losses.categorical_cross_entropy(latents[:, 8:18], q[:, :10])
    continuous = losses.gaussian_negative_log_likelihood(latents[:, 18:], q[:, 10:12], q[:, 12:])
    assert float(terms["info_loss"]) == pytest.approx(
        2.0 * np.mean(categorical) + 0.5 * np.mean(continuous), rel=1e-5)
    assert float(terms["categorical_bound"]) == pytest.approx(np.log(10) - np.mean(categorical),
                                                              rel=1e-5)
    assert float(terms["continuous_bound"]) == pytest.approx(2 * np.log(2) - np.mean(continuous),
                                                             rel=1e-5)


def test_with_moved_copies_the_category_is_read_from_them_and_the_codes_are_not():
    model = _small_infogan(info_weight=1.0, continuous_weight=1.0)
    latents = model.latent_codes(rng.normal(size=(5, 8)), np.arange(5), rng.uniform(-1, 1, (5, 2)))
    plain, moved = (rng.normal(size=(5, 14)).astype(np.float32) for _ in range(2))
    both = model.info_terms(latents, plain, moved)
    mixed = np.concatenate([moved[:, :10], plain[:, 10:]], axis=1)
    assert float(both["info_loss"]) == pytest.approx(float(model.info_terms(latents, mixed)[
        "info_loss"]), rel=1e-6)


def test_one_training_step_updates_both_players_and_reports_the_bounds():
    model = _small_infogan()
    images = rng.uniform(-1, 1, (8, 28, 28, 1)).astype(np.float32)
    q_before = model.discriminator.get_layer("discriminator_q_out").get_weights()[0].copy()
    history = model.fit(images, batch_size=8, epochs=1, verbose=0).history
    assert set(history) == set(model.loss_names)
    assert int(model.d_optimizer.iterations) == 1 and int(model.optimizer.iterations) == 1
    assert not np.allclose(q_before,
                           model.discriminator.get_layer("discriminator_q_out").get_weights()[0])
    assert history["categorical_bound"][0] <= np.log(10)


def test_build_infogan_moves_the_copies_q_reads_only_in_training():
    model = infogans.build_infogan(noise_dim=4, generator_filters=(8, 4),
                               discriminator_filters=(4, 8), hidden_units=16,
                               augmentation={"max_degrees": 15.0, "max_zoom": 0.1,
                                             "max_shift": 2.0}, clustering_weight=1.0)
    assert model.latent_dim == 16 and model.discriminator.outputs[1].shape == (None, 14)
    images = rng.uniform(-1, 1, (4, 28, 28, 1)).astype(np.float32)
    moved = model.recognition_augmentation
    np.testing.assert_array_equal(moved(images, training=False), images)
    assert not np.allclose(moved(images, training=True), images)
    assert model.optimizer.learning_rate.numpy() == pytest.approx(1e-3)
    assert model.d_optimizer.learning_rate.numpy() == pytest.approx(2e-4)
    history = model.fit(images, batch_size=4, epochs=1, verbose=0).history
    assert np.isfinite(history["d_loss"][0]) and set(history) == set(model.loss_names)
    with pytest.raises(ValueError, match="recognition_augmentation"):
        infogans.InfoGAN(model.generator, model.discriminator, noise_dim=4, clustering_weight=1.0)


def test_sample_and_recognize():
    model = _small_infogan()
    images = model.sample(6, categories=[0, 1, 2, 3, 4, 5], seed=1)
    assert images.shape == (6, 28, 28, 1) and images.min() >= 0 and images.max() <= 1
    probabilities, means = model.recognize(images)
    assert probabilities.shape == (6, 10) and means.shape == (6, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="num_classes"):
        infogans.InfoGAN(model.generator, model.discriminator, noise_dim=8, num_classes=10)


@pytest.mark.skipif(not os.environ.get("COURSE_DATA_DIR"), reason="needs COURSE_DATA_DIR")
def test_infogan_recipe_trains_measures_and_caches(isolated_cache):
    from course_utils import recipes

    small = recipes.InfoGANRecipe(generator_filters=[8, 4], discriminator_filters=[4, 8],
                                  hidden_units=16, noise_dim=8, train_limit=256,
                                  num_samples=200, measure_every=2, measured_samples=50)
    run = recipes.load(small)
    assert set(run.metrics) == {"purity", "mapping", "q_real_accuracy", "fid",
                                "classifier_score"}
    assert 0.0 <= run.metrics["purity"] <= 1.0 and sorted(run.metrics["mapping"]) == list(
        range(10))
    # 4 steps of 64: Keras calls back once per 32-step execution, so after step 4 only
    assert list(run.arrays["measured_step"]) == [0, 4]
    assert run.snapshots()[1].shape == (100, 28, 28, 1)
    again = recipes.load(small)
    assert again.from_cache and again.metrics == run.metrics
