"""Throughput of the course's training set-up against a plain keras-io-style ``fit()``.

    python -m course_utils.bench            # every case
    python -m course_utils.bench autoencoder

The cases are the models of the recipe registry that name a benchmark recipe
(:attr:`~course_utils.recipes.CourseModel.benchmark`). For each, the same model is built
twice by its recipe and trained on the same data and batch size: with the course's set-up
(the recipe's own compilation, 32 steps per execution, its prefetched ``tf.data`` pipeline)
and as keras-io writes it (one step per execution, ``fit`` on NumPy arrays). Each is timed
over one epoch after a warm-up epoch, three times, the two ways alternating; the medians
give a samples-per-second ratio. A new model joins the benchmark by naming a
``benchmark`` recipe in its registry entry.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from course_utils import config, recipes

REPEATS = 3


@dataclass
class BenchCase:
    """Two ways to train one epoch of the same model on the same data.

    Attributes:
        course_epoch: trains one epoch the course's way.
        plain_epoch: the same, keras-io style.
        num_samples: training examples per epoch.
    """

    course_epoch: Callable[[], None]
    plain_epoch: Callable[[], None]
    num_samples: int


def dataset_arrays(dataset) -> np.ndarray | tuple[np.ndarray, ...]:
    """The batches of a ``tf.data`` dataset joined into NumPy arrays (a tuple of arrays
    when its elements are tuples)."""
    batches = list(dataset.as_numpy_iterator())
    if isinstance(batches[0], tuple):
        return tuple(np.concatenate(parts) for parts in zip(*batches, strict=True))
    return np.concatenate(batches)


def bench_case(recipe: recipes.Recipe) -> BenchCase:
    """The two ways of training ``recipe``'s model: the course's and keras-io's."""
    plan = recipe.plan()
    course_model = recipe.build(plan)
    plain_model = recipe.build(dataclasses.replace(plan, steps_per_execution=1))
    dataset = recipe.training_data()
    arrays = dataset_arrays(dataset)
    x, y = arrays if isinstance(arrays, tuple) else (arrays, None)

    def course_epoch():
        course_model.fit(dataset, epochs=1, verbose=0, shuffle=False)

    def plain_epoch():
        plain_model.fit(x, y, batch_size=recipe.batch_size, epochs=1, verbose=0)

    return BenchCase(course_epoch, plain_epoch, len(x))


#: The benchmark's cases by registry key: each makes its recipe.
CASES: dict[str, Callable[[], recipes.Recipe]] = {
    key: model.benchmark for key, model in recipes.REGISTRY.items() if model.benchmark}


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
    case = bench_case(CASES[name]())
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
