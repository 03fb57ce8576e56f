"""The course's one training design, and load-or-train caching.

Every model of the course is a :class:`GenerativeModel`: it owns one ``keras.metrics.Mean``
tracker per reported loss, and defines only ``compute_losses(batch, training) -> dict``
(with a ``"loss"`` key). The generic ``train_step`` differentiates ``"loss"`` with respect to
all trainable variables; ``fit()`` does the rest (history, validation, callbacks,
distribution strategies). Two-player models subclass :class:`AdversarialModel`, which
keeps the same trackers and reporting but takes two optimizers and repeats the critic's
step ``critic_steps`` times. Flows are single-optimizer models whose loss is their NLL.

:func:`train` runs ``fit()`` with the course's callbacks (progress bar, NaN stop, backup for
resuming) and turns Ctrl-C into a normal return; :func:`load_or_train` caches the trained
weights, training time and metrics under ``config.cache_dir()``, keyed by name, config and mode.
"""

from __future__ import annotations

import contextlib
import contextvars
import ctypes
import gc
import hashlib
import json
import math
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: one process at a time is up to the user
    fcntl = None

import numpy as np
import tqdm.auto
import tqdm.std
from tqdm.keras import TqdmCallback

from course_utils import __version__, config
from course_utils._tensorflow import keras, tf
from course_utils.backup import ResumeBackup, require_free_space
from course_utils.data import file_sha256
from course_utils.report import to_jsonable

#: Bumped when the layout of a cache entry changes, so old entries are not misread.
CACHE_FORMAT = 2
#: Where a cache entry keeps what callbacks recorded (e.g. sample snapshots), if anything.
ARRAYS_FILE = "arrays.npz"


class GenerativeModel(keras.Model):
    """Base class: one generic ``train_step``/``test_step`` for every single-optimizer model.

    Subclasses set ``loss_names`` (the keys ``compute_losses`` returns, ``"loss"`` among them),
    create their sub-models in ``__init__`` and implement ``compute_losses``.
    ``compile`` defaults to 32 steps per execution, the course's fast set-up: it removes most
    of the per-step Python overhead, which dominates small models on CPUs. XLA
    (``jit_compile=True``) is left off by default: on CPUs it slows convolutions down, it
    keeps its compiled programs in memory, and its compile time outweighs its gain in short
    runs (the recipes turn it on where it pays; see ``python -m course_utils.bench``).
    ``grappler_options`` are TensorFlow graph-optimizer settings that :func:`train` applies
    while this model trains (see :func:`graph_optimizer_options`).
    """

    loss_names: tuple[str, ...] = ("loss",)
    grappler_options: tuple[tuple[str, bool], ...] = ()
    #: The classes a conditional model generates (its ``sample`` then needs ``labels``);
    #: None for an unconditional model.
    num_classes: int | None = None

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in self.loss_names}

    @property
    def metrics(self):
        return list(self.trackers.values())

    def build(self, input_shape=None):
        """Mark the model built: its sub-models are Functional models, built on creation."""
        self.built = True

    def compile(self, optimizer, *, jit_compile=False, steps_per_execution=32, **kwargs):
        """Compile with the course's defaults, and create the optimizer's slots now (so that
        weights saved after training load into a new model without warnings)."""
        super().compile(
            optimizer=optimizer,
            jit_compile=jit_compile,
            steps_per_execution=steps_per_execution,
            **kwargs,
        )
        self.build()
        self.optimizer.build(self.trainable_variables)

    def check_labels(self, labels) -> None:
        """Raise ValueError unless ``labels`` are given exactly when the model is conditional.

        Every generative model of the course samples through one interface,
        ``sample(num_samples, *, seed, labels=None, **options)``, and calls this first."""
        if (labels is None) != (self.num_classes is None):
            raise ValueError(f"{type(self).__name__}: pass labels exactly when the model is "
                             f"conditional (num_classes={self.num_classes})")

    def compute_losses(self, batch, training: bool) -> dict:
        """Return a dict of scalar losses for one batch, with the key ``"loss"`` optimized."""
        raise NotImplementedError(f"{type(self).__name__} must implement compute_losses")

    def descend(self, losses_fn, batch, variables, optimizer, key: str) -> dict:
        """One gradient step on ``losses_fn(batch, training=True)[key]``; return all losses.

        The loss is divided by the number of replicas, so that summing the replicas'
        gradients (what ``tf.distribute`` does) gives the gradient of the global-batch mean.
        """
        with tf.GradientTape() as tape:
            losses = losses_fn(batch, training=True)
            scaled = losses[key] / self.distribute_strategy.num_replicas_in_sync
        gradients = tape.gradient(scaled, variables)
        optimizer.apply(gradients, variables)
        return losses

    def update_trackers(self, losses: Mapping) -> dict:
        """Feed each loss to its tracker and return the running means, as ``fit`` expects."""
        if set(losses) != set(self.trackers):
            raise ValueError(
                f"{type(self).__name__}.compute_losses returned {sorted(losses)}, but "
                f"loss_names declares {sorted(self.trackers)}; make them the same."
            )
        for name, value in losses.items():
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def train_step(self, data):
        losses = self.descend(
            self.compute_losses, data, self.trainable_variables, self.optimizer, "loss"
        )
        return self.update_trackers(losses)

    def test_step(self, data):
        return self.update_trackers(self.compute_losses(data, training=False))


