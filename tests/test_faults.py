"""Fault injection: training never loses work and never gets stuck.

Each test breaks a training run of a tiny model at one point (a kill while the backup or the
cache entry is written, Ctrl-C in an epoch or during the evaluation, a read-only cache, two
processes on one entry, a network that never answers, a stale or malformed entry, a NaN)
and checks that nothing is lost and that the next run succeeds. The kills run in a
subprocess (``fault_worker.py``)."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from fault_worker import EPOCHS, TinyFlow, build, points  # tests/ is on sys.path (pytest)

from course_utils import cache, config, data, training

WORKER = Path(__file__).with_name("fault_worker.py")


def run_worker(scenario, cache, *, user=None, env=None, timeout=240):
    """Run the worker; return ``(exit code, its output, its RESULT or None)``."""
    environment = {**os.environ, "COURSE_CACHE_DIR": str(cache), **(env or {})}
    process = subprocess.run([sys.executable, str(WORKER), scenario], env=environment,
                             capture_output=True, text=True, timeout=timeout, user=user)
    result = None
    for line in process.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line.removeprefix("RESULT "))
    return process.returncode, process.stdout + process.stderr, result


def entries(cache):
    return sorted(path.name.split("-")[0] for path in cache.glob("tiny_flow-*")
                  if (path / "entry.json").exists())


def test_a_kill_while_the_backup_is_written_resumes_from_the_previous_epoch(isolated_cache):
    code, output, result = run_worker("kill_in_backup_write:3", isolated_cache)
    assert code == -signal.SIGKILL and result is None
    code, output, result = run_worker("plain", isolated_cache)
    assert code == 0, output
    assert "Resuming from the backup of epoch 2" in output
    assert result["epochs_in_history"] == EPOCHS and result["snapshots"] == list(
        range(EPOCHS + 1))  # the whole run's history and snapshots
    assert result["cached"] and not list(isolated_cache.glob("*.backup"))


def test_a_backup_spoilt_after_a_kill_is_discarded_with_a_message(isolated_cache):
    code, _, _ = run_worker("kill_before_epoch:3", isolated_cache)
    assert code == -signal.SIGKILL
    state = json.loads(next(isolated_cache.glob("*.backup/state.json")).read_text())
    weights = next(isolated_cache.glob(f"*.backup/{state['weights']}"))
    weights.write_bytes(weights.read_bytes()[:96])  # the 96-byte file of the old backup
    code, output, result = run_worker("plain", isolated_cache)
    assert code == 0, output
    assert "could not be read" in output and "training starts from the first epoch" in output
    assert result["cached"] and result["epochs_in_history"] == EPOCHS


def test_a_kill_while_the_entry_is_written_loses_no_epoch(isolated_cache):
    code, _, _ = run_worker("kill_in_entry_write", isolated_cache)
    assert code == -signal.SIGKILL
    assert list(isolated_cache.glob(".tiny_flow-*.tmp-*")) and not entries(isolated_cache)
    code, output, result = run_worker("plain", isolated_cache)
    assert code == 0, output
    assert f"Resuming from the backup of epoch {EPOCHS}" in output  # nothing trained again
    assert result["cached"] and result["epochs_in_history"] == EPOCHS
    assert not list(isolated_cache.glob(".tiny_flow-*.tmp-*"))  # the orphan is cleaned up


def _tiny_run(build_fn=build, **kwargs):
    return cache.load_or_train(
        "tiny_flow", build_fn, config_dict={"epochs": EPOCHS}, epochs=EPOCHS,
        train_data=data.make_dataset(points(), batch_size=64, seed=0), **kwargs)


class CtrlCAfterTwoEpochs(training.keras.callbacks.Callback):
    """Ctrl-C as the second epoch ends, before its backup: a backup of one epoch is left."""

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt


def test_ctrl_c_in_an_epoch_keeps_the_finished_epochs(isolated_cache):
    class CtrlC(training.keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if self.model.optimizer.iterations.numpy() == 20:  # in the third epoch
                os.kill(os.getpid(), signal.SIGINT)

    run = _tiny_run(callbacks=[CtrlC()])
    assert run.interrupted and len(run.history["loss"]) == 2 and run.path is None
    again = _tiny_run()
    assert not again.interrupted and len(again.history["loss"]) == EPOCHS
    assert again.path is not None and not list(isolated_cache.glob("*.backup"))


def test_ctrl_c_during_the_evaluation_keeps_the_trained_model(isolated_cache, capsys):
    def interrupted_evaluation(model):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(10)  # the interrupt ends the sleep at once
        raise AssertionError("the interrupt should have come first")

    run = _tiny_run(evaluate_fn=interrupted_evaluation)
    assert run.interrupted and len(run.history["loss"]) == EPOCHS
    assert "before the model was cached" in capsys.readouterr().out
    assert list(isolated_cache.glob("*.backup/state.json"))  # every epoch still backed up
    again = _tiny_run(evaluate_fn=lambda model: {"ok": True})
    assert "Resuming from the backup of epoch 4" in capsys.readouterr().out
    assert again.metrics == {"ok": True} and len(again.history["loss"]) == EPOCHS
    np.testing.assert_allclose(again.model.shift.numpy(), run.model.shift.numpy())
    assert again.train_seconds > 0.5 * run.train_seconds  # the whole run's, not 0 s


def test_a_backup_of_another_structure_is_discarded(isolated_cache, capsys):
    assert _tiny_run(callbacks=[CtrlCAfterTwoEpochs()]).interrupted  # leaves a backup of 1 epoch

    class WiderFlow(TinyFlow):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.extra = self.add_weight(shape=(3,), initializer="zeros", name="extra",
                                         trainable=False)

    run = _tiny_run(build_fn=lambda: build(WiderFlow))
    assert "another structure" in capsys.readouterr().out
    assert len(run.history["loss"]) == EPOCHS and run.path is not None


def test_ctrl_c_during_the_cache_write_keeps_the_trained_model(isolated_cache, monkeypatch):
    write = cache._write_entry_atomically

    def interrupted_write(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cache, "_write_entry_atomically", interrupted_write)
    run = _tiny_run()
    assert run.interrupted and not entries(isolated_cache)
    monkeypatch.setattr(cache, "_write_entry_atomically", write)
    assert _tiny_run().path is not None and entries(isolated_cache) == ["tiny_flow"]


@contextlib.contextmanager
def tmpfs(path, options):
    """A tmpfs mounted on ``path`` for the block (root only; the test skips elsewhere)."""
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


@contextlib.contextmanager
def read_only_folder(path):
    """A folder this process cannot write: a read-only tmpfs for root (who writes through
    permissions), a folder without write permission for anyone else."""
    if os.geteuid() == 0:
        with tmpfs(path, "ro,size=1m"):
            yield path
        return
    path.mkdir()
    path.chmod(0o555)
    try:
        yield path
    finally:
        path.chmod(0o755)


def test_a_read_only_cache_still_returns_the_trained_model(tmp_path, monkeypatch, capsys):
    with read_only_folder(tmp_path / "read_only") as cache:
        monkeypatch.setenv("COURSE_CACHE_DIR", str(cache))
        run = _tiny_run()
        output = capsys.readouterr().out
        assert not list(cache.iterdir())
    assert "is not writable" in output and "will not be cached" in output
    assert output.count("not writable") == 1 and "Could not write" not in output
    assert len(run.history["loss"]) == EPOCHS and run.path is None and not run.interrupted


def test_a_full_cache_still_returns_the_trained_model(tmp_path, monkeypatch, capsys):
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs")
    with tmpfs(tmp_path / "full", "size=4k") as cache:
        monkeypatch.setenv("COURSE_CACHE_DIR", str(cache))
        run = _tiny_run()
    output = capsys.readouterr().out
    assert "training goes on without one" in output or "is not cached" in output, output
    assert len(run.history["loss"]) == EPOCHS and not run.interrupted


def test_a_bad_cache_path_names_the_variable(tmp_path, monkeypatch):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    for path in (not_a_folder, not_a_folder / "cache"):
        monkeypatch.setenv("COURSE_CACHE_DIR", str(path))
        with pytest.raises(config.CacheDirError, match=r"COURSE_CACHE_DIR=.*is a file"):
            config.cache_dir()


def test_two_processes_on_one_entry_train_it_once(isolated_cache):
    environment = {**os.environ, "COURSE_CACHE_DIR": str(isolated_cache)}
    processes = [subprocess.Popen([sys.executable, str(WORKER), "slow"], env=environment,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for _ in range(2)]
    outputs = [process.communicate(timeout=240)[0] for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    results = [json.loads(output.split("RESULT ", 1)[1]) for output in outputs]
    assert sorted(result["from_cache"] for result in results) == [False, True]
    assert sum(output.count("Training tiny_flow") for output in outputs) == 1
    assert any("waiting for it to finish" in output for output in outputs)
    assert results[0]["shift"] == results[1]["shift"]


@pytest.fixture
def silent_server():
    """A local server that accepts connections and never answers (bounded: it stops with
    the test, and holds at most 16 connections)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    stop, held = threading.Event(), []

    def accept():
        while not stop.is_set() and len(held) < 16:
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    server.close()


