"""Load-or-train caching: each trained model's weights, history, training time and metrics
under ``config.cache_dir()``, keyed by name, config and mode.

:func:`load_or_train` is the one entry point. An entry is written atomically and checked
(sha256, and the model's :func:`structure_fingerprint`) before it loads; one process at a
time trains an entry (:func:`entry_lock`); inside :func:`cache_only` nothing is trained.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import os
import shutil
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

from course_utils import __version__, config
from course_utils._tensorflow import keras, tf
from course_utils.backup import ResumeBackup, optimizers_of, require_free_space
from course_utils.data import file_sha256
from course_utils.report import to_jsonable
from course_utils.training import drop_compiled_functions, release_memory, train

#: Bumped when the layout of a cache entry changes, so old entries are not misread.
CACHE_FORMAT = 2
#: Where a cache entry keeps what callbacks recorded (e.g. sample snapshots), if anything.
ARRAYS_FILE = "arrays.npz"


@dataclass
class CachedRun:
    """What :func:`load_or_train` returns.

    Attributes:
        model: the trained model (weights loaded from the cache or just trained).
        history: per-epoch losses of the training run.
        train_seconds: how long training took, on the machine that trained it (a run resumed
            from its backup counts the sessions before the interruption too).
        metrics: the values ``evaluate_fn`` returned after training.
        from_cache: True when nothing was trained.
        interrupted: True when Ctrl-C stopped training (then nothing was cached).
        path: the cache entry's folder.
        arrays: what callbacks recorded for the cache (e.g.
            :class:`~course_utils.callbacks.SampleSnapshots`).
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
        """``{epoch: samples}`` recorded by :class:`~course_utils.callbacks.SampleSnapshots`,
        in epoch order."""
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
    with _optimizers_hidden(model):
        model.load_weights(folder / "model.weights.h5")
    print(f"Loaded {name} from the cache ({entry['mode']} mode, trained in "
          f"{entry['train_seconds']:.0f} s).")
    arrays = {}
    if entry.get("arrays_sha256"):
        with np.load(folder / ARRAYS_FILE) as stored:
            arrays = {key: stored[key] for key in stored.files}
    return CachedRun(model, entry["history"], entry["train_seconds"], entry["metrics"],
                     from_cache=True, path=folder, arrays=arrays)


@contextlib.contextmanager
def _optimizers_hidden(model: keras.Model):
    """Hide the model's optimizers while its weights load. A cached model is used, not
    trained further, so an entry's optimizer state (older entries hold one) is left unread
    and the optimizer's slots are never created: Adam's would double the model's memory."""
    optimizers = optimizers_of(model)
    for name in optimizers:
        setattr(model, name, None)
    try:
        yield
    finally:
        for name, optimizer in optimizers.items():
            setattr(model, name, optimizer)


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
        train_data: a dataset for :func:`~course_utils.training.train`, or a function
            returning one; a function is called only when the model must be trained, so a
            cache hit loads no training data.
        validation_data: a dataset, or a function returning one (called like
            ``train_data``), or None.
        epochs, callbacks: passed to :func:`~course_utils.training.train`.
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
    not_cached = f"{name} ({config.mode()} mode, key {key}) is not in the cache {cache}"
    if is_cache_only() and not folder.exists():  # so no model is built for nothing
        raise NotCachedError(not_cached)
    strategy = strategy or config.distribution_strategy()
    with strategy.scope():
        model = build_fn()
    structure = structure_fingerprint(model)
    cached = _load_entry(name, folder, model, structure)
    if cached is not None:
        return cached
    if is_cache_only():  # its entry went away since the check above
        raise NotCachedError(not_cached)
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
    print(f"Training {name} for {epochs} epochs ({config.mode()} mode).")
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
        if hasattr(model, "release_optimizers"):  # the backup holds the optimizer's state
            model.release_optimizers()
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
