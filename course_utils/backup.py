"""The resume backup of a training run, written so that no crash can spoil it.

:class:`ResumeBackup` keeps the last finished epoch of a run: the weights (with the
optimizer's state), the history so far, and what the run's recorders (e.g. sample
snapshots) kept. Each epoch's backup goes to new files first; ``state.json``, which names
them with their sha256, then replaces the previous one in a single ``os.replace``. A kill at
any moment therefore leaves either the previous backup or the new one, whole. On restore the
files are checked against ``state.json``; a backup that cannot be read is discarded with a
message, and training starts from the first epoch.
"""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from course_utils._tensorflow import keras
from course_utils.data import file_sha256

STATE_FILE = "state.json"


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and ``os.replace``: readers see
    the old content or the new, never a part."""
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(temporary, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def optimizers_of(model: keras.Model) -> dict:
    """The model's optimizers by attribute name (``optimizer_names`` of the course's models,
    e.g. a GAN's ``d_optimizer`` and ``optimizer``; a plain Keras model's ``optimizer``)."""
    names = getattr(model, "optimizer_names", ("optimizer",))
    return {name: getattr(model, name) for name in names
            if getattr(model, name, None) is not None}


def require_free_space(folder: Path, model: keras.Model) -> None:
    """Raise ``OSError`` (no space left) unless ``folder``'s disk has room for the model's
    weights and optimizer state with a margin. HDF5 crashes the process, rather than
    raising, when the disk fills up while it writes, so the course checks first."""
    variables = [*model.weights, *(variable for optimizer in optimizers_of(model).values()
                                   for variable in optimizer.variables)]
    needed = int(1.2 * sum(np.prod(v.shape) * np.dtype(v.dtype).itemsize for v in variables)
                 + 2048 * len(variables) + 65536)
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise OSError(errno.ENOSPC, f"{free} bytes free in {folder}, about {needed} needed")


def _all_finite(logs: Mapping | None) -> bool:
    return all(math.isfinite(float(value)) for value in (logs or {}).values())


class ResumeBackup(keras.callbacks.Callback):
    """Back up the last finished epoch in ``folder``; :meth:`restore` resumes from it.

    Args:
        folder: the backup's folder (one per cache entry).
        recorders: callbacks whose ``cached_arrays()`` are backed up too, and given back
            through their ``restore_arrays(arrays)`` on resume.
        structure: the model's structure fingerprint; a backup of another structure is
            discarded rather than resumed.

    Attributes:
        history: the whole run's per-epoch logs, restored epochs included.
        epochs_done: finished epochs, restored ones included.
        epochs_saved: the epochs the backup on disk holds.
        restored_seconds: the training seconds of the restored epochs.
        enabled: False once a write failed (a read-only or full disk): training goes on
            without a backup.
    """

    def __init__(self, folder: str | os.PathLike, *, recorders: Iterable = (),
                 structure: str | None = None):
        super().__init__()
        self.folder = Path(folder)
        self.recorders = [recorder for recorder in recorders
                          if hasattr(recorder, "cached_arrays")]
        self.structure = structure
        self.history: dict[str, list[float]] = {}
        self.epochs_done = self.epochs_saved = 0
        self.restored_seconds = 0.0
        self._started = time.perf_counter()
        self.enabled = True

    # --- restoring ---------------------------------------------------------------------------
    def _checked_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """``state.json`` and the recorders' arrays, after checking the files' sha256.

        Raises:
            OSError, ValueError, KeyError, TypeError: the backup cannot be read.
        """
        state = json.loads((self.folder / STATE_FILE).read_text())
        if not isinstance(state, dict):
            raise ValueError(f"{STATE_FILE} holds no JSON object")
        if state.get("structure") != self.structure:
            raise ValueError("it holds a model of another structure")
        if file_sha256(self.folder / state["weights"]) != state["weights_sha256"]:
            raise ValueError(f"{state['weights']} differs from what {STATE_FILE} recorded")
        arrays = {}
        if state.get("arrays"):
            if file_sha256(self.folder / state["arrays"]) != state["arrays_sha256"]:
                raise ValueError(f"{state['arrays']} differs from what {STATE_FILE} recorded")
            with np.load(self.folder / state["arrays"]) as stored:
                arrays = {key: stored[key] for key in stored.files}
        return state, arrays

    def restore_weights(self, model: keras.Model) -> None:
        """Load the backup's weights (and optimizer state) into ``model``."""
        state, _ = self._checked_state()
        build_optimizers = getattr(model, "build_optimizers", None)  # the course's models
        if build_optimizers is not None:
            build_optimizers()  # so the slots of every optimizer load too
        elif model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        model.load_weights(self.folder / state["weights"])

    def restore(self, model: keras.Model) -> int:
        """Load the backup into ``model`` and the recorders, if there is a readable one.

        Returns:
            The epochs it holds (0 without a backup, or when it could not be read).
        """
        if not (self.folder / STATE_FILE).exists():
            return 0
        try:
            state, arrays = self._checked_state()
            self.restore_weights(model)
            epochs, history = int(state["epochs"]), dict(state["history"])
            seconds = float(state["seconds"])
        except (OSError, ValueError, KeyError, TypeError) as problem:
            print(f"The resume backup {self.folder} could not be read ({problem}); it is "
                  "discarded and training starts from the first epoch.")
            self.discard()
            return 0
        for recorder in self.recorders:
            recorder.restore_arrays(arrays)
        self.history, self.epochs_done, self.epochs_saved = history, epochs, epochs
        self.restored_seconds = seconds
        print(f"Resuming from the backup of epoch {epochs}.")
        return epochs

    # --- backing up --------------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        self._started = time.perf_counter()

    def training_seconds(self) -> float:
        """Seconds of training over the whole run: the restored part and this session's."""
        return self.restored_seconds + time.perf_counter() - self._started

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        self.epochs_done = epoch + 1
        if self.enabled and _all_finite(logs):  # a diverged epoch is never backed up
            try:
                self._write(epoch + 1)
                self.epochs_saved = epoch + 1
            except OSError as error:
                self.enabled = False
                print(f"Could not write the resume backup {self.folder} ({error}); training "
                      "goes on without one.")

    def _write(self, epochs: int) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        require_free_space(self.folder, self.model)
        weights = f"epoch-{epochs}.weights.h5"
        self.model.save_weights(self.folder / weights)
        state = {"epochs": epochs, "history": self.history, "weights": weights,
                 "weights_sha256": file_sha256(self.folder / weights),
                 "seconds": self.training_seconds(), "structure": self.structure}
        arrays = {key: np.asarray(value) for recorder in self.recorders
                  for key, value in recorder.cached_arrays().items()}
        if arrays:
            state["arrays"] = f"epoch-{epochs}.arrays.npz"
            np.savez(self.folder / state["arrays"], **arrays)
            state["arrays_sha256"] = file_sha256(self.folder / state["arrays"])
        write_atomically(self.folder / STATE_FILE, json.dumps(state))
        for path in self.folder.iterdir():  # the previous epoch's files, and any left over
            if path.name not in (STATE_FILE, state["weights"], state.get("arrays")):
                path.unlink(missing_ok=True)

    def discard(self) -> None:
        """Remove the backup (after its run is cached, or when it cannot be read)."""
        shutil.rmtree(self.folder, ignore_errors=True)
