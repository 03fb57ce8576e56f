"""The course's Keras callbacks: the NaN stop, the KL warm-up, the WGAN critic's warm-up,
sample snapshots, periodic measurements and the progress bar.

:class:`SampleSnapshots` and :class:`PeriodicMeasurements` are *recorders*: what they record
is stored with the trained model (``cached_arrays``) and given back to a resumed run
(``restore_arrays``).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import tqdm.auto
from tqdm.keras import TqdmCallback

from course_utils import config
from course_utils._tensorflow import keras, tf


class TerminateOnNonFinite(keras.callbacks.TerminateOnNaN):
    """Keras's ``TerminateOnNaN``, watching every logged value (``d_loss``, ``g_loss``, ...)
    after each batch, and the validation's (``val_*``) at the end of each epoch."""

    def __init__(self):
        super().__init__()
        self.bad_value: tuple[str, float] | None = None

    def on_batch_end(self, batch, logs=None):
        self._check(logs)

    def on_epoch_end(self, epoch, logs=None):
        self._check(logs)

    def _check(self, logs) -> None:
        for key, value in (logs or {}).items():
            value = float(value)
            if not math.isfinite(value):
                self.bad_value = (key, value)
                self.model.stop_training = True
                return


def kl_warmup_weight(epoch: int, *, total_epochs: int, beta: float = 1.0,
                     warmup_fraction: float = 3 / 7) -> float:
    """The KL weight for a 0-based epoch: rising linearly from ``beta / w`` to ``beta`` over
    the first ``w = ceil(warmup_fraction * total_epochs)`` epochs, then ``beta`` (Olar's post
    warms up over 3/7 of training)."""
    if total_epochs < 1 or not 0 <= warmup_fraction <= 1 or epoch < 0:
        raise ValueError(f"need epoch >= 0, total_epochs >= 1 and warmup_fraction in [0, 1]; "
                         f"got {epoch}, {total_epochs}, {warmup_fraction}")
    warmup_epochs = math.ceil(warmup_fraction * total_epochs)
    if warmup_epochs == 0:
        return float(beta)
    return float(beta) * min(1.0, (epoch + 1) / warmup_epochs)


class KLWarmup(keras.callbacks.Callback):
    """Set ``model.kl_weight`` from :func:`kl_warmup_weight` at the start of each epoch,
    ramping up to the model's own ``beta``."""

    def __init__(self, *, total_epochs: int, warmup_fraction: float = 3 / 7):
        super().__init__()
        self.total_epochs = total_epochs
        self.warmup_fraction = warmup_fraction

    def on_epoch_begin(self, epoch, logs=None):
        self.model.kl_weight.assign(kl_warmup_weight(
            epoch, total_epochs=self.total_epochs, beta=self.model.beta,
            warmup_fraction=self.warmup_fraction))


class CriticWarmUp(keras.callbacks.Callback):
    """The critic's head start of the WGAN reference code (Arjovsky et al., 2017): before the
    first epoch, ``generator_steps`` generator updates, each after ``critic_steps`` critic
    updates, every one on a fresh real batch, so the critic is near its optimum before the
    generator learns from it. (The reference code repeats this every 500 generator steps;
    the course does not.) A run resumed from a backup, whose generator has already stepped,
    skips it.

    The updates are the model's own :meth:`~course_utils.training.AdversarialModel.critic_step`
    and ``generator_step``, so they count in its optimizers' ``iterations`` and in the
    training time.

    Args:
        batches: ``batches() -> iterable`` of real batches in the model's layout, one per
            critic update (at least ``generator_steps * critic_steps`` of them).
        generator_steps, critic_steps: the warm-up's length (the reference code's 25 and 100).
    """

    def __init__(self, batches: Callable[[], Iterable], *, generator_steps: int = 25,
                 critic_steps: int = 100):
        super().__init__()
        if generator_steps < 1 or critic_steps < 1:
            raise ValueError(f"generator_steps and critic_steps must be positive, got "
                             f"{generator_steps} and {critic_steps}")
        self.batches = batches
        self.generator_steps = generator_steps
        self.critic_steps = critic_steps

    def on_train_begin(self, logs=None):
        if int(self.model.optimizer.iterations.numpy()) > 0:
            return
        critic_step = tf.function(self.model.critic_step)
        generator_step = tf.function(self.model.generator_step)
        batches = iter(self.batches())
        for _ in range(self.generator_steps):
            for _ in range(self.critic_steps):
                try:
                    batch = next(batches)
                except StopIteration:
                    raise ValueError(
                        f"the critic's warm-up needs {self.generator_steps * self.critic_steps}"
                        " real batches, and batches() ran out; repeat the dataset") from None
                critic_step(batch)
            generator_step(batch)


