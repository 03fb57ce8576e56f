"""BiGAN and the adversarial autoencoder: their losses against direct computations, which
variables each player trains, and the encode / decode / sample helpers."""

import numpy as np
import pytest

from course_utils import losses
from course_utils._tensorflow import keras
from course_utils.models import adversarial_encoders as ae
from course_utils.models.autoencoders import build_mlp
from course_utils.models.networks import mlp

rng = np.random.default_rng(0)


def _bigan():
    keras.utils.set_random_seed(0)
    return ae.build_bigan(latent_dim=4, generator_filters=(8, 4), encoder_filters=(4, 8),
                          discriminator_filters=(4, 8), latent_units=8, hidden_units=8,
                          steps_per_execution=1)


def _images(count):
    """Random images in [-1, 1], ``(count, 28, 28, 1)``."""
    return rng.uniform(-1, 1, (count, 28, 28, 1)).astype(np.float32)


def test_bigan_builders_shapes_and_dropout_only_in_training():
    model = _bigan()
    z = rng.normal(size=(3, 4)).astype(np.float32)
    images = _images(3)
    assert model.generator(z).shape == (3, 28, 28, 1)
    assert model.encoder(images).shape == (3, 4)
    assert model.discriminator([images, z]).shape == (3, 1)
    np.testing.assert_allclose(model.discriminator([images, z]),
                               model.discriminator([images, z]))
    assert not np.allclose(model.discriminator([images, z], training=True),
                           model.discriminator([images, z], training=True))


def test_bigan_losses_score_the_two_kinds_of_pairs_with_swapped_labels(monkeypatch):
    model = _bigan()
    real = keras.ops.convert_to_tensor(_images(6))
    z = keras.ops.convert_to_tensor(rng.normal(size=(6, 4)).astype(np.float32))
    monkeypatch.setattr(model, "latents", lambda batch_size: z)
    real_scores = np.asarray(model.discriminator([real, model.encoder(real)]))
    fake_scores = np.asarray(model.discriminator([model.generator(z), z]))

    def softplus(v):
        return np.log1p(np.exp(v))

    d = model.discriminator_losses(real, training=False)
    g = model.generator_losses(real, training=False)
    assert float(d["d_loss"]) == pytest.approx(
        softplus(-real_scores).mean() + softplus(fake_scores).mean(), rel=1e-5)
    assert float(g["g_loss"]) == pytest.approx(
        softplus(-fake_scores).mean() + softplus(real_scores).mean(), rel=1e-5)
    assert float(d["real_score"]) == pytest.approx(np.mean(1 / (1 + np.exp(-real_scores))),
                                                   rel=1e-5)


def test_bigan_step_trains_generator_and_encoder_together():
    model = _bigan()
    encoder_before = [w.copy() for w in model.encoder.get_weights()]
    discriminator_before = [w.copy() for w in model.discriminator.get_weights()]
    history = model.fit(_images(8), batch_size=8, epochs=1, verbose=0).history
    assert set(history) == set(model.loss_names)
    assert len(model.generator_variables) == (len(model.generator.trainable_variables)
                                              + len(model.encoder.trainable_variables))
    assert not np.allclose(encoder_before[0], model.encoder.get_weights()[0])
    assert not np.allclose(discriminator_before[0], model.discriminator.get_weights()[0])


def test_bigan_encode_maps_the_data_range_and_reconstructs():
    model = _bigan()
    images = (_images(5) + 1) / 2
    np.testing.assert_allclose(model.encode(images), model.encoder(2 * images - 1), rtol=1e-5,
                               atol=1e-6)
    reconstructions = model.reconstruct(images)
    assert reconstructions.shape == (5, 28, 28, 1)
    assert reconstructions.min() >= 0 and reconstructions.max() <= 1
    with pytest.raises(ValueError, match="unconditional"):
        ae.BiGAN(model.generator, model.encoder, model.discriminator, latent_dim=4,
                 num_classes=10)


def _aae(num_classes=None, **options):
    keras.utils.set_random_seed(0)
    model = ae.AdversarialAutoencoder(
        build_mlp(16, (8,), 2, activation="relu", name="encoder"),
        mlp.build_mlp_generator(2, 16, hidden_units=(8,), output_activation=None,
                                 num_classes=num_classes, name="decoder"),
        mlp.build_mlp_discriminator(2, hidden_units=(8,)), latent_dim=2,
        num_classes=num_classes, **options)
    model.compile(d_optimizer=keras.optimizers.Adam(1e-3), g_optimizer=keras.optimizers.Adam(1e-3),
                  steps_per_execution=1)
    return model


