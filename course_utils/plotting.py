"""The course's standard figures. Each function accepts ``ax=`` (where it draws one panel)
and returns the matplotlib ``Figure``.

Images may come in any of the course's layouts: ``(n, 784)``, ``(n, 28, 28)`` or
``(n, 28, 28, 1)``, with values in ``value_range`` (mapped to [0, 1] for display).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import HTML
from matplotlib import animation

#: Okabe–Ito's colour-blind-safe palette, plus two of Paul Tol's for ten classes.
PALETTE = (
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7",
    "#56B4E9", "#F0E442", "#000000", "#332288", "#882255",
)


def set_style() -> None:
    """Notebook-sized PNG figures at a modest DPI with the colour-blind-safe palette."""
    mpl.rcParams.update({
        "figure.dpi": 80,
        "savefig.dpi": 80,
        "figure.figsize": (6.0, 4.0),
        "axes.prop_cycle": mpl.cycler(color=PALETTE),
        "axes.spines.top": False,
        "axes.spines.right": False,
        "image.cmap": "gray",
        "animation.embed_limit": 8.0,  # MB
    })


def to_display_images(images, *, value_range: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """Return ``(n, side, side)`` float images in [0, 1] from any course layout and range.

    Args:
        images: ``(n, d*d)``, ``(n, d, d)`` or ``(n, d, d, 1)`` array-like.
        value_range: the range the images are in, e.g. ``(-1, 1)`` or ``(0, 255)``.
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    elif images.ndim == 2:
        side = round(float(np.sqrt(images.shape[1])))
        if side * side != images.shape[1]:
            raise ValueError(f"flat images need a square number of pixels, got {images.shape}")
        images = images.reshape(len(images), side, side)
    if images.ndim != 3:
        raise ValueError(
            f"expected images shaped (n, d*d), (n, d, d) or (n, d, d, 1), got {images.shape}"
        )
    low, high = value_range
    return np.clip((images - low) / (high - low), 0.0, 1.0)


def plot_image_grid(
    images,
    *,
    num_cols: int = 8,
    value_range: tuple[float, float] = (0.0, 1.0),
    title: str | None = None,
    row_labels: Sequence[str] | None = None,
    ax: plt.Axes | None = None,
) -> plt.Figure:
    """Show images as one tiled grid, row by row (one ``imshow``, so any size is cheap).

    Args:
        images: ``n`` images in any course layout (see :func:`to_display_images`).
        num_cols: images per row; the last row is padded with black.
        value_range: the images' value range.
        title: the panel title; put the key hyperparameter in it.
        row_labels: optional label at the left of each row.
        ax: draw into this axes instead of a new figure.
    """
    tiles = to_display_images(images, value_range=value_range)
    if num_cols < 1:
        raise ValueError(f"num_cols must be positive, got {num_cols}")
    count, side, _ = tiles.shape
    num_cols = min(num_cols, count)
    num_rows = -(-count // num_cols)
    blanks = np.zeros((num_rows * num_cols - count, side, side), dtype=tiles.dtype)
    pad = 1
    canvas = np.ones((num_rows * (side + pad) - pad, num_cols * (side + pad) - pad))
    for index, tile in enumerate(np.concatenate([tiles, blanks])):
        row, col = divmod(index, num_cols)
        top, left = row * (side + pad), col * (side + pad)
        canvas[top:top + side, left:left + side] = tile
    if ax is None:
        _, ax = plt.subplots(figsize=(0.75 * num_cols + 0.5, 0.75 * num_rows + 0.4))
    ax.imshow(canvas, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    if row_labels is not None:
        if len(row_labels) != num_rows:
            raise ValueError(f"{len(row_labels)} row labels for {num_rows} rows")
        ax.set_yticks([r * (side + pad) + side / 2 for r in range(num_rows)], list(row_labels))
        ax.tick_params(left=False)
    if title:
        ax.set_title(title)
    return ax.figure


def plot_reconstructions(
    originals,
    reconstructions,
    *,
    value_range: tuple[float, float] = (0.0, 1.0),
    title: str | None = None,
    ax: plt.Axes | None = None,
) -> plt.Figure:
    """Show inputs (top row) over their reconstructions (bottom row)."""
    originals = to_display_images(originals, value_range=value_range)
    reconstructions = to_display_images(reconstructions, value_range=value_range)
    if originals.shape != reconstructions.shape:
        raise ValueError(f"shapes differ: {originals.shape} vs {reconstructions.shape}")
    return plot_image_grid(np.concatenate([originals, reconstructions]), num_cols=len(originals),
                           title=title, row_labels=["input", "output"], ax=ax)


def plot_latent_scatter(
    codes,
    labels,
    *,
    class_names: Sequence[str] | None = None,
    title: str | None = None,
    ax: plt.Axes | None = None,
) -> plt.Figure:
    """Scatter 2-D codes coloured by label.

    Args:
        codes: ``(n, 2)`` latent codes.
        labels: ``(n,)`` integer labels.
        class_names: legend names indexed by label (default: the label itself).
    """
    codes = np.asarray(codes)
    labels = np.asarray(labels)
    if codes.ndim != 2 or codes.shape[1] != 2:
        raise ValueError(f"codes must be (n, 2), got {codes.shape}")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4.5))
    for index, label in enumerate(np.unique(labels)):
        chosen = labels == label
        name = class_names[label] if class_names is not None else str(label)
        ax.scatter(codes[chosen, 0], codes[chosen, 1], s=4, alpha=0.6,
                   color=PALETTE[index % len(PALETTE)], label=name, rasterized=True)
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.legend(markerscale=4, frameon=False, title="label")
    if title:
        ax.set_title(title)
    return ax.figure