class AdversarialModel(GenerativeModel):
    """Base class for two-player models (GANs, WGANs, BiGAN, AAE, ...).

    Subclasses implement ``discriminator_losses(batch, training)`` (with key ``"d_loss"``)
    and ``generator_losses(batch, training)`` (with key ``"g_loss"``), and by default own
    ``self.discriminator`` and ``self.generator`` (override ``discriminator_variables`` /
    ``generator_variables`` when a player has more networks, e.g. an encoder).

    Each training step takes ``critic_steps`` discriminator (critic) steps on the same real
    batch with fresh noise, each followed by ``after_critic_step()`` (a WGAN clips its
    critic's weights there), then one generator step, followed by ``after_generator_step()``
    (a GAN updates its averaged generator there).
    """

    loss_names = ("d_loss", "g_loss")
    # TensorFlow 2.21's remapper fails on adversarial training graphs whose discriminator has
    # a convolution, its bias and LeakyReLU (it fuses ops the backward pass still needs): it
    # logs an error, sometimes, and then skips the fusion anyway, so turning it off costs
    # nothing.
    grappler_options = (("remapping", False),)

    def __init__(self, *, critic_steps: int = 1, **kwargs):
        if not isinstance(critic_steps, int) or critic_steps < 1:
            raise ValueError(f"critic_steps must be a positive int, got {critic_steps!r}")
        super().__init__(**kwargs)
        self.critic_steps = critic_steps

    @property
    def discriminator_variables(self):
        return self.discriminator.trainable_variables

    @property
    def generator_variables(self):
        return self.generator.trainable_variables

    def compile(self, *, d_optimizer, g_optimizer, jit_compile=False, steps_per_execution=32,
                **kwargs):
        """Compile with one optimizer per player (``self.optimizer`` is the generator's)."""
        keras.Model.compile(
            self,
            optimizer=g_optimizer,
            jit_compile=jit_compile,
            steps_per_execution=steps_per_execution,
            **kwargs,
        )
        self.build()
        self.d_optimizer = d_optimizer
        self.d_optimizer.build(self.discriminator_variables)
        self.optimizer.build(self.generator_variables)

    def discriminator_losses(self, batch, training: bool) -> dict:
        raise NotImplementedError(f"{type(self).__name__} must implement discriminator_losses")

    def generator_losses(self, batch, training: bool) -> dict:
        raise NotImplementedError(f"{type(self).__name__} must implement generator_losses")

    def compute_losses(self, batch, training: bool) -> dict:
        return {
            **self.discriminator_losses(batch, training=training),
            **self.generator_losses(batch, training=training),
        }

    def after_critic_step(self) -> None:
        """Called after each discriminator step (nothing by default)."""

    def after_generator_step(self) -> None:
        """Called after each generator step (nothing by default)."""

    def train_step(self, data):
        for _ in range(self.critic_steps):
            d_losses = self.descend(
                self.discriminator_losses, data, self.discriminator_variables,
                self.d_optimizer, "d_loss",
            )
            self.after_critic_step()
        g_losses = self.descend(
            self.generator_losses, data, self.generator_variables, self.optimizer, "g_loss"
        )
        self.after_generator_step()
        return self.update_trackers({**d_losses, **g_losses})


