"""Measures of the course: the course classifier and what is built on it, kNN accuracy,
and unit conversions for likelihoods (nats, bits per dimension).

Classifier-FID (COURSE.md §9) is the Fréchet distance between Gaussians fitted to the course
classifier's penultimate-layer features (``"features"``, 128-D) of generated samples and of
real test images of the classes the model was trained on. It is not comparable with
Inception-FID figures from papers; it is comparable across the chapters of this course.
"""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.exceptions import ConvergenceWarning
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier

from course_utils import config, data, losses, training
from course_utils._tensorflow import forgetting_custom_gradients, keras
from course_utils.batching import INFERENCE_BATCH, apply_in_batches
from course_utils.geometry import IMAGE_SHAPE, NUM_PIXELS
from course_utils.models.classifier import FEATURES_LAYER
from course_utils.models.vaes import reparameterize


def _as_images(images) -> np.ndarray:
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 2 and images.shape[1] == NUM_PIXELS:
        images = images.reshape(-1, *IMAGE_SHAPE)
    elif images.ndim == 3:
        images = images[..., np.newaxis]
    if images.shape[1:] != IMAGE_SHAPE:
        raise ValueError(f"expected 28x28 images, (n, 784) or (n, 28, 28[, 1]); got {images.shape}")
    return images


def feature_model(classifier: keras.Model) -> keras.Model:
    """``classifier`` with two outputs: its logits ``(n, 10)`` and its penultimate-layer
    features ``(n, 128)`` (the layer named :data:`FEATURES_LAYER`)."""
    return keras.Model(classifier.input,
                       [classifier.output, classifier.get_layer(FEATURES_LAYER).output])


@functools.lru_cache(maxsize=2)
def _course_feature_model(mode: str, cache_dir: str) -> keras.Model:
    # the recipes import this module to evaluate their models, hence the late import
    from course_utils.recipes.classifiers import course_classifier

    return feature_model(course_classifier())


def _classifier_outputs(images, classifier: keras.Model | None) -> tuple[np.ndarray, np.ndarray]:
    """Run the classifier (the course classifier when None) eagerly in batches; return
    ``(logits (n, 10), features (n, 128))``.

    Eager calls avoid compiling a ``predict`` function per model (memory and start-up time).
    The course classifier's two-output model is made once per mode and cache directory;
    another classifier's is made for the call and then let go.
    """
    model = (_course_feature_model(config.mode(), str(config.cache_dir()))
             if classifier is None else feature_model(classifier))
    outputs = apply_in_batches(model, _as_images(images))
    training.release_memory()  # many eager batches leave freed heap pages behind
    return outputs


def class_probabilities(images, *, classifier: keras.Model | None = None) -> np.ndarray:
    """Return ``(n, 10)`` class probabilities of images in [0, 1] (any 28x28 layout)."""
    return _softmax(_classifier_outputs(images, classifier)[0])


def _softmax(logits: np.ndarray) -> np.ndarray:
    exponentials = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exponentials / exponentials.sum(axis=1, keepdims=True)


def classifier_features(images, *, classifier: keras.Model | None = None) -> np.ndarray:
    """Return ``(n, 128)`` penultimate-layer features of images in [0, 1]."""
    return _classifier_outputs(images, classifier)[1]


def _psd_square_root(matrix: np.ndarray) -> np.ndarray:
    """Symmetric square root of a positive semi-definite matrix (eigenvalues clipped at 0)."""
    eigenvalues, eigenvectors = np.linalg.eigh(matrix)
    return (eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ eigenvectors.T


def frechet_distance(mean_a, cov_a, mean_b, cov_b) -> float:
    """Fréchet distance between two Gaussians:
    ``|m_a - m_b|^2 + tr(C_a) + tr(C_b) - 2 tr((C_a C_b)^{1/2})``.

    The last trace is computed as ``tr((C_a^{1/2} C_b C_a^{1/2})^{1/2})`` (the same value, since
    the two matrices are similar), from symmetric eigendecompositions: stable when a
    covariance is singular, as it is when some features never fire.

    Args:
        mean_a, mean_b: ``(d,)`` means.
        cov_a, cov_b: ``(d, d)`` covariance matrices.
    """
    mean_a, mean_b = np.asarray(mean_a, np.float64), np.asarray(mean_b, np.float64)
    cov_a, cov_b = np.asarray(cov_a, np.float64), np.asarray(cov_b, np.float64)
    if mean_a.shape != mean_b.shape or cov_a.shape != cov_b.shape:
        raise ValueError("the two Gaussians must have the same dimension")
    root_a = _psd_square_root(cov_a)
    middle = root_a @ cov_b @ root_a
    trace_root = np.sum(np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)))
    distance = np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_root
    return float(max(distance, 0.0))