def test_a_download_that_never_answers_times_out_with_a_clear_error(tmp_path, silent_server):
    script = (  # no project folder either: a checkout's data/cache/ may hold the file
        "from course_utils import config, data\n"
        "config.project_root = lambda: None\n"
        "try:\n"
        "    data.load_raw('fashion_mnist')\n"
        "except data.DataError as error:\n"
        "    print('DATAERROR', error)\n")
    proxy = f"http://127.0.0.1:{silent_server}"
    missing = tmp_path / "no_such_folder"
    env = {**os.environ, "COURSE_DATA_DIR": str(missing), "COURSE_DOWNLOAD_TIMEOUT": "2",
           "KERAS_HOME": str(tmp_path / "keras"), "HOME": str(tmp_path),
           "https_proxy": proxy, "HTTPS_PROXY": proxy, "http_proxy": proxy,
           "HTTP_PROXY": proxy, "no_proxy": "", "NO_PROXY": ""}
    process = subprocess.run([sys.executable, "-c", script], env=env, timeout=120,
                             capture_output=True, text=True)
    assert "DATAERROR" in process.stdout, process.stdout + process.stderr
    assert "timed out" in process.stdout and "the folder does not exist" in process.stdout
    assert "COURSE_DATA_DIR" in process.stdout


def test_a_malformed_entry_is_trained_again_with_a_message(isolated_cache, capsys):
    run = _tiny_run()
    entry = run.path / "entry.json"
    content = json.loads(entry.read_text())
    del content["history"]
    entry.write_text(json.dumps(content))
    again = _tiny_run()
    assert "is corrupt (entry.json lacks or garbles ['history'])" in capsys.readouterr().out
    assert not again.from_cache and _tiny_run().from_cache


