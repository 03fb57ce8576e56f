"""Data sets: MNIST and Fashion-MNIST from a checked search path, and ``tf.data`` pipelines.

Each ``.npz`` file is looked for, first hit wins, in

1. ``$COURSE_DATA_DIR`` (CI points it at the course's offline copies),
2. the repository's ``data/cache/``,
3. Keras's own cache and download (``keras.datasets.<name>.load_data()``).

A file found on that path must have one of the full sha256 digests the course knows, and
the four arrays inside it must have their known digests too; anything else stops with a
:class:`DataError` that names the file, the places searched and the fix.

Besides these: data the course makes itself with seeded functions (a ring of Gaussians;
the Waves series of Ferreira's post, :func:`waves`), and the Palmer penguins table
(:func:`load_penguins`).
"""

from __future__ import annotations

import functools
import hashlib
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from course_utils import config

ARRAY_KEYS = ("x_train", "y_train", "x_test", "y_test")


@dataclass(frozen=True)
class DatasetSpec:
    """What the course knows about one data set.

    Attributes:
        file_name: the ``.npz`` file name looked for on the search path.
        file_sha256: accepted full sha256 digests of that file, each with where it comes from.
        array_sha256: sha256 of each array's raw bytes (``arr.tobytes()``), whatever the source.
        class_names: the ten class names, in label order.
    """

    file_name: str
    file_sha256: dict[str, str]
    array_sha256: dict[str, str]
    class_names: tuple[str, ...]


DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        file_name="mnist.npz",
        file_sha256={
            "06af5dfe73b70e3bc1c36439982b18a8d76803db9b544f6fdf838a37fbb01b64": "course copy",
            "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1": "Keras download",
        },
        array_sha256={
            "x_train": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
            "y_train": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
            "x_test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
            "y_test": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
        },
        class_names=tuple(str(digit) for digit in range(10)),
    ),
    "fashion_mnist": DatasetSpec(
        file_name="fashion_mnist.npz",
        file_sha256={
            "5b6d2c4c694a91887af8ab7d039c04f80af3c29378d731c93a538d2e831aa469": "course copy",
        },
        array_sha256={
            "x_train": "2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012",
            "y_train": "657fbd221bfc9f4198cc14b5619cc33ec57c58dd0e47af4d99d6650759e869a7",
            "x_test": "c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a",
            "y_test": "3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9",
        },
        class_names=(
            "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
        ),
    ),
}


class DataError(RuntimeError):
    """A data set could not be found, downloaded or verified; the message says what to do."""


def _spec(name: str) -> DatasetSpec:
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; choose one of {sorted(DATASETS)}")
    return DATASETS[name]


def search_path() -> list[Path]:
    """Return the folders searched for data files, in order (Keras's download comes after)."""
    folders = []
    if os.environ.get("COURSE_DATA_DIR"):
        folders.append(Path(os.environ["COURSE_DATA_DIR"]).expanduser())
    root = config.project_root()
    if root is not None:
        folders.append(root / "data" / "cache")
    return folders