def classifier_fid(samples, reference_images, *, classifier: keras.Model | None = None) -> float:
    """Classifier-FID between generated samples and real reference images (both in [0, 1]).

    Args:
        samples: ``(n, 28, 28, 1)`` (or flat) generated images; use 10,000 in full mode.
        reference_images: real test images of the classes the model was trained on.
    """
    return _features_fid(classifier_features(samples, classifier=classifier),
                         classifier_features(reference_images, classifier=classifier))


def _features_fid(features_a: np.ndarray, features_b: np.ndarray) -> float:
    if len(features_a) < 2 or len(features_b) < 2:
        raise ValueError("classifier_fid needs at least two samples and two reference images")
    return frechet_distance(features_a.mean(0), np.cov(features_a, rowvar=False),
                            features_b.mean(0), np.cov(features_b, rowvar=False))


def classifier_score(samples, *, classifier: keras.Model | None = None) -> float:
    """The course's Inception-score analogue: ``exp(E_x KL(p(y|x) || p(y)))``.

    Between 1 (every sample looks alike or is ambiguous) and 10 (confident and all ten
    classes equally present).
    """
    return score_of_probabilities(class_probabilities(samples, classifier=classifier))


def score_of_probabilities(probabilities: np.ndarray) -> float:
    """:func:`classifier_score` of class probabilities ``(n, classes)`` already computed."""
    probabilities = np.clip(probabilities, 1e-12, 1.0)
    marginal = probabilities.mean(axis=0, keepdims=True)
    kl = np.sum(probabilities * (np.log(probabilities) - np.log(marginal)), axis=1)
    return float(np.exp(kl.mean()))


def conditional_accuracy(samples, requested_labels, *,
                         classifier: keras.Model | None = None) -> float:
    """Fraction of generated samples the course classifier reads as the requested label."""
    return _accuracy(class_probabilities(samples, classifier=classifier), requested_labels)


def _accuracy(probabilities: np.ndarray, requested_labels) -> float:
    requested_labels = np.asarray(requested_labels)
    if len(probabilities) != len(requested_labels):
        raise ValueError(f"{len(probabilities)} samples but {len(requested_labels)} labels")
    return float(np.mean(probabilities.argmax(axis=1) == requested_labels))


def sample_quality(samples, reference_images, *, requested_labels=None,
                   classifier: keras.Model | None = None) -> dict:
    """The course's measures of generated images, from one classifier pass over each set.

    Args:
        samples: ``(n, 28, 28[, 1])`` or ``(n, 784)`` generated images in [0, 1].
        reference_images: real test images, as for :func:`classifier_fid`.
        requested_labels: ``(n,)`` the labels a conditional model was asked for.

    Returns:
        ``{"fid", "classifier_score", "class_fractions"}`` (the fraction of samples the
        classifier reads as each class, ``(10,)``) and, given ``requested_labels``,
        ``"conditional_accuracy"``; each as :func:`classifier_fid`, :func:`classifier_score`
        and :func:`conditional_accuracy` compute it.
    """
    logits, features = _classifier_outputs(samples, classifier)
    probabilities = _softmax(logits)
    results = {
        "fid": _features_fid(features, classifier_features(reference_images,
                                                           classifier=classifier)),
        "classifier_score": score_of_probabilities(probabilities),
        "class_fractions": np.bincount(probabilities.argmax(axis=1),
                                       minlength=logits.shape[1]) / len(logits),
    }
    if requested_labels is not None:
        results["conditional_accuracy"] = _accuracy(probabilities, requested_labels)
    return results


