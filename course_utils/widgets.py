"""Interactive explorers. Each widget is a thin shell over pure, tested functions, and
shows a static figure instead when no live front end is there (``config.is_headless()``:
the runner, nbval, a rendered notebook on GitHub).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display
from PIL import Image

from course_utils import config, plotting

DecodeFn = Callable[[np.ndarray], np.ndarray]
#: A conditional generator for the class picker: ``(labels (n,), seed) -> n images``.
GenerateFn = Callable[[np.ndarray, int], np.ndarray]
#: A generator with a categorical and continuous codes (an InfoGAN with fixed noise):
#: ``(categories (n,), codes (n, d)) -> n images``.
CodeFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _slider_names(names: Sequence[str] | None, count: int) -> list[str]:
    return list(names) if names else [f"z{index + 1}" for index in range(count)]


def decode_point(decode_fn: DecodeFn, point: Sequence[float], *,
                 value_range: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """Decode one latent point to one ``(side, side)`` image in [0, 1].

    Args:
        decode_fn: maps ``(n, latent_dim)`` codes to ``n`` images in ``value_range``.
        point: ``latent_dim`` coordinates.
    """
    codes = np.asarray(point, dtype=np.float32)[np.newaxis]
    return plotting.to_display_images(decode_fn(codes), value_range=value_range)[0]


def image_png(image: np.ndarray, *, scale: int = 6) -> bytes:
    """Encode a ``(height, width)`` grey image in [0, 1] as PNG bytes, enlarged ``scale``
    times."""

    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"expected one (height, width) image, got shape {image.shape}")
    pixels = (np.clip(image, 0.0, 1.0) * 255).round().astype(np.uint8)
    picture = Image.fromarray(pixels, mode="L").resize(
        (image.shape[1] * scale, image.shape[0] * scale), Image.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def slider_sweeps(decode_fn: DecodeFn, ranges: Sequence[tuple[float, float]], *,
                  center: Sequence[float] | None = None, num_steps: int = 9,
                  value_range: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """What moving each slider alone does: one row of decoded images per latent dimension.

    Args:
        ranges: ``(low, high)`` of each latent coordinate.
        center: where the other coordinates stay (default: the middle of each range).
        num_steps: images per row.

    Returns:
        ``(latent_dim * num_steps, side, side)`` images in [0, 1], row by row.
    """
    images = decode_fn(_one_at_a_time(ranges, center, num_steps))
    return plotting.to_display_images(images, value_range=value_range)


def _one_at_a_time(ranges: Sequence[tuple[float, float]], center: Sequence[float] | None,
                   num_steps: int) -> np.ndarray:
    """``(len(ranges) * num_steps, len(ranges))`` points: each coordinate swept across its
    range in turn, the others at ``center`` (default: the middle of each range)."""
    ranges = [tuple(map(float, r)) for r in ranges]
    center = np.array(center if center is not None else [(lo + hi) / 2 for lo, hi in ranges],
                      dtype=np.float32)
    if center.shape != (len(ranges),):
        raise ValueError(f"center has {center.shape} coordinates for {len(ranges)} ranges")
    points = []
    for dim, (low, high) in enumerate(ranges):
        for value in np.linspace(low, high, num_steps):
            point = center.copy()
            point[dim] = value
            points.append(point)
    return np.stack(points)


def _float_sliders(names: Sequence[str] | None, ranges: Sequence[tuple[float, float]]) -> list:
    """One slider per range, at its middle, in 100 steps."""

    return [widgets.FloatSlider(value=(low + high) / 2, min=low, max=high,
                                step=(high - low) / 100, description=name,
                                continuous_update=True)
            for name, (low, high) in zip(_slider_names(names, len(ranges)), ranges,
                                         strict=True)]


def _image_widget():
    """An empty PNG ``ipywidgets.Image`` shown at its own size (a box would stretch it to
    the notebook's width)."""

    return widgets.Image(format="png", layout=widgets.Layout(align_self="flex-start"))


def build_latent_explorer(decode_fn: DecodeFn, ranges: Sequence[tuple[float, float]], *,
                          value_range: tuple[float, float] = (0.0, 1.0),
                          names: Sequence[str] | None = None):
    """Build (without displaying) sliders for each latent coordinate and the decoded image.

    Returns:
        An ``ipywidgets.VBox`` whose ``children`` are the sliders followed by the image.
    """

    sliders = _float_sliders(names, ranges)
    image = _image_widget()

    def redraw(_change=None):
        point = [slider.value for slider in sliders]
        image.value = image_png(decode_point(decode_fn, point, value_range=value_range))

    for slider in sliders:
        slider.observe(redraw, names="value")
    redraw()
    return widgets.VBox([*sliders, image])


def show_latent_explorer(decode_fn: DecodeFn, ranges: Sequence[tuple[float, float]], *,
                         value_range: tuple[float, float] = (0.0, 1.0),
                         names: Sequence[str] | None = None) -> None:
    """Display the latent explorer, or its static fallback when nobody can move a slider.

    The fallback shows :func:`slider_sweeps`: each row is one slider moved across its range
    with the others at the centre.
    """

    if config.is_headless():

        names = _slider_names(names, len(ranges))
        sweeps = slider_sweeps(decode_fn, ranges, value_range=value_range)
        figure = plotting.plot_image_grid(
            sweeps, num_cols=len(sweeps) // len(ranges), row_labels=list(names),
            title="Static view: each row moves one slider (run the notebook for live sliders)")
        display(figure)
        plt.close(figure)
        return
    display(build_latent_explorer(decode_fn, ranges, value_range=value_range, names=names))


def class_rows(generate_fn: GenerateFn, num_classes: int, *, num_cols: int = 10,
               seed: int = 0) -> np.ndarray:
    """Samples of every class, class by class: ``num_classes * num_cols`` images, the ones of
    class ``c`` at rows ``c * num_cols`` to ``(c + 1) * num_cols - 1`` (one grid row each).

    Args:
        generate_fn: ``(labels, seed) -> images``, e.g. a conditional GAN's ``sample``.
        num_cols: samples per class.
        seed: passed to ``generate_fn``.
    """
    if num_classes < 1 or num_cols < 1:
        raise ValueError(f"need num_classes >= 1 and num_cols >= 1, got {num_classes}, "
                         f"{num_cols}")
    images = np.asarray(generate_fn(np.repeat(np.arange(num_classes), num_cols), seed))
    if len(images) != num_classes * num_cols:
        raise ValueError(f"generate_fn returned {len(images)} images for "
                         f"{num_classes * num_cols} labels")
    return images


def build_class_picker(generate_fn: GenerateFn, class_names: Sequence[str], *,
                       num_samples: int = 8, value_range: tuple[float, float] = (0.0, 1.0)):
    """Build (without displaying) a class picker: one button per class, a "new samples"
    button that draws a new seed, and a row of ``num_samples`` samples of the chosen class.

    Returns:
        An ``ipywidgets.VBox`` whose ``children`` are the ``ToggleButtons``, the ``Button``
        and the ``Image`` (a PNG of the row).
    """

    picker = widgets.ToggleButtons(options=list(class_names), description="class")
    new_samples = widgets.Button(description="new samples")
    image = _image_widget()
    seed = {"value": 0}

    def redraw(_change=None):
        labels = np.full(num_samples, picker.index)
        row = plotting.to_display_images(generate_fn(labels, seed["value"]),
                                         value_range=value_range)
        image.value = image_png(np.concatenate(list(row), axis=1), scale=3)

    def draw_new_samples(_button):
        seed["value"] += 1
        redraw()

    picker.observe(redraw, names="value")
    new_samples.on_click(draw_new_samples)
    redraw()
    return widgets.VBox([picker, new_samples, image])


def show_class_picker(generate_fn: GenerateFn, class_names: Sequence[str], *,
                      num_samples: int = 8,
                      value_range: tuple[float, float] = (0.0, 1.0)) -> None:
    """Display the class picker, or its static fallback when nobody can press a button: a
    grid of :func:`class_rows`, ``num_samples`` samples of every class, one class per row."""

    if config.is_headless():

        rows = class_rows(generate_fn, len(class_names), num_cols=num_samples)
        figure = plotting.plot_image_grid(
            rows, num_cols=num_samples, value_range=value_range, row_labels=list(class_names),
            title="Static view: every class (run the notebook to pick one)")
        display(figure)
        plt.close(figure)
        return
    display(build_class_picker(generate_fn, class_names, num_samples=num_samples,
                               value_range=value_range))


def code_sweeps(generate_fn: CodeFn, num_categories: int,
                ranges: Sequence[tuple[float, float]], *, num_steps: int = 7) -> np.ndarray:
    """What each continuous code does to each category: one row per category, holding a
    sweep of each code across its range in turn (the other codes at their middle).

    Returns:
        ``(num_categories * len(ranges) * num_steps, ...)`` images, row by row.
    """
    codes = _one_at_a_time(ranges, None, num_steps)
    categories = np.repeat(np.arange(num_categories), len(codes))
    return np.asarray(generate_fn(categories, np.tile(codes, (num_categories, 1))))


def build_code_explorer(generate_fn: CodeFn, category_names: Sequence[str],
                        ranges: Sequence[tuple[float, float]], *,
                        names: Sequence[str] | None = None,
                        value_range: tuple[float, float] = (0.0, 1.0)):
    """Build (without displaying) a category picker, one slider per continuous code, and
    the image they make.

    Returns:
        An ``ipywidgets.VBox`` whose ``children`` are the ``ToggleButtons``, the sliders and
        the ``Image``.
    """

    picker = widgets.ToggleButtons(options=list(category_names), description="category")
    sliders = _float_sliders(names, ranges)
    image = _image_widget()

    def redraw(_change=None):
        codes = np.array([[slider.value for slider in sliders]], np.float32)
        images = generate_fn(np.array([picker.index]), codes)
        image.value = image_png(plotting.to_display_images(images, value_range=value_range)[0])

    for control in (picker, *sliders):
        control.observe(redraw, names="value")
    redraw()
    return widgets.VBox([picker, *sliders, image])


def show_code_explorer(generate_fn: CodeFn, category_names: Sequence[str],
                       ranges: Sequence[tuple[float, float]], *,
                       names: Sequence[str] | None = None, num_steps: int = 7,
                       value_range: tuple[float, float] = (0.0, 1.0)) -> None:
    """Display the code explorer, or its static fallback when nobody can move a slider:
    :func:`code_sweeps`, one row per category."""

    if config.is_headless():

        names = _slider_names(names, len(ranges))
        sweeps = code_sweeps(generate_fn, len(category_names), ranges, num_steps=num_steps)
        figure = plotting.plot_image_grid(
            sweeps, num_cols=len(ranges) * num_steps, value_range=value_range,
            row_labels=list(category_names),
            title=f"Static view: {', then '.join(names)} swept across "
                  f"{'its' if len(names) == 1 else 'their'} range (run the notebook for sliders)")
        display(figure)
        plt.close(figure)
        return
    display(build_code_explorer(generate_fn, category_names, ranges, names=names,
                                value_range=value_range))
