"""Pure loss functions. Each is unit-tested against an independent computation.

Conventions: ``batch`` is the leading axis; per-example functions return shape ``(batch,)``
and leave the batch mean to the model; all logarithms are natural, so values are in nats.
"""

from __future__ import annotations

import math

from course_utils._tensorflow import keras, tf

ops = keras.ops

LOG_2PI = math.log(2.0 * math.pi)


def _sum_per_example(values):
    return ops.sum(ops.reshape(values, (ops.shape(values)[0], -1)), axis=1)


def mean_squared_error(targets, predictions):
    """Mean squared error per example, averaged over all non-batch axes.

    Args:
        targets, predictions: ``(batch, ...)`` float tensors of the same shape.

    Returns:
        ``(batch,)`` mean of ``(targets - predictions) ** 2`` over each example's entries.
    """
    squared = ops.square(ops.reshape(targets - predictions, (ops.shape(targets)[0], -1)))
    return ops.mean(squared, axis=1)


def binary_cross_entropy(targets, logits):
    """Bernoulli negative log-likelihood per example, in nats, summed over pixels.

    Uses the stable form ``max(l, 0) - l * t + log(1 + exp(-|l|))`` and accepts grey-level
    targets in [0, 1] (the keras-io convention, not a true likelihood for non-binary data).

    Args:
        targets: ``(batch, ...)`` in [0, 1].
        logits: ``(batch, ...)`` unbounded decoder outputs, same shape.

    Returns:
        ``(batch,)`` nats.
    """
    per_entry = (
        ops.maximum(logits, 0.0) - logits * targets + ops.log1p(ops.exp(-ops.abs(logits)))
    )
    return _sum_per_example(per_entry)


def gaussian_negative_log_likelihood(targets, means, log_variance):
    """Negative log-density of ``targets`` under ``N(means, exp(log_variance))``, per example.

    ``0.5 * sum((t - m)^2 / v + log v + log(2 pi))`` over all non-batch axes, in nats.

    Args:
        targets, means: ``(batch, ...)``.
        log_variance: a scalar or a tensor broadcastable to ``targets`` (a fixed observation
            noise, or one per pixel).

    Returns:
        ``(batch,)`` nats.
    """
    log_variance = ops.convert_to_tensor(log_variance, dtype="float32")
    per_entry = ops.square(targets - means) * ops.exp(-log_variance) + log_variance + LOG_2PI
    return 0.5 * _sum_per_example(per_entry)


def kl_divergence_standard_normal(z_mean, z_log_var):
    """KL( N(z_mean, exp(z_log_var)) || N(0, I) ) in closed form, per example.

    ``0.5 * sum(exp(log_var) + mean^2 - 1 - log_var)`` over the latent dimensions.

    Args:
        z_mean, z_log_var: ``(batch, latent_dim)``.

    Returns:
        ``(batch,)`` nats, non-negative.
    """
    return 0.5 * ops.sum(ops.exp(z_log_var) + ops.square(z_mean) - 1.0 - z_log_var, axis=1)


def standard_normal_log_prob(z):
    """Log-density of ``z`` under a standard normal, per example.

    Args:
        z: ``(batch, ...)``.

    Returns:
        ``(batch,)`` nats: ``-0.5 * sum(z^2 + log(2 pi))``.
    """
    return -0.5 * _sum_per_example(ops.square(z) + LOG_2PI)


def flow_negative_log_likelihood(z, log_det):
    """Exact negative log-likelihood of a normalizing flow with a standard normal base.

    By the change of variables, ``log p(x) = log N(z; 0, I) + log|det dz/dx|``.

    Args:
        z: ``(batch, ...)`` the flow's output for ``x``.
        log_det: ``(batch,)`` log-absolute-determinant of the Jacobian ``dz/dx``.

    Returns:
        ``(batch,)`` nats.
    """
    return -(standard_normal_log_prob(z) + log_det)


def discriminator_loss(real_logits, fake_logits):
    """The GAN discriminator's binary cross-entropy: real labelled 1, generated labelled 0.

    ``-mean(log D(x)) - mean(log(1 - D(G(z))))`` with ``D = sigmoid(logits)``, computed
    stably from logits.

    Args:
        real_logits: ``(batch, 1)`` or ``(batch,)`` discriminator logits on real data.
        fake_logits: same, on generated data.

    Returns:
        scalar, nats.
    """
    real = ops.mean(ops.softplus(-real_logits))  # -log sigmoid(l)
    fake = ops.mean(ops.softplus(fake_logits))  # -log(1 - sigmoid(l))
    return real + fake


def generator_loss(fake_logits, *, kind: str = "non_saturating"):
    """The generator's loss on discriminator logits of generated data.

    Args:
        fake_logits: ``(batch, 1)`` or ``(batch,)``.
        kind: ``"non_saturating"`` (``-mean(log D(G(z)))``, strong gradients early on) or
            ``"minimax"`` (``mean(log(1 - D(G(z))))``, the original game's value, which
            saturates when the discriminator wins).

    Returns:
        scalar, nats.
    """
    if kind == "non_saturating":
        return ops.mean(ops.softplus(-fake_logits))
    if kind == "minimax":
        return -ops.mean(ops.softplus(fake_logits))
    raise ValueError(f"kind must be 'non_saturating' or 'minimax', got {kind!r}")


