"""Normalizing flows: masks, a coupling layer's inverse and log-determinant against the
autodiff Jacobian, the logit transform, the whole flow, bits per dimension with the
dequantization and logit terms, and the low-rank Gaussian's density."""

import math

import numpy as np
import pytest

from course_utils import metrics
from course_utils._tensorflow import tf
from course_utils.models import flows
from course_utils.models.gaussians import LowRankGaussian

rng = np.random.default_rng(0)


def _perturbed(model, scale=0.1):
    """Move every weight off its initial value, so that no coupling is the identity."""
    noise = np.random.default_rng(1)
    for variable in model.trainable_variables:
        variable.assign(variable + scale * noise.standard_normal(variable.shape).astype("float32"))
    return model


def _jacobian_log_det(function, x):
    """log |det J| of ``function`` at each example of ``x``, by autodiff, in float64."""
    flat = tf.convert_to_tensor(x.reshape(len(x), -1))
    with tf.GradientTape() as tape:
        tape.watch(flat)
        outputs = tf.reshape(function(tf.reshape(flat, x.shape)), (len(x), -1))
    return np.linalg.slogdet(np.asarray(tape.batch_jacobian(outputs, flat), np.float64))[1]


def test_checkerboard_masks_alternate_and_complement():
    image = flows.checkerboard_mask((4, 4, 2), 0)
    assert image.shape == (4, 4, 2) and image[0, 0, 0] == 1 and image[0, 1, 0] == 0
    assert image[1, 0, 1] == 0 and image[1, 1, 1] == 1
    np.testing.assert_array_equal(image + flows.checkerboard_mask((4, 4, 2), 1), 1)
    np.testing.assert_array_equal(flows.checkerboard_mask((3,), 1), [0, 1, 0])
    with pytest.raises(ValueError, match="parity"):
        flows.checkerboard_mask((2,), 2)


@pytest.mark.parametrize("shape", [(6,), (4, 4, 1)])
def test_coupling_inverts_and_its_log_det_matches_the_jacobian(shape):
    model = _perturbed(flows.build_realnvp(shape, num_couplings=1, hidden_units=(8,)))
    coupling = model.bijectors[0]
    x = rng.normal(size=(3, *shape)).astype(np.float32)
    y, log_det = coupling.forward(x)
    np.testing.assert_allclose(coupling.inverse(y), x, atol=1e-5)
    np.testing.assert_allclose(log_det, _jacobian_log_det(lambda v: coupling.forward(v)[0], x),
                               rtol=1e-4, atol=1e-4)
    # the kept coordinates pass through unchanged: the Jacobian is triangular
    kept = coupling.mask.astype(bool)
    np.testing.assert_array_equal(np.asarray(y)[:, kept], x[:, kept])


@pytest.mark.parametrize("shape", [(4, 4, 1), (5,)])
def test_dense_conditioner_reads_the_kept_and_writes_the_changed_coordinates_only(shape):
    """Its outputs are zero at the kept coordinates, do not depend on the changed ones, and
    its weights are those of a network from the k kept to 2 x the m changed coordinates."""
    mask = (flows.checkerboard_mask(shape, 0) if len(shape) == 3
            else np.array([1, 0, 1, 0, 0], np.float32))
    conditioner = _perturbed(flows.build_dense_conditioner(mask, (7,)))
    kept, changed = int(mask.sum()), int(mask.size - mask.sum())
    assert conditioner.count_params() == (kept + 1) * 7 + (7 + 1) * 2 * changed
    x = rng.standard_normal((3, *shape)).astype(np.float32)
    out = np.asarray(conditioner(x))
    assert out.shape == (3, *shape[:-1], 2 * shape[-1])
    both = np.concatenate([mask, mask], axis=-1).astype(bool)  # (log-scale, shift) channels
    assert np.all(out[:, both] == 0) and np.any(out[:, ~both] != 0)
    other = np.where(mask.astype(bool), x, rng.standard_normal(x.shape)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(conditioner(other)), out)
    inputs = conditioner.get_layer("conditioner_kept")(x)
    np.testing.assert_array_equal(inputs, x.reshape(3, -1)[:, mask.reshape(-1) == 1])


