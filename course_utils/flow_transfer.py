"""Chapter 11's transfer experiment: learning a new digit from a few examples with a
low-rank Gaussian, fitted in a trained flow's latent space or in its pixel (logit) space."""

from __future__ import annotations

from typing import Any

import numpy as np

from course_utils import metrics
from course_utils.batching import apply_in_batches
from course_utils.models.gaussians import LowRankGaussian, choose_noise_floor

#: Chapter 11's candidate noise floors for the few-shot Gaussians (variances, in the units
#: of the space they are fitted in).
NOISE_FLOORS = tuple(np.logspace(-4, 1, 21))


def few_shot_transfer(model, examples, held_out, *, space: str, rank: int,
                      num_samples: int, seed: int = 0) -> dict[str, Any]:
    """The transfer of *Transfer learning with RealNVP*: learn a new digit from a few
    ``examples`` with a :class:`~course_utils.models.gaussians.LowRankGaussian` fitted in
    ``space``, and measure it on ``held_out`` images of that digit.

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
    into_space = {"flow": model.forward, "pixel": model.bijectors[0].forward}[space]
    out_of_space = {"flow": model.inverse, "pixel": model.bijectors[0].inverse}[space]
    codes = np.asarray(into_space(model.dequantized(examples))[0])
    floor = choose_noise_floor(codes, rank=rank, candidates=NOISE_FLOORS)
    gaussian = LowRankGaussian(rank, floor).fit(codes)
    held_out_codes, log_det = apply_in_batches(into_space, model.dequantized(held_out))
    nll = -(gaussian.log_prob(held_out_codes) + log_det)
    draws = gaussian.sample(num_samples, seed=seed).reshape(num_samples, *codes.shape[1:])
    samples = np.clip(apply_in_batches(out_of_space, draws.astype(np.float32)), 0.0, 1.0)
    return {"bpd": float(metrics.bits_per_dim(nll.mean(), codes[0].size, data_scale=256)),
            "samples": samples, "noise_floor": floor,
            "as_digit": metrics.class_probabilities(samples).argmax(axis=1)}
