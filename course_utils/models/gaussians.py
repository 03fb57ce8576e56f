"""A Gaussian of low intrinsic dimension, for learning a density from a handful of examples
(chapter 11's transfer to an unseen digit; the ``"Multinormal"`` of *Transfer learning with
RealNVP*, with an intrinsic dimension and a diagonal covariance).

With ``n`` examples in ``D >> n`` dimensions, a full covariance is singular: the examples
span only an ``(n - 1)``-dimensional affine subspace. The model keeps that subspace's
principal directions and adds diagonal noise with a floor:

    x ~ N(mu, W W^T + diag(psi)),   W: (D, rank),   psi_d >= noise_floor,

the covariance of probabilistic PCA (Tipping & Bishop, 1999) with a diagonal instead of an
isotropic noise term. Its log-density is computed in ``O(D rank^2)`` with the Woodbury
identity and the matrix determinant lemma, never forming the ``D x D`` matrix.
"""

from __future__ import annotations

import math

import numpy as np


class LowRankGaussian:
    """``N(mean, W W^T + diag(noise_variance))`` fitted to a few examples.

    Args:
        rank: the intrinsic dimension (at most ``n - 1`` for ``n`` examples).
        noise_floor: the smallest variance of the diagonal term, in the data's units
            squared.

    Attributes (after :meth:`fit`): ``mean`` ``(D,)``, ``factors`` ``W`` ``(D, rank)``,
    ``noise_variance`` ``psi`` ``(D,)``.
    """

    def __init__(self, rank: int, noise_floor: float):
        if rank < 1 or noise_floor <= 0:
            raise ValueError(f"need rank >= 1 and noise_floor > 0, got {rank}, {noise_floor}")
        self.rank, self.noise_floor = int(rank), float(noise_floor)

    def fit(self, examples) -> LowRankGaussian:
        """Fit to ``(n, ...)`` examples (flattened to ``(n, D)``).

        ``W`` holds the top ``rank`` principal directions of the examples scaled by the
        square roots of their variances (maximum likelihood, divided by ``n``); ``psi_d``
        is the variance of dimension ``d`` those directions leave unexplained, raised to
        ``noise_floor``.
        """
        x = np.asarray(examples, np.float64).reshape(len(examples), -1)
        if len(x) < self.rank + 1:
            raise ValueError(f"rank {self.rank} needs at least {self.rank + 1} examples, "
                             f"got {len(x)}")
        self.mean = x.mean(axis=0)
        centred = x - self.mean
        _, singular_values, directions = np.linalg.svd(centred, full_matrices=False)
        variances = singular_values[:self.rank] ** 2 / len(x)
        self.factors = directions[:self.rank].T * np.sqrt(variances)
        unexplained = centred.var(axis=0) - np.sum(self.factors ** 2, axis=1)
        self.noise_variance = np.maximum(unexplained, self.noise_floor)
        return self

    def log_prob(self, x) -> np.ndarray:
        """``(n,)`` log-densities in nats of ``(n, ...)`` points (flattened to ``(n, D)``)."""
        x = np.asarray(x, np.float64).reshape(len(x), -1)
        centred = x - self.mean
        scaled_factors = self.factors / self.noise_variance[:, None]       # Psi^-1 W
        core = np.eye(self.rank) + self.factors.T @ scaled_factors        # I + W^T Psi^-1 W
        projected = centred @ scaled_factors                              # (n, rank)
        quadratic = (np.sum(centred ** 2 / self.noise_variance, axis=1)
                     - np.sum(projected * np.linalg.solve(core, projected.T).T, axis=1))
        log_det = np.sum(np.log(self.noise_variance)) + np.linalg.slogdet(core)[1]
        return -0.5 * (quadratic + log_det + x.shape[1] * math.log(2 * math.pi))

    def sample(self, num_samples: int, *, seed: int = 0) -> np.ndarray:
        """``(num_samples, D)`` draws: ``mean + W e1 + sqrt(psi) * e2``."""
        rng = np.random.default_rng(seed)
        low_rank = rng.standard_normal((num_samples, self.rank)) @ self.factors.T
        noise = rng.standard_normal((num_samples, len(self.mean))) * np.sqrt(self.noise_variance)
        return self.mean + low_rank + noise


def choose_noise_floor(examples, *, rank: int, candidates) -> float:
    """The noise floor among ``candidates`` under which :class:`LowRankGaussian` best
    predicts each example from the others (the mean leave-one-out log-density).

    With ``n`` examples each held-out fit has ``n - 1``, so its rank is at most ``n - 2``.
    The held-out example's distance from the others' subspace is exactly what the floor
    must account for, which is why it is chosen this way rather than fitted.
    """
    x = np.asarray(examples, np.float64).reshape(len(examples), -1)
    if len(x) < 3:
        raise ValueError(f"choosing a floor by leave-one-out needs 3 examples, got {len(x)}")
    held_out_rank = min(rank, len(x) - 2)

    def held_out_log_density(floor: float) -> float:
        return float(np.mean([
            LowRankGaussian(held_out_rank, floor).fit(np.delete(x, i, axis=0))
            .log_prob(x[i:i + 1])[0] for i in range(len(x))]))

    return float(max(candidates, key=held_out_log_density))
