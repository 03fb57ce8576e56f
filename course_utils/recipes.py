"""Trained models that several chapters use, each defined once.

A recipe is a config (a JSON-able dict, sized for the current mode) plus a
:func:`~course_utils.training.load_or_train` call. The chapter that teaches a model trains
it through its recipe; later chapters (and chapter 12's comparison) call the same recipe
and load it from the cache.
"""

from __future__ import annotations

from typing import Any

import numpy as np

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
VAE_EPOCHS = {"dense": (40, 6), "small_dense": (3, 3), "conv": (2, 2)}

#: Dense models are compiled with XLA when they make at least this many optimizer updates (a
#: GAN's training step makes ``critic_steps + 1``): XLA's fused kernels save about a quarter
#: of each update on 2 CPU cores, but compiling takes ~10 s. (Convolutions are left alone:
#: XLA made them slower on CPUs; see ``GenerativeModel``.)
XLA_MIN_UPDATES = 2000


def _use_xla(updates: int, critic_steps: int = 1) -> bool:
    """Whether a dense model making ``updates`` optimizer updates is worth compiling with XLA.

    Not a model with several critic steps per training step (the WGANs): its compiled step
    holds every critic step, and for WGAN-GP each one's second backward pass, and each such
    model kept about 250 MB more resident for the rest of the process. Measured in chapter
    07 (full mode): with XLA its kernel peaked at 1599 MB, over the course's 1.5 GB, without
    it at 1199 MB; the price is time, 141 s instead of 117 s for the WGAN-GP.
    """
    return critic_steps == 1 and updates >= XLA_MIN_UPDATES


def _gan_uses_xla(model: str, options: dict[str, Any], steps: int) -> bool:
    """:func:`_use_xla` for a GAN of kind ``model`` with ``options`` training ``steps`` steps,
    each ``critic_steps`` critic updates and one generator update."""
    from course_utils.models.gans import training_settings

    critic_steps = training_settings(model, options)["critic_steps"]
    return _use_xla(steps * (critic_steps + 1), critic_steps)


