"""Mixed categorical/continuous tables: the encoding a GAN trains on, and the measures that
compare a synthetic table with a real one (chapter 07b).

A :class:`TableEncoder` turns a data frame into a float matrix, one one-hot block per
categorical column followed by the standardized continuous columns, which is what Ferreira's
generator produces: a softmax head per categorical variable and linear outputs for the rest.
:meth:`TableEncoder.decode` takes the generator's output back to a data frame, one-hot
encoding each softmax (its most probable category) and undoing the standardization.

The measures (:func:`marginal_distances`, :func:`correlation_gap`,
:func:`classifier_two_sample_auc`, :func:`distance_to_closest_record`) all take two data
frames and the encoder, so the same call measures real against real (the noise floor) and
generated against real.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict


@dataclass(frozen=True)
class ContinuousColumn:
    """How a continuous column is scaled: ``(value - mean) / std``; decoded values are
    rounded to ``decimals`` places, the precision of the data."""

    mean: float
    std: float
    decimals: int


@dataclass(frozen=True)
class TableEncoder:
    """Encode a mixed table for a GAN, and decode generated rows.

    Attributes:
        categories: categorical column -> its categories, in one-hot order.
        continuous: continuous column -> :class:`ContinuousColumn`.
    """

    categories: Mapping[str, tuple[str, ...]]
    continuous: Mapping[str, ContinuousColumn]

    @classmethod
    def fit(cls, frame: pd.DataFrame, *, categorical: Sequence[str],
            continuous: Sequence[str]) -> TableEncoder:
        """Learn the categories and the scaling from ``frame`` (the training rows only).

        The categories are sorted; continuous columns get the mean, the standard deviation
        and the number of decimals their values are recorded with (at most 4).
        """
        _check_complete(frame, [*categorical, *continuous])
        categories = {column: tuple(sorted(frame[column].astype(str).unique()))
                      for column in categorical}
        scaling = {}
        for column in continuous:
            values = frame[column].to_numpy(np.float64)
            std = float(values.std())
            if std == 0:
                raise ValueError(f"column {column!r} is constant; it cannot be standardized "
                                 "(drop it, or treat it as categorical)")
            scaling[column] = ContinuousColumn(float(values.mean()), std, _decimals(values))
        return cls(categories, scaling)

    @property
    def columns(self) -> list[str]:
        """The categorical then the continuous column names, the order of :meth:`decode`."""
        return [*self.categories, *self.continuous]

    @property
    def category_sizes(self) -> list[int]:
        """The width of each one-hot block (each softmax head of the generator)."""
        return [len(values) for values in self.categories.values()]

    @property
    def continuous_dim(self) -> int:
        return len(self.continuous)

    @property
    def encoded_names(self) -> list[str]:
        """A name for each encoded column: ``"column=category"``, then the continuous names."""
        return [*(f"{column}={value}" for column, values in self.categories.items()
                  for value in values), *self.continuous]

    def category_confidence(self, encoded) -> dict[str, float]:
        """For generated rows ``(rows, width)``: the mean probability of the chosen category
        in each softmax head (1.0 for one-hot rows), i.e. how close the generator's outputs
        are to the one-hot rows it imitates."""
        encoded, confidence, start = np.asarray(encoded), {}, 0
        for column, values in self.categories.items():
            confidence[column] = float(encoded[:, start:start + len(values)].max(axis=1).mean())
            start += len(values)
        return confidence

    @property
    def width(self) -> int:
        """Columns of the encoded matrix: ``sum(category_sizes) + continuous_dim``."""
        return sum(self.category_sizes) + self.continuous_dim

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """``(rows, width)`` float32: the one-hot blocks, then the standardized columns.

        Raises:
            ValueError: a column is missing or has missing values, or a categorical value
                was not seen when the encoder was fitted.
        """
        _check_complete(frame, self.columns)
        blocks = []
        for column, values in self.categories.items():
            text = frame[column].astype(str).to_numpy()
            unknown = sorted(set(text) - set(values))
            if unknown:
                raise ValueError(f"column {column!r} has values {unknown} that the encoder "
                                 f"has not seen (it knows {list(values)}); fit it on data "
                                 "that has every category")
            blocks.append(text[:, None] == np.asarray(values)[None, :])
        for column, scale in self.continuous.items():
            values = frame[column].to_numpy(np.float64)
            blocks.append(((values - scale.mean) / scale.std)[:, None])
        return np.concatenate(blocks, axis=1).astype(np.float32)

    def decode(self, encoded) -> pd.DataFrame:
        """A data frame from ``(rows, width)`` encoded or generated rows: each categorical
        block becomes its most probable category (a softmax output becomes one-hot), each
        continuous column is unscaled and rounded to the data's precision."""
        encoded = np.asarray(encoded, np.float64)
        if encoded.ndim != 2 or encoded.shape[1] != self.width:
            raise ValueError(f"expected rows of width {self.width}, got shape {encoded.shape}")
        columns, start = {}, 0
        for column, values in self.categories.items():
            block = encoded[:, start:start + len(values)]
            columns[column] = np.asarray(values, dtype=object)[block.argmax(axis=1)]
            start += len(values)
        for column, scale in self.continuous.items():
            values = np.round(encoded[:, start] * scale.std + scale.mean, scale.decimals)
            columns[column] = values.astype(np.int64) if scale.decimals == 0 else values
            start += 1
        return pd.DataFrame(columns)


