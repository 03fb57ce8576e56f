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


#: (full, fast) epochs per architecture, sized to chapter 03's budgets (10 min and 60 s).
VAE_EPOCHS = {"dense": (40, 6), "small_dense": (5, 5), "conv": (2, 2)}

#: Dense models are compiled with XLA when they train for at least this many steps: XLA's
#: fused kernels save about a quarter of each step on 2 CPU cores, but compiling takes ~10 s.
#: (Convolutions are left alone: XLA made them slower on CPUs; see ``GenerativeModel``.)
XLA_MIN_STEPS = 2000


def vae_config(dataset: str = "mnist", *, latent_dim: int = 2, kind: str = "dense",
               beta: float = 1.0) -> dict[str, Any]:
    """Chapter 03's VAE: Bernoulli likelihood, Adam with cosine learning-rate decay, batch 256,
    and a linear KL warm-up over the first 3/7 of the epochs (seed 003).

    Full mode trains on the 60,000 training images and measures on the 10,000 test images;
    fast mode uses the first 6,000 and 2,000, and the epochs of :data:`VAE_EPOCHS`.
    """
    return {
        "dataset": dataset,
        "kind": kind,
        "latent_dim": latent_dim,
        "likelihood": "bernoulli",
        "beta": beta,
        "learning_rate": 2e-3,
        "batch_size": 256,
        "warmup_fraction": 3 / 7,
        "epochs": config.pick(full=VAE_EPOCHS[kind][0], fast=VAE_EPOCHS[kind][1]),
        "train_limit": config.pick(full=None, fast=6000),
        "test_limit": config.pick(full=None, fast=2000),
        "seed": 0,
    }


def vae(run_config: dict[str, Any] | None = None) -> training.CachedRun:
    """Load or train a VAE; its metrics hold the test -ELBO in nats (``test_neg_elbo``).

    Args:
        run_config: a dict like :func:`vae_config`'s (the default: 2-D dense VAE on MNIST).
    """
    from course_utils._tensorflow import keras
    from course_utils.models.vaes import build_vae

    run_config = run_config or vae_config()
    flatten = run_config["kind"] != "conv"
    test_images, _ = data.load_images(run_config["dataset"], "test", flatten=flatten,
                                      limit=run_config["test_limit"])
    batch_size, epochs = run_config["batch_size"], run_config["epochs"]
    num_train = len(data.load_raw(run_config["dataset"])["y_train"])
    num_train = min(num_train, run_config["train_limit"] or num_train)
    steps = epochs * -(-num_train // batch_size)
    jit_compile = run_config["kind"] != "conv" and steps >= XLA_MIN_STEPS

    def training_data():  # called only on a cache miss: loading a model needs no images
        return data.image_dataset(run_config["dataset"], "train", batch_size=batch_size,
                                  flatten=flatten, limit=run_config["train_limit"],
                                  seed=run_config["seed"])

    def build():
        config.set_seed(run_config["seed"])
        schedule = keras.optimizers.schedules.CosineDecay(run_config["learning_rate"], steps)
        return build_vae(run_config["kind"], latent_dim=run_config["latent_dim"],
                         likelihood=run_config["likelihood"], beta=run_config["beta"],
                         learning_rate=schedule, seed=run_config["seed"],
                         jit_compile=jit_compile)

    def evaluate(model):
        return {"test_neg_elbo": float(metrics.vae_negative_elbo(model, test_images).mean())}

    name = f"vae_{run_config['dataset']}_{run_config['kind']}_{run_config['latent_dim']}d"
    return training.load_or_train(
        name,
        build,
        config_dict={**run_config, "jit_compile": jit_compile},  # XLA's rounding differs
        train_data=training_data,
        epochs=epochs,
        callbacks=[training.KLWarmup(total_epochs=epochs,
                                     warmup_fraction=run_config["warmup_fraction"])],
        evaluate_fn=evaluate,
    )
