"""Shared code of the Generative Deep Learning course.

Notebooks use it as ``import course_utils as cu`` and then ``cu.config``, ``cu.data``, ...
Submodules are imported on first use, so ``import course_utils`` itself is instant and
does not start TensorFlow (which lets :func:`course_utils.config.setup_notebook` silence
TensorFlow's start-up messages before it loads).
"""

import importlib

__version__ = "0.1.0"

_SUBMODULES = (
    "augmentation",
    "backup",
    "batching",
    "bench",
    "cache",
    "callbacks",
    "checks",
    "comparison",
    "config",
    "data",
    "flow_transfer",
    "geometry",
    "losses",
    "metrics",
    "models",
    "plotting",
    "recipes",
    "report",
    "runner",
    "tabular",
    "training",
    "widgets",
)

__all__ = [*_SUBMODULES, "__version__"]


def __getattr__(name: str):
    if name in _SUBMODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'course_utils' has no attribute {name!r}")
