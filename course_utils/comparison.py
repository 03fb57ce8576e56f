"""Every image model of the course side by side (the comparison chapter).

The models are those of the recipe registry that make images
(:func:`course_utils.recipes.image_models`): each entry says which chapter trains it (with
the recipe that chapter uses, so the same cache entry is found), how to draw samples from
it, and under which names its chapter recorded its classifier-FID and, where the model
defines one, its likelihood. :func:`sample_models` samples them from the cache without
training anything; :func:`comparison_table` puts the recorded figures next to what this run
measures.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.error import URLError
from urllib.request import urlopen

import numpy as np
import pandas as pd

from course_utils import cache, config, metrics, recipes, training
from course_utils.config import chapter_number
from course_utils.recipes import CourseModel

#: The course's image models, in chapter order.
IMAGE_MODELS: tuple[CourseModel, ...] = recipes.image_models()

#: A sample is "confidently read" when the course classifier gives one digit more than this.
CONFIDENCE = 0.9


REPORT_PATH = "reports/full_run.json"


def full_run_report(path: Path | None = None) -> dict[str, dict[str, Any]]:
    """The committed full-mode figures: ``{chapter: recorded metrics}`` from
    ``reports/full_run.json`` (written by ``python -m course_utils.runner --refresh``).

    Read from ``path``, else from the repository the package runs from, else (a package
    installed with pip, as on Colab) from the published repository (``[project.urls]``).

    Raises:
        FileNotFoundError: when no report can be read, with what to do.
        ValueError: when the file is not a course report.
    """
    if path is None and config.project_root() is not None:
        path = config.project_root() / REPORT_PATH
    if path is None:
        source, text = _published_report()
    elif path.exists():
        source, text = str(path), path.read_text()
    else:
        raise FileNotFoundError(f"{path} is missing: run `make refresh` to write it, or "
                                f"`git checkout {REPORT_PATH}` to restore it")
    try:
        return {chapter: row["metrics"] for chapter, row in json.loads(text)["chapters"].items()}
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"{source} is not a course report ({error!r}); restore it with "
                         f"`git checkout {REPORT_PATH}`") from error


def _published_report() -> tuple[str, str]:
    """``(url, text)`` of the report in the repository named in the package's metadata."""
    urls = dict(entry.split(", ", 1)
                for entry in metadata.metadata("course_utils").get_all("Project-URL") or [])
    repository = urls.get("Repository", "").removeprefix("https://github.com/")
    url = f"https://raw.githubusercontent.com/{repository}/main/{REPORT_PATH}"
    try:
        with urlopen(url, timeout=20) as response:
            return url, response.read().decode()
    except (URLError, TimeoutError, ValueError) as error:
        raise FileNotFoundError(
            f"no course repository here, and {url} could not be read ({error}): clone the "
            "course and open this notebook from its notebooks/ folder") from error


def sample_models(models: Sequence[CourseModel] = IMAGE_MODELS, *, num_samples: int,
                  seed: int) -> tuple[dict[str, np.ndarray], dict[str, float], dict[str, str]]:
    """Load each model from the cache in turn (training nothing), draw its samples and let it
    go: one model in memory at a time (all of them together need more than a kernel's
    memory budget; the RealNVP alone holds 27.7 M weights).

    Returns:
        ``(samples, train_seconds, missing)``: by model name, ``(num_samples, 28, 28)``
        samples drawn with ``seed`` and the training seconds stored with the cache entry; and
        for each model that is not in the cache, which notebook to run (in the current mode)
        to put it there.
    """
    samples, train_seconds, missing = {}, {}, {}
    with cache.cache_only():
        for model in models:
            try:
                run = model.load()
            except cache.NotCachedError:
                missing[model.name] = (f"not in the cache ({config.mode()} mode): run "
                                       f"notebooks/{model.chapter}.ipynb first")
                continue
            samples[model.name] = model.draw(run, num_samples, seed)
            train_seconds[model.name] = run.train_seconds
            del run
            training.release_memory()
    return samples, train_seconds, missing


def sample_summary(images, *, classifier=None) -> dict[str, float]:
    """What the course classifier (or ``classifier``) makes of samples ``(n, 28, 28)`` in
    [0, 1].

    Returns:
        ``classifier_score`` (:func:`metrics.classifier_score`, 1 to 10), ``confident``
        (fraction read as one digit with probability > :data:`CONFIDENCE`) and
        ``largest_class_share`` (fraction read as the most frequent digit: 0.1 when all ten
        are equally present, 1.0 when every sample is read as the same digit).
    """
    probabilities = metrics.class_probabilities(images, classifier=classifier)
    counts = np.bincount(probabilities.argmax(axis=1), minlength=probabilities.shape[1])
    return {"classifier_score": metrics.score_of_probabilities(probabilities),
            "confident": float(np.mean(probabilities.max(axis=1) > CONFIDENCE)),
            "largest_class_share": float(counts.max() / len(images))}


def comparison_table(samples: Mapping[str, np.ndarray], train_seconds: Mapping[str, float],
                     report: Mapping[str, Mapping[str, Any]],
                     models: Sequence[CourseModel] = IMAGE_MODELS, *, classifier=None):
    """One row per model: the full-mode figures its chapter recorded (``report``, see
    :func:`full_run_report`; NaN where absent) and this run's ``train_seconds`` and
    :func:`sample_summary` of its ``samples`` (read by ``classifier``, by default the course
    classifier), as :func:`sample_models` returns them (NaN for a model not sampled).

    Returns:
        A ``pandas.DataFrame`` indexed by model name.
    """
    rows = []
    for model in models:
        recorded = report.get(model.chapter, {})
        summary = (sample_summary(samples[model.name], classifier=classifier)
                   if model.name in samples
                   else dict.fromkeys(("classifier_score", "confident", "largest_class_share"),
                                      np.nan))
        rows.append({
            "model": model.name,
            "chapter": chapter_number(model.chapter),
            "family": model.family,
            "digits": _describe_digits(model.digits),
            "FID (full run)": recorded.get(model.fid_key, np.nan),
            "likelihood (full run)": recorded.get(model.likelihood_key, np.nan),
            "likelihood unit": model.likelihood_unit or "-",
            "train s": train_seconds.get(model.name, np.nan),
            **summary,
        })
    return pd.DataFrame(rows).set_index("model")


def _describe_digits(digits: Sequence[int]) -> str:
    """``"0-9"`` for a run of digits, ``"1, 5, 6"`` otherwise."""
    digits = list(digits)
    if digits == list(range(digits[0], digits[-1] + 1)) and len(digits) > 2:
        return f"{digits[0]}-{digits[-1]}"
    return ", ".join(map(str, digits))