def _train_size(run_config: dict[str, Any]) -> int:
    """Training images a config uses: its data set's training split, cut to ``train_limit``."""
    available = len(data.load_raw(run_config["dataset"])["y_train"])
    return min(available, run_config["train_limit"] or available)


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
    batch_size, epochs = run_config["batch_size"], run_config["epochs"]
    steps = epochs * -(-_train_size(run_config) // batch_size)
    jit_compile = run_config["kind"] != "conv" and _use_xla(steps)

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

    def evaluate(model):  # the test images are loaded after training, not held during it
        test_images, _ = data.load_images(run_config["dataset"], "test", flatten=flatten,
                                          limit=run_config["test_limit"])
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


#: (full, fast) epochs of the image GANs of chapters 05-07, by architecture.
GAN_EPOCHS = {"mlp": (10, 1), "conv": (3, 1)}

#: Fixed latents an image GAN's snapshots keep after every epoch (ten of each class for a
#: conditional model, enough to follow its conditional accuracy over training).
SNAPSHOT_SIZE = 100


def gan_config(model: str = "gan", kind: str = "mlp", *, num_classes: int | None = None,
               **options) -> dict[str, Any]:
    """An image GAN of chapters 05-07 on MNIST in [-1, 1]: a 64-D latent, batch 128, the
    optimizers of :data:`~course_utils.models.gans.TRAINING_DEFAULTS`.

    Full mode trains on the 60,000 training images and measures classifier-FID with 10,000
    samples against the 10,000 test images; fast mode uses 6,000, 2,000 and 2,000.

    Args:
        model, kind, num_classes: see :func:`~course_utils.models.gans.build_gan`.
        **options: the model's own options (e.g. ``generator_loss="minimax"``).
    """
    return {
        "dataset": "mnist",
        "model": model,
        "kind": kind,
        "num_classes": num_classes,
        "options": options,
        "latent_dim": 64,
        "batch_size": 128,
        "epochs": config.pick(full=GAN_EPOCHS[kind][0], fast=GAN_EPOCHS[kind][1]),
        "train_limit": config.pick(full=None, fast=6000),
        "num_samples": config.pick(full=10_000, fast=2_000),
        "measure_every": None,
        "seed": 0,
    }


def cgan_config(conditioning: str = "projection") -> dict[str, Any]:
    """Chapter 06's conditional GAN: chapter 05's MLP GAN given the label, sampled from an
    exponential moving average of its generator's weights (decay 0.999) and trained for 12
    epochs (fast mode: 1).

    Args:
        conditioning: how the discriminator reads the label, ``"projection"`` or
            ``"concat"`` (see :data:`~course_utils.models.gans.CONDITIONINGS`).
    """
    return dict(gan_config("gan", "mlp", num_classes=10, conditioning=conditioning,
                           generator_average=0.999),
                epochs=config.pick(full=12, fast=1))


def sample_labels(num_samples: int, num_classes: int | None) -> np.ndarray | None:
    """Labels ``0, 1, ..., num_classes - 1, 0, 1, ...`` for a conditional model's samples
    (every class equally often), or None for an unconditional one."""
    return None if num_classes is None else np.arange(num_samples) % num_classes


def gan(run_config: dict[str, Any] | None = None) -> training.CachedRun:
    """Load or train an image GAN; its metrics hold the classifier-FID of its samples.

    The run keeps a :class:`~course_utils.training.SampleSnapshots` of
    :data:`SNAPSHOT_SIZE` fixed latents after every epoch (for a conditional model, with
    the labels ``sample_labels(SNAPSHOT_SIZE, num_classes)``).

    Args:
        run_config: a dict like :func:`gan_config`'s (the default: chapter 05's MLP GAN).

    Returns:
        The :class:`~course_utils.training.CachedRun`. ``metrics`` holds ``fid``,
        ``classifier_score``, ``class_fractions`` (the classifier's reading of the samples,
        10 fractions) and, for a conditional model, ``conditional_accuracy``.
    """
    from course_utils.models.gans import build_gan

    run_config = run_config or gan_config()
    flatten = run_config["kind"] == "mlp"
    num_classes, seed = run_config["num_classes"], run_config["seed"]
    batch_size, epochs = run_config["batch_size"], run_config["epochs"]
    jit_compile = flatten and _gan_uses_xla(run_config["model"], run_config["options"],
                                            epochs * (_train_size(run_config) // batch_size))
    fixed_labels = sample_labels(SNAPSHOT_SIZE, num_classes)

    def training_data():
        return data.image_dataset(run_config["dataset"], "train", batch_size=batch_size,
                                  flatten=flatten, value_range=(-1, 1),
                                  limit=run_config["train_limit"],
                                  with_labels=num_classes is not None, seed=seed,
                                  drop_remainder=True)

    def build():
        config.set_seed(seed)
        return build_gan(run_config["model"], run_config["kind"],
                         latent_dim=run_config["latent_dim"], num_classes=num_classes,
                         seed=seed, jit_compile=jit_compile, **run_config["options"])

    def evaluate(model):
        labels = sample_labels(run_config["num_samples"], num_classes)
        samples = model.sample(run_config["num_samples"], labels=labels, seed=seed + 2)
        test_images, _ = data.load_images(run_config["dataset"], "test", limit=len(samples))
        return metrics.sample_quality(samples, test_images, requested_labels=labels)

    callbacks = [training.SampleSnapshots(  # the same seed, so the same latents each time
        lambda model: model.sample(SNAPSHOT_SIZE, labels=fixed_labels, seed=seed + 1),
        epochs=range(epochs + 1))]
    if run_config["measure_every"]:
        callbacks.append(training.PeriodicMeasurements(
            _quality_and_critic_gap(run_config), every_steps=run_config["measure_every"]))
    name = f"{run_config['model']}_{run_config['kind']}_{run_config['dataset']}"
    if num_classes is not None:
        name = f"conditional_{name}"
    return training.load_or_train(
        name, build, config_dict={**run_config, "jit_compile": jit_compile},
        train_data=training_data, epochs=epochs, callbacks=callbacks, evaluate_fn=evaluate)


def _quality_and_critic_gap(run_config: dict[str, Any]):
    """``measure(model)`` for :class:`~course_utils.training.PeriodicMeasurements`: the
    classifier-FID of ``measured_samples`` samples from fixed latents against as many test
    images (``fid``), and the critic's (or discriminator's) score gap between those test
    images and the samples (``score_gap``; a WGAN critic's Wasserstein estimate). A
    conditional model generates with the test images' labels, so both sets are scored
    with the same labels."""
    count, flatten = run_config["measured_samples"], run_config["kind"] == "mlp"
    real, real_labels = data.load_images(run_config["dataset"], "test", limit=count,
                                         flatten=flatten)
    labels = None if run_config["num_classes"] is None else real_labels
    latents = np.random.default_rng(run_config["seed"] + 4).standard_normal(
        (len(real), run_config["latent_dim"])).astype(np.float32)

    def measure(model) -> dict[str, float]:
        fake = model.generate_from(latents, labels=labels, averaged=False)
        gap = model.score_gap(model.to_data_range(real), model.to_data_range(fake), labels)
        return {"fid": metrics.classifier_fid(fake, real), "score_gap": gap}

    return measure


def wgan_config(model: str = "wgan_gp", *, num_classes: int | None = None) -> dict[str, Any]:
    """Chapter 07's image WGANs: chapter 05's MLP networks (a conditional critic reads the
    label by projection), the paper's optimizers and 5 critic steps per generator step
    (:data:`~course_utils.models.gans.TRAINING_DEFAULTS`), 2 epochs: 936 generator and
    4,680 critic steps (fast mode: 2 epochs of 2,000 images, 30 generator steps). FID and the
    critic's estimate are measured on 2,000 samples every 48 generator steps (fast mode: 200
    samples every 8 steps); the final FID on 10,000 samples (fast mode: 1,000).

    Args:
        model: ``"wgan"`` (weight clipping) or ``"wgan_gp"`` (gradient penalty).
        num_classes: 10 for the conditional WGAN-GP (seed 001's WGAN + CGAN).
    """
    options = {} if num_classes is None else {"conditioning": "projection"}
    return dict(gan_config(model, "mlp", num_classes=num_classes, **options),
                epochs=2, train_limit=config.pick(full=None, fast=2000),
                num_samples=config.pick(full=10_000, fast=1_000),
                measure_every=config.pick(full=48, fast=8),
                measured_samples=config.pick(full=2000, fast=200))


def infogan_config(*, invariant: bool = True) -> dict[str, Any]:
    """Chapter 08's InfoGAN on MNIST in [-1, 1]: 62 noise dimensions, a 10-way categorical
    and 2 continuous codes (Chen et al., 2016), a DCGAN generator and a convolutional
    discriminator with a Q head; batch 64, the optimizers of
    :data:`~course_utils.models.gans.INFOGAN_TRAINING`, 3 epochs (2,811 generator steps;
    fast mode: 1 epoch of 3,000 images). Q reads the category from copies of the samples
    moved by random rotations (up to 15 degrees), zooms (10%) and shifts (2 pixels), and
    sorts real digits into categories that survive such moves (``clustering_weight`` 1; see
    :class:`~course_utils.models.gans.InfoGAN`). Purity and Q's accuracy on real digits are
    measured on 1,000 samples and test images every 250 generator steps (fast mode: 200
    every 16); the final measures on 10,000 (fast mode: 2,000).

    Args:
        invariant: ``False`` gives the paper's InfoGAN: Q reads the samples themselves and
            no real images are clustered.
    """
    return {
        "dataset": "mnist",
        "noise_dim": 62,
        "num_categories": 10,
        "num_continuous": 2,
        "generator_filters": [128, 64],
        "discriminator_filters": [64, 128],
        "hidden_units": 512,
        "augmentation": {"max_degrees": 15.0, "max_zoom": 0.1, "max_shift": 2.0}
        if invariant else None,
        "info_weight": 1.0,
        "continuous_weight": 0.1,
        "clustering_weight": 1.0 if invariant else 0.0,
        "batch_size": 64,
        "epochs": config.pick(full=3, fast=1),
        "train_limit": config.pick(full=None, fast=3000),
        "num_samples": config.pick(full=10_000, fast=2_000),
        "measure_every": config.pick(full=250, fast=16),
        "measured_samples": config.pick(full=1000, fast=200),
        "seed": 0,
    }


def infogan(run_config: dict[str, Any] | None = None) -> training.CachedRun:
    """Load or train an InfoGAN; its metrics say how well its categorical code names digits.

    Returns:
        The :class:`~course_utils.training.CachedRun`. ``metrics`` holds ``purity`` and
        ``mapping`` (:func:`~course_utils.metrics.code_purity` of samples with every code
        equally often), ``q_real_accuracy`` (Q's category of each test image, under its own
        best matching to the labels), ``fid`` and ``classifier_score`` of the same samples
        (the categorical code's prior is uniform). ``arrays`` holds
        ``measured_purity`` and ``measured_q_real_accuracy`` over training, and snapshots of
        ten fixed samples of each code after every epoch.
    """
    from course_utils.models.gans import build_infogan

    run_config = run_config or infogan_config()
    seed, categories = run_config["seed"], run_config["num_categories"]
    options = {key: run_config[key] for key in (
        "noise_dim", "num_categories", "num_continuous", "generator_filters",
        "discriminator_filters", "hidden_units", "augmentation", "info_weight",
        "continuous_weight", "clustering_weight")}

    def build():
        config.set_seed(seed)
        return build_infogan(seed=seed, **options)

    def training_data():
        metrics.course_classifier()  # the measurements need it: ready before the clock starts
        return data.image_dataset(run_config["dataset"], "train",
                                  batch_size=run_config["batch_size"], flatten=False,
                                  value_range=(-1, 1), limit=run_config["train_limit"],
                                  seed=seed, drop_remainder=True)

    def code_measures(model, count: int, sample_seed: int):
        """The codes' measures, and the samples (every category equally often) they read."""
        codes = np.arange(count) % categories
        samples = model.sample(count, categories=codes, seed=sample_seed)
        purity, mapping = metrics.code_purity(samples, codes)
        images, labels = data.load_images(run_config["dataset"], "test", limit=count)
        q_accuracy, _ = metrics.best_matching(model.recognize(images)[0].argmax(axis=1),
                                              labels, num_classes=categories)
        return {"purity": purity, "mapping": mapping, "q_real_accuracy": q_accuracy}, samples

    def measure(model):
        measures, _ = code_measures(model, run_config["measured_samples"], seed + 4)
        return {"purity": measures["purity"], "q_real_accuracy": measures["q_real_accuracy"]}

    def evaluate(model):
        measures, samples = code_measures(model, run_config["num_samples"], seed + 3)
        test_images, _ = data.load_images(run_config["dataset"], "test", limit=len(samples))
        quality = metrics.sample_quality(samples, test_images)
        return {**measures, "fid": quality["fid"], "classifier_score": quality["classifier_score"]}

    callbacks = [
        training.SampleSnapshots(lambda model: model.sample(
            SNAPSHOT_SIZE, categories=np.arange(SNAPSHOT_SIZE) // 10 % categories,
            seed=seed + 1), epochs=range(run_config["epochs"] + 1)),
        training.PeriodicMeasurements(measure, every_steps=run_config["measure_every"]),
    ]
    name = "infogan_mnist" if run_config["augmentation"] else "infogan_plain_mnist"
    return training.load_or_train(name, build, config_dict=run_config,
                                  train_data=training_data, epochs=run_config["epochs"],
                                  callbacks=callbacks, evaluate_fn=evaluate)


def bigan_config() -> dict[str, Any]:
    """Chapter 09's BiGAN on MNIST in [-1, 1]: a 32-D latent, chapter 05's DCGAN generator, a
    convolutional encoder and a discriminator of (image, code) pairs
    (:func:`~course_utils.models.adversarial_encoders.build_bigan`), the DCGAN's Adam,
    batch 128, 6 epochs (fast mode: 1 epoch of 6,000 images). Measured on 10,000 samples and
    test images, with 10,000 training images as the kNN's references (fast mode: 2,000)."""
    return {
        "dataset": "mnist",
        "latent_dim": 32,
        "generator_filters": [64, 32],
        "encoder_filters": [32, 64],
        "discriminator_filters": [32, 64],
        "latent_units": 512,
        "hidden_units": 512,
        "dropout": 0.2,
        "batch_size": 128,
        "epochs": config.pick(full=6, fast=1),
        "train_limit": config.pick(full=None, fast=6000),
        "num_samples": config.pick(full=10_000, fast=2_000),
        "seed": 0,
    }


def bigan(run_config: dict[str, Any] | None = None) -> training.CachedRun:
    """Load or train a BiGAN; measure its samples, its encoder and their round trips.

    Returns:
        The :class:`~course_utils.training.CachedRun`. ``metrics`` holds ``fid`` and
        ``classifier_score`` of ``num_samples`` samples; ``knn_accuracy`` (5 nearest
        neighbours among the codes ``E(x)`` of ``num_samples`` training images, tested on as
        many test images) and ``random_encoder_knn_accuracy`` (the same with an untrained
        encoder of the same architecture); ``reconstruction_accuracy`` (the course
        classifier's label of ``G(E(x))`` equal to ``x``'s, on the test images) and
        ``latent_recovery`` (:func:`~course_utils.metrics.latent_recovery` of ``E(G(z))``).
        ``arrays`` holds snapshots of :data:`SNAPSHOT_SIZE` fixed samples after every epoch.
    """
    from course_utils.models.adversarial_encoders import build_bigan, build_conv_encoder

    run_config = run_config or bigan_config()
    seed, count = run_config["seed"], run_config["num_samples"]
    options = {key: run_config[key] for key in (
        "latent_dim", "generator_filters", "encoder_filters", "discriminator_filters",
        "latent_units", "hidden_units", "dropout")}

    def build():
        config.set_seed(seed)
        return build_bigan(seed=seed, **options)

    def training_data():
        return data.image_dataset(run_config["dataset"], "train",
                                  batch_size=run_config["batch_size"], flatten=False,
                                  value_range=(-1, 1), limit=run_config["train_limit"],
                                  seed=seed, drop_remainder=True)

    def evaluate(model):
        train_images, train_labels = data.load_images(run_config["dataset"], "train",
                                                      limit=count)
        test_images, test_labels = data.load_images(run_config["dataset"], "test", limit=count)
        config.set_seed(seed + 5)
        untrained = build_conv_encoder(run_config["latent_dim"],
                                       filters=run_config["encoder_filters"])

        def knn(encode):
            return metrics.knn_accuracy(encode(train_images), train_labels,
                                        encode(test_images), test_labels)

        latents = np.random.default_rng(seed + 3).standard_normal(
            (count, run_config["latent_dim"])).astype(np.float32)
        reconstructed = metrics.class_probabilities(model.reconstruct(test_images))
        return {
            **metrics.sample_quality(model.sample(count, seed=seed + 2), test_images),
            "knn_accuracy": knn(model.encode),
            "random_encoder_knn_accuracy": knn(
                lambda images: apply_in_batches(untrained, model.to_data_range(images))),
            "reconstruction_accuracy": float(np.mean(reconstructed.argmax(axis=1)
                                                     == test_labels)),
            "latent_recovery": metrics.latent_recovery(
                latents, model.encode(model.generate_from(latents))),
        }

    snapshots = training.SampleSnapshots(
        lambda model: model.sample(SNAPSHOT_SIZE, seed=seed + 1),
        epochs=range(run_config["epochs"] + 1))
    return training.load_or_train("bigan_mnist", build, config_dict=run_config,
                                  train_data=training_data, epochs=run_config["epochs"],
                                  callbacks=[snapshots], evaluate_fn=evaluate)


def aae_config(*, supervised: bool = False) -> dict[str, Any]:
    """Chapter 09's adversarial autoencoder on flat MNIST in [0, 1]: a 2-D code pushed to a
    Gaussian prior of std 5 (Makhzani et al., 2016), dense networks 784-512-256-2 and back,
    a code discriminator 256-256 (:func:`~course_utils.models.adversarial_encoders.build_aae`),
    Adam 1e-3 (the discriminator 5e-4), batch 100, 10 epochs (fast mode: 5 epochs of 6,000
    images). Measured on 10,000 samples of the prior and 10,000 test images (fast mode:
    2,000).

    Args:
        supervised: the decoder also reads the label, so the code holds the style only.
    """
    return {
        "dataset": "mnist",
        "supervised": supervised,
        "latent_dim": 2,
        "hidden_units": [512, 256],
        "discriminator_units": [256, 256],
        "prior_std": 5.0,
        "adversarial_weight": 1.0,
        "learning_rate": 1e-3,
        "batch_size": 100,
        "epochs": config.pick(full=10, fast=5),
        "train_limit": config.pick(full=None, fast=6000),
        "num_samples": config.pick(full=10_000, fast=2_000),
        "seed": 0,
    }


def aae(run_config: dict[str, Any] | None = None) -> training.CachedRun:
    """Load or train an adversarial autoencoder (supervised or not).

    Returns:
        The :class:`~course_utils.training.CachedRun`. ``metrics`` holds
        :func:`~course_utils.metrics.sample_quality` of ``num_samples`` decoded prior draws
        (with every label equally often for a supervised AAE: then also
        ``conditional_accuracy``), and ``code_mean`` and ``code_std`` (per coordinate) of the
        test images' codes, to compare with the prior's 0 and ``prior_std``.
    """
    from course_utils.models.adversarial_encoders import build_aae

    run_config = run_config or aae_config()
    seed, count, batch_size = run_config["seed"], run_config["num_samples"], \
        run_config["batch_size"]
    num_classes = 10 if run_config["supervised"] else None
    steps = run_config["epochs"] * -(-_train_size(run_config) // batch_size)
    jit_compile = _use_xla(steps)
    options = {key: run_config[key] for key in (
        "latent_dim", "hidden_units", "discriminator_units", "prior_std", "adversarial_weight",
        "learning_rate")}

    def build():
        config.set_seed(seed)
        return build_aae(num_classes=num_classes, seed=seed, jit_compile=jit_compile, **options)

    def training_data():
        return data.image_dataset(run_config["dataset"], "train", batch_size=batch_size,
                                  flatten=True, limit=run_config["train_limit"],
                                  with_labels=run_config["supervised"], seed=seed)

    def evaluate(model):
        test_images, _ = data.load_images(run_config["dataset"], "test", flatten=True,
                                          limit=count)
        labels = sample_labels(count, num_classes)
        codes = model.encode(test_images)
        return {**metrics.sample_quality(model.sample(count, labels=labels, seed=seed + 2),
                                         test_images, requested_labels=labels),
                "code_mean": codes.mean(axis=0).tolist(), "code_std": codes.std(axis=0).tolist()}

    name = "supervised_aae_mnist" if run_config["supervised"] else "aae_mnist"
    return training.load_or_train(name, build,
                                  config_dict={**run_config, "jit_compile": jit_compile},
                                  train_data=training_data, epochs=run_config["epochs"],
                                  evaluate_fn=evaluate)


def rcgan_config() -> dict[str, Any]:
    """Chapter 10's recurrent conditional GAN on the Waves data (:func:`~course_utils.data.waves`,
    10,000 training series; fast mode 1,000): a 2-D latent, LSTMs of 64 units, a projection
    discriminator, 3 discriminator steps per generator step (with one, the discriminator's
    loss stayed at 2 log 2: an LSTM learns too slowly to keep up), Adam (1e-3,
    beta_1 = 0.5), batch 32, 12 epochs (fast mode: 2). It is measured on 2,000 generated
    series and 2,000 new real ones (fast mode: 400).
    """
    return {
        "num_train": config.pick(full=10_000, fast=1_000),
        "length": 30,
        "latent_dim": 2,
        "units": 64,
        "conditioning": "projection",
        "critic_steps": 3,
        "learning_rate": 1e-3,
        "batch_size": 32,
        "epochs": config.pick(full=12, fast=2),
        "num_samples": config.pick(full=2000, fast=400),
        "seed": 0,
    }


def waves_splits(run_config: dict[str, Any]):
    """``(train, test)`` Waves for an RCGAN config: each ``(series, kinds, parameters)`` of
    :func:`~course_utils.data.waves`, the test set drawn with another seed."""
    length, seed = run_config["length"], run_config["seed"]
    return (data.waves(run_config["num_train"], length=length, seed=seed),
            data.waves(run_config["num_samples"], length=length, seed=seed + 100))


def rcgan(run_config: dict[str, Any] | None = None) -> training.CachedRun:
    """Load or train the RCGAN; measure it by train-on-synthetic, test-on-real.

    Returns:
        The :class:`~course_utils.training.CachedRun`. ``metrics`` holds
        ``tstr_conv_accuracy``, ``trtr_conv_accuracy``, ``tstr_dense_accuracy`` and
        ``trtr_dense_accuracy`` (:func:`~course_utils.metrics.transfer_accuracy` with each
        classifier, of ``num_samples`` generated, or real training, series and their kinds,
        tested on the real test series), ``median_residual`` (of
        :func:`~course_utils.metrics.fit_waves`
        on the generated series), and ``ks_frequency``, ``ks_amplitude``, ``ks_offset``: the
        Kolmogorov-Smirnov distance between the fitted parameters of generated and of real
        test series.
    """
    from course_utils import tabular
    from course_utils.models.gans import (
        assemble_gan,
        build_lstm_discriminator,
        build_lstm_generator,
    )

    run_config = run_config or rcgan_config()
    seed, count = run_config["seed"], run_config["num_samples"]
    (series, kinds, _), (test_series, test_kinds, _) = waves_splits(run_config)
    num_kinds = len(data.WAVE_KINDS)

    def build():
        config.set_seed(seed)
        generator = build_lstm_generator(run_config["latent_dim"], run_config["length"],
                                         units=run_config["units"], num_classes=num_kinds)
        discriminator = build_lstm_discriminator(run_config["length"], units=run_config["units"],
                                                 num_classes=num_kinds,
                                                 conditioning=run_config["conditioning"])
        return assemble_gan("gan", generator, discriminator, latent_dim=run_config["latent_dim"],
                            num_classes=num_kinds, data_range=None, seed=seed, name="rcgan",
                            learning_rate=run_config["learning_rate"],
                            critic_steps=run_config["critic_steps"])

    def training_data():
        return data.make_dataset(series, kinds, batch_size=run_config["batch_size"], seed=seed,
                                 drop_remainder=True)

    def evaluate(model):
        labels = sample_labels(count, num_kinds)
        generated = model.sample(count, labels=labels, seed=seed + 2)
        fitted = metrics.fit_waves(generated, labels)
        real = metrics.fit_waves(test_series, test_kinds)
        transfers = {
            f"{train}_{classifier}_accuracy": metrics.transfer_accuracy(
                *sets, test_series, test_kinds, classifier=classifier, seed=seed)
            for train, sets in (("tstr", (generated, labels)),
                                ("trtr", (series[:count], kinds[:count])))
            for classifier in metrics.TRANSFER_CLASSIFIERS}
        return {
            **transfers,
            "median_residual": float(np.median(fitted["residual"])),
            **{f"ks_{name}": tabular.ks_distance(fitted[name], real[name])
               for name in ("frequency", "amplitude", "offset")},
        }

    fixed_labels = sample_labels(16, num_kinds)
    snapshots = training.SampleSnapshots(
        lambda model: model.sample(16, labels=fixed_labels, seed=seed + 1),
        epochs=range(run_config["epochs"] + 1))
    return training.load_or_train("rcgan_waves", build, config_dict=run_config,
                                  train_data=training_data, epochs=run_config["epochs"],
                                  callbacks=[snapshots], evaluate_fn=evaluate)


def moons_flow_config() -> dict[str, Any]:
    """Chapter 11's 2-D RealNVP on the two moons (:func:`~course_utils.data.two_moons`,
    20,000 points, noise 0.05): 8 couplings with alternating masks, each conditioner two
    ReLU layers of 64, ActNorm between them, Adam 1e-3, batch 256, 30 epochs (fast mode:
    4,000 points, 20 epochs)."""
    return {
        "num_points": config.pick(full=20_000, fast=4_000),
        "noise": 0.05,
        "num_couplings": 8,
        "hidden_units": [64, 64],
        "learning_rate": 1e-3,
        "batch_size": 256,
        "epochs": config.pick(full=30, fast=20),
        "seed": 0,
    }


def moons_flow(run_config: dict[str, Any] | None = None) -> training.CachedRun:
    """Load or train the 2-D RealNVP; ``metrics["nll"]`` is the mean NLL in nats of 10,000
    new points."""
    from course_utils.models.flows import build_realnvp

    run_config = run_config or moons_flow_config()
    seed = run_config["seed"]
    points, _ = data.two_moons(run_config["num_points"], noise=run_config["noise"], seed=seed)

    def build():
        config.set_seed(seed)
        model = build_realnvp((2,), num_couplings=run_config["num_couplings"],
                              hidden_units=run_config["hidden_units"], actnorm=True,
                              learning_rate=run_config["learning_rate"], seed=seed)
        model.initialize(points[:2000])
        return model

    def evaluate(model):
        new_points, _ = data.two_moons(10_000, noise=run_config["noise"], seed=seed + 1)
        return {"nll": float(np.mean(apply_in_batches(model.negative_log_likelihood,
                                                      new_points)))}

    return training.load_or_train(
        "realnvp_two_moons", build, config_dict=run_config,
        train_data=data.make_dataset(points, batch_size=run_config["batch_size"], seed=seed,
                                     drop_remainder=True),
        epochs=run_config["epochs"], evaluate_fn=evaluate)


#: The digits chapter 11's RealNVP learns; the 9 is kept for the transfer.
FLOW_DIGITS = tuple(range(9))


def realnvp_config() -> dict[str, Any]:
    """Chapter 11's RealNVP on MNIST digits 0-8 (seed 004): uniform dequantization, the
    logit transform (alpha 1e-5), ActNorm, then 8 affine couplings with checkerboard masks,
    each conditioner a dense network 784-1024-1024-1568, an ActNorm after each; Adam 1e-3
    with cosine decay, batch 128, 3 epochs (fast mode: 1 epoch of 3,000 images). Measured on
    the test digits 0-8 (fast mode: 1,000) and 10,000 samples (fast mode: 1,000).

    With alpha 0.05 (RealNVP's value for CIFAR-10) the same flow learnt more slowly:
    2.60, 2.36 and 2.27 test bits/dim after 1, 2 and 3 epochs, against 1.91, 1.85 and 1.83
    with 1e-5 (chapter 11, exercise 1)."""
    return {
        "dataset": "mnist",
        "digits": list(FLOW_DIGITS),
        "num_couplings": 8,
        "hidden_units": [1024, 1024],
        "logit_alpha": 1e-5,
        "learning_rate": 1e-3,
        "batch_size": 128,
        "epochs": config.pick(full=3, fast=1),
        "train_limit": config.pick(full=None, fast=3000),
        "test_limit": config.pick(full=None, fast=1000),
        "num_samples": config.pick(full=10_000, fast=1_000),
        "seed": 0,
    }


def flow_bits_per_dim(model, images, *, batch_size: int = 500) -> float:
    """Mean bits per dimension of 8-bit ``images`` (in [0, 1]) under a dequantizing flow:
    its NLL of uniformly dequantized pixels, on the scale of the 256 levels."""
    nll = apply_in_batches(model.negative_log_likelihood, images, batch_size=batch_size)
    return float(metrics.bits_per_dim(nll.mean(), int(np.prod(images.shape[1:])),
                                      data_scale=256))


def realnvp(run_config: dict[str, Any] | None = None) -> training.CachedRun:
    """Load or train the MNIST RealNVP (without XLA: its large matrix products gained
    nothing from it, measured 20.0 s against 19.8 s per 100 steps, and it cost 170 MB).

    Returns:
        The :class:`~course_utils.training.CachedRun`. ``metrics`` holds ``test_bpd``
        (:func:`flow_bits_per_dim` of the test digits), and ``fid`` and ``fid_cool`` of
        ``num_samples`` samples at temperature 1 and 0.7, against as many test digits.
    """
    from course_utils._tensorflow import keras
    from course_utils.models.flows import build_realnvp

    run_config = run_config or realnvp_config()
    seed, batch_size = run_config["seed"], run_config["batch_size"]
    name, digits = run_config["dataset"], tuple(run_config["digits"])
    num_train = int(np.isin(data.load_raw(name)["y_train"], digits).sum())
    num_train = min(num_train, run_config["train_limit"] or num_train)
    steps = run_config["epochs"] * (num_train // batch_size)

    def build():
        config.set_seed(seed)
        model = build_realnvp(
            (28, 28, 1), num_couplings=run_config["num_couplings"],
            hidden_units=run_config["hidden_units"], logit_alpha=run_config["logit_alpha"],
            actnorm=True, dequantize=True, seed=seed,
            learning_rate=keras.optimizers.schedules.CosineDecay(run_config["learning_rate"],
                                                                 steps))
        model.initialize(data.load_images(name, "train", digits=digits, limit=2000)[0])
        return model

    def training_data():  # uint8 in memory, scaled batch by batch
        return data.image_dataset(name, "train", batch_size=batch_size, digits=digits,
                                  limit=run_config["train_limit"], seed=seed,
                                  drop_remainder=True)

    def evaluate(model):
        test_images, _ = data.load_images(name, "test", digits=digits,
                                          limit=run_config["test_limit"])
        count = run_config["num_samples"]
        return {"test_bpd": flow_bits_per_dim(model, test_images),
                **{key: metrics.classifier_fid(model.sample(count, temperature=temperature,
                                                            seed=seed + 2),
                                               test_images[:count])
                   for key, temperature in (("fid", 1.0), ("fid_cool", 0.7))}}

    return training.load_or_train("realnvp_mnist", build, config_dict=run_config,
                                  train_data=training_data, epochs=run_config["epochs"],
                                  evaluate_fn=evaluate)


#: Chapter 11's candidate noise floors for the few-shot Gaussians (variances, in the units
#: of the space they are fitted in).
NOISE_FLOORS = tuple(np.logspace(-4, 1, 21))


def few_shot_transfer(model, examples, held_out, *, space: str, rank: int,
                      num_samples: int, seed: int = 0) -> dict[str, Any]:
    """Seed 004's transfer: learn a new digit from a few ``examples`` with a
    :class:`~course_utils.models.gaussians.LowRankGaussian` fitted in ``space``, and
    measure it on ``held_out`` images of that digit.

    Args:
        model: a dequantizing RealNVP whose first bijector is its logit transform.
        examples, held_out: 8-bit images in [0, 1].
        space: ``"flow"`` (the codes ``z = f(v)`` of the dequantized pixels ``v``) or
            ``"pixel"`` (their logits ``logit(v)``, the flow's own input space).
        rank: the Gaussian's intrinsic dimension.

    Returns:
        ``bpd`` (bits per dimension of ``held_out``: the Gaussian's log-density plus the
        log-determinant of the map into ``space``), ``samples`` (``num_samples`` images
        in [0, 1]), ``as_digit`` (the course classifier's labels of the samples) and
        ``noise_floor`` (chosen among :data:`NOISE_FLOORS` by leave-one-out).
    """
    from course_utils.models.gaussians import LowRankGaussian, choose_noise_floor

    into_space = {"flow": model.forward, "pixel": model.bijectors[0].forward}[space]
    out_of_space = {"flow": model.inverse, "pixel": model.bijectors[0].inverse}[space]
    codes = np.asarray(into_space(model.dequantized(examples))[0])
    floor = choose_noise_floor(codes, rank=rank, candidates=NOISE_FLOORS)
    gaussian = LowRankGaussian(rank, floor).fit(codes)
    held_out_codes, log_det = (np.asarray(value) for value in
                               into_space(model.dequantized(held_out)))
    nll = -(gaussian.log_prob(held_out_codes) + log_det)
    draws = gaussian.sample(num_samples, seed=seed).reshape(num_samples, *codes.shape[1:])
    samples = np.clip(apply_in_batches(out_of_space, draws.astype(np.float32)), 0.0, 1.0)
    return {"bpd": float(metrics.bits_per_dim(nll.mean(), codes[0].size, data_scale=256)),
            "samples": samples, "noise_floor": floor,
            "as_digit": metrics.class_probabilities(samples).argmax(axis=1)}


def ring_gan_config(model: str = "gan", **options) -> dict[str, Any]:
    """A GAN on chapter 05's ring of 8 Gaussians (radius 2, std 0.02): 20,000 points, a
    16-D latent, two hidden layers of 128 in each network, the DCGAN's Adam (2e-4,
    beta_1 = 0.5), batch 256, 80 epochs (fast mode: 10,000 points, 20 epochs).

    Args:
        model: ``"gan"``, ``"wgan"`` or ``"wgan_gp"``.
        **options: the model's own options (e.g. ``generator_loss="minimax"``).
    """
    return {
        "model": model,
        "options": options,
        "num_modes": 8,
        "radius": 2.0,
        "std": 0.02,
        "num_points": config.pick(full=20_000, fast=10_000),
        "latent_dim": 16,
        "learning_rate": 2e-4,
        "batch_size": 256,
        "epochs": config.pick(full=80, fast=20),
        "num_samples": 2_000,
        "seed": 0,
    }


def ring_gan(run_config: dict[str, Any] | None = None) -> training.CachedRun:
    """Load or train a GAN on the ring of Gaussians; measure the modes its samples cover.

    The run keeps snapshots of 1,000 points from fixed latents after every epoch.

    Returns:
        The :class:`~course_utils.training.CachedRun`; ``metrics`` holds
        :func:`~course_utils.metrics.mode_coverage` of ``num_samples`` fresh samples
        (``modes_covered``, ``high_quality_fraction``, ``counts``).
    """
    from course_utils.models.gans import build_gan

    run_config = run_config or ring_gan_config()
    seed, epochs = run_config["seed"], run_config["epochs"]
    centres = data.ring_centres(run_config["num_modes"], radius=run_config["radius"])

    def training_data():
        points, _ = data.gaussian_ring(run_config["num_points"], num_modes=run_config["num_modes"],
                                       radius=run_config["radius"], std=run_config["std"],
                                       seed=seed)
        return data.make_dataset(points, batch_size=run_config["batch_size"], seed=seed,
                                 drop_remainder=True)

    def build():
        config.set_seed(seed)
        return build_gan(run_config["model"], "points", latent_dim=run_config["latent_dim"],
                         learning_rate=run_config["learning_rate"], seed=seed,
                         **run_config["options"])

    def evaluate(model):
        return metrics.mode_coverage(model.sample(run_config["num_samples"], seed=seed + 2),
                                     centres, std=run_config["std"])

    snapshots = training.SampleSnapshots(lambda model: model.sample(1000, seed=seed + 1),
                                         epochs=range(epochs + 1))
    return training.load_or_train(
        f"{run_config['model']}_ring", build, config_dict=run_config, train_data=training_data,
        epochs=epochs, callbacks=[snapshots], evaluate_fn=evaluate)


def penguin_tables(*, held_out_fraction: float = 1 / 3, seed: int = 0):
    """Chapter 07's Palmer penguins (:func:`~course_utils.data.load_penguins`, cleaned: 342
    rows), split at random into training rows and held-out rows, and the
    :class:`~course_utils.tabular.TableEncoder` fitted on the training rows.

    Returns:
        ``(train, held_out, encoder)``: 228 and 114 rows by default.
    """
    from course_utils import tabular  # pandas: imported only by the chapters that use tables

    train, held_out = tabular.split_rows(data.load_penguins(),
                                         held_out_fraction=held_out_fraction, seed=seed)
    encoder = tabular.TableEncoder.fit(train, categorical=data.PENGUIN_CATEGORICAL,
                                       continuous=data.PENGUIN_CONTINUOUS)
    return train, held_out, encoder


def tabular_gan_config(model: str = "wgan_gp") -> dict[str, Any]:
    """A GAN of chapter 07's penguin table: a 16-D latent, two hidden layers of 128 in each
    network (the generator ending in a softmax head per categorical column), batch 64, the
    optimizers and critic steps of :data:`~course_utils.models.gans.TRAINING_DEFAULTS`. An
    epoch is 50 passes over the 228 training rows (178 steps); 20 epochs. The largest
    marginal distance to the held-out rows is measured every 89 generator steps. (Fast
    mode: 2 epochs of 10 passes, measured every 10 steps.)

    Args:
        model: ``"wgan_gp"`` (seed 001's choice) or ``"gan"`` (the vanilla GAN it fails with).
    """
    return {
        "table": "penguins",
        "held_out_fraction": 1 / 3,
        "model": model,
        "latent_dim": 16,
        "hidden_units": [128, 128],
        "batch_size": 64,
        "passes_per_epoch": config.pick(full=50, fast=10),
        "epochs": config.pick(full=20, fast=2),
        "measure_every": config.pick(full=89, fast=10),
        "seed": 0,
    }


def tabular_gan(run_config: dict[str, Any] | None = None) -> training.CachedRun:
    """Load or train a GAN of the penguin table; compare its rows with the held-out ones.

    Returns:
        The :class:`~course_utils.training.CachedRun`. ``metrics`` holds
        :func:`~course_utils.tabular.compare_tables` of as many generated rows as there are
        training rows against the held-out rows, and ``closest_record_ratio``
        (:func:`~course_utils.tabular.closest_record_ratio`). ``arrays`` holds
        ``measured_max_marginal_distance`` over training.
    """
    from course_utils import tabular
    from course_utils.models.gans import (
        assemble_gan,
        build_mlp_discriminator,
        build_tabular_generator,
    )

    run_config = run_config or tabular_gan_config()
    seed, hidden_units = run_config["seed"], run_config["hidden_units"]
    train, held_out, encoder = penguin_tables(
        held_out_fraction=run_config["held_out_fraction"], seed=seed)

    def generated_rows(model):
        return encoder.decode(model.sample(len(train), seed=seed + 2))

    jit_compile = _gan_uses_xla(run_config["model"], {}, run_config["epochs"] * (
        len(train) * run_config["passes_per_epoch"] // run_config["batch_size"]))

    def build():
        config.set_seed(seed)
        generator = build_tabular_generator(run_config["latent_dim"], encoder.category_sizes,
                                            encoder.continuous_dim, hidden_units=hidden_units)
        critic = build_mlp_discriminator(encoder.width, hidden_units=hidden_units)
        return assemble_gan(run_config["model"], generator, critic,
                            latent_dim=run_config["latent_dim"], data_range=None, seed=seed,
                            name=f"penguin_{run_config['model']}", jit_compile=jit_compile)

    def training_data():
        rows = np.tile(encoder.encode(train), (run_config["passes_per_epoch"], 1))
        return data.make_dataset(rows, batch_size=run_config["batch_size"], seed=seed,
                                 drop_remainder=True)

    def evaluate(model):
        generated = generated_rows(model)
        return {**tabular.compare_tables(generated, held_out, encoder, seed=seed),
                "closest_record_ratio": tabular.closest_record_ratio(generated, held_out,
                                                                     train, encoder)}

    def max_marginal_distance(model):
        distances = tabular.marginal_distances(generated_rows(model), held_out, encoder)
        return {"max_marginal_distance": max(distances.values())}

    measurements = training.PeriodicMeasurements(max_marginal_distance,
                                                 every_steps=run_config["measure_every"])
    return training.load_or_train(
        f"{run_config['model']}_{run_config['table']}", build,
        config_dict={**run_config, "jit_compile": jit_compile},
        train_data=training_data, epochs=run_config["epochs"], callbacks=[measurements],
        evaluate_fn=evaluate)


def downstream_classifier_config(gan_config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Chapter 06's train-on-synthetic, test-on-real (TSTR): the course classifier's
    architecture (:func:`~course_utils.models.classifier.build_classifier`) trained on
    10,000 samples of the conditional GAN of ``gan_config`` (1,000 of each digit) or, with
    ``None``, on as many real training images (1,000 of each digit drawn at random), for 5
    epochs; fast mode: 2,000 images, 2 epochs.
    """
    if gan_config is not None and gan_config["num_classes"] is None:
        raise ValueError("train-on-synthetic needs a conditional GAN: its samples need labels; "
                         "set num_classes in the GAN's config")
    return {
        "gan": gan_config,
        "num_images": config.pick(full=10_000, fast=2_000),
        "epochs": config.pick(full=5, fast=2),
        "batch_size": 128,
        "seed": 0,
    }


def downstream_classifier(run_config: dict[str, Any]) -> training.CachedRun:
    """Load or train a digit classifier on generated or real images; test it on real ones.

    Args:
        run_config: a dict from :func:`downstream_classifier_config`.

    Returns:
        The :class:`~course_utils.training.CachedRun`; ``metrics`` holds ``test_accuracy``
        on the 10,000 real test images (fast mode: the first 2,000) and ``class_accuracy``,
        the accuracy on each digit's test images.
    """
    from course_utils.models.classifier import build_classifier

    num_classes, seed, count = 10, run_config["seed"], run_config["num_images"]
    test_images, test_labels = data.load_images("mnist", "test",
                                                limit=config.pick(full=None, fast=2_000))

    def training_images():
        if run_config["gan"] is None:
            images, labels = data.load_images("mnist", "train")
            chosen = data.balanced_subset(labels, per_class=count // num_classes,
                                          rng=np.random.default_rng(seed))
            return images[chosen], labels[chosen]
        labels = sample_labels(count, num_classes)
        images = gan(run_config["gan"]).model.sample(count, labels=labels, seed=seed + 3)
        return images.reshape(count, 28, 28, 1), labels.astype(np.int32)

    def evaluate(model):
        predicted = metrics.class_probabilities(test_images, classifier=model).argmax(axis=1)
        correct = predicted == test_labels
        return {"test_accuracy": float(correct.mean()),
                "class_accuracy": [float(correct[test_labels == c].mean())
                                   for c in range(num_classes)]}

    def build():
        config.set_seed(seed)
        return build_classifier(num_classes=num_classes)

    source = "real" if run_config["gan"] is None else (
        f"{run_config['gan']['model']}_{run_config['gan']['kind']}")
    return training.load_or_train(
        f"digit_classifier_on_{source}", build, config_dict=run_config,
        train_data=lambda: data.make_dataset(*training_images(),
                                             batch_size=run_config["batch_size"], seed=seed),
        epochs=run_config["epochs"], evaluate_fn=evaluate)
