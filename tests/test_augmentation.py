"""Augmentation operators (chapter 04) against their formulas and independent computations."""

import numpy as np
import pytest
from scipy import ndimage
from sklearn.neighbors import NearestNeighbors

from course_utils import augmentation, data


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_interpolation_and_extrapolation_follow_the_line_through_the_pair(rng):
    codes, neighbours = rng.normal(size=(50, 4)), rng.normal(size=(50, 4))
    lam = rng.uniform(size=50)
    inside = augmentation.interpolate(codes, neighbours, lam)
    outside = augmentation.extrapolate(codes, neighbours, lam)
    np.testing.assert_allclose(inside, (1 - lam[:, None]) * codes + lam[:, None] * neighbours)
    np.testing.assert_allclose(outside, (1 + lam[:, None]) * codes - lam[:, None] * neighbours)
    gap = np.linalg.norm(codes - neighbours, axis=1)
    np.testing.assert_allclose(np.linalg.norm(inside - neighbours, axis=1), (1 - lam) * gap)
    np.testing.assert_allclose(np.linalg.norm(outside - neighbours, axis=1), (1 + lam) * gap)
    np.testing.assert_allclose(augmentation.interpolate(codes, neighbours, 1.0), neighbours)
    np.testing.assert_allclose(augmentation.extrapolate(codes, neighbours, 0.0), codes)
    with pytest.raises(ValueError, match="must both be"):
        augmentation.interpolate(codes, neighbours[:10], 0.5)


def test_noise_has_the_requested_per_dimension_scale(rng):
    codes = np.zeros((20_000, 3))
    sigma = np.array([0.1, 1.0, 3.0])
    noisy = augmentation.add_noise(codes, sigma, rng=rng)
    np.testing.assert_allclose(noisy.mean(axis=0), 0.0, atol=0.05)
    np.testing.assert_allclose(noisy.std(axis=0), sigma, rtol=0.03)


def test_same_class_neighbours_match_a_per_class_nearest_neighbour_search(rng):
    codes = rng.normal(size=(60, 3))
    labels = np.repeat([0, 1, 2], 20)
    rng.shuffle(labels)
    neighbours = augmentation.same_class_neighbours(codes, labels, k=5)
    for label in range(3):
        members = np.flatnonzero(labels == label)
        search = NearestNeighbors(n_neighbors=6).fit(codes[members])
        expected = members[search.kneighbors(codes[members])[1][:, 1:]]  # drop itself
        np.testing.assert_array_equal(neighbours[members], expected)
    assert (labels[neighbours] == labels[:, None]).all()
    assert (neighbours != np.arange(60)[:, None]).all()
    with pytest.raises(ValueError, match="at least 6"):
        augmentation.same_class_neighbours(codes[:8], labels[:8], k=5)


@pytest.mark.parametrize("scheme", ["interpolation", "extrapolation"])
def test_pair_schemes_stay_on_segments_to_same_class_neighbours(rng, scheme):
    codes = rng.normal(size=(40, 2))
    labels = np.repeat([3, 7], 20)
    new_codes, new_labels = augmentation.augment_codes(codes, labels, scheme=scheme,
                                                       strength=0.5, copies=10, k=5, rng=rng)
    assert new_codes.shape == (400, 2) and new_codes.dtype == np.float32
    np.testing.assert_array_equal(new_labels, np.repeat(labels, 10))
    neighbours = augmentation.same_class_neighbours(codes, labels, k=5)
    sign = 1.0 if scheme == "interpolation" else -1.0
    for row, (code, source) in enumerate(zip(new_codes, np.repeat(np.arange(40), 10), strict=True)):
        step = code - codes[source]  # must be sign * lam * (c_k - c), 0 <= lam <= 0.5
        directions = sign * (codes[neighbours[source]] - codes[source])
        lams = (directions @ step) / (directions ** 2).sum(axis=1)
        residual = np.linalg.norm(step[None] - lams[:, None] * directions, axis=1)
        best = np.argmin(residual)
        assert residual[best] < 1e-5 and -1e-6 <= lams[best] <= 0.5 + 1e-6, row
    assert len(np.unique(new_codes.round(5), axis=0)) == 400  # copies are distinct


def test_noise_scheme_scales_with_the_spread_of_the_codes(rng):
    codes = rng.normal(size=(500, 2)) * np.array([1.0, 10.0])
    new_codes, _ = augmentation.augment_codes(codes, np.zeros(500, int), scheme="noise",
                                              strength=0.5, copies=20, rng=rng)
    offsets = new_codes - np.repeat(codes, 20, axis=0)
    np.testing.assert_allclose(offsets.std(axis=0), 0.5 * codes.std(axis=0), rtol=0.05)
    with pytest.raises(ValueError, match="scheme must be"):
        augmentation.augment_codes(codes, np.zeros(500, int), scheme="mixup", strength=0.5,
                                   copies=1, rng=rng)


