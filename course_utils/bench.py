"""Throughput of the course's training set-up against a plain keras-io-style ``fit()``.

    python -m course_utils.bench            # every case
    python -m course_utils.bench autoencoder

For each case the same network is trained on the same data and batch size twice: with the
course's set-up (a :class:`~course_utils.training.GenerativeModel` with 32 steps per
execution and a prefetched ``tf.data`` pipeline) and as keras-io writes it (``compile(loss=...)``
without XLA, one step per execution, ``fit`` on NumPy arrays). Each is timed over one epoch
after a warm-up epoch, three times, the two ways alternating; the medians give a
samples-per-second ratio.
Later chapters add their model as one more entry of ``CASES``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

REPEATS = 3


@dataclass
class BenchCase:
    """Two ways to train one epoch of the same model on the same data.

    Attributes:
        course_epoch: builds once, then each call trains one epoch the course's way.
        plain_epoch: the same, keras-io style.
        num_samples: training examples per epoch.
    """

    course_epoch: Callable[[], None]
    plain_epoch: Callable[[], None]
    num_samples: int


def autoencoder_case(batch_size: int = 50) -> BenchCase:
    """Chapter 01's 784-500-300-2 tanh autoencoder on the MNIST digits {1, 5, 6}."""
    from course_utils import data
    from course_utils._tensorflow import keras
    from course_utils.models.autoencoders import build_autoencoder

    images, _ = data.load_images("mnist", "train", digits=(1, 5, 6), flatten=True)
    course_model = build_autoencoder()
    dataset = data.make_dataset(images, batch_size=batch_size, drop_remainder=True)

    plain = build_autoencoder()
    inputs = keras.Input((784,))
    plain_model = keras.Model(inputs, plain.decoder(plain.encoder(inputs)))
    plain_model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="mse", jit_compile=False)

    def course_epoch():
        course_model.fit(dataset, epochs=1, verbose=0, shuffle=False)

    def plain_epoch():
        plain_model.fit(images, images, batch_size=batch_size, epochs=1, verbose=0)

    return BenchCase(course_epoch, plain_epoch, len(images))


def vae_case(batch_size: int = 128) -> BenchCase:
    """Chapter 03's dense VAE (784-512-256, 16-D latent) on all MNIST training images. keras-io
    trains its VAE with a custom ``train_step`` too, so the plain side is the same model
    compiled keras-io style: one step per execution, ``fit`` on a NumPy array."""
    from course_utils import data
    from course_utils._tensorflow import keras
    from course_utils.models.vaes import build_vae

    images, _ = data.load_images("mnist", "train", flatten=True)
    course_model = build_vae("dense", latent_dim=16)
    dataset = data.make_dataset(images, batch_size=batch_size, drop_remainder=True)
    plain_model = build_vae("dense", latent_dim=16)
    plain_model.compile(keras.optimizers.Adam(1e-3), steps_per_execution=1)

    def course_epoch():
        course_model.fit(dataset, epochs=1, verbose=0, shuffle=False)

    def plain_epoch():
        plain_model.fit(images, batch_size=batch_size, epochs=1, verbose=0)

    return BenchCase(course_epoch, plain_epoch, len(images))


def gan_case(batch_size: int = 128) -> BenchCase:
    """Chapter 05's MLP GAN on all MNIST training images in [-1, 1], compiled as its recipe
    compiles it (XLA, 32 steps per execution). keras-io's GANs override ``train_step`` as the
    course does, so the plain side is the same model compiled keras-io style: no XLA, one
    step per execution, ``fit`` on a NumPy array."""
    from course_utils import data
    from course_utils.models.gans import build_gan

    course_model = build_gan("gan", "mlp", jit_compile=True)
    dataset = data.image_dataset("mnist", "train", batch_size=batch_size, flatten=True,
                                 value_range=(-1, 1), drop_remainder=True)
    images, _ = data.load_images("mnist", "train", flatten=True, value_range=(-1, 1))
    plain_model = build_gan("gan", "mlp", steps_per_execution=1)

    def course_epoch():
        course_model.fit(dataset, epochs=1, verbose=0, shuffle=False)

    def plain_epoch():
        plain_model.fit(images, batch_size=batch_size, epochs=1, verbose=0)

    return BenchCase(course_epoch, plain_epoch, len(images))


def flow_case(batch_size: int = 128, num_images: int = 6016) -> BenchCase:
    """Chapter 11's RealNVP (8 dense couplings of 1024-1024) on the first ``num_images``
    MNIST training digits 0-8, compiled as its recipe compiles it (32 steps per execution,
    no XLA), against the same model compiled keras-io style (one step per execution,
    ``fit`` on a NumPy array). A subset keeps an epoch short."""
    from course_utils import data, recipes
    from course_utils.models.flows import build_realnvp

    images, _ = data.load_images("mnist", "train", digits=recipes.FLOW_DIGITS,
                                 limit=num_images)
    options = {"logit_alpha": 1e-5, "actnorm": True, "dequantize": True}
    course_model = build_realnvp((28, 28, 1), **options)
    plain_model = build_realnvp((28, 28, 1), steps_per_execution=1, **options)
    for model in (course_model, plain_model):
        model.initialize(images[:2000])
    dataset = data.make_dataset(images, batch_size=batch_size, drop_remainder=True)

    def course_epoch():
        course_model.fit(dataset, epochs=1, verbose=0, shuffle=False)

    def plain_epoch():
        plain_model.fit(images, batch_size=batch_size, epochs=1, verbose=0)

    return BenchCase(course_epoch, plain_epoch, len(images))


CASES: dict[str, Callable[[], BenchCase]] = {"autoencoder": autoencoder_case, "vae": vae_case,
                                             "gan": gan_case, "flow": flow_case}


def samples_per_second(epoch_fns: dict[str, Callable[[], None]],
                       num_samples: int) -> dict[str, float]:
    """Median samples/s of each way over ``REPEATS`` timed epochs, after a warm-up epoch each.

    The ways' timed epochs are interleaved (course, plain, course, plain, ...) so that a
    transient slowdown of the machine hits both sides rather than one.
    """
    for epoch_fn in epoch_fns.values():
        epoch_fn()
    times: dict[str, list[float]] = {name: [] for name in epoch_fns}
    for _ in range(REPEATS):
        for name, epoch_fn in epoch_fns.items():
            start = time.perf_counter()
            epoch_fn()
            times[name].append(time.perf_counter() - start)
    return {name: num_samples / statistics.median(t) for name, t in times.items()}


def run_case(name: str) -> dict[str, float]:
    """Return ``{"course": samples/s, "plain": samples/s, "ratio": course / plain}``."""
    case = CASES[name]()
    rates = samples_per_second({"course": case.course_epoch, "plain": case.plain_epoch},
                               case.num_samples)
    return {**rates, "ratio": rates["course"] / rates["plain"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cases", nargs="*", help=f"some of {sorted(CASES)} (default: all)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.cases) - set(CASES))
    if unknown:
        parser.error(f"unknown case(s) {unknown}; choose from {sorted(CASES)}")
    from course_utils import config

    config.set_seed(0)
    print(config.device_summary())
    print(f"{'model':<14} {'course samples/s':>17} {'plain fit samples/s':>20} {'ratio':>7}")
    for name in args.cases or CASES:
        result = run_case(name)
        print(f"{name:<14} {result['course']:>17.0f} {result['plain']:>20.0f} "
              f"{result['ratio']:>6.2f}x", flush=True)
    print(f"Median of {REPEATS} timed epochs after one warm-up epoch each.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