def latent_grid(
    x_range: tuple[float, float], y_range: tuple[float, float], *, num_points: int = 15
) -> np.ndarray:
    """Return a ``(num_points**2, 2)`` grid of 2-D codes, row by row from the top-left.

    Rows go from ``y_range[1]`` (top) down to ``y_range[0]``, so that decoding the grid and
    tiling it row by row gives a picture oriented like a scatter plot of the codes.
    """
    xs = np.linspace(*x_range, num_points)
    ys = np.linspace(*y_range, num_points)[::-1]
    return np.array([(x, y) for y in ys for x in xs], dtype=np.float32)


def plot_latent_manifold(
    decode_fn: Callable[[np.ndarray], np.ndarray],
    *,
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    num_points: int = 15,
    value_range: tuple[float, float] = (0.0, 1.0),
    title: str | None = None,
    ax: plt.Axes | None = None,
) -> plt.Figure:
    """Decode a regular grid of 2-D codes in ONE batched call and tile the images.

    Args:
        decode_fn: maps ``(n, 2)`` codes to ``n`` images.
        x_range, y_range: the extent of the grid in latent space.
        num_points: grid points per axis.
    """
    images = np.asarray(decode_fn(latent_grid(x_range, y_range, num_points=num_points)))
    return plot_image_grid(images, num_cols=num_points, value_range=value_range, title=title,
                           ax=ax)


def plot_interpolation(
    rows: Sequence,
    *,
    row_labels: Sequence[str],
    value_range: tuple[float, float] = (0.0, 1.0),
    title: str | None = None,
    ax: plt.Axes | None = None,
) -> plt.Figure:
    """Show one or more interpolation strips, one per row, each with the same length."""
    strips = [to_display_images(row, value_range=value_range) for row in rows]
    lengths = {len(strip) for strip in strips}
    if len(lengths) != 1:
        raise ValueError(f"all strips need the same length, got {[len(s) for s in strips]}")
    return plot_image_grid(np.concatenate(strips), num_cols=lengths.pop(), title=title,
                           row_labels=row_labels, ax=ax)


