"""Run-time configuration: fast/full mode, seeding, devices, and where things are kept.

The mode is read from the ``COURSE_FAST`` environment variable and nowhere else:
``COURSE_FAST=1`` selects fast mode (CI, ``make course``, Binder), unset or ``0`` selects
full mode (what a student gets when opening a notebook). Notebooks choose their sizes
with :func:`pick` in their parameters cell.
"""

from __future__ import annotations

import math
import os
import platform
import re
import sys
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def _flag(name: str) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{name}={value!r} is not understood: use {name}=1 (on) or {name}=0 (off).")


def is_fast() -> bool:
    """Return True in fast mode (``COURSE_FAST=1``)."""
    return _flag("COURSE_FAST")


def mode() -> str:
    """Return ``"fast"`` or ``"full"``."""
    return "fast" if is_fast() else "full"


def pick(*, full: T, fast: T) -> T:
    """Return ``fast`` in fast mode and ``full`` otherwise.

    Example: ``EPOCHS = cu.config.pick(full=30, fast=2)``.
    """
    return fast if is_fast() else full


def is_headless() -> bool:
    """Return True when no person is watching (the runner, nbval, CI).

    ``COURSE_HEADLESS=1`` is set by the Makefile and the runner. Widgets then show their static
    fallback and progress bars print plain text instead of live widgets.
    """
    if _flag("COURSE_HEADLESS"):
        return True
    try:
        from IPython import get_ipython
    except ImportError:
        return True
    shell = get_ipython()
    return shell is None or type(shell).__name__ != "ZMQInteractiveShell"


def project_root() -> Path | None:
    """Return the repository root when the package runs from a checkout, else None."""
    root = Path(__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").is_file() else None


class CacheDirError(OSError):
    """The model cache folder cannot be made: the message names the path and what to do."""


def cache_dir() -> Path:
    """Return the model cache directory, creating it if needed.

    ``$COURSE_CACHE_DIR`` if set, else ``~/.cache/course_utils`` (so the cache also works
    when the package is pip-installed, e.g. on Colab). A folder that exists but cannot be
    written is returned as it is: training then goes on without caching.

    Raises:
        CacheDirError: the path is a file, or the folder cannot be created.
    """
    variable = os.environ.get("COURSE_CACHE_DIR")
    path = Path(variable or Path.home() / ".cache" / "course_utils").expanduser()
    where = (f"COURSE_CACHE_DIR={variable}" if variable
             else f"the default model cache {path} (COURSE_CACHE_DIR is not set)")
    fix = "set COURSE_CACHE_DIR to a folder you can write, e.g. export COURSE_CACHE_DIR=/tmp/cache"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as error:
        raise CacheDirError(f"{where}: {path} or one of its parents is a file, not a folder; "
                            f"{fix}") from error
    except OSError as error:
        raise CacheDirError(f"{where}: the folder cannot be created ({error.strerror}); "
                            f"{fix}") from error
    return path


def available_cpus() -> int:
    """The CPU cores this process may use: its affinity mask (``taskset``), capped by a
    cgroup CPU quota (a container's ``--cpus``) where there is one."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        count = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
    except (OSError, ValueError):
        return count
    if quota == "max":
        return count
    return max(1, min(count, math.ceil(int(quota) / int(period))))


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and Keras/TensorFlow (wraps ``keras.utils.set_random_seed``)."""
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    from course_utils._tensorflow import keras

    keras.utils.set_random_seed(seed)


def distribution_strategy(*, devices: list[str] | None = None):
    """Return the ``tf.distribute`` strategy to build and train models under.

    Args:
        devices: explicit device names (e.g. two logical CPUs in a test). ``None`` picks
            automatically: ``MirroredStrategy`` over every GPU when there are several, else
            TensorFlow's default strategy (which places work on the single GPU if there is one).
    """
    from course_utils._tensorflow import tf

    if devices is None:
        gpus = tf.config.list_logical_devices("GPU")
        if len(gpus) < 2:
            return tf.distribute.get_strategy()
        devices = [gpu.name for gpu in gpus]
    if len(devices) < 2:
        raise ValueError(f"MirroredStrategy needs at least two devices, got {devices}")
    return tf.distribute.MirroredStrategy(devices=devices)


def device_summary() -> str:
    """Return one line naming the compute devices, the strategy and the versions in use."""
    from course_utils._tensorflow import keras, tf

    gpus = tf.config.list_physical_devices("GPU")
    device = f"{len(gpus)} GPU(s)" if gpus else f"CPU only ({available_cpus()} cores)"
    strategy = type(distribution_strategy()).__name__
    return (
        f"{device}, {strategy}; Python {platform.python_version()}, "
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}"
    )


def setup_notebook(seed: int = 0) -> None:
    """The whole set-up of a chapter notebook, in one call.

    Loads TensorFlow quietly, seeds everything, sets the plotting defaults and prints one
    line with the mode, the devices and the versions.
    """
    from course_utils import plotting
    from course_utils._tensorflow import absorb_first_use_notices

    set_seed(seed)
    plotting.set_style()
    sys.stdout.write(f"Mode: {mode()} | seed {seed} | {device_summary()}\n")
    absorb_first_use_notices()


#: A chapter's file name: its number, a letter when the chapter is split (``07a_``), a topic.
CHAPTER_NAME = re.compile(r"(\d\d[a-z]?)_\w+")


def chapter_notebooks(root: Path) -> list[Path]:
    """The chapters under ``root / "notebooks"``, in course order (``07a`` before ``07b``
    before ``08``)."""
    return sorted(path for path in (root / "notebooks").glob("[0-9][0-9]*.ipynb")
                  if CHAPTER_NAME.fullmatch(path.stem))


def chapter_number(name: str) -> str:
    """``"07a"`` for ``"07a_wasserstein_gans"`` (a notebook's stem or a report's key)."""
    match = CHAPTER_NAME.fullmatch(name)
    if match is None:
        raise ValueError(f"{name!r} is no chapter name (two digits, an optional letter, '_', "
                         "a topic)")
    return match.group(1)