def test_logit_transform_against_numpy():
    logit = flows.LogitTransform(0.05)
    v = rng.uniform(0, 1, (4, 5)).astype(np.float32)
    p = 0.05 + 0.9 * v.astype(np.float64)
    y, log_det = logit.forward(v)
    np.testing.assert_allclose(y, np.log(p / (1 - p)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(log_det, np.sum(np.log(0.9 / (p * (1 - p))), axis=1), rtol=1e-5)
    np.testing.assert_allclose(logit.inverse(y), v, atol=1e-6)
    with pytest.raises(ValueError, match="alpha"):
        flows.LogitTransform(0.5)


def test_whole_flow_inverts_and_its_log_det_matches_the_jacobian():
    model = _perturbed(flows.build_realnvp((4, 4, 1), num_couplings=3, hidden_units=(8,),
                                           logit_alpha=0.05, actnorm=True))
    x = rng.uniform(0.01, 0.99, (3, 4, 4, 1)).astype(np.float32)
    assert sum(isinstance(b, flows.ActNorm) for b in model.bijectors) == 4
    z, log_det = model.forward(x)
    np.testing.assert_allclose(model.inverse(z), x, atol=1e-5)
    np.testing.assert_allclose(log_det, _jacobian_log_det(lambda v: model.forward(v)[0], x),
                               rtol=1e-4, atol=1e-3)


def test_channel_masks_keep_one_half_of_the_channels():
    mask = flows.channel_mask((2, 3, 4), 0)
    assert mask.shape == (2, 3, 4) and np.all(mask[..., :2] == 1) and np.all(mask[..., 2:] == 0)
    np.testing.assert_array_equal(mask + flows.channel_mask((2, 3, 4), 1), 1)
    with pytest.raises(ValueError, match="even"):
        flows.channel_mask((2, 2, 3), 0)


def test_squeeze_moves_each_2x2_block_into_channels_and_back():
    x = rng.normal(size=(2, 4, 6, 3)).astype(np.float32)
    y, log_det = flows.Squeeze().forward(x)
    assert y.shape == (2, 2, 3, 12)
    np.testing.assert_array_equal(log_det, 0.0)
    for dy in (0, 1):  # channel (2 dy + dx) c + k holds pixel (dy, dx)'s channel k
        for dx in (0, 1):
            block = slice((2 * dy + dx) * 3, (2 * dy + dx + 1) * 3)
            np.testing.assert_array_equal(np.asarray(y)[:, :, :, block], x[:, dy::2, dx::2, :])
    np.testing.assert_array_equal(flows.Squeeze().inverse(y), x)
    np.testing.assert_array_equal(flows.Unsqueeze().forward(y)[0], x)
    np.testing.assert_array_equal(flows.Unsqueeze().inverse(x), y)


def test_multiscale_flow_inverts_and_its_log_det_matches_the_jacobian():
    model = _perturbed(flows.build_multiscale_realnvp((4, 4, 1), filters=(4, 6),
                                                      couplings_per_scale=2, logit_alpha=0.05))
    assert [type(b).__name__ for b in model.bijectors].count("Squeeze") == 1
    x = rng.uniform(0.01, 0.99, (3, 4, 4, 1)).astype(np.float32)
    z, log_det = model.forward(x)
    assert z.shape == x.shape  # the Unsqueeze at the end
    np.testing.assert_allclose(model.inverse(z), x, atol=1e-5)
    np.testing.assert_allclose(log_det, _jacobian_log_det(lambda v: model.forward(v)[0], x),
                               rtol=1e-4, atol=1e-3)
    with pytest.raises(ValueError, match="divisible by 4"):
        flows.build_multiscale_realnvp((6, 6, 1), filters=(4, 4, 4))


def test_bits_per_dim_counts_the_dequantization_and_logit_terms():
    """A flow with only the logit transform: p(v) = N(logit(p); 0, I) |dy/dv| on [0, 1)^D;
    in bits per dimension of the 0..255 levels: (NLL + D log 256) / (D log 2)."""
    model = flows.RealNVP([flows.LogitTransform(0.05)], dequantize=True, seed=3)
    images = rng.integers(0, 256, (5, 2, 2, 1)) / 255.0
    dequantized = np.asarray(model.dequantized(images), np.float64)
    levels = np.round(images * 255)
    assert np.all((dequantized * 256 >= levels) & (dequantized * 256 < levels + 1))
    p = 0.05 + 0.9 * dequantized.reshape(5, -1)
    y = np.log(p / (1 - p))
    log_density = np.sum(-0.5 * (y ** 2 + math.log(2 * math.pi)) + np.log(0.9 / (p * (1 - p))),
                         axis=1)
    z, log_det = model.forward(dequantized.astype(np.float32))
    nll = -np.sum(-0.5 * (np.asarray(z, np.float64).reshape(5, -1) ** 2 + math.log(2 * math.pi)),
                  axis=1) - np.asarray(log_det)
    np.testing.assert_allclose(nll, -log_density, rtol=1e-5)
    expected_bpd = (-log_density + 4 * math.log(256)) / (4 * math.log(2))
    np.testing.assert_allclose(metrics.bits_per_dim(nll, 4, data_scale=256), expected_bpd,
                               rtol=1e-5)


def test_flow_trains_samples_and_encodes():
    model = flows.build_realnvp((2,), num_couplings=4, hidden_units=(16,), learning_rate=1e-2,
                                steps_per_execution=1)
    points = rng.normal([2.0, -1.0], [0.5, 0.2], (512, 2)).astype(np.float32)
    before = float(np.mean(np.asarray(model.negative_log_likelihood(points))))
    model.fit(points, batch_size=64, epochs=20, verbose=0)
    after = float(np.mean(np.asarray(model.negative_log_likelihood(points))))
    assert after < before - 1.0
    samples = model.sample(2000, seed=1)
    np.testing.assert_allclose(samples.mean(axis=0), [2.0, -1.0], atol=0.15)
    np.testing.assert_allclose(model.decode(model.encode(points[:5])), points[:5], atol=1e-4)
    assert model.sample(3, temperature=0.0).std(axis=0).max() < 1e-6


def test_low_rank_gaussian_density_against_scipy():
    from scipy import stats

    examples = rng.normal(size=(6, 8)) @ rng.normal(size=(8, 8))
    model = LowRankGaussian(rank=3, noise_floor=0.05).fit(examples)
    covariance = model.factors @ model.factors.T + np.diag(model.noise_variance)
    points = rng.normal(size=(4, 8))
    np.testing.assert_allclose(model.log_prob(points),
                               stats.multivariate_normal(model.mean, covariance).logpdf(points),
                               rtol=1e-9)
    assert model.noise_variance.min() >= 0.05
    # the rank-3 part is the examples' top principal variances
    centred = examples - examples.mean(axis=0)
    top = np.sort(np.linalg.eigvalsh(centred.T @ centred / len(examples)))[::-1][:3]
    np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(model.factors.T @ model.factors))[::-1],
                               top, rtol=1e-9)