def file_sha256(path: Path) -> str:
    """Return the hex sha256 digest of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fix_hint(spec: DatasetSpec) -> str:
    return (
        f"Fix: put a verified copy of {spec.file_name} in one of these places (the course's "
        "offline copy is in shared/data/, check it with its verify.py), or set "
        "COURSE_DATA_DIR to the folder that holds it, or connect to the internet so Keras "
        "can download it."
    )


def _check_arrays(name: str, arrays: dict[str, np.ndarray], source: str) -> None:
    spec = _spec(name)
    for key in ARRAY_KEYS:
        if key not in arrays:
            raise DataError(f"{source} has no array {key!r} (expected keys {ARRAY_KEYS}). "
                            + _fix_hint(spec))
        # hashed through the array's buffer: tobytes() would copy it (47 MB for MNIST's images)
        got = hashlib.sha256(np.ascontiguousarray(arrays[key]).data).hexdigest()
        if got != spec.array_sha256[key]:
            raise DataError(
                f"{source}: array {key} has sha256 {got}, expected "
                f"{spec.array_sha256[key]}; the data are not the official {name}. "
                + _fix_hint(spec)
            )


def _load_npz(name: str, path: Path) -> dict[str, np.ndarray]:
    spec = _spec(name)
    digest = file_sha256(path)
    if digest not in spec.file_sha256:
        known = ", ".join(f"{d} ({where})" for d, where in spec.file_sha256.items())
        raise DataError(
            f"{path} is corrupt or not the expected file: its sha256 is {digest}, but the "
            f"course accepts only {known}. Delete or replace it. " + _fix_hint(spec)
        )
    with np.load(path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    _check_arrays(name, arrays, str(path))
    return arrays


def download_timeout() -> float:
    """Seconds a download may wait for the network at each step: ``$COURSE_DOWNLOAD_TIMEOUT``,
    else 60 (a network that accepts a connection and never answers then fails, clearly,
    instead of hanging)."""
    return float(os.environ.get("COURSE_DOWNLOAD_TIMEOUT") or 60)


def _download_with_keras(name: str) -> dict[str, np.ndarray]:
    from course_utils._tensorflow import keras

    loader = getattr(keras.datasets, name)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(download_timeout())  # Keras's urlretrieve takes no time-out
    try:
        (x_train, y_train), (x_test, y_test) = loader.load_data()
    finally:
        socket.setdefaulttimeout(previous)
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    _check_arrays(name, arrays, f"keras.datasets.{name}.load_data()")
    return arrays


def locate(name: str) -> Path | None:
    """Return the first file on the search path for a data set, or None (Keras's turn)."""
    spec = _spec(name)
    for folder in search_path():
        if (folder / spec.file_name).is_file():
            return folder / spec.file_name
    return None


@functools.lru_cache(maxsize=1)
def load_raw(name: str) -> dict[str, np.ndarray]:
    """Return the four verified uint8 arrays of a data set (the last data set loaded stays in
    memory: a chapter that moves on to another one does not keep both).

    Returns:
        ``{"x_train": (60000, 28, 28), "y_train": (60000,), "x_test": (10000, 28, 28),
        "y_test": (10000,)}``, all uint8; pixels 0..255, labels 0..9.

    Raises:
        DataError: when no verified copy is found, the download fails, or a checksum differs.
    """
    spec = _spec(name)
    path = locate(name)
    if path is not None:
        return _load_npz(name, path)
    folders = search_path()
    try:
        return _download_with_keras(name)
    except DataError:
        raise
    except Exception as error:  # network, proxy or disk errors all end the same way
        searched = "\n".join(
            f"  - {folder / spec.file_name}"
            + ("" if folder.is_dir() else " (the folder does not exist)")
            for folder in folders) or "  (none)"
        raise DataError(
            f"Could not find {spec.file_name}. Looked in:\n{searched}\n  - Keras's download "
            f"(keras.datasets.{name}.load_data()), which failed: "
            f"{type(error).__name__}: {error}\n" + _fix_hint(spec)
        ) from error


def _select(name: str, split: str, digits, limit) -> tuple[np.ndarray, np.ndarray]:
    """The uint8 images ``(n, 28, 28)`` and labels ``(n,)`` of one split, filtered and cut."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be a positive int or None, got {limit}")
    raw = load_raw(name)
    images, labels = raw[f"x_{split}"], raw[f"y_{split}"]
    if digits is not None:
        digits = tuple(int(d) for d in digits)
        if not digits or not set(digits) <= set(range(10)):
            raise ValueError(f"digits must be labels in 0..9, got {digits}")
        keep = np.isin(labels, digits)
        images, labels = images[keep], labels[keep]
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return images, labels


def split_size(name: str = "mnist", split: str = "train", *,
               digits: tuple[int, ...] | list[int] | None = None,
               limit: int | None = None) -> int:
    """How many images :func:`load_images` returns for the same arguments."""
    return len(_select(name, split, digits, limit)[1])


def _pixel_scaling(value_range: tuple[float, float]) -> tuple[np.float32, np.float32]:
    """``(scale, offset)`` such that ``pixel * scale + offset`` maps 0..255 onto ``value_range``."""
    low, high = value_range
    if not low < high:
        raise ValueError(f"value_range must be (low, high) with low < high, got {value_range}")
    return np.float32((high - low) / 255.0), np.float32(low)


def _layout(images, flatten: bool):
    """``(n, 28, 28)`` to ``(n, 784)`` when ``flatten``, else to ``(n, 28, 28, 1)``."""
    return images.reshape(len(images), -1) if flatten else images[..., np.newaxis]


def load_images(
    name: str = "mnist",
    split: str = "train",
    *,
    digits: tuple[int, ...] | list[int] | None = None,
    value_range: tuple[float, float] = (0.0, 1.0),
    flatten: bool = False,
    limit: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Return images and labels of one split, filtered, scaled and shaped for a model.

    Args:
        name: ``"mnist"`` or ``"fashion_mnist"``.
        split: ``"train"`` or ``"test"``.
        digits: keep only these labels (e.g. ``(1, 5, 6)``); ``None`` keeps all ten.
        value_range: pixel range of the returned images, e.g. ``(0, 1)`` or ``(-1, 1)``.
        flatten: return ``(n, 784)`` vectors instead of ``(n, 28, 28, 1)`` images.
        limit: keep the first ``limit`` images after filtering (official order).

    Returns:
        images: ``(n, 28, 28, 1)`` or ``(n, 784)`` float32 in ``value_range``.
        labels: ``(n,)`` int32 in 0..9.
    """
    scale, offset = _pixel_scaling(value_range)
    images, labels = _select(name, split, digits, limit)
    pixels = images.astype(np.float32)  # scaled in place: one float copy, not three at once
    pixels *= scale
    pixels += offset
    return _layout(pixels, flatten), labels.astype(np.int32)


def image_dataset(
    name: str = "mnist",
    split: str = "train",
    *,
    batch_size: int,
    digits: tuple[int, ...] | list[int] | None = None,
    value_range: tuple[float, float] = (0.0, 1.0),
    flatten: bool = False,
    limit: int | None = None,
    with_labels: bool = False,
    shuffle: bool = True,
    seed: int = 0,
    drop_remainder: bool = False,
):
    """:func:`load_images` and :func:`make_dataset` in one, holding the images as uint8.

    The batches are those of ``make_dataset(*load_images(...))``, but the split is kept in
    memory as bytes and each batch is scaled to float32 when it is gathered: 47 MB for the
    MNIST training images instead of 188 MB (twice that while a float copy is converted).

    Args:
        name, split, digits, value_range, flatten, limit: as for :func:`load_images`.
        batch_size, shuffle, seed, drop_remainder: as for :func:`make_dataset`.
        with_labels: yield ``(images, labels)`` batches instead of images.
    """
    from course_utils._tensorflow import tf

    scale, offset = _pixel_scaling(value_range)
    images, labels = _select(name, split, digits, limit)
    images = _layout(images, flatten)

    def to_float(batch):
        pixels = tf.cast(batch[0], tf.float32) * scale + offset
        return (pixels, tf.cast(batch[1], tf.int32)) if with_labels else pixels

    arrays = (images, labels) if with_labels else (images,)
    return make_dataset(*arrays, batch_size=batch_size, shuffle=shuffle, seed=seed,
                        drop_remainder=drop_remainder, preprocess=to_float)


def balanced_subset(labels, *, per_class: int, rng: np.random.Generator,
                    exclude=None) -> np.ndarray:
    """Indices of a random subset with ``per_class`` examples of every label (a low-data split).

    Args:
        labels: ``(n,)`` integer labels.
        per_class: examples drawn, without replacement, from each label present.
        rng: the source of the draw.
        exclude: indices that must not be drawn (e.g. an already drawn training subset).

    Returns:
        Sorted ``(per_class * num_labels,)`` int64 indices into ``labels``.
    """
    labels = np.asarray(labels)
    available = np.ones(len(labels), dtype=bool)
    if exclude is not None:
        available[np.asarray(exclude, dtype=np.int64)] = False
    chosen = []
    for label in np.unique(labels):
        candidates = np.flatnonzero((labels == label) & available)
        if len(candidates) < per_class:
            raise ValueError(f"label {label} has {len(candidates)} available examples, "
                             f"fewer than per_class={per_class}")
        chosen.append(rng.choice(candidates, size=per_class, replace=False))
    return np.sort(np.concatenate(chosen))


def class_names(name: str = "mnist") -> tuple[str, ...]:
    """Return the ten class names of a data set, in label order."""
    return _spec(name).class_names


#: Batches prepared ahead of the one being trained on.
PREFETCH_BATCHES = 2


def make_dataset(
    *arrays: np.ndarray,
    batch_size: int,
    shuffle: bool = True,
    seed: int = 0,
    drop_remainder: bool = False,
    preprocess: Callable | None = None,
):
    """Return a batched, prefetched ``tf.data.Dataset`` over in-memory arrays.

    The arrays are held once, as tensors; what is shuffled and batched are their row
    indices, and each batch is gathered in one call. (Shuffling the rows themselves would
    keep a second copy of the data in the shuffle buffer: 190 MB for flat MNIST.)

    Args:
        *arrays: one or more arrays with the same first dimension; one array yields
            batches of tensors, several yield tuples.
        batch_size: examples per batch (the global batch under a distribution strategy).
        shuffle: reshuffle every epoch with a seeded order.
        seed: the shuffle seed.
        drop_remainder: drop the last, smaller batch (every batch then has the same shape).
        preprocess: applied to the tuple of gathered batches, one per array, inside the
            pipeline; what it returns is the element (e.g. uint8 pixels scaled to float32).
    """
    from course_utils._tensorflow import tf

    if not arrays:
        raise ValueError("make_dataset needs at least one array")
    sizes = {len(a) for a in arrays}
    if len(sizes) != 1:
        raise ValueError(f"all arrays must have the same length, got {[len(a) for a in arrays]}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    tensors = tuple(tf.convert_to_tensor(array) for array in arrays)
    count = sizes.pop()
    indices = tf.data.Dataset.range(count)
    if shuffle:
        indices = indices.shuffle(count, seed=seed, reshuffle_each_iteration=True)

    def gather(batch_indices):
        rows = tuple(tf.gather(tensor, batch_indices) for tensor in tensors)
        if preprocess is not None:
            return preprocess(rows)
        return rows[0] if len(rows) == 1 else rows

    batches = indices.batch(batch_size, drop_remainder=drop_remainder).map(gather)
    # No autotuning: its background thread sleeps in doubling periods (up to 20 s and more),
    # and destroying the iterator at the end of every epoch waits for that sleep to end, so
    # short epochs would last until the next multiple of the period.
    options = tf.data.Options()
    options.autotune.enabled = False
    return batches.prefetch(PREFETCH_BATCHES).with_options(options)


def ring_centres(num_modes: int = 8, *, radius: float = 2.0) -> np.ndarray:
    """``(num_modes, 2)`` centres evenly spaced on a circle of ``radius``, the first at angle 0."""
    if num_modes < 1 or radius <= 0:
        raise ValueError(f"need num_modes >= 1 and radius > 0, got {num_modes}, {radius}")
    angles = 2 * np.pi * np.arange(num_modes) / num_modes
    return (radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)).astype(np.float32)


def gaussian_ring(num_samples: int, *, num_modes: int = 8, radius: float = 2.0,
                  std: float = 0.02, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Points from an equal mixture of ``num_modes`` Gaussians on a ring: the classic test of
    mode collapse (Metz et al., 2017).

    Returns:
        points: ``(num_samples, 2)`` float32.
        modes: ``(num_samples,)`` int32, the component each point came from.
    """
    if num_samples < 1 or std <= 0:
        raise ValueError(f"need num_samples >= 1 and std > 0, got {num_samples}, {std}")
    rng = np.random.default_rng(seed)
    modes = rng.integers(num_modes, size=num_samples).astype(np.int32)
    points = ring_centres(num_modes, radius=radius)[modes] + rng.normal(0, std, (num_samples, 2))
    return points.astype(np.float32), modes


def two_moons(num_samples: int, *, noise: float = 0.05, seed: int = 0
              ) -> tuple[np.ndarray, np.ndarray]:
    """Points on two interleaved half circles of radius 1, the classic 2-D density that a
    Gaussian cannot fit: the upper moon ``(cos a, sin a)`` and the lower one
    ``(1 - cos a, 1/2 - sin a)``, ``a ~ U(0, pi)``, half of the points each, plus Gaussian
    noise of std ``noise``, shifted so that the two moons are centred on the origin.

    Returns:
        points: ``(num_samples, 2)`` float32.
        moons: ``(num_samples,)`` int32, 0 for the upper moon and 1 for the lower one.
    """
    if num_samples < 1 or noise < 0:
        raise ValueError(f"need num_samples >= 1 and noise >= 0, got {num_samples}, {noise}")
    rng = np.random.default_rng(seed)
    moons = (np.arange(num_samples) % 2).astype(np.int32)
    angles = rng.uniform(0, np.pi, num_samples)
    upper = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    lower = np.stack([1 - np.cos(angles), 0.5 - np.sin(angles)], axis=1)
    points = np.where(moons[:, None] == 0, upper, lower) - [0.5, 0.25]
    return (points + rng.normal(0, noise, points.shape)).astype(np.float32), moons


#: Palmer penguins' columns as chapter 07b models them: four categories (the year has only
#: three values, 2007-2009) and four measurements.
PENGUIN_CATEGORICAL = ("species", "island", "sex", "year")
PENGUIN_CONTINUOUS = ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g")


def load_penguins(*, clean: bool = True):
    """The Palmer penguins table (Gorman, Williams & Fraser, 2014; CC0), from the
    ``palmerpenguins`` package, which ships it: 344 penguins of three species on three
    islands, with four body measurements, sex and year.

    Args:
        clean: handle the missing values as chapter 07b does: drop the 2 rows that have no
            measurement at all (only species, island and year are known), and give the 9
            other rows whose sex was not recorded the category ``"unknown"``; the year
            becomes a category (text). ``False`` returns the table as shipped.

    Returns:
        A pandas data frame: 342 rows when cleaned, 344 otherwise.
    """
    try:
        from palmerpenguins import load_penguins as load_shipped
    except ImportError as error:
        raise DataError("the Palmer penguins data come with the 'palmerpenguins' package; "
                        "install the course's pinned dependencies (make test, or "
                        "pip install -e .)") from error
    frame = load_shipped()
    if not clean:
        return frame
    frame = frame.dropna(subset=list(PENGUIN_CONTINUOUS), how="all")
    frame = frame.assign(sex=frame["sex"].fillna("unknown"), year=frame["year"].astype(str))
    return frame.reset_index(drop=True)


#: The Waves data set's two kinds of wave (Ferreira's post), in label order.
WAVE_KINDS = ("sine", "sawtooth")
#: Ranges of the Waves parameters: cycles per series, peak value, and the phase offset as a
#: fraction of a period.
WAVE_FREQUENCIES = (1.0, 3.0)
WAVE_AMPLITUDES = (0.3, 1.0)
WAVE_OFFSETS = (0.0, 1.0)


def wave_shapes(kinds, frequencies, amplitudes, offsets, *, length: int = 30) -> np.ndarray:
    """Waves of given kinds and parameters, sampled at ``length`` time steps.

    ``amplitude * s(frequency * t + offset)`` at ``t = 0, 1/length, ..., (length-1)/length``,
    where ``s(u) = sin(2 pi u)`` for a sine (kind 0) and ``2 (u mod 1) - 1``, a rising ramp
    from -1 to 1 in each period, for a sawtooth (kind 1).

    Args:
        kinds: ``(n,)`` 0 (sine) or 1 (sawtooth); frequencies: cycles per series;
        amplitudes: peak values; offsets: phase, as a fraction of a period. Each ``(n,)``.

    Returns:
        ``(n, length)`` float64.
    """
    kinds = np.asarray(kinds)
    phase = (np.asarray(frequencies, float)[:, None] * np.arange(length) / length
             + np.asarray(offsets, float)[:, None])
    shapes = np.where(kinds[:, None] == 0, np.sin(2 * np.pi * phase), 2 * np.mod(phase, 1) - 1)
    return np.asarray(amplitudes, float)[:, None] * shapes


def waves(num_samples: int, *, length: int = 30, seed: int = 0):
    """The Waves data set of Ferreira's post: sines and sawtooths, half of each in random order,
    with frequency, amplitude and phase offset drawn uniformly from
    :data:`WAVE_FREQUENCIES`, :data:`WAVE_AMPLITUDES` and :data:`WAVE_OFFSETS`.

    Returns:
        series: ``(num_samples, length, 1)`` float32, values in [-1, 1].
        kinds: ``(num_samples,)`` int32 labels, indices into :data:`WAVE_KINDS`.
        parameters: ``{"frequency", "amplitude", "offset"}``, each ``(num_samples,)``.
    """
    if num_samples < 1 or length < 4:
        raise ValueError(f"need num_samples >= 1 and length >= 4, got {num_samples}, {length}")
    rng = np.random.default_rng(seed)
    kinds = rng.permutation(np.arange(num_samples) % len(WAVE_KINDS)).astype(np.int32)
    parameters = {"frequency": rng.uniform(*WAVE_FREQUENCIES, num_samples),
                  "amplitude": rng.uniform(*WAVE_AMPLITUDES, num_samples),
                  "offset": rng.uniform(*WAVE_OFFSETS, num_samples)}
    series = wave_shapes(kinds, parameters["frequency"], parameters["amplitude"],
                         parameters["offset"], length=length)
    return series[..., np.newaxis].astype(np.float32), kinds, parameters
