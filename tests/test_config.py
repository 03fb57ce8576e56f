"""Fast/full mode, headless detection, cache directory, seeding and devices."""

import numpy as np
import pytest

from course_utils import config


@pytest.mark.parametrize(("value", "fast"),
                         [("1", True), ("true", True), ("0", False), ("", False)])
def test_pick_follows_course_fast(monkeypatch, value, fast):
    monkeypatch.setenv("COURSE_FAST", value)
    assert config.is_fast() is fast
    assert config.pick(full=30, fast=2) == (2 if fast else 30)
    assert config.mode() == ("fast" if fast else "full")


def test_an_unclear_course_fast_value_is_an_error(monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "maybe")
    with pytest.raises(ValueError, match="COURSE_FAST=1"):
        config.is_fast()


def test_headless_flag_and_plain_python(monkeypatch):
    monkeypatch.setenv("COURSE_HEADLESS", "1")
    assert config.is_headless()
    monkeypatch.setenv("COURSE_HEADLESS", "0")
    assert config.is_headless()  # plain Python, no Jupyter kernel: nobody can move a slider


def test_cache_dir_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "models"))
    assert config.cache_dir() == tmp_path / "models" and (tmp_path / "models").is_dir()


def test_set_seed_makes_numpy_and_keras_reproducible():
    from course_utils._tensorflow import keras

    config.set_seed(3)
    first = np.random.rand(3), keras.random.normal((3,)).numpy()
    config.set_seed(3)
    second = np.random.rand(3), keras.random.normal((3,)).numpy()
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    with pytest.raises(ValueError):
        config.set_seed(-1)


def test_default_strategy_and_device_summary(capsys):
    assert config.distribution_strategy().num_replicas_in_sync == 1
    with pytest.raises(ValueError, match="at least two"):
        config.distribution_strategy(devices=["/cpu:0"])
    config.setup_notebook(seed=0)
    line = capsys.readouterr().out
    assert line.startswith("Mode: fast") and "TensorFlow" in line and "Keras" in line


def test_tensorflow_retracing_warnings_are_dropped_and_others_kept():
    import logging

    from course_utils._tensorflow import tf

    seen = []

    class Collect(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage())

    handler = Collect()
    logger = tf.get_logger()
    logger.addHandler(handler)
    try:
        logger.warning("5 out of the last 11 calls to <function f> triggered tf.function "
                       "retracing. Tracing is expensive")
        logger.warning("a genuine warning")
    finally:
        logger.removeHandler(handler)
    assert seen == ["a genuine warning"]


def test_a_notebooks_setup_leaves_stderr_clean():
    """TensorFlow's start-up lines and oneDNN's int32 notice (logged at the first gradient of
    tf.repeat, as in chapter 03) go to the OS-level stderr, where no Python filter sees
    them: the package absorbs them (on import, and in a notebook's setup call)."""
    import subprocess
    import sys

    code = ("from course_utils import config\n"
            "from course_utils._tensorflow import tf\n"
            "config.setup_notebook()\n"
            "x = tf.Variable([0.7])\n"
            "with tf.GradientTape() as tape:\n"
            "    y = tf.reduce_sum(tf.repeat(x, 1000) ** 2)\n"
            "print(float(tape.gradient(y, x)[0]))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, check=True)
    assert float(result.stdout.splitlines()[-1]) == pytest.approx(1400.0, rel=1e-6)
    assert result.stderr == "", result.stderr