def test_low_rank_gaussian_samples_have_its_covariance_and_errors_are_clear():
    examples = rng.normal(size=(10, 5)) * [3.0, 1.0, 1.0, 0.5, 0.1]
    model = LowRankGaussian(rank=2, noise_floor=0.01).fit(examples)
    samples = model.sample(200_000, seed=2)
    covariance = model.factors @ model.factors.T + np.diag(model.noise_variance)
    np.testing.assert_allclose(np.cov(samples.T), covariance, atol=0.05)
    with pytest.raises(ValueError, match="examples"):
        LowRankGaussian(rank=9, noise_floor=0.1).fit(examples[:5])
    with pytest.raises(ValueError, match="noise_floor"):
        LowRankGaussian(rank=2, noise_floor=0.0)


def test_two_moons_lie_on_their_half_circles():
    from course_utils import data

    points, moons = data.two_moons(1000, noise=0.0, seed=1)
    assert points.shape == (1000, 2) and np.bincount(moons).tolist() == [500, 500]
    shifted = points + np.array([0.5, 0.25])
    upper, lower = shifted[moons == 0], shifted[moons == 1]
    np.testing.assert_allclose(np.hypot(*upper.T), 1.0, atol=1e-6)
    assert upper[:, 1].min() >= -1e-6
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1, lower[:, 1] - 0.5), 1.0, atol=1e-6)
    assert lower[:, 1].max() <= 0.5 + 1e-6
    noisy, _ = data.two_moons(1000, noise=0.1, seed=1)
    assert 0.05 < np.std(noisy - points) < 0.15
    with pytest.raises(ValueError, match="noise"):
        data.two_moons(10, noise=-1.0)


