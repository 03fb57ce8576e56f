"""A training run of a tiny model through ``load_or_train``, with one fault injected; run as
``python tests/fault_worker.py SCENARIO`` (the cache from ``$COURSE_CACHE_DIR``) by
``test_faults.py``. It prints one ``RESULT {json}`` line when it gets to the end.

Scenarios: ``plain``; ``slow`` (half a second per epoch); ``kill_in_backup_write:N`` (the
process is killed while epoch N's backup weights are half written); ``kill_before_epoch:N``
(killed as epoch N, 1-based, starts); ``kill_in_entry_write`` (killed while the cache entry
is written); ``nan_in_epoch:N`` (the weights become NaN as epoch N starts).
"""

import json
import os
import signal
import sys
import time

import numpy as np

from course_utils import backup, cache, callbacks, data, losses, training
from course_utils._tensorflow import keras

ops = keras.ops
EPOCHS = 4


class TinyFlow(training.GenerativeModel):
    """An element-wise affine flow ``z = (x - shift) * exp(-log_scale)``."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.shift = self.add_weight(shape=(2,), initializer="zeros", name="shift")
        self.log_scale = self.add_weight(shape=(2,), initializer="zeros", name="log_scale")

    def forward(self, x):
        z = (x - self.shift) * ops.exp(-self.log_scale)
        return z, -ops.sum(self.log_scale) * ops.ones((ops.shape(x)[0],))

    def compute_losses(self, batch, training):
        z, log_det = self.forward(batch)
        return {"loss": ops.mean(losses.flow_negative_log_likelihood(z, log_det))}


def build(flow_class=TinyFlow):
    """A compiled :class:`TinyFlow` (or a subclass of it)."""
    model = flow_class()
    model.compile(keras.optimizers.Adam(5e-2), steps_per_execution=1)
    return model


def points(n=512, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, 2)) * [0.5, 2.0] + [3.0, -1.0]).astype(np.float32)


class AtEpochStart(keras.callbacks.Callback):
    """Call ``action(model)`` as epoch ``epoch`` (1-based) starts."""

    def __init__(self, epoch, action):
        super().__init__()
        self.epoch, self.action = epoch, action

    def on_epoch_begin(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            self.action(self.model)


class Slow(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        time.sleep(0.5)


def kill(*_):
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def main(scenario: str) -> None:
    name, _, argument = scenario.partition(":")
    recorders = [callbacks.SampleSnapshots(lambda model: model.shift.numpy()[None],
                                          epochs=range(EPOCHS + 1))]
    if name == "slow":
        recorders.append(Slow())
    if name == "kill_before_epoch":
        recorders.append(AtEpochStart(int(argument), kill))
    if name == "nan_in_epoch":
        recorders.append(AtEpochStart(int(argument), lambda model: model.shift.assign(
            [np.nan, np.nan])))
    if name == "kill_in_backup_write":
        write = backup.ResumeBackup._write

        def half_written(self, epochs):
            if epochs != int(argument):
                return write(self, epochs)
            self.folder.mkdir(parents=True, exist_ok=True)
            weights = self.folder / f"epoch-{epochs}.weights.h5"
            self.model.save_weights(weights)
            weights.write_bytes(weights.read_bytes()[:96])
            kill()

        backup.ResumeBackup._write = half_written
    if name == "kill_in_entry_write":
        checksum = cache.file_sha256

        def killed_in_temporary_folder(path):
            if ".tmp-" in str(path):
                kill()
            return checksum(path)

        cache.file_sha256 = killed_in_temporary_folder
    try:
        run = cache.load_or_train(
            "tiny_flow", build, config_dict={"epochs": EPOCHS}, epochs=EPOCHS,
            train_data=data.make_dataset(points(), batch_size=64, seed=0),
            callbacks=recorders, evaluate_fn=lambda model: {"shift": model.shift.numpy()})
    except training.TrainingDivergedError as error:
        print("RESULT " + json.dumps({"diverged": str(error),
                                      "shift": error.model.shift.numpy().tolist()}))
        return
    print("RESULT " + json.dumps({
        "from_cache": run.from_cache, "interrupted": run.interrupted,
        "epochs_in_history": len(run.history.get("loss", [])),
        "snapshots": sorted(run.snapshots()), "cached": run.path is not None,
        "shift": run.model.shift.numpy().tolist()}))


if __name__ == "__main__":
    main(sys.argv[1])