def test_a_nan_keeps_the_last_good_epoch_and_counts_it(isolated_cache):
    code, output, result = run_worker("nan_in_epoch:3", isolated_cache)
    assert code == 0, output
    assert "in epoch 3, after 2 finished epoch(s)" in result["diverged"]
    assert "the weights of epoch 2 are kept" in result["diverged"]
    assert np.isfinite(result["shift"]).all()  # put back to epoch 2's weights
    assert not entries(isolated_cache) and list(isolated_cache.glob("*.backup/state.json"))
    code, output, result = run_worker("plain", isolated_cache)  # e.g. with the bug fixed
    assert code == 0, output
    assert "Resuming from the backup of epoch 2" in output
    assert result["cached"] and result["epochs_in_history"] == EPOCHS


def test_a_nan_in_the_validation_stops_training_too(isolated_cache):
    nan_points = np.full((64, 2), np.nan, np.float32)
    with pytest.raises(training.TrainingDivergedError,
                       match=r"val_loss became nan in epoch 1, after 0 finished"):
        _tiny_run(validation_data=data.make_dataset(nan_points, batch_size=64, seed=0))
    assert not entries(isolated_cache) and not list(isolated_cache.glob("*.backup/state.json"))


def test_a_backup_whose_state_is_no_json_object_is_discarded(isolated_cache, capsys):
    assert _tiny_run(callbacks=[CtrlCAfterTwoEpochs()]).interrupted  # leaves a backup of 1 epoch
    next(isolated_cache.glob("*.backup/state.json")).write_text("[]")
    run = _tiny_run()
    assert "holds no JSON object" in capsys.readouterr().out
    assert len(run.history["loss"]) == EPOCHS and run.path is not None


def test_the_cpu_count_follows_the_affinity_mask():
    if not hasattr(os, "sched_setaffinity"):
        pytest.skip("no CPU affinity on this system")
    code = ("import os; os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]}); "
            "from course_utils import config; print(config.available_cpus())")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60).stdout
    assert output.strip() == "1"