def best_matching(predicted, labels, *, num_classes: int = 10) -> tuple[float, np.ndarray]:
    """Accuracy of an unsupervised clustering under its best one-to-one matching to labels.

    The clusters (e.g. an InfoGAN's categorical codes) carry no names; the Hungarian
    algorithm (``scipy.optimize.linear_sum_assignment``) finds the assignment of clusters to
    labels that agrees on the most examples.

    Args:
        predicted: ``(n,)`` integer cluster indices in ``0..num_classes-1``.
        labels: ``(n,)`` integer labels in the same range.

    Returns:
        ``(accuracy, mapping)``: the fraction of examples whose cluster is matched to their
        label, and ``mapping (num_classes,)`` with ``mapping[cluster] = label``.
    """
    predicted, labels = np.asarray(predicted), np.asarray(labels)
    if predicted.shape != labels.shape or predicted.ndim != 1:
        raise ValueError(f"predicted and labels must be (n,) arrays of the same length, got "
                         f"{predicted.shape} and {labels.shape}")
    for name, values in (("predicted", predicted), ("labels", labels)):
        if len(values) and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(f"{name} must lie in 0..{num_classes - 1}")
    counts = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(counts, (predicted, labels), 1)
    clusters, matched_labels = linear_sum_assignment(counts, maximize=True)
    mapping = np.empty(num_classes, np.int64)
    mapping[clusters] = matched_labels
    return float(counts[clusters, matched_labels].sum() / max(len(labels), 1)), mapping


def code_purity(samples, codes, *, classifier: keras.Model | None = None,
                num_classes: int = 10) -> tuple[float, np.ndarray]:
    """How well a generator's categorical code names the digit it draws: the course
    classifier reads each sample, and :func:`best_matching` pairs codes with digits.

    Args:
        samples: ``(n, 28, 28[, 1])`` generated images in [0, 1].
        codes: ``(n,)`` the categorical code each sample was generated with.

    Returns:
        ``(purity, mapping)``: the fraction of samples read as their code's matched digit,
        and ``mapping[code] = digit``.
    """
    read = class_probabilities(samples, classifier=classifier).argmax(axis=1)
    return best_matching(codes, read, num_classes=num_classes)


def fit_waves(series, kinds, *, frequency_step: float = 0.02, offset_step: float = 0.01) -> dict:
    """Estimate each wave's frequency, amplitude and phase offset: the best least-squares
    fit of :func:`~course_utils.data.wave_shapes` of its kind, over a grid of frequencies
    (slightly wider than :data:`~course_utils.data.WAVE_FREQUENCIES`) and offsets, with
    the amplitude solved exactly for each (it enters linearly) and kept positive.

    Args:
        series: ``(n, length)`` or ``(n, length, 1)`` waves, real or generated.
        kinds: ``(n,)`` the kind each is meant to be (0 sine, 1 sawtooth).

    Returns:
        ``{"frequency", "amplitude", "offset", "residual"}``, each ``(n,)``; ``residual`` is
        the root-mean-square distance of each wave from its fit (0 for an exact wave on the
        grid).
    """
    series = np.asarray(series, np.float64).reshape(len(series), -1)
    kinds = np.asarray(kinds)
    low, high = data.WAVE_FREQUENCIES
    frequencies = np.arange(low - 0.5, high + 0.5 + 1e-9, frequency_step)
    offsets = np.arange(0.0, 1.0, offset_step)
    grid_f, grid_o = (values.ravel() for values in np.meshgrid(frequencies, offsets))
    fit = {name: np.zeros(len(series)) for name in ("frequency", "amplitude", "offset",
                                                    "residual")}
    for kind in np.unique(kinds):
        rows = np.flatnonzero(kinds == kind)
        templates = data.wave_shapes(np.full(len(grid_f), kind), grid_f, np.ones(len(grid_f)),
                                     grid_o, length=series.shape[1])
        norms = np.sum(templates ** 2, axis=1)
        projections = series[rows] @ templates.T  # (rows, templates)
        best = np.argmax(np.where(projections > 0, projections ** 2 / norms, -1.0), axis=1)
        amplitude = np.maximum(projections[np.arange(len(rows)), best] / norms[best], 0.0)
        fitted = amplitude[:, None] * templates[best]
        fit["frequency"][rows], fit["offset"][rows] = grid_f[best], grid_o[best]
        fit["amplitude"][rows] = amplitude
        fit["residual"][rows] = np.sqrt(np.mean((series[rows] - fitted) ** 2, axis=1))
    return fit


