"""Loaders: the search path, checksums, the clear errors, filtering and pipelines."""

import hashlib
import os

import numpy as np
import pytest

from course_utils import data


def _digest(array):
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


@pytest.fixture
def fake_mnist(tmp_path, monkeypatch):
    """A small synthetic 'mnist.npz' registered with its own digests, in COURSE_DATA_DIR."""
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (30, 28, 28), dtype=np.uint8),
        "y_train": np.arange(30, dtype=np.uint8) % 10,
        "x_test": rng.integers(0, 256, (10, 28, 28), dtype=np.uint8),
        "y_test": np.arange(10, dtype=np.uint8),
    }
    folder = tmp_path / "data"
    folder.mkdir()
    path = folder / "mnist.npz"
    np.savez_compressed(path, **arrays)
    spec = data.DatasetSpec(
        file_name="mnist.npz",
        file_sha256={data.file_sha256(path): "test copy"},
        array_sha256={key: _digest(value) for key, value in arrays.items()},
        class_names=tuple("0123456789"),
    )
    monkeypatch.setitem(data.DATASETS, "mnist", spec)
    monkeypatch.setenv("COURSE_DATA_DIR", str(folder))
    data.load_raw.cache_clear()
    yield path, arrays
    data.load_raw.cache_clear()


def test_load_images_filters_scales_and_shapes(fake_mnist):
    _, arrays = fake_mnist
    images, labels = data.load_images("mnist", "train", digits=(1, 5), value_range=(-1, 1))
    keep = np.isin(arrays["y_train"], (1, 5))
    assert images.shape == (keep.sum(), 28, 28, 1) and images.dtype == np.float32
    np.testing.assert_array_equal(labels, arrays["y_train"][keep])
    np.testing.assert_allclose(images[..., 0], arrays["x_train"][keep] / 127.5 - 1, atol=1e-6)
    flat, _ = data.load_images("mnist", "test", flatten=True, limit=4)
    assert flat.shape == (4, 784) and flat.min() >= 0.0 and flat.max() <= 1.0


def test_a_missing_file_names_every_place_searched_and_the_fix(fake_mnist, monkeypatch):
    path, _ = fake_mnist
    os.remove(path)

    def offline(name):
        raise OSError("network is unreachable")

    monkeypatch.setattr(data, "_download_with_keras", offline)
    with pytest.raises(data.DataError) as error:
        data.load_raw("mnist")
    message = str(error.value)
    assert str(path) in message and "keras.datasets.mnist" in message
    assert "network is unreachable" in message and "COURSE_DATA_DIR" in message


def test_a_corrupt_file_is_detected(fake_mnist):
    path, _ = fake_mnist
    with open(path, "r+b") as handle:
        handle.seek(100)
        handle.write(b"\x00corrupt\x00")
    with pytest.raises(data.DataError, match="corrupt or not the expected file"):
        data.load_raw("mnist")


def test_wrong_arrays_are_detected_even_with_an_accepted_file(fake_mnist, monkeypatch):
    spec = data.DATASETS["mnist"]
    wrong = dict(spec.array_sha256, y_test="0" * 64)
    monkeypatch.setitem(data.DATASETS, "mnist",
                        data.DatasetSpec(spec.file_name, spec.file_sha256, wrong,
                                         spec.class_names))
    with pytest.raises(data.DataError, match="array y_test"):
        data.load_raw("mnist")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"split": "valid"}, "split"), ({"digits": (11,)}, "digits"),
     ({"value_range": (1, 0)}, "value_range"), ({"limit": 0}, "limit")],
)
def test_bad_arguments_raise_clear_errors(fake_mnist, kwargs, message):
    with pytest.raises(ValueError, match=message):
        data.load_images("mnist", **kwargs)


def test_unknown_dataset_is_rejected():
    with pytest.raises(ValueError, match="fashion_mnist"):
        data.load_images("cifar10")


def test_make_dataset_batches_and_shuffles_reproducibly():
    x = np.arange(10, dtype=np.float32)
    y = np.arange(10, dtype=np.int32) * 2
    batches = list(data.make_dataset(x, y, batch_size=4, seed=3).as_numpy_iterator())
    assert [len(bx) for bx, _ in batches] == [4, 4, 2]
    order = np.concatenate([bx for bx, _ in batches])
    assert sorted(order) == list(range(10)) and list(order) != list(range(10))
    np.testing.assert_array_equal(np.concatenate([by for _, by in batches]), order * 2)
    again = np.concatenate([bx for bx, _ in data.make_dataset(
        x, y, batch_size=4, seed=3).as_numpy_iterator()])
    np.testing.assert_array_equal(order, again)
    with pytest.raises(ValueError, match="same length"):
        data.make_dataset(x, y[:3], batch_size=2)


@pytest.mark.parametrize("flatten", [False, True])
def test_image_dataset_matches_loading_then_batching(fake_mnist, flatten):
    """The uint8 pipeline yields the same float batches, in the same order, as load_images
    followed by make_dataset."""
    options = {"digits": (1, 5), "value_range": (-1, 1), "flatten": flatten, "limit": 7}
    images, labels = data.load_images("mnist", "train", **options)
    expected = list(data.make_dataset(images, labels, batch_size=3, seed=4).as_numpy_iterator())
    batches = list(data.image_dataset("mnist", "train", batch_size=3, seed=4, with_labels=True,
                                      **options).as_numpy_iterator())
    assert len(batches) == len(expected) >= 2
    for (got_x, got_y), (want_x, want_y) in zip(batches, expected, strict=True):
        assert got_x.dtype == np.float32 and got_y.dtype == np.int32
        np.testing.assert_allclose(got_x, want_x, atol=1e-6)
        np.testing.assert_array_equal(got_y, want_y)
    only_images = next(data.image_dataset("mnist", "test", batch_size=2).as_numpy_iterator())
    assert only_images.shape == (2, 28, 28, 1) and only_images.max() <= 1.0


def test_make_dataset_does_not_autotune():
    """Autotuning's sleeping thread made ending an epoch wait up to 20 s (see make_dataset)."""
    dataset = data.make_dataset(np.arange(6, dtype=np.float32), batch_size=2)
    assert dataset.options().autotune.enabled is False


def test_make_dataset_preprocesses_each_gathered_batch():
    x = np.arange(6, dtype=np.uint8)
    batches = data.make_dataset(x, batch_size=4, shuffle=False,
                                preprocess=lambda rows: rows[0] * 2)
    np.testing.assert_array_equal(np.concatenate(list(batches.as_numpy_iterator())),
                                  np.arange(6) * 2)


@pytest.mark.skipif(not os.environ.get("COURSE_DATA_DIR"), reason="needs COURSE_DATA_DIR")
@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_the_real_data_sets_load_and_verify(name):
    data.load_raw.cache_clear()
    images, labels = data.load_images(name, "test")
    assert images.shape == (10_000, 28, 28, 1) and labels.shape == (10_000,)
    expected = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009] if name == "mnist" \
        else [1000] * 10
    assert np.bincount(labels).tolist() == expected
    assert len(data.class_names(name)) == 10