class SampleSnapshots(keras.callbacks.Callback):
    """Record samples from *fixed* latents at chosen epochs, so a figure can show the same
    samples evolving over training (the latents are drawn once, by ``sample_fn``'s closure).

    :func:`~course_utils.cache.load_or_train` stores the snapshots with the model
    (``CachedRun.arrays``), so a re-run loaded from the cache shows the same figure; a run
    resumed from its backup gets back the snapshots of the epochs before the interruption
    (:meth:`restore_arrays`).

    Args:
        sample_fn: ``sample_fn(model) -> array``, e.g. ``lambda m: m.generate_from(z)``.
        epochs: after which epochs to record (1-based; 0 is before training).
    """

    def __init__(self, sample_fn: Callable[[keras.Model], Any], *, epochs: Iterable[int]):
        super().__init__()
        self.sample_fn = sample_fn
        self.epochs = sorted({int(e) for e in epochs})
        if not self.epochs or self.epochs[0] < 0:
            raise ValueError(f"epochs must be non-negative ints, got {self.epochs}")
        self.snapshots: dict[int, np.ndarray] = {}

    def _record(self, epoch: int) -> None:
        if epoch in self.epochs:
            self.snapshots[epoch] = np.asarray(self.sample_fn(self.model))

    def on_train_begin(self, logs=None):
        if 0 not in self.snapshots:  # a resumed run has it from its backup
            self._record(0)

    def on_epoch_end(self, epoch, logs=None):
        self._record(epoch + 1)

    def cached_arrays(self) -> dict[str, np.ndarray]:
        """``{"snapshot_<epoch>": samples}``, what :func:`~course_utils.cache.load_or_train`
        stores."""
        return {f"snapshot_{epoch}": samples for epoch, samples in self.snapshots.items()}

    def restore_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Take back the snapshots of :meth:`cached_arrays` (a resumed run's)."""
        self.snapshots = {int(key.removeprefix("snapshot_")): value
                          for key, value in arrays.items() if key.startswith("snapshot_")}


class PeriodicMeasurements(keras.callbacks.Callback):
    """Measure the model every ``every_steps`` optimizer steps (and before training), e.g. a
    GAN's sample quality and its critic's estimate, to follow them more finely than once an
    epoch.

    Steps are counted by ``model.optimizer.iterations`` (a GAN's generator steps). Keras calls
    back once every ``steps_per_execution`` steps, so a measurement falls on the first
    callback at or after each multiple of ``every_steps``.
    :func:`~course_utils.cache.load_or_train` stores the measurements with the model
    (``CachedRun.arrays``: ``measured_step`` and one ``measured_<name>`` array per measured
    value).

    Args:
        measure_fn: ``measure_fn(model) -> {name: float}``.
        every_steps: the interval, in optimizer steps.
    """

    def __init__(self, measure_fn: Callable[[keras.Model], Mapping[str, float]], *,
                 every_steps: int):
        super().__init__()
        if every_steps < 1:
            raise ValueError(f"every_steps must be positive, got {every_steps}")
        self.measure_fn = measure_fn
        self.every_steps = every_steps
        self.steps: list[int] = []
        self.values: dict[str, list[float]] = {}

    def _measure(self) -> None:
        if self.model.stop_training:  # e.g. a NaN: nothing worth measuring
            return
        step = int(self.model.optimizer.iterations.numpy())
        if self.steps and step // self.every_steps <= self.steps[-1] // self.every_steps:
            return
        self.steps.append(step)
        for name, value in self.measure_fn(self.model).items():
            self.values.setdefault(name, []).append(float(value))

    def on_train_begin(self, logs=None):
        self._measure()

    def on_train_batch_end(self, batch, logs=None):
        self._measure()

    def cached_arrays(self) -> dict[str, np.ndarray]:
        return {"measured_step": np.asarray(self.steps, np.int64),
                **{f"measured_{name}": np.asarray(values, np.float64)
                   for name, values in self.values.items()}}

    def restore_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Take back the measurements of :meth:`cached_arrays` (a resumed run's)."""
        if "measured_step" not in arrays:
            return
        self.steps = [int(step) for step in arrays["measured_step"]]
        self.values = {key.removeprefix("measured_"): [float(v) for v in value]
                       for key, value in arrays.items()
                       if key.startswith("measured_") and key != "measured_step"}


class PlainProgress(keras.callbacks.Callback):
    """Progress as plain lines, for logs and committed notebooks: ``epoch 5/20 after 63 s:
    loss=...``, at most one every ``every_seconds`` and always the last epoch's, each
    printed once (a text-mode tqdm bar reprints its state from its monitor thread and on
    closing, which a saved notebook shows as repeated lines)."""

    def __init__(self, epochs: int, *, every_seconds: float = 60.0, file=None):
        super().__init__()
        self.epochs = epochs
        self.every_seconds = every_seconds
        self.file = file
        self.start = self.last_print = 0.0

    def on_train_begin(self, logs=None):
        self.start = self.last_print = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        now, done = time.perf_counter(), epoch + 1
        if done < self.epochs and now - self.last_print < self.every_seconds:
            return
        self.last_print = now
        values = ", ".join(f"{name}={value:.3g}" for name, value in (logs or {}).items())
        print(f"epoch {done}/{self.epochs} after {now - self.start:.0f} s: {values}",
              file=self.file or sys.stdout, flush=True)


def progress_bar(epochs: int) -> keras.callbacks.Callback:
    """A tqdm progress bar over epochs, a live widget in Jupyter; in logs and headless runs
    (committed notebooks), :class:`PlainProgress` lines, at most one a minute."""
    if config.is_headless():
        return PlainProgress(epochs)
    return TqdmCallback(epochs=epochs, verbose=0, tqdm_class=tqdm.auto.tqdm)