#: The classifiers of :func:`transfer_accuracy`.
TRANSFER_CLASSIFIERS = ("conv", "dense")


def transfer_accuracy(train_series, train_labels, test_series, test_labels, *,
                      classifier: str = "conv", seed: int = 0) -> float:
    """Test accuracy of a small classifier of series fitted on one set and tested on
    another. Fitted on generated series and tested on real ones, it is train-on-synthetic,
    test-on-real (TSTR, Esteban et al., 2017); fitted on real ones, the TRTR baseline.

    Args:
        train_series, test_series: ``(n, steps, 1)`` (or ``(n, steps)``) series.
        train_labels, test_labels: ``(n,)`` integer labels.
        classifier: ``"conv"``, two 1-D convolutions (16 filters of 5 steps, ReLU), a global
            max-pooling and a linear layer, trained 10 epochs with Adam: it finds a shape
            wherever in the series it is, so it needs no example of every phase; or
            ``"dense"``, a scikit-learn MLP with one hidden layer of 64 on the raw values,
            which does; it takes at most 1,000 epochs of Adam, and one that has not
            converged by then (on series with no consistent pattern) is scored as it is.
    """
    if classifier not in TRANSFER_CLASSIFIERS:
        raise ValueError(f"classifier must be one of {TRANSFER_CLASSIFIERS}, got {classifier!r}")
    train_series, test_series = (np.asarray(x, np.float32).reshape(len(x), -1, 1)
                                 for x in (train_series, test_series))
    train_labels, test_labels = np.asarray(train_labels), np.asarray(test_labels)
    num_classes = int(max(train_labels.max(), test_labels.max())) + 1
    if classifier == "dense":
        model = MLPClassifier((64,), max_iter=1000, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(train_series[..., 0], train_labels)
        return float(model.score(test_series[..., 0], test_labels))
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input(train_series.shape[1:]),
        keras.layers.Conv1D(16, 5, activation="relu"),
        keras.layers.Conv1D(16, 5, activation="relu"),
        keras.layers.GlobalMaxPooling1D(),
        keras.layers.Dense(num_classes),
    ])
    model.compile(keras.optimizers.Adam(3e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    with forgetting_custom_gradients():  # so that the model is freed when it goes
        model.fit(data.make_dataset(train_series, train_labels, batch_size=64, seed=seed),
                  epochs=10, verbose=0, shuffle=False)  # the data set shuffles itself
    predicted = apply_in_batches(model, test_series).argmax(axis=1)
    training.release_memory()
    return float(np.mean(predicted == test_labels))


def knn_accuracy(train_codes, train_labels, test_codes, test_labels, *, k: int = 5) -> float:
    """Test accuracy of a k-nearest-neighbour classifier fitted on the training codes."""
    classifier = KNeighborsClassifier(n_neighbors=k).fit(train_codes, train_labels)
    return float(classifier.score(test_codes, test_labels))


def latent_recovery(latents, recovered) -> float:
    """How well an encoder inverts a generator: the correlation between each coordinate of
    ``z`` and of ``E(G(z))``, averaged over the ``latent_dim`` coordinates (1: exact
    inversion up to scale; about 0 for an encoder that ignores its input).

    Args:
        latents, recovered: ``(n, latent_dim)``.
    """
    latents, recovered = np.asarray(latents, np.float64), np.asarray(recovered, np.float64)
    if latents.shape != recovered.shape or latents.ndim != 2 or len(latents) < 2:
        raise ValueError(f"need two (n >= 2, latent_dim) arrays of one shape, got "
                         f"{latents.shape} and {recovered.shape}")
    return float(np.mean([np.corrcoef(a, b)[0, 1]
                          for a, b in zip(latents.T, recovered.T, strict=True)]))


def negative_elbo(images, reconstruction_logits, z_mean, z_log_var) -> np.ndarray:
    """Per-image negative ELBO in nats under a Bernoulli likelihood (one-sample estimate).

    ``-ELBO(x) = -E_q[log p(x|z)] + KL(q(z|x) || p(z))``, with the expectation estimated by the
    decoder's logits for one sampled ``z`` and the KL in closed form. On grey-level images in
    [0, 1] this is the keras-io convention, not a true NLL (see COURSE.md §9).

    Args:
        images: ``(batch, ...)`` in [0, 1].
        reconstruction_logits: ``(batch, ...)`` decoder logits for a ``z ~ q(z|x)``.
        z_mean, z_log_var: ``(batch, latent_dim)``, the encoder's ``q(z|x)``.

    Returns:
        ``(batch,)`` nats; average it for a data set's figure.
    """
    reconstruction = losses.binary_cross_entropy(images, reconstruction_logits)
    kl = losses.kl_divergence_standard_normal(z_mean, z_log_var)
    return keras.ops.convert_to_numpy(reconstruction + kl).astype(np.float64)


def vae_negative_elbo(model, images, *, batch_size: int = 250, seed: int = 0) -> np.ndarray:
    """Per-image negative ELBO of a VAE, in nats, under the model's own likelihood.

    One reparameterized ``z ~ q(z|x)`` per image for the reconstruction term, the KL in closed
    form (for a Bernoulli VAE this is :func:`negative_elbo`). Averaged over a test set, the
    single-sample noise is negligible.

    Args:
        model: a :class:`~course_utils.models.vaes.VAE`.
        images: ``(n, ...)`` in the model's input layout, in [0, 1].
        batch_size: images per call (a convolutional VAE's activations for 1,000 images take
            tens of MB per layer).
        seed: seeds the draws of ``z``.

    Returns:
        ``(n,)`` float64 nats.
    """
    generator = keras.random.SeedGenerator(seed)

    def batch_negative_elbo(batch):
        z_mean, z_log_var = model.encoder(batch, training=False)
        z = reparameterize(z_mean, z_log_var, seed=generator)
        nll = model.reconstruction_nll(batch, model.decoder(z, training=False))
        return nll + losses.kl_divergence_standard_normal(z_mean, z_log_var)

    return _per_image_in_batches(batch_negative_elbo, images, batch_size)


def _per_image_in_batches(function, images, batch_size: int) -> np.ndarray:
    """Concatenate ``function(batch)`` (a ``(batch,)`` tensor) over ``images`` in batches, as
    float64 NumPy."""
    images = np.asarray(images, dtype=np.float32)
    values = np.concatenate([
        keras.ops.convert_to_numpy(function(images[start:start + batch_size])).astype(np.float64)
        for start in range(0, len(images), batch_size)])
    training.release_memory()  # many eager batches leave freed heap pages behind
    return values


def importance_weighted_nll(model, images, *, num_samples: int = 100, batch_size: int = 50,
                            seed: int = 0) -> np.ndarray:
    """Importance-weighted estimate of ``-log p(x)`` per image, in nats (Burda et al., 2016).

    ``log p(x) ≈ log (1/k) Σ_i p(x|z_i) p(z_i) / q(z_i|x)`` with ``z_i ~ q(z|x)``: a lower bound
    on ``log p(x)`` that tightens as ``k = num_samples`` grows (``k = 1`` is the ELBO), so the
    returned NLL is an upper bound that falls towards the true NLL.

    Args:
        model: a :class:`~course_utils.models.vaes.VAE` (``encoder``, ``decoder`` and
            ``reconstruction_nll``).
        images: ``(n, ...)`` in the model's input layout.
        num_samples: importance samples per image.
        batch_size: images per call; memory grows with ``batch_size * num_samples``.
        seed: seeds the samples.

    Returns:
        ``(n,)`` float64 nats.
    """
    if num_samples < 1 or batch_size < 1:
        raise ValueError(f"need num_samples >= 1 and batch_size >= 1, got {num_samples}, "
                         f"{batch_size}")
    ops = keras.ops
    generator = keras.random.SeedGenerator(seed)

    def batch_estimate(batch):
        z_mean, z_log_var = model.encoder(batch, training=False)
        repeated = [ops.repeat(t, num_samples, axis=0) for t in (batch, z_mean, z_log_var)]
        z = reparameterize(repeated[1], repeated[2], seed=generator)
        log_weights = (
            -model.reconstruction_nll(repeated[0], model.decoder(z, training=False))
            + losses.standard_normal_log_prob(z)
            + losses.gaussian_negative_log_likelihood(z, repeated[1], repeated[2])  # -log q
        )
        log_weights = ops.reshape(log_weights, (len(batch), num_samples))
        return np.log(num_samples) - ops.logsumexp(log_weights, axis=1)  # -log p(x)

    return _per_image_in_batches(batch_estimate, images, batch_size)


def bits_per_dim(nll_nats, num_dims: int, *, data_scale: float = 1.0):
    """Convert a negative log-likelihood per example (nats) to bits per dimension.

    Args:
        nll_nats: NLL of each example (scalar or array) under the model's own data units.
        num_dims: dimensions per example (784 for MNIST).
        data_scale: how many reported units one model unit spans. A model of ``x / 256``
            (pixels 0..255 dequantized and divided by 256) reports bits/dim on the 0..256
            scale with ``data_scale=256``: each dimension's density is divided by 256.

    Returns:
        ``(nll + num_dims * log(data_scale)) / (num_dims * log 2)``.
    """
    if num_dims < 1 or data_scale <= 0:
        raise ValueError(f"need num_dims >= 1 and data_scale > 0, got {num_dims}, {data_scale}")
    nll = np.asarray(nll_nats, dtype=np.float64)
    return (nll + num_dims * math.log(data_scale)) / (num_dims * math.log(2.0))


def flow_bits_per_dim(model, images, *, batch_size: int = INFERENCE_BATCH) -> float:
    """Mean bits per dimension of 8-bit ``images`` (in [0, 1]) under a dequantizing flow:
    its NLL of uniformly dequantized pixels, on the scale of the 256 levels."""
    nll = apply_in_batches(model.negative_log_likelihood, images, batch_size=batch_size)
    return float(bits_per_dim(nll.mean(), int(np.prod(images.shape[1:])), data_scale=256))


def mode_coverage(samples, centres, *, std: float, min_fraction: float = 0.01) -> dict:
    """How well 2-D samples cover the modes of a Gaussian mixture (e.g. ``data.gaussian_ring``).

    A sample is *high quality* when it lies within ``3 * std`` of its nearest centre; a mode is
    *covered* when at least ``min_fraction`` of all samples are high-quality samples of it.

    Args:
        samples: ``(n, 2)`` generated points.
        centres: ``(num_modes, 2)`` the mixture's means.
        std: the components' standard deviation.

    Returns:
        ``{"modes_covered": int, "high_quality_fraction": float, "counts": (num_modes,) int}``.
    """
    samples, centres = np.asarray(samples, np.float64), np.asarray(centres, np.float64)
    if samples.ndim != 2 or samples.shape[1] != centres.shape[1] or len(samples) == 0:
        raise ValueError(f"samples must be (n, {centres.shape[1]}) with n > 0, "
                         f"got {samples.shape}")
    distances = np.linalg.norm(samples[:, None, :] - centres[None, :, :], axis=2)
    nearest = distances.argmin(axis=1)
    close = distances[np.arange(len(samples)), nearest] <= 3 * std
    counts = np.bincount(nearest[close], minlength=len(centres))
    return {"modes_covered": int(np.sum(counts >= min_fraction * len(samples))),
            "high_quality_fraction": float(close.mean()), "counts": counts}
