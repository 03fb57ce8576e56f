"""Trained models that several chapters use, each defined once.

A recipe is a config (a JSON-able dict, sized for the current mode) plus a
:func:`~course_utils.training.load_or_train` call. The chapter that teaches a model trains
it through its recipe; later chapters (and chapter 12's comparison) call the same recipe
and load it from the cache.
"""

from __future__ import annotations

from typing import Any

from course_utils import config, data, metrics, training
from course_utils.models import apply_in_batches
from course_utils.models.autoencoders import build_autoencoder


def digit_autoencoder_config() -> dict[str, Any]:
    """Chapter 01's autoencoder, as in the seed: 784-500-300-2, tanh, Adam 1e-4, batch 50,
    on the MNIST digits {1, 5, 6}; 50 epochs in full mode, 3 in fast mode."""
    return {
        "digits": [1, 5, 6],
        "hidden_units": [500, 300],
        "latent_dim": 2,
        "activation": "tanh",
        "learning_rate": 1e-4,
        "batch_size": 50,
        "epochs": config.pick(full=50, fast=3),
        "seed": 0,
    }


def digit_autoencoder(run_config: dict[str, Any] | None = None) -> training.CachedRun:
    """Load or train the digit autoencoder; its metrics hold the 2-D codes' kNN accuracy.

    Args:
        run_config: a dict like :func:`digit_autoencoder_config`'s (the default).

    Returns:
        The :class:`~course_utils.training.CachedRun`; ``metrics["knn_accuracy_2d"]`` is the
        test accuracy of a 5-nearest-neighbour classifier on the codes.
    """
    run_config = run_config or digit_autoencoder_config()
    digits = tuple(run_config["digits"])
    train_images, train_labels = data.load_images("mnist", "train", digits=digits, flatten=True)
    test_images, test_labels = data.load_images("mnist", "test", digits=digits, flatten=True)

    def build():
        config.set_seed(run_config["seed"])
        return build_autoencoder(
            hidden_units=tuple(run_config["hidden_units"]),
            latent_dim=run_config["latent_dim"],
            activation=run_config["activation"],
            learning_rate=run_config["learning_rate"],
        )

    def evaluate(model):
        train_codes = apply_in_batches(model.encoder, train_images)
        test_codes = apply_in_batches(model.encoder, test_images)
        return {"knn_accuracy_2d": metrics.knn_accuracy(train_codes, train_labels,
                                                        test_codes, test_labels)}

    return training.load_or_train(
        "digit_autoencoder",
        build,
        config_dict=run_config,
        train_data=data.make_dataset(train_images, batch_size=run_config["batch_size"],
                                     seed=run_config["seed"]),
        validation_data=data.make_dataset(test_images, batch_size=1000, shuffle=False),
        epochs=run_config["epochs"],
        evaluate_fn=evaluate,
    )