def _decimals(values: np.ndarray, most: int = 4) -> int:
    """The fewest decimals (up to ``most``) that represent every value exactly."""
    for decimals in range(most + 1):
        if np.allclose(values, np.round(values, decimals), rtol=0, atol=1e-9):
            return decimals
    return most


def _check_complete(frame: pd.DataFrame, columns: Sequence[str]) -> None:
    absent = [column for column in columns if column not in frame.columns]
    if absent:
        raise ValueError(f"the table has no column(s) {absent}; it has {list(frame.columns)}")
    missing = frame[list(columns)].isna().sum()
    missing = missing[missing > 0]
    if len(missing):
        raise ValueError(f"missing values in {dict(missing)}: decide how to handle them "
                         "first (drop the rows, or make 'unknown' a category)")


def split_rows(frame: pd.DataFrame, *, held_out_fraction: float,
               seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split the rows at random into ``(train, held_out)``, both re-indexed from 0."""
    if not 0 < held_out_fraction < 1:
        raise ValueError(f"held_out_fraction must be in (0, 1), got {held_out_fraction}")
    order = np.random.default_rng(seed).permutation(len(frame))
    cut = round(len(frame) * (1 - held_out_fraction))
    return (frame.iloc[order[:cut]].reset_index(drop=True),
            frame.iloc[order[cut:]].reset_index(drop=True))


# --- comparing two tables ---------------------------------------------------------------------
def total_variation(a: Sequence, b: Sequence) -> float:
    """Total variation distance between the empirical distributions of two categorical
    samples: ``0.5 * sum_c |p_a(c) - p_b(c)|``, in [0, 1]."""
    p = pd.Series(np.asarray(a)).value_counts(normalize=True)
    q = pd.Series(np.asarray(b)).value_counts(normalize=True)
    p, q = p.align(q, fill_value=0.0)
    return float(0.5 * np.abs(p - q).sum())


def ks_distance(a: Sequence[float], b: Sequence[float]) -> float:
    """Kolmogorov-Smirnov distance, the largest gap between the two empirical CDFs, in
    [0, 1]."""
    a, b = np.sort(np.asarray(a, np.float64)), np.sort(np.asarray(b, np.float64))
    points = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, points, side="right") / len(a)
    cdf_b = np.searchsorted(b, points, side="right") / len(b)
    return float(np.abs(cdf_a - cdf_b).max())


def marginal_distances(table: pd.DataFrame, reference: pd.DataFrame,
                       encoder: TableEncoder) -> dict[str, float]:
    """Each column's distance between two tables: total variation for a categorical
    column, Kolmogorov-Smirnov for a continuous one (both in [0, 1])."""
    distances = {column: total_variation(table[column].astype(str),
                                         reference[column].astype(str))
                 for column in encoder.categories}
    distances.update({column: ks_distance(table[column], reference[column])
                      for column in encoder.continuous})
    return distances


def correlation_gap(table: pd.DataFrame, reference: pd.DataFrame,
                    encoder: TableEncoder) -> tuple[float, np.ndarray, np.ndarray]:
    """How differently the columns co-vary in two tables.

    Returns:
        The mean absolute difference of the off-diagonal correlations, and the two
        ``(width, width)`` Pearson correlation matrices of the encoded tables (one-hot
        columns included, so a category's link to a measurement counts). A column that is
        constant in a table has correlation 0 with the others there.
    """
    first, second = (_correlations(encoder.encode(t)) for t in (table, reference))
    off_diagonal = ~np.eye(len(first), dtype=bool)
    return float(np.abs(first - second)[off_diagonal].mean()), first, second


def _correlations(encoded: np.ndarray) -> np.ndarray:
    centred = encoded - encoded.mean(axis=0)
    norms = np.sqrt((centred ** 2).sum(axis=0))
    scaled = np.divide(centred, norms, out=np.zeros_like(centred), where=norms > 0)
    correlations = scaled.T @ scaled
    np.fill_diagonal(correlations, 1.0)
    return correlations


def classifier_two_sample_auc(table: pd.DataFrame, reference: pd.DataFrame,
                              encoder: TableEncoder, *, folds: int = 5, seed: int = 0) -> float:
    """The classifier two-sample test (Lopez-Paz & Oquab, 2017): the cross-validated ROC AUC
    of a random forest trained to tell the rows of ``table`` from those of ``reference``.
    0.5 means it cannot tell them apart; 1.0 that it always can. Use tables of equal size."""
    features = np.concatenate([encoder.encode(table), encoder.encode(reference)])
    is_table = np.r_[np.ones(len(table)), np.zeros(len(reference))]
    forest = RandomForestClassifier(n_estimators=100, min_samples_leaf=2, random_state=seed)
    splits = StratifiedKFold(folds, shuffle=True, random_state=seed)
    scores = cross_val_predict(forest, features, is_table, cv=splits,
                               method="predict_proba")[:, 1]
    return float(roc_auc_score(is_table, scores))


def distance_to_closest_record(queries: pd.DataFrame, records: pd.DataFrame,
                               encoder: TableEncoder) -> np.ndarray:
    """For each row of ``queries``, the Euclidean distance to its nearest row of ``records``
    in the encoded space (standardized measurements; a differing category adds 2 to the
    squared distance). ``(len(queries),)`` float64; 0 means an exact copy."""
    distances, _ = cKDTree(encoder.encode(records)).query(encoder.encode(queries), k=1)
    return np.asarray(distances, np.float64)


def compare_tables(table: pd.DataFrame, reference: pd.DataFrame, encoder: TableEncoder, *,
                   seed: int = 0) -> dict:
    """Every measure of how far ``table`` is from ``reference``.

    Returns:
        ``marginal`` (column -> :func:`marginal_distances`), ``max_marginal_distance``,
        ``correlation_gap`` (:func:`correlation_gap`) and ``c2st_auc``
        (:func:`classifier_two_sample_auc` on the first ``min(len)`` rows of each).
    """
    marginal = marginal_distances(table, reference, encoder)
    size = min(len(table), len(reference))
    return {"marginal": marginal, "max_marginal_distance": max(marginal.values()),
            "correlation_gap": correlation_gap(table, reference, encoder)[0],
            "c2st_auc": classifier_two_sample_auc(table.iloc[:size], reference.iloc[:size],
                                                  encoder, seed=seed)}


def closest_record_ratio(generated: pd.DataFrame, held_out: pd.DataFrame,
                         train: pd.DataFrame, encoder: TableEncoder) -> float:
    """Median distance of generated rows to their closest training record, over the same
    for held-out real rows. About 1: the generator's rows are no closer to the training
    rows than new real rows are; well below 1: it copies training rows."""
    return float(np.median(distance_to_closest_record(generated, train, encoder))
                 / np.median(distance_to_closest_record(held_out, train, encoder)))
