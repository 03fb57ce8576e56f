"""The VAE family: builders, the reparameterization, the warm-up, training and caching."""

import numpy as np
import pytest

from course_utils import cache, callbacks, config, data, losses, training
from course_utils._tensorflow import keras
from course_utils.batching import apply_in_batches
from course_utils.models import vaes


@pytest.mark.parametrize(("kind", "shape"), [("dense", (784,)), ("small_dense", (784,)),
                                             ("conv", (28, 28, 1))])
@pytest.mark.parametrize("latent_dim", [2, 16])
def test_builders_shapes(kind, shape, latent_dim):
    model = vaes.build_vae(kind, latent_dim=latent_dim)
    images = np.zeros((3, *shape), np.float32)
    z_mean, z_log_var = model.encoder(images)
    assert z_mean.shape == (3, latent_dim) and z_log_var.shape == (3, latent_dim)
    assert model.decoder(z_mean).shape == (3, *shape)
    assert apply_in_batches(model, images, batch_size=2).shape == (3, *shape)


def test_small_dense_is_seed_003s_architecture():
    model = vaes.build_vae("small_dense", latent_dim=16)
    trunk_units = [layer.units for layer in model.encoder.layers
                   if isinstance(layer, keras.layers.Dense) and layer.name.startswith("trunk")]
    decoder_units = [layer.units for layer in model.decoder.layers[1:]]
    assert trunk_units == [420, 210, 105] and decoder_units == [200, 400, 800, 784]


def test_bad_options_are_rejected():
    with pytest.raises(ValueError, match="kind"):
        vaes.build_vae("resnet")
    with pytest.raises(ValueError, match="likelihood"):
        vaes.build_vae(likelihood="poisson")


def test_reparameterized_samples_have_the_posterior_moments():
    z_mean = np.tile(np.array([[1.0, -2.0]], np.float32), (200_000, 1))
    z_log_var = np.tile(np.array([[0.0, np.log(0.25)]], np.float32), (200_000, 1))
    z = np.asarray(vaes.reparameterize(z_mean, z_log_var, seed=keras.random.SeedGenerator(0)))
    np.testing.assert_allclose(z.mean(axis=0), [1.0, -2.0], atol=0.01)
    np.testing.assert_allclose(z.std(axis=0), [1.0, 0.5], rtol=0.01)


def test_kl_warmup_weight_rises_over_three_sevenths_of_training():
    weights = [callbacks.kl_warmup_weight(e, total_epochs=7, beta=2.0) for e in range(7)]
    np.testing.assert_allclose(weights, [2 / 3, 4 / 3, 2, 2, 2, 2, 2])
    assert callbacks.kl_warmup_weight(0, total_epochs=10, warmup_fraction=0.0) == 1.0
    with pytest.raises(ValueError):
        callbacks.kl_warmup_weight(0, total_epochs=0)