def wasserstein_critic_loss(real_scores, fake_scores):
    """The WGAN critic's loss ``mean(f(G(z))) - mean(f(x))``: minimizing it maximizes the
    critic's estimate of the Wasserstein-1 distance, ``mean(f(x)) - mean(f(G(z)))``.

    Args:
        real_scores: ``(batch, 1)`` or ``(batch,)`` unbounded critic outputs on real data.
        fake_scores: same, on generated data.

    Returns:
        scalar, in the critic's units (not nats).
    """
    return ops.mean(fake_scores) - ops.mean(real_scores)


def wasserstein_generator_loss(fake_scores):
    """The WGAN generator's loss ``-mean(f(G(z)))``: raise the critic's scores of fakes."""
    return -ops.mean(fake_scores)


def gradient_penalty(critic, real, fake, *, seed):
    """WGAN-GP's penalty ``mean((||grad_x f(x_hat)||_2 - 1)^2)`` (Gulrajani et al., 2017).

    ``x_hat = u * x + (1 - u) * G(z)`` with one ``u ~ Uniform(0, 1)`` per example: points on
    the segments between real and generated examples, where the optimal critic has gradient
    norm 1.

    Args:
        critic: a callable from a batch shaped like ``real`` to ``(batch, 1)`` scores (close
            over anything else it needs, e.g. the labels of a conditional critic).
        real, fake: ``(batch, ...)`` real and generated examples.
        seed: a ``keras.random.SeedGenerator`` or an int, for ``u``.

    Returns:
        scalar penalty (weight it, e.g. by 10, in the critic's loss).
    """
    real = ops.convert_to_tensor(real)
    fake = ops.cast(fake, real.dtype)
    weight_shape = (ops.shape(real)[0],) + (1,) * (len(real.shape) - 1)
    u = keras.random.uniform(weight_shape, seed=seed, dtype=real.dtype)
    interpolated = u * real + (1.0 - u) * fake
    with tf.GradientTape() as tape:
        tape.watch(interpolated)
        scores = critic(interpolated)
    gradients = tape.gradient(scores, interpolated)
    norms = ops.sqrt(_sum_per_example(ops.square(gradients)) + 1e-12)
    return ops.mean(ops.square(norms - 1.0))


def categorical_cross_entropy(codes, logits):
    """``-log Q(c | x)`` for one-hot (or probability) codes under ``softmax(logits)``, per
    example: ``-sum(c * log_softmax(logits))``.

    Args:
        codes: ``(batch, num_categories)`` one-hot codes (rows summing to 1).
        logits: ``(batch, num_categories)`` unnormalized log-probabilities.

    Returns:
        ``(batch,)`` nats.
    """
    return -ops.sum(codes * ops.log_softmax(logits, axis=-1), axis=-1)


def mutual_information_bound(code_entropy, code_nll):
    """InfoGAN's variational lower bound on ``I(c; G(z, c))`` (Chen et al., 2016):
    ``H(c) - E[-log Q(c | G(z, c))]``, in nats.

    It holds for any recognition network ``Q`` (the gap is ``E[KL(p(c|x) || Q(c|x))]``), and
    reaches ``H(c)`` when ``Q`` recovers every code exactly.

    Args:
        code_entropy: ``H(c)`` of the prior over codes, e.g. ``log 10`` for a uniform
            10-way category or ``d * log 2`` for ``d`` codes uniform on [-1, 1].
        code_nll: ``(batch,)`` ``-log Q(c | x)`` of the codes that made each ``x``
            (:func:`categorical_cross_entropy`, :func:`gaussian_negative_log_likelihood`).

    Returns:
        scalar nats.
    """
    return code_entropy - ops.mean(code_nll)


def paired_mutual_information(logits_a, logits_b):
    """The mutual information between the categories two classifier heads assign to the
    two members of each pair (e.g. an image and a moved copy of it), estimated from a batch
    (invariant information clustering, Ji et al., 2019).

    ``P = mean_i softmax(a_i) softmax(b_i)^T``, symmetrized, is the joint distribution of
    the two categories; the result is ``sum P log(P / (P_row P_col))``, in nats. It is
    largest, ``log K``, when each pair gets one and the same category with certainty and
    the ``K`` categories are used equally often.

    Args:
        logits_a, logits_b: ``(batch, K)`` logits of the two members of each pair.

    Returns:
        scalar nats.
    """
    joint = ops.matmul(ops.transpose(ops.softmax(logits_a, axis=-1)),
                       ops.softmax(logits_b, axis=-1)) / ops.cast(ops.shape(logits_a)[0],
                                                                   logits_a.dtype)
    joint = ops.maximum((joint + ops.transpose(joint)) / 2.0, 1e-8)
    rows = ops.sum(joint, axis=1, keepdims=True)
    columns = ops.sum(joint, axis=0, keepdims=True)
    return ops.sum(joint * (ops.log(joint) - ops.log(rows) - ops.log(columns)))