def test_noise_floor_chosen_by_leave_one_out_matches_the_true_noise():
    from course_utils.models.gaussians import choose_noise_floor

    directions = rng.normal(size=(3, 200)) * 2.0
    for noise_variance in (0.01, 1.0):
        examples = (rng.normal(size=(10, 3)) @ directions
                    + rng.normal(0, np.sqrt(noise_variance), (10, 200)))
        floor = choose_noise_floor(examples, rank=3, candidates=np.logspace(-4, 2, 25))
        assert noise_variance / 3 <= floor <= noise_variance * 3
    with pytest.raises(ValueError, match="3 examples"):
        choose_noise_floor(examples[:2], rank=1, candidates=[1.0])


def test_actnorm_starts_standardized_and_its_log_det_is_minus_the_log_scales():
    model = flows.build_realnvp((3,), num_couplings=1, hidden_units=(4,), actnorm=True)
    points = rng.normal([1.0, -2.0, 5.0], [0.5, 2.0, 0.01], (4000, 3)).astype(np.float32)
    model.initialize(points)
    actnorm = model.bijectors[0]
    y, log_det = actnorm.forward(points)
    np.testing.assert_allclose(np.mean(y, axis=0), 0.0, atol=1e-3)
    np.testing.assert_allclose(np.std(y, axis=0), 1.0, atol=1e-3)
    np.testing.assert_allclose(log_det, -np.log(points.std(axis=0)).sum(), rtol=1e-3)
    np.testing.assert_allclose(actnorm.inverse(y), points, atol=1e-4)


def test_flow_recipes_train_measure_cache_and_transfer():
    from course_utils import data, flow_transfer, recipes

    moons = recipes.MoonsFlowRecipe(num_points=512, hidden_units=[8], num_couplings=2, epochs=2)
    run = recipes.load(moons)
    assert np.isfinite(run.metrics["nll"]) and recipes.load(moons).from_cache

    small = recipes.RealNVPRecipe(hidden_units=[16], num_couplings=2, train_limit=256,
                                  test_limit=100, num_samples=100)
    run = recipes.load(small)
    assert set(run.metrics) == {"test_bpd", "fid", "fid_cool"}
    assert 0.5 < run.metrics["test_bpd"] < 8.0  # below uniform's 8 bits after the ActNorms
    again = recipes.load(small)
    assert again.from_cache and again.metrics == run.metrics
    multiscale = recipes.load(recipes.MultiscaleRealNVPRecipe(
        filters=(4, 4, 4), couplings_per_scale=2, train_limit=256, test_limit=100,
        num_samples=100))
    assert multiscale.model.sample(2).shape == (2, 28, 28, 1)
    assert 0.5 < multiscale.metrics["test_bpd"] < 8.0

    images, labels = data.load_images("mnist", "test", limit=300)
    nines = images[labels == 9]
    result = flow_transfer.few_shot_transfer(run.model, nines[:5], nines[5:], space="pixel",
                                             rank=3, num_samples=20)
    assert result["samples"].shape == (20, 28, 28, 1) and result["as_digit"].shape == (20,)
    assert result["noise_floor"] in flow_transfer.NOISE_FLOORS and np.isfinite(result["bpd"])