class RecordKLWeight(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(float(self.model.kl_weight.numpy()))


def blobs(n=512, dim=784, seed=0):
    """Binary-ish images made of two prototypes plus noise, flat, in [0, 1]."""
    rng = np.random.default_rng(seed)
    prototypes = (rng.random((2, dim)) > 0.5).astype(np.float32)
    chosen = prototypes[rng.integers(0, 2, n)]
    return np.clip(chosen + rng.normal(0, 0.1, (n, dim)), 0, 1).astype(np.float32)


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_vae_trains_and_the_warmup_drives_the_kl_weight(likelihood):
    config.set_seed(0)
    model = vaes.build_vae("dense", latent_dim=2, likelihood=likelihood, beta=0.5)
    recorder = RecordKLWeight()
    result = training.train(model, data.make_dataset(blobs(), batch_size=64), epochs=4,
                            callbacks=[callbacks.KLWarmup(total_epochs=4), recorder])
    np.testing.assert_allclose(recorder.weights, [0.25, 0.5, 0.5, 0.5])
    history = result.history
    assert history["reconstruction_loss"][-1] < history["reconstruction_loss"][0]


def test_the_loss_is_reconstruction_plus_weighted_kl():
    model = vaes.build_vae("dense", latent_dim=3, beta=4.0)
    images = blobs(8)
    values = {k: float(v) for k, v in model.compute_losses(images, training=False).items()}
    assert values["loss"] == pytest.approx(values["reconstruction_loss"]
                                           + 4.0 * values["kl_loss"], rel=1e-5)
    z_mean, z_log_var = model.encoder(images)
    kl = float(np.mean(losses.kl_divergence_standard_normal(z_mean, z_log_var)))
    assert values["kl_loss"] == pytest.approx(kl, rel=1e-5)


def test_a_vae_round_trips_through_the_cache():
    dataset = data.make_dataset(blobs(), batch_size=64)

    def build():
        config.set_seed(0)
        return vaes.build_vae("dense", latent_dim=2, beta=0.3)

    first = cache.load_or_train("vae", build, config_dict={}, train_data=dataset, epochs=2)
    second = cache.load_or_train("vae", build, config_dict={}, train_data=dataset, epochs=2)
    assert second.from_cache
    images = blobs(5, seed=1)
    np.testing.assert_allclose(apply_in_batches(first.model, images),
                               apply_in_batches(second.model, images), rtol=1e-6)
    assert float(second.model.kl_weight.numpy()) == pytest.approx(0.3)


def linear_gaussian_vae(noise_std, posterior_mean_weight, posterior_log_var):
    """1-D: p(z) = N(0, 1), p(x|z) = N(z, noise_std^2), q(z|x) = N(w x, exp(posterior_log_var))."""
    inputs = keras.Input((1,))
    trunk = keras.Model(inputs, keras.layers.Identity()(inputs))
    encoder = vaes.build_gaussian_encoder(trunk, 1)
    encoder.get_layer("z_mean").set_weights([np.array([[posterior_mean_weight]], np.float32),
                                             np.zeros(1, np.float32)])
    encoder.get_layer("z_log_var").set_weights([np.zeros((1, 1), np.float32),
                                                np.array([posterior_log_var], np.float32)])
    code = keras.Input((1,))
    decoder = keras.Model(code, keras.layers.Identity()(code))
    return vaes.VAE(encoder, decoder, likelihood="gaussian", observation_std=noise_std)


def test_importance_weighted_nll_has_the_known_answer():
    import scipy.stats

    from course_utils import metrics

    noise = 0.5
    x = np.array([[-1.5], [0.2], [2.0]], np.float32)
    true_nll = -scipy.stats.norm.logpdf(x[:, 0], 0, np.sqrt(1 + noise**2))
    # With the exact posterior N(x / (1 + s^2), s^2 / (1 + s^2)) every weight equals p(x).
    exact = linear_gaussian_vae(noise, 1 / (1 + noise**2), np.log(noise**2 / (1 + noise**2)))
    np.testing.assert_allclose(metrics.importance_weighted_nll(exact, x, num_samples=3),
                               true_nll, rtol=1e-5)
    # With the prior as the proposal, the bound is loose for k = 1 and tight for large k.
    prior = linear_gaussian_vae(noise, 0.0, 0.0)
    loose = metrics.importance_weighted_nll(prior, x, num_samples=1, seed=1)
    tight = metrics.importance_weighted_nll(prior, x, num_samples=20_000, batch_size=1, seed=1)
    np.testing.assert_allclose(tight, true_nll, atol=0.05)
    assert loose.mean() > tight.mean() + 0.5


def test_vae_negative_elbo_matches_the_closed_form_of_a_linear_gaussian_vae():
    from course_utils import metrics

    noise, weight, log_var = 0.5, 0.6, np.log(0.3)
    model = linear_gaussian_vae(noise, weight, log_var)
    x = np.full((40_000, 1), 1.2, np.float32)
    mean, variance = weight * 1.2, np.exp(log_var)
    expected_nll = 0.5 * np.log(2 * np.pi * noise**2) + ((1.2 - mean) ** 2 + variance) / (
        2 * noise**2)
    expected_kl = 0.5 * (mean**2 + variance - 1 - log_var)
    estimate = metrics.vae_negative_elbo(model, x, batch_size=10_000)
    assert estimate.shape == (40_000,)
    assert estimate.mean() == pytest.approx(expected_nll + expected_kl, abs=0.02)


def test_decode_and_sample_give_the_likelihoods_mean_images():
    model = vaes.build_vae("dense", latent_dim=3)
    codes = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    logits = apply_in_batches(model.decoder, codes)
    np.testing.assert_allclose(model.decode(codes), 1 / (1 + np.exp(-logits)), rtol=1e-6)
    z_mean, z_log_var = model.encode(blobs(4))
    assert z_mean.shape == z_log_var.shape == (4, 3)
    samples = model.sample(6, seed=1)
    assert samples.shape == (6, 784) and samples.min() >= 0 and samples.max() <= 1
    np.testing.assert_array_equal(samples, model.sample(6, seed=1))
    gaussian = vaes.build_vae("conv", latent_dim=3, likelihood="gaussian")
    means = apply_in_batches(gaussian.decoder, codes)
    np.testing.assert_allclose(gaussian.decode(codes), np.clip(means, 0, 1))
