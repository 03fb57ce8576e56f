"""Recording a chapter's figures: ``record(name, value)``.

The value is shown in the notebook, and when the runner sets ``COURSE_REPORT_DIR`` it is also
added to ``$COURSE_REPORT_DIR/<notebook>.json`` (the notebook's stem comes from
``COURSE_NOTEBOOK``). Outside the runner nothing is written anywhere.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np


def to_jsonable(value: Any) -> Any:
    """Convert numbers, arrays, lists and dicts to plain JSON types (floats, ints, ...).

    Raises:
        ValueError: for a non-finite float or a type JSON cannot hold.
    """
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) or hasattr(value, "numpy"):
        number = float(np.asarray(value))
        if not math.isfinite(number):
            raise ValueError(f"cannot record a non-finite number ({number})")
        return number
    if isinstance(value, str):
        return value
    raise ValueError(f"cannot record a value of type {type(value).__name__}: {value!r}")


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_format(v)}" for k, v in value.items()) + "}"
    return str(value)


def record(name: str, value: Any) -> Any:
    """Show a chapter's figure and, under the runner, save it to the chapter's report file.

    Record a chapter's headline figure first: reports show the first ones recorded.

    Args:
        name: a snake_case metric name, e.g. ``"knn_accuracy_2d"``.
        value: a number, or a (nested) dict/list of numbers and strings.

    Returns:
        The value converted to plain JSON types (floats, ints, lists, dicts).
    """
    if not name.isidentifier():
        raise ValueError(f"metric names are snake_case identifiers, got {name!r}")
    value = to_jsonable(value)
    print(f"{name} = {_format(value)}")
    folder = os.environ.get("COURSE_REPORT_DIR")
    if folder:
        path = Path(folder) / f"{os.environ.get('COURSE_NOTEBOOK', 'notebook')}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        metrics = json.loads(path.read_text()) if path.exists() else {}
        metrics[name] = value
        temporary = path.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(metrics, indent=1))  # recording order: headline first
        os.replace(temporary, path)
    return value