def test_aae_encoder_loss_is_reconstruction_plus_weighted_adversarial_loss():
    model = _aae(adversarial_weight=0.5)
    images = rng.uniform(0, 1, (6, 16)).astype(np.float32)
    codes = model.encoder(images)
    logits = np.asarray(model.decoder(codes), np.float64)
    probabilities = 1 / (1 + np.exp(-logits))
    bce = -(images * np.log(probabilities) + (1 - images) * np.log1p(-probabilities)).sum(axis=1)
    adversarial = float(losses.generator_loss(model.discriminator(codes)))
    terms = model.generator_losses(images, training=False)
    assert float(terms["reconstruction"]) == pytest.approx(bce.mean(), rel=1e-4)
    assert float(terms["g_loss"]) == pytest.approx(bce.mean() + 0.5 * adversarial, rel=1e-4)


def test_aae_discriminator_compares_prior_draws_with_codes():
    """With a discriminator that scores |z|^2 / 100, the prior's draws (std 5, mean square
    50 per point in 2-D) score about 0.5 and the near-zero codes about 0."""
    squared_norm = keras.Sequential([keras.Input((2,)), keras.layers.Lambda(
        lambda z: keras.ops.sum(z * z, axis=1, keepdims=True) / 100.0)])
    zero_codes = keras.Sequential([keras.Input((16,)), keras.layers.Lambda(
        lambda x: 0.0 * x[:, :2])])
    decoder = mlp.build_mlp_generator(2, 16, hidden_units=(8,), output_activation=None)
    model = ae.AdversarialAutoencoder(zero_codes, decoder, squared_norm, latent_dim=2)
    images = rng.uniform(0, 1, (4000, 16)).astype(np.float32)
    terms = model.discriminator_losses(images, training=False)
    assert float(terms["real_score"]) == pytest.approx(np.mean(1 / (1 + np.exp(
        -np.sum(rng.normal(0, 5, (200_000, 2)) ** 2, axis=1) / 100))), abs=0.01)
    assert float(terms["fake_score"]) == pytest.approx(0.5, abs=1e-6)


def test_supervised_aae_decoder_reads_the_label_and_sampling_follows_the_prior():
    model = _aae(num_classes=10, prior_std=5.0)
    images = rng.uniform(0, 1, (8, 16)).astype(np.float32)
    labels = np.arange(8) % 10
    history = model.fit(images, labels, batch_size=8, epochs=1, verbose=0).history
    assert set(history) == set(model.loss_names)
    codes = np.zeros((2, 2), np.float32)
    first, second = model.decode(codes, [0, 1])
    assert not np.allclose(first, second) and first.min() >= 0 and first.max() <= 1
    assert model.sample(5, labels=np.zeros(5, int)).shape == (5, 16)
    with pytest.raises(ValueError, match="conditional"):
        model.decode(codes)
    with pytest.raises(ValueError, match="prior_std"):
        _aae(prior_std=0.0)


def test_build_aae_shapes_and_the_two_learning_rates():
    model = ae.build_aae(latent_dim=2, hidden_units=(8, 4), discriminator_units=(4,),
                         num_classes=10, learning_rate=1e-3, steps_per_execution=1)
    images = rng.uniform(0, 1, (3, 784)).astype(np.float32)
    codes = model.encoder(images)
    assert codes.shape == (3, 2)
    assert model.decode(np.asarray(codes), np.arange(3)).shape == (3, 784)
    assert model.discriminator(codes).shape == (3, 1)
    assert [layer.units for layer in model.decoder.layers
            if isinstance(layer, keras.layers.Dense)] == [4, 8, 784]
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-3)
    assert float(model.d_optimizer.learning_rate) == pytest.approx(5e-4)


def test_bigan_recipe_trains_measures_and_caches():
    from course_utils import recipes

    small = recipes.BiGANRecipe(latent_dim=4, generator_filters=[8, 4], encoder_filters=[4, 8],
                                discriminator_filters=[4, 8], latent_units=8, hidden_units=8,
                                train_limit=256, num_samples=200)
    run = recipes.load(small)
    assert {"fid", "knn_accuracy", "random_encoder_knn_accuracy", "reconstruction_accuracy",
            "latent_recovery"} <= set(run.metrics)
    # the untrained encoder's codes still tell digits apart better than chance
    assert 0.2 < run.metrics["random_encoder_knn_accuracy"] <= 1.0
    assert -1.0 <= run.metrics["latent_recovery"] <= 1.0
    assert run.snapshots()[1].shape == (100, 28, 28, 1)
    again = recipes.load(small)
    assert again.from_cache and again.metrics == run.metrics


def test_supervised_aae_recipe_trains_measures_and_caches():
    from course_utils import recipes

    small = recipes.AAERecipe(supervised=True, hidden_units=[16, 8], discriminator_units=[8],
                              train_limit=300, num_samples=200, epochs=1)
    run = recipes.load(small)
    assert {"fid", "conditional_accuracy", "code_mean", "code_std"} <= set(run.metrics)
    assert len(run.metrics["code_std"]) == 2
    assert small.plan().steps_per_epoch == 3  # 300 images in batches of 100
    again = recipes.load(small)
    assert again.from_cache and again.metrics == run.metrics