def plot_loss_curves(
    history: Mapping[str, Sequence[float]],
    *,
    keys: Sequence[str] | None = None,
    log_scale: bool = False,
    title: str | None = None,
    ax: plt.Axes | None = None,
) -> plt.Figure:
    """Plot per-epoch values from a Keras history dict; ``val_<key>`` is drawn dashed.

    Args:
        history: ``{name: [value per epoch]}``, e.g. ``CachedRun.history``.
        keys: names to plot (default: every key without the ``val_`` prefix).
    """
    keys = list(keys) if keys is not None else [k for k in history if not k.startswith("val_")]
    missing = [k for k in keys if k not in history]
    if missing:
        raise ValueError(f"history has no {missing}; it has {sorted(history)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.5))
    for index, key in enumerate(keys):
        color = PALETTE[index % len(PALETTE)]
        epochs = np.arange(1, len(history[key]) + 1)
        ax.plot(epochs, history[key], color=color, label=key)
        if f"val_{key}" in history:
            ax.plot(epochs, history[f"val_{key}"], color=color, linestyle="--",
                    label=f"val_{key}")
    ax.set_xlabel("epoch")
    if log_scale:
        ax.set_yscale("log")
    ax.legend(frameon=False)
    if title:
        ax.set_title(title)
    return ax.figure


def plot_snapshots(
    snapshots: Mapping[int, np.ndarray],
    *,
    epochs: Sequence[int] | None = None,
    num_cols: int = 10,
    value_range: tuple[float, float] = (0.0, 1.0),
    title: str | None = None,
    ax: plt.Axes | None = None,
) -> plt.Figure:
    """Samples from the same fixed latents after several epochs, one row per epoch.

    Args:
        snapshots: ``{epoch: images}``, e.g. ``CachedRun.snapshots()``.
        epochs: the epochs to show (default: all).
        num_cols: the first ``num_cols`` images of each snapshot are shown.
    """
    epochs = list(snapshots) if epochs is None else list(epochs)
    missing = [epoch for epoch in epochs if epoch not in snapshots]
    if missing:
        raise ValueError(f"no snapshot for epochs {missing}; there are {sorted(snapshots)}")
    images = np.concatenate([np.asarray(snapshots[epoch])[:num_cols] for epoch in epochs])
    return plot_image_grid(images, num_cols=num_cols, value_range=value_range, title=title,
                           row_labels=[f"epoch {epoch}" for epoch in epochs], ax=ax)


def plot_adversarial_history(
    history: Mapping[str, Sequence[float]],
    *,
    equilibrium: bool = True,
    title: str | None = None,
    axes: Sequence[plt.Axes] | None = None,
) -> plt.Figure:
    """A GAN's two diagnostic panels: the players' losses, and the mean scores of real and
    generated examples (``real_score``, ``fake_score``), per epoch.

    Args:
        history: a GAN's ``CachedRun.history``.
        equilibrium: draw where the standard GAN's curves sit at its equilibrium, D = 1/2
            everywhere: ``d_loss = 2 log 2``, ``g_loss = log 2`` (non-saturating), scores 1/2.
            (Not meaningful for a WGAN's critic.)
        axes: two axes to draw into.
    """
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 3.5))
    plot_loss_curves(history, keys=["d_loss", "g_loss"], ax=axes[0], title="losses")
    plot_loss_curves(history, keys=["real_score", "fake_score"], ax=axes[1],
                     title="mean D(x) and D(G(z))" if equilibrium else "mean critic scores")
    if equilibrium:
        for value in (2 * np.log(2), np.log(2)):
            axes[0].axhline(value, color="grey", linestyle=":", linewidth=1)
        axes[1].axhline(0.5, color="grey", linestyle=":", linewidth=1)
    if title:
        axes[0].figure.suptitle(title)
    return axes[0].figure