class TrainingDivergedError(RuntimeError):
    """A loss became NaN or infinite; nothing was cached.

    Attributes:
        model: the model, with the weights of its last finished epoch when a resume backup
            had them (else as it stopped).
    """

    def __init__(self, message: str, *, model: keras.Model | None = None):
        super().__init__(message)
        self.model = model


class TerminateOnNonFinite(keras.callbacks.TerminateOnNaN):
    """Keras's ``TerminateOnNaN``, watching every logged value (``d_loss``, ``g_loss``, ...)."""

    def __init__(self):
        super().__init__()
        self.bad_value: tuple[str, float] | None = None

    def on_batch_end(self, batch, logs=None):
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


class SampleSnapshots(keras.callbacks.Callback):
    """Record samples from *fixed* latents at chosen epochs, so a figure can show the same
    samples evolving over training (the latents are drawn once, by ``sample_fn``'s closure).

    :func:`load_or_train` stores the snapshots with the model (``CachedRun.arrays``), so a
    re-run loaded from the cache shows the same figure; a run resumed from its backup gets
    back the snapshots of the epochs before the interruption (:meth:`restore_arrays`).

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
        """``{"snapshot_<epoch>": samples}``, what :func:`load_or_train` stores."""
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
    callback at or after each multiple of ``every_steps``. :func:`load_or_train` stores the
    measurements with the model (``CachedRun.arrays``: ``measured_step`` and one
    ``measured_<name>`` array per measured value).

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


def progress_bar(epochs: int) -> keras.callbacks.Callback:
    """A tqdm progress bar over epochs: a live widget in Jupyter, plain text in logs (where it
    prints at most once a minute, so logs and committed notebooks stay short)."""
    if config.is_headless():
        return TqdmCallback(epochs=epochs, verbose=0, tqdm_class=tqdm.std.tqdm,
                            file=sys.stdout, mininterval=60, ascii=True)
    return TqdmCallback(epochs=epochs, verbose=0, tqdm_class=tqdm.auto.tqdm)


@dataclass
class TrainingResult:
    """What :func:`train` returns.

    Attributes:
        history: ``{metric name: [one value per completed epoch]}``.
        seconds: wall-clock training time.
        interrupted: True when Ctrl-C stopped training early.
    """

    history: dict[str, list[float]]
    seconds: float
    interrupted: bool = False

    @property
    def epochs_completed(self) -> int:
        return len(next(iter(self.history.values()), []))


def train(
    model: keras.Model,
    train_data,
    *,
    epochs: int,
    validation_data=None,
    callbacks: Iterable[keras.callbacks.Callback] = (),
    backup: ResumeBackup | None = None,
) -> TrainingResult:
    """Fit a compiled model with the course's callbacks.

    Args:
        model: a compiled ``keras.Model`` (usually a :class:`GenerativeModel`).
        train_data: a ``tf.data.Dataset`` of batches (see ``course_utils.data.make_dataset``).
        epochs: passes over ``train_data``.
        validation_data: optional dataset evaluated after each epoch (``val_*`` keys).
        callbacks: extra Keras callbacks (e.g. a sample-grid monitor).
        backup: a :class:`~course_utils.backup.ResumeBackup` (give it the callbacks as
            ``recorders``): training resumes from its last finished epoch, and it keeps each
            finished epoch, so a crashed or interrupted run resumes there.

    Returns:
        A :class:`TrainingResult`, whose history covers every epoch, resumed ones included.
        Ctrl-C returns the model as trained so far (``interrupted=True``) instead of raising.

    Raises:
        TrainingDivergedError: a logged loss became NaN or infinite. With a backup, the
            model's weights are put back to the last finished epoch (``error.model``) and
            the backup is kept.
    """
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    initial_epoch = backup.restore(model) if backup is not None else 0
    nan_stop = TerminateOnNonFinite()
    all_callbacks = [nan_stop, progress_bar(epochs), *callbacks]
    if backup is not None:
        all_callbacks.append(backup)
    start = time.perf_counter()
    interrupted = False
    try:
        with graph_optimizer_options(**dict(getattr(model, "grappler_options", ()))):
            model.fit(
                train_data,
                epochs=epochs,
                initial_epoch=initial_epoch,
                validation_data=validation_data,
                callbacks=all_callbacks,
                shuffle=False,  # datasets arrive shuffled; Keras warns if asked to shuffle them
                verbose=0,
            )
    except KeyboardInterrupt:
        interrupted = True
    seconds = backup.training_seconds() if backup is not None else time.perf_counter() - start
    if backup is not None:
        history = {key: list(values) for key, values in backup.history.items()}
    else:
        history_callback = getattr(model, "history", None)
        history = {key: [float(value) for value in values] for key, values in
                   getattr(history_callback, "history", {}).items()}
    if nan_stop.bad_value is not None:
        key, value = nan_stop.bad_value
        finished = sum(all(math.isfinite(v) for v in epoch)
                       for epoch in zip(*history.values(), strict=True))
        kept = "nothing was cached"
        if backup is not None and backup.epochs_saved:
            backup.restore_weights(model)
            kept = (f"the weights of epoch {backup.epochs_saved} are kept (in the model, the "
                    f"error's .model, and in the resume backup {backup.folder}); nothing was "
                    "cached")
        raise TrainingDivergedError(
            f"Training stopped: {key} became {value} in epoch {finished + 1}, after "
            f"{finished} finished epoch(s); {kept}. Lower the learning rate or check the "
            "data's value range.", model=model)
    return TrainingResult(history=history, seconds=seconds, interrupted=interrupted)


@contextlib.contextmanager
def graph_optimizer_options(**options: bool):
    """Set TensorFlow's graph-optimizer (Grappler) options for the graphs first run inside
    the block, e.g. ``remapping=False``, and restore the previous settings after it.

    Grappler optimizes a ``tf.function`` when it first runs, so wrapping the training call
    is enough. The names are those of ``tf.config.optimizer.set_experimental_options``.
    """
    previous = tf.config.optimizer.get_experimental_options()
    tf.config.optimizer.set_experimental_options(options)
    try:
        yield
    finally:
        tf.config.optimizer.set_experimental_options(
            {name: previous.get(name, True) for name in options})


def release_memory() -> None:
    """Give memory freed by a training run back to the operating system.

    ``fit()`` leaves the dataset's iterator in reference cycles, which hold the training
    data's tensors until the garbage collector runs; and glibc keeps freed heap pages (XLA's
    compiler leaves many) in the process. Collecting, then trimming the heap, returns them
    after each model trained. Trimming is skipped where the C library is not glibc (macOS,
    Windows).
    """
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def drop_compiled_functions(model: keras.Model) -> None:
    """Forget the model's compiled training, evaluation and prediction functions.

    Their traced graphs (large for a model compiled with XLA) stay in memory as long as the
    model does; Keras builds them again if ``fit``, ``evaluate`` or ``predict`` is called.
    """
    model.train_function = model.test_function = model.predict_function = None


@dataclass
class CachedRun:
    """What :func:`load_or_train` returns.

    Attributes:
        model: the trained model (weights loaded from the cache or just trained).
        history: per-epoch losses of the training run.
        train_seconds: how long training took (on the machine that trained it; after a run
            resumed from its backup, only the resumed part).
        metrics: the values ``evaluate_fn`` returned after training.
        from_cache: True when nothing was trained.
        interrupted: True when Ctrl-C stopped training (then nothing was cached).
        path: the cache entry's folder.
        arrays: what callbacks recorded for the cache (e.g. :class:`SampleSnapshots`).
    """

    model: keras.Model
    history: dict[str, list[float]]
    train_seconds: float
    metrics: dict[str, Any] = field(default_factory=dict)
    from_cache: bool = False
    interrupted: bool = False
    path: Path | None = None
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    def snapshots(self) -> dict[int, np.ndarray]:
        """``{epoch: samples}`` recorded by :class:`SampleSnapshots`, in epoch order."""
        found = {int(key.removeprefix("snapshot_")): value for key, value in self.arrays.items()
                 if key.startswith("snapshot_")}
        return dict(sorted(found.items()))


def cache_key(name: str, run_config: Mapping[str, Any]) -> str:
    """Return the 16-hex-digit key of a cache entry for ``name``, its config and the mode."""
    try:
        text = json.dumps(
            {"name": name, "config": run_config, "mode": config.mode(), "format": CACHE_FORMAT},
            sort_keys=True,
        )
    except TypeError as error:
        raise ValueError(
            f"the config of {name!r} must be JSON-serializable (numbers, strings, lists, "
            f"dicts): {error}"
        ) from error
    return hashlib.sha256(text.encode()).hexdigest()[:16]


#: What a cache entry's ``entry.json`` must hold, and of which type.
ENTRY_FIELDS = {"mode": str, "history": dict, "train_seconds": (int, float), "metrics": dict,
                "weights_sha256": str, "structure": str}


def _read_entry(folder: Path) -> dict:
    """Return a cache entry's metadata after checking it and its weights; raise ValueError
    if anything is missing or wrong."""
    try:
        entry = json.loads((folder / "entry.json").read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"entry.json unreadable ({error})") from error
    if not isinstance(entry, dict):
        raise ValueError("entry.json does not hold an entry")
    wrong = [key for key, kind in ENTRY_FIELDS.items() if not isinstance(entry.get(key), kind)]
    if wrong:
        raise ValueError(f"entry.json lacks or garbles {wrong}")
    weights = folder / "model.weights.h5"
    if not weights.is_file() or file_sha256(weights) != entry["weights_sha256"]:
        raise ValueError("weights file missing or its sha256 differs from entry.json")
    arrays = folder / ARRAYS_FILE
    if entry.get("arrays_sha256") and (not arrays.is_file()
                                       or file_sha256(arrays) != entry["arrays_sha256"]):
        raise ValueError(f"{ARRAYS_FILE} missing or its sha256 differs from entry.json")
    return entry


def _remove_orphans(folder: Path) -> None:
    """Remove the temporary folders that interrupted writes of this entry left behind (those
    of processes that no longer run)."""
    for orphan in folder.parent.glob(f".{folder.name}.tmp-*"):
        pid = orphan.name.rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and not _process_alive(int(pid)):
            shutil.rmtree(orphan, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def _write_entry_atomically(folder: Path, model: keras.Model, entry: dict,
                            arrays: Mapping[str, np.ndarray]) -> None:
    """Write weights, arrays and metadata to a temporary folder, then rename it into place."""
    _remove_orphans(folder)
    temporary = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir(parents=True)
    try:
        require_free_space(temporary, model)
        model.save_weights(temporary / "model.weights.h5")
        entry["weights_sha256"] = file_sha256(temporary / "model.weights.h5")
        if arrays:
            np.savez_compressed(temporary / ARRAYS_FILE, **arrays)
            entry["arrays_sha256"] = file_sha256(temporary / ARRAYS_FILE)
        (temporary / "entry.json").write_text(json.dumps(entry, indent=1, sort_keys=True))
        shutil.rmtree(folder, ignore_errors=True)
        os.rename(temporary, folder)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def _load_entry(name: str, folder: Path, model: keras.Model, structure: str) -> CachedRun | None:
    """The cached run of ``folder`` loaded into ``model``, or None when there is no usable
    entry (a corrupt one, or one of another structure, is removed with a message; inside
    :func:`cache_only` it raises :class:`NotCachedError` instead)."""
    if not folder.exists():
        return None
    try:
        entry = _read_entry(folder)
        problem = None if entry["structure"] == structure else (
            "holds a model of another structure (its builder changed)")
    except ValueError as error:
        problem = f"is corrupt ({error})"
    if problem is not None:
        if is_cache_only():
            raise NotCachedError(f"{name}'s cache entry {folder} {problem}")
        print(f"Cache entry {folder} {problem}; training again.")
        shutil.rmtree(folder, ignore_errors=True)
        return None
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)  # so its slots load too
    model.load_weights(folder / "model.weights.h5")
    print(f"Loaded {name} from the cache ({entry['mode']} mode, trained in "
          f"{entry['train_seconds']:.0f} s).")
    arrays = {}
    if entry.get("arrays_sha256"):
        with np.load(folder / ARRAYS_FILE) as stored:
            arrays = {key: stored[key] for key in stored.files}
    return CachedRun(model, entry["history"], entry["train_seconds"], entry["metrics"],
                     from_cache=True, path=folder, arrays=arrays)


def _writable(folder: Path) -> bool:
    return os.access(folder, os.W_OK | os.X_OK)


@contextlib.contextmanager
def entry_lock(folder: Path):
    """Hold the lock of one cache entry for the block: one process at a time trains it.

    The lock is an exclusive ``flock`` on a file beside the entry. A second process waits
    for the first to finish (and then finds its entry); the lock goes with the process that
    holds it, so a crashed run never leaves a stale lock. Yields whether it had to wait.
    Where locks cannot be taken (a read-only cache, a system without ``fcntl``), the block
    runs without one.
    """
    lock_path = folder.with_name(f".{folder.name}.lock")
    try:
        handle = open(lock_path, "a")  # noqa: SIM115 (held open for the block)
    except OSError:
        yield False
        return
    waited = False
    try:
        if fcntl is not None:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                print(f"Another process is training {folder.name}; waiting for it to finish.")
                waited = True
                fcntl.flock(handle, fcntl.LOCK_EX)
        yield waited
    finally:
        handle.close()  # releases the lock


class NotCachedError(LookupError):
    """A model was asked for inside :func:`cache_only` and is not in the cache."""


_CACHE_ONLY = contextvars.ContextVar("course_utils_cache_only", default=False)


@contextlib.contextmanager
def cache_only():
    """Inside the block, :func:`load_or_train` loads from the cache or raises
    :class:`NotCachedError`; it never trains (the comparison chapter compares the models the
    other chapters trained, without training any itself). The flag is context-local: it
    holds in this thread (or task) only, and is restored on leaving the block."""
    token = _CACHE_ONLY.set(True)
    try:
        yield
    finally:
        _CACHE_ONLY.reset(token)


def is_cache_only() -> bool:
    """Whether the current context is inside :func:`cache_only`."""
    return _CACHE_ONLY.get()


def _without_names(value):
    """A layer configuration without its ``name`` entries: Keras numbers unnamed layers
    in the order a process creates them, which says nothing about the structure."""
    if isinstance(value, dict):
        return {key: _without_names(item) for key, item in value.items() if key != "name"}
    if isinstance(value, (list, tuple)):
        return [_without_names(item) for item in value]
    return value


def _layer_descriptions(layer) -> list:
    """``[class name, configuration]`` of ``layer`` and of every layer inside it, in order.

    A model (Functional or subclassed) contributes its layers; a layer without a
    serializable configuration contributes its class name alone."""
    sublayers = getattr(layer, "layers", None)
    if sublayers is not None:
        return [description for sublayer in sublayers
                for description in _layer_descriptions(sublayer)]
    try:
        layer_config = _without_names(layer.get_config())
    except (NotImplementedError, TypeError):
        layer_config = None
    return [[type(layer).__name__, layer_config]]


def structure_fingerprint(model: keras.Model) -> str:
    """16 hex digits that change whenever the model's structure does: every layer's class
    and configuration (names left out), every weight's shape and dtype in order, the
    optimizer's class and :data:`CACHE_FORMAT`.

    :func:`load_or_train` stores it with an entry and checks it before loading the weights,
    so a changed builder never loads weights trained for another structure.
    """
    description = {
        "layers": [description for layer in model.layers
                   for description in _layer_descriptions(layer)],
        "weights": [[list(variable.shape), str(variable.dtype)] for variable in model.weights],
        "optimizer": type(model.optimizer).__name__ if model.optimizer is not None else None,
        "format": CACHE_FORMAT,
    }
    text = json.dumps(description, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_or_train(
    name: str,
    build_fn: Callable[[], keras.Model],
    *,
    config_dict: Mapping[str, Any],
    train_data,
    epochs: int,
    validation_data=None,
    evaluate_fn: Callable[[keras.Model], Mapping[str, Any]] | None = None,
    callbacks: Iterable[keras.callbacks.Callback] = (),
    strategy=None,
) -> CachedRun:
    """Load a trained model from the cache, or train it and cache it.

    The entry is keyed by ``name``, ``config_dict`` and the mode (fast/full), so
    change the config whenever something that shapes the result changes (data, sizes,
    epochs, seed); the model's :func:`structure_fingerprint` is stored with it and checked
    before its weights load, so an entry of another structure is trained again. It stores
    the weights, the history, the training seconds and the metrics ``evaluate_fn``
    computed; it is written atomically and checked (sha256) on load. A crashed or
    interrupted run (Ctrl-C in an epoch, in the evaluation or in the write) leaves no
    entry, and resumes from its last finished epoch (:class:`~course_utils.backup.ResumeBackup`,
    kept until the entry is written). One process at a time trains an entry
    (:func:`entry_lock`); another one waits and loads its result. A cache folder that
    cannot be written still gives the trained model, with one line saying it is not cached.

    Args:
        name: a short identifier, e.g. ``"autoencoder_156_2d"``.
        build_fn: returns a new compiled model; called under the distribution strategy.
        config_dict: JSON-serializable description of everything that shapes the result.
        train_data: a dataset for :func:`train`, or a function returning one; a function is
            called only when the model must be trained, so a cache hit loads no training data.
        validation_data: a dataset, or a function returning one (called like
            ``train_data``), or None.
        epochs, callbacks: passed to :func:`train`.
        evaluate_fn: computes the metrics to store with the entry (floats, lists, dicts).
        strategy: a ``tf.distribute`` strategy; default ``config.distribution_strategy()``.

    Returns:
        A :class:`CachedRun`.

    Raises:
        NotCachedError: inside :func:`cache_only`, when the entry is not cached.
    """
    key = cache_key(name, config_dict)
    cache = config.cache_dir()
    folder = cache / f"{name}-{key}"
    if is_cache_only() and not folder.exists():
        raise NotCachedError(f"{name} ({config.mode()} mode, key {key}) is not in the cache "
                             f"{cache}")
    strategy = strategy or config.distribution_strategy()
    with strategy.scope():
        model = build_fn()
    structure = structure_fingerprint(model)
    cached = _load_entry(name, folder, model, structure)
    if cached is not None:
        return cached
    if is_cache_only():  # its entry went away since the check above
        raise NotCachedError(f"{name} ({config.mode()} mode, key {key}) is not in the cache "
                             f"{cache}")
    with entry_lock(folder):
        # Another process may have cached it since the check above (it held the lock, or
        # released it just before this process took it).
        cached = _load_entry(name, folder, model, structure)
        if cached is not None:
            return cached
        return _train_and_cache(name, key, folder, model, structure, config_dict=config_dict,
                                train_data=train_data, validation_data=validation_data,
                                epochs=epochs, evaluate_fn=evaluate_fn, callbacks=callbacks)


def _train_and_cache(name: str, key: str, folder: Path, model: keras.Model, structure: str, *,
                     config_dict, train_data, validation_data, epochs, evaluate_fn,
                     callbacks) -> CachedRun:
    """:func:`load_or_train`'s training half: train (resuming from the backup), evaluate and
    write the entry; Ctrl-C at any point returns the model and keeps the backup."""
    callbacks = list(callbacks)  # iterated twice: by fit() and for cached arrays
    writable = _writable(folder.parent)
    backup = ResumeBackup(folder.with_name(folder.name + ".backup"), recorders=callbacks,
                          structure=structure) if writable else None
    if not writable:
        print(f"The model cache {folder.parent} is not writable: {name} is trained without "
              "a resume backup and will not be cached.")
    print(f"Training {name} for {epochs} epochs ({config.mode()} mode; cache key {key}).")
    try:
        if callable(train_data):
            train_data = train_data()
        if callable(validation_data):
            validation_data = validation_data()
        result = train(model, train_data, epochs=epochs, validation_data=validation_data,
                       callbacks=callbacks, backup=backup)
    except KeyboardInterrupt:  # while the data were prepared
        print("Interrupted before training: nothing was trained.")
        return CachedRun(model, {}, 0.0, interrupted=True)
    train_data = validation_data = None
    if result.interrupted:
        print(f"Interrupted after {result.epochs_completed} complete epoch(s): the model is "
              "returned as trained so far and not cached; run again to resume.")
        return CachedRun(model, result.history, result.seconds, interrupted=True)
    metrics, arrays, written = {}, {}, False
    try:
        drop_compiled_functions(model)
        release_memory()
        metrics = to_jsonable(dict(evaluate_fn(model))) if evaluate_fn else {}
        arrays = {key: np.asarray(value) for callback in callbacks
                  if hasattr(callback, "cached_arrays")
                  for key, value in callback.cached_arrays().items()}
        entry = {
            "name": name, "key": key, "mode": config.mode(), "config": dict(config_dict),
            "structure": structure, "epochs": epochs, "history": result.history,
            "train_seconds": result.seconds, "metrics": metrics,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "versions": {"course_utils": __version__, "keras": keras.__version__,
                         "tensorflow": tf.__version__},
        }
        if writable:
            _write_entry_atomically(folder, model, entry, arrays)
            written = True
            backup.discard()
    except KeyboardInterrupt:
        if written:  # only the backup's removal was cut short: the entry is whole
            shutil.rmtree(backup.folder, ignore_errors=True)
            return CachedRun(model, result.history, result.seconds, metrics, path=folder,
                             arrays=arrays)
        print(f"Interrupted after training all {epochs} epochs, before the model was cached: "
              "it is returned as trained; run again to evaluate and cache it (its backup "
              "keeps every epoch).")
        return CachedRun(model, result.history, result.seconds, interrupted=True)
    except OSError as error:  # a full disk still returns the trained model
        print(f"Could not write the cache entry {folder} ({error}); the model is not cached.")
        return CachedRun(model, result.history, result.seconds, metrics, arrays=arrays)
    return CachedRun(model, result.history, result.seconds, metrics,
                     path=folder if writable else None, arrays=arrays)
