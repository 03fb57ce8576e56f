"""Shapes of every builder, argument checks, and the linear autoencoder = PCA property."""

import numpy as np
import pytest
import scipy.linalg

from course_utils import config, data, training
from course_utils.batching import apply_in_batches
from course_utils.models.autoencoders import build_autoencoder, build_mlp
from course_utils.models.classifier import build_classifier


def test_build_mlp_shapes_and_validation():
    model = build_mlp(784, (500, 300), 2, name="encoder")
    assert model.output_shape == (None, 2) and model.name == "encoder"
    assert [layer.units for layer in model.layers[1:]] == [500, 300, 2]
    with pytest.raises(ValueError, match="positive"):
        build_mlp(784, (0,), 2)


def test_build_autoencoder_is_the_seeds_network():
    model = build_autoencoder()
    assert model.encoder.output_shape == (None, 2)
    assert model.decoder.output_shape == (None, 784)
    assert [layer.units for layer in model.decoder.layers[1:]] == [300, 500, 784]
    assert model.encoder.layers[1].activation.__name__ == "tanh"
    assert model.decoder.layers[-1].activation.__name__ == "linear"
    x = np.zeros((3, 784), np.float32)
    assert apply_in_batches(model, x, batch_size=2).shape == (3, 784)


def test_build_classifier_shapes():
    model = build_classifier()
    assert model.output_shape == (None, 10)
    assert model.get_layer("features").output.shape == (None, 128)


def test_apply_in_batches_matches_one_call_and_handles_two_outputs():
    model = build_classifier()
    x = np.random.default_rng(0).random((7, 28, 28, 1)).astype(np.float32)
    np.testing.assert_allclose(apply_in_batches(model, x, batch_size=3),
                               np.asarray(model(x, training=False)), rtol=1e-5, atol=1e-6)

    def two_outputs(batch):
        return batch[:, :1], batch[:, 1:]

    first, second = apply_in_batches(two_outputs, np.arange(10.0).reshape(5, 2), batch_size=2)
    np.testing.assert_array_equal(first[:, 0], [0, 2, 4, 6, 8])
    np.testing.assert_array_equal(second[:, 0], [1, 3, 5, 7, 9])
    with pytest.raises(ValueError):
        apply_in_batches(model, x, batch_size=0)


def test_a_linear_autoencoder_recovers_the_pca_subspace():
    rng = np.random.default_rng(0)
    # 20-D data with two dominant directions (variances 9 and 4) and weak noise.
    basis = np.linalg.qr(rng.normal(size=(20, 20)))[0]
    scales = np.array([3.0, 2.0] + [0.1] * 18)
    x = ((rng.normal(size=(4000, 20)) * scales) @ basis.T + 1.0).astype(np.float32)
    config.set_seed(0)
    model = build_autoencoder(20, hidden_units=(), latent_dim=2, activation=None,
                              learning_rate=1e-2)
    training.train(model, data.make_dataset(x, batch_size=128), epochs=30)
    decoder_kernel = model.decoder.layers[-1].kernel.numpy()  # (2, 20)
    centered = x - x.mean(axis=0)
    principal = np.linalg.svd(centered, full_matrices=False)[2][:2].T  # (20, 2)
    angles = np.degrees(scipy.linalg.subspace_angles(decoder_kernel.T, principal))
    assert angles.max() < 2.0, angles