def plot_series(
    series,
    *,
    num_cols: int = 8,
    titles: Sequence[str] | None = None,
    color_by: Sequence[int] | None = None,
    suptitle: str | None = None,
) -> plt.Figure:
    """Small multiples of 1-D series, one panel each, on shared axes from -1 to 1.

    Args:
        series: ``(n, steps)`` or ``(n, steps, 1)``.
        titles: one short title per panel (e.g. the kind and parameters).
        color_by: an integer per series (e.g. its kind) choosing its colour.
    """
    series = np.asarray(series).reshape(len(series), -1)
    if titles is not None and len(titles) != len(series):
        raise ValueError(f"{len(titles)} titles for {len(series)} series")
    num_rows = -(-len(series) // num_cols)
    figure, axes = plt.subplots(num_rows, num_cols, figsize=(1.7 * num_cols, 1.3 * num_rows),
                                sharex=True, sharey=True, squeeze=False, layout="constrained")
    for index, ax in enumerate(axes.ravel()):
        if index >= len(series):
            ax.axis("off")
            continue
        group = 0 if color_by is None else int(color_by[index])
        ax.plot(series[index], color=PALETTE[group % len(PALETTE)], linewidth=1.2)
        ax.set_ylim(-1.1, 1.1)
        ax.set_xticks([])
        ax.set_yticks([-1, 0, 1] if index % num_cols == 0 else [])
        if titles is not None:
            ax.set_title(titles[index], fontsize=8)
    if suptitle:
        figure.suptitle(suptitle)
    return figure


def plot_confusion_matrix(
    true_labels,
    predicted_labels,
    *,
    num_classes: int = 10,
    xlabel: str = "predicted",
    ylabel: str = "true",
    title: str | None = None,
    ax: plt.Axes | None = None,
) -> plt.Figure:
    """A confusion matrix as a heat map: row ``i`` holds how the examples of label ``i`` were
    read, as fractions of that row (so each row sums to 1), with the fractions written in.

    Args:
        true_labels, predicted_labels: ``(n,)`` integers in ``0..num_classes-1`` (e.g. the
            labels a conditional GAN was asked for, and what the course classifier read).
    """
    matrix = np.zeros((num_classes, num_classes))
    np.add.at(matrix, (np.asarray(true_labels), np.asarray(predicted_labels)), 1)
    fractions = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    if ax is None:
        _, ax = plt.subplots(figsize=(0.5 * num_classes + 1.5, 0.5 * num_classes + 1))
    ax.imshow(fractions, cmap="Blues", vmin=0.0, vmax=1.0)
    for (row, col), value in np.ndenumerate(fractions):
        if value >= 0.005:
            text = f"{value:.2f}"
            ax.text(col, row, "1" if text == "1.00" else text[1:], ha="center", va="center",
                    fontsize=7, color="white" if value > 0.5 else "black")
    ax.set(xticks=range(num_classes), yticks=range(num_classes), xlabel=xlabel, ylabel=ylabel,
           title=title)
    return ax.figure


def plot_table_marginals(
    tables: Mapping[str, Any],
    encoder,
    *,
    num_cols: int = 4,
    bins: int = 15,
) -> plt.Figure:
    """Each column's distribution in several tables, one panel per column: grouped bars of
    the category fractions for a categorical column, step histograms (densities, shared
    bins) for a continuous one.

    Args:
        tables: name -> pandas data frame with the encoder's columns (e.g. held-out,
            WGAN-GP, GAN).
        encoder: a :class:`~course_utils.tabular.TableEncoder` (which columns are which).
    """
    columns = encoder.columns
    num_rows = -(-len(columns) // num_cols)
    figure, axes = plt.subplots(num_rows, num_cols, figsize=(3.2 * num_cols, 2.6 * num_rows),
                                squeeze=False)
    width = 0.8 / len(tables)
    for ax, column in zip(axes.flat, columns, strict=False):
        if column in encoder.categories:
            values = encoder.categories[column]
            for index, (name, table) in enumerate(tables.items()):
                counts = table[column].astype(str).value_counts(normalize=True)
                ax.bar(np.arange(len(values)) + (index - (len(tables) - 1) / 2) * width,
                       [counts.get(value, 0.0) for value in values], width=width, label=name)
            ax.set_xticks(range(len(values)), values, fontsize=8)
            ax.set_ylabel("fraction")
        else:
            edges = np.histogram_bin_edges(np.concatenate(
                [np.asarray(table[column], np.float64) for table in tables.values()]), bins)
            for name, table in tables.items():
                ax.hist(table[column], bins=edges, density=True, histtype="step",
                        linewidth=1.5, label=name)
            ax.set_yticks([])
        ax.set_title(column, fontsize=10)
    for ax in axes.flat[len(columns):]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="upper center", ncol=len(tables), frameon=False)
    figure.tight_layout(rect=(0, 0, 1, 0.93))
    return figure


def plot_correlation_matrices(
    matrices: Mapping[str, np.ndarray],
    names: Sequence[str],
) -> plt.Figure:
    """Correlation matrices side by side on one colour scale, -1 (blue) to 1 (red).

    Args:
        matrices: title -> ``(k, k)`` correlation matrix.
        names: the ``k`` column names, written along each matrix's left edge.
    """
    figure, axes = plt.subplots(1, len(matrices), figsize=(4.2 * len(matrices), 4.6),
                                squeeze=False)
    for index, (ax, (title, matrix)) in enumerate(zip(axes.flat, matrices.items(),
                                                      strict=True)):
        image = ax.imshow(matrix, cmap="RdBu_r", vmin=-1.0, vmax=1.0)
        ax.set_xticks([])
        ax.set_yticks(range(len(names)), names if index == 0 else [], fontsize=7)
        ax.set_title(title, fontsize=10)
    figure.colorbar(image, ax=list(axes.flat), shrink=0.7)
    return figure


#: The icons of matplotlib's animation buttons, as characters: its HTML otherwise loads an
#: icon font from a CDN, and a committed notebook must display offline.
BUTTON_SYMBOLS = {"fa-minus": "−", "fa-plus": "+", "fa-fast-backward": "⏮",
                  "fa-step-backward": "⏴", "fa-play fa-flip-horizontal": "◀",
                  "fa-pause": "⏸", "fa-play": "▶", "fa-step-forward": "⏵",
                  "fa-fast-forward": "⏭"}


def _offline_buttons(html: str) -> str:
    """matplotlib's animation HTML without its CDN stylesheet, the icons as characters."""
    html = re.sub(r"<link[^>]*font-awesome[^>]*>", "", html)
    return re.sub(r'<i class="fa ([^"]+)"></i>',
                  lambda match: BUTTON_SYMBOLS.get(match.group(1), "·"), html)


def animation_html(
    frames,
    *,
    value_range: tuple[float, float] = (0.0, 1.0),
    interval_ms: int = 120,
    title: str | None = None,
    size_inches: float = 2.5,
):
    """Return an inline HTML/JavaScript animation of image frames (no ffmpeg, and nothing
    fetched from the network: the buttons show characters, not a web font's icons).

    Args:
        frames: ``(num_frames, ...)`` images in any course layout; keep it to ≤ 40 small frames
            so the notebook stays small (each frame is embedded as a PNG).
        interval_ms: delay between frames.

    Returns:
        An ``IPython.display.HTML`` object; display it as a cell's last expression.
    """

    tiles = to_display_images(frames, value_range=value_range)
    figure, ax = plt.subplots(figsize=(size_inches, size_inches))
    image = ax.imshow(tiles[0], cmap="gray", vmin=0.0, vmax=1.0)
    ax.axis("off")
    if title:
        ax.set_title(title)

    def show(index):
        image.set_data(tiles[index])
        return (image,)

    movie = animation.FuncAnimation(figure, show, frames=len(tiles), interval=interval_ms,
                                    blit=True)
    html = _offline_buttons(movie.to_jshtml(default_mode="loop"))
    plt.close(figure)
    return HTML(html)