def test_shift_and_rotate_moves_the_ink_by_at_most_the_requested_amounts(rng):
    images = np.zeros((3, 28, 28, 1), np.float32)
    images[:, 10:18, 12:16] = 1.0
    same = augmentation.shift_and_rotate(images, copies=2, max_shift=0, max_degrees=0, rng=rng)
    np.testing.assert_allclose(same, np.repeat(images, 2, axis=0), atol=1e-6)
    moved = augmentation.shift_and_rotate(images.reshape(3, 784), copies=20, max_shift=2,
                                          max_degrees=15, rng=rng)
    assert moved.shape == (60, 784) and moved.min() >= 0 and moved.max() <= 1
    rows, cols = np.mgrid[:28, :28]
    squares = moved.reshape(60, 28, 28)
    mass = squares.sum(axis=(1, 2))
    centres = np.stack([(squares * rows).sum((1, 2)) / mass, (squares * cols).sum((1, 2)) / mass])
    offsets = np.abs(centres - np.array([[13.5], [13.5]]))
    assert offsets.max() <= 2.0 + 1e-3 and offsets.max() > 0.5  # shifted, within the range
    np.testing.assert_allclose(mass, 32.0, rtol=0.1)  # the stroke keeps its ink


def test_balanced_subset_draws_per_class_and_respects_exclusions(rng):
    labels = np.repeat(np.arange(10), 30)
    first = data.balanced_subset(labels, per_class=20, rng=rng)
    assert np.bincount(labels[first]).tolist() == [20] * 10
    second = data.balanced_subset(labels, per_class=10, rng=rng, exclude=first)
    assert np.bincount(labels[second]).tolist() == [10] * 10
    assert not set(first) & set(second)
    with pytest.raises(ValueError, match="fewer than per_class"):
        data.balanced_subset(labels, per_class=1, rng=rng, exclude=np.concatenate([first,
                                                                                   second]))


def test_affine_transforms_turn_and_shift_like_numpy():
    """A quarter turn is np.rot90 (clockwise as displayed); an integer shift moves pixels."""
    from course_utils._tensorflow import keras

    image = np.random.default_rng(0).random((1, 28, 28, 1)).astype(np.float32)

    def moved(angle, zoom, shift):
        transform = augmentation.affine_transforms(
            np.array([angle], np.float32), np.array([zoom], np.float32),
            np.array([shift], np.float32))
        return np.asarray(keras.ops.image.affine_transform(
            image, transform, interpolation="bilinear", fill_mode="constant",
            fill_value=-1.0))[0, :, :, 0]

    np.testing.assert_allclose(moved(np.pi / 2, 1.0, [0, 0]), np.rot90(image[0, :, :, 0], -1),
                               atol=1e-5)
    shifted = moved(0.0, 1.0, [2, -1])  # two pixels right, one up
    np.testing.assert_allclose(shifted[:-1, 2:], image[0, 1:, :-2, 0], atol=1e-6)
    assert np.all(shifted[:, :2] == -1.0) and np.all(shifted[-1] == -1.0)
    # any angle, zoom and shift: bilinear reads at R(-a) (p - centre - shift) / zoom + centre
    angle, zoom, shift = 0.3, 1.2, np.array([1.5, -0.5])
    rows, cols = np.mgrid[0:28, 0:28].astype(float)
    x, y = cols - 13.5 - shift[0], rows - 13.5 - shift[1]
    source_x = (np.cos(angle) * x + np.sin(angle) * y) / zoom + 13.5
    source_y = (-np.sin(angle) * x + np.cos(angle) * y) / zoom + 13.5
    expected = ndimage.map_coordinates(image[0, :, :, 0].astype(float), [source_y, source_x],
                                       order=1, mode="constant", cval=-1.0)
    inside = (source_x >= 0) & (source_x <= 27) & (source_y >= 0) & (source_y <= 27)
    np.testing.assert_allclose(moved(angle, zoom, shift)[inside], expected[inside], atol=1e-4)


def test_random_affine_moves_only_in_training_and_within_its_bounds():
    layer = augmentation.RandomAffine(max_degrees=0.0, max_zoom=0.0, max_shift=0.0, seed=1)
    images = np.random.default_rng(1).random((3, 28, 28, 1)).astype(np.float32)
    np.testing.assert_allclose(layer(images, training=True), images, atol=1e-6)
    turning = augmentation.RandomAffine(max_degrees=30.0, seed=1)
    assert np.array_equal(turning(images), images)
    assert not np.allclose(turning(images, training=True), images)
