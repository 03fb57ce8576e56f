"""Figures under Agg, the widgets' pure functions and the widget itself, and record()."""

import io
import json

import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

from course_utils import plotting, report, widgets


def decode_sum(codes):
    """A stand-in decoder: a 28x28 image whose brightness is the sigmoid of the code's sum."""
    value = 1 / (1 + np.exp(-np.asarray(codes).sum(axis=1)))
    return np.repeat(value[:, None], 784, axis=1).astype(np.float32)


def test_to_display_images_maps_layouts_and_ranges():
    flat = np.linspace(-1, 1, 2 * 784).reshape(2, 784)
    shown = plotting.to_display_images(flat, value_range=(-1, 1))
    assert shown.shape == (2, 28, 28) and shown.min() == 0.0 and shown.max() == 1.0
    assert plotting.to_display_images(np.full((1, 28, 28, 1), 255.0),
                                      value_range=(0, 255)).max() == 1.0
    with pytest.raises(ValueError, match="square"):
        plotting.to_display_images(np.zeros((1, 10)))


def test_every_figure_function_returns_a_figure():
    rng = np.random.default_rng(0)
    images = rng.random((10, 784))
    figures = [
        plotting.plot_image_grid(images, num_cols=4, title="grid"),
        plotting.plot_reconstructions(images[:3], images[3:6]),
        plotting.plot_latent_scatter(rng.normal(size=(30, 2)), np.arange(30) % 3),
        plotting.plot_latent_manifold(decode_sum, x_range=(-1, 1), y_range=(-1, 1), num_points=4),
        plotting.plot_interpolation([images[:5], images[5:]], row_labels=["a", "b"]),
        plotting.plot_loss_curves({"loss": [3, 2, 1], "val_loss": [3, 2.5, 2]}, log_scale=True),
        plotting.plot_snapshots({0: images[:4], 2: images[4:8]}, num_cols=4),
        plotting.plot_adversarial_history({"d_loss": [1.3, 1.2], "g_loss": [0.8, 0.9],
                                           "real_score": [0.6, 0.6], "fake_score": [0.4, 0.4]}),
    ]
    assert all(isinstance(figure, plt.Figure) for figure in figures)
    _, ax = plt.subplots()
    assert plotting.plot_image_grid(images, ax=ax) is ax.figure
    plt.close("all")


def test_series_panels_one_per_series_with_titles_and_colours():
    series = np.sin(np.linspace(0, 6, 30))[None, :, None] * np.array([1, 0.5, -1])[:, None, None]
    figure = plotting.plot_series(series, num_cols=2, titles=["a", "b", "c"], color_by=[0, 1, 0])
    used = [ax for ax in figure.axes if ax.lines]
    assert len(figure.axes) == 4 and len(used) == 3 and used[1].get_title() == "b"
    np.testing.assert_allclose(used[2].lines[0].get_ydata(), series[2, :, 0])
    assert used[0].lines[0].get_color() != used[1].lines[0].get_color()
    with pytest.raises(ValueError, match="2 titles for 3 series"):
        plotting.plot_series(series, titles=["a", "b"])
    plt.close("all")


def test_grid_layout_and_latent_grid_orientation():
    images = np.stack([np.full((28, 28), v) for v in (0.2, 0.4, 0.6)])
    _, ax = plt.subplots()
    plotting.plot_image_grid(images, num_cols=2, ax=ax)
    canvas = ax.images[0].get_array()
    assert canvas.shape == (57, 57)
    assert canvas[0, 0] == pytest.approx(0.2) and canvas[0, 29] == pytest.approx(0.4)
    assert canvas[29, 0] == pytest.approx(0.6) and canvas[29, 29] == 0.0  # padded tile
    grid = plotting.latent_grid((0, 1), (0, 1), num_points=3)
    np.testing.assert_array_equal(grid[0], [0, 1])  # top-left is (x min, y max)
    np.testing.assert_array_equal(grid[-1], [1, 0])
    plt.close("all")


def test_snapshot_rows_follow_the_requested_epochs():
    snapshots = {epoch: np.full((3, 784), epoch / 4) for epoch in range(5)}
    figure = plotting.plot_snapshots(snapshots, epochs=[4, 1], num_cols=2)
    grid = figure.axes[0].images[0].get_array()
    assert grid[2, 2] == pytest.approx(1.0) and grid[-3, 2] == pytest.approx(0.25)
    with pytest.raises(ValueError, match="no snapshot for epochs"):
        plotting.plot_snapshots(snapshots, epochs=[7])
    plt.close("all")


def test_confusion_matrix_rows_are_fractions_of_each_true_label():
    true = np.array([0, 0, 0, 0, 1, 1, 2] + [3] * 1000)
    predicted = np.array([0, 0, 0, 1, 1, 1, 0] + [3] * 999 + [0])
    figure = plotting.plot_confusion_matrix(true, predicted, num_classes=4)
    shown = figure.axes[0].images[0].get_array()
    np.testing.assert_allclose(shown, [[0.75, 0.25, 0, 0], [0, 1, 0, 0], [1, 0, 0, 0],
                                       [0.001, 0, 0, 0.999]])
    texts = sorted(text.get_text() for text in figure.axes[0].texts)
    assert texts == [".25", ".75", "1", "1", "1"]  # 0.999 shows as 1; 0.001 is left blank
    plt.close("all")


def test_error_messages_of_plots():
    with pytest.raises(ValueError, match="history has no"):
        plotting.plot_loss_curves({"loss": [1]}, keys=["kl_loss"])
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        plotting.plot_latent_scatter(np.zeros((3, 3)), np.zeros(3))
    plt.close("all")


def test_animation_html_embeds_frames_without_ffmpeg():
    frames = np.random.default_rng(0).random((5, 28, 28))
    html = plotting.animation_html(frames, interval_ms=50).data
    assert "<script" in html and html.count("data:image/png;base64") == 5
    assert "http" not in html and 'class="fa' not in html  # it displays offline
    assert "▶" in html and "⏸" in html


def test_decode_point_and_png_round_trip():
    image = widgets.decode_point(decode_sum, [0.0, 0.0])
    assert image.shape == (28, 28) and image[0, 0] == pytest.approx(0.5)
    png = widgets.image_png(image, scale=2)
    decoded = np.asarray(Image.open(io.BytesIO(png)))
    assert decoded.shape == (56, 56) and decoded[0, 0] == 128


def test_slider_sweeps_vary_one_coordinate_per_row():
    sweeps = widgets.slider_sweeps(decode_sum, [(-2, 2), (-4, 4)], num_steps=3)
    assert sweeps.shape == (6, 28, 28)
    brightness = sweeps[:, 0, 0]
    expected = 1 / (1 + np.exp(-np.array([-2, 0, 2, -4, 0, 4])))
    np.testing.assert_allclose(brightness, expected, rtol=1e-5)


def test_moving_a_slider_redraws_the_image():
    explorer = widgets.build_latent_explorer(decode_sum, [(-3, 3), (-3, 3)])
    *sliders, image = explorer.children
    before = image.value
    sliders[0].value = 2.5
    assert image.value != before
    shown = np.asarray(Image.open(io.BytesIO(image.value)))
    assert shown[0, 0] == round(255 / (1 + np.exp(-2.5)))


def test_headless_explorer_shows_the_static_fallback(capsys, monkeypatch):
    shown = []
    monkeypatch.setattr(widgets, "display", lambda obj: shown.append(obj))
    widgets.show_latent_explorer(decode_sum, [(-1, 1), (-1, 1)])
    assert len(shown) == 1 and isinstance(shown[0], plt.Figure)


def generate_by_label(labels, seed):
    """A stand-in conditional generator: image brightness (label + seed) / 20, constant."""
    value = (np.asarray(labels) + seed) / 20.0
    return np.repeat(value[:, None], 784, axis=1).astype(np.float32)


def test_class_rows_hold_one_class_per_row():
    rows = widgets.class_rows(generate_by_label, 3, num_cols=4, seed=1)
    assert rows.shape == (12, 784)
    np.testing.assert_allclose(rows[:, 0], (np.repeat([0, 1, 2], 4) + 1) / 20)
    with pytest.raises(ValueError, match="returned 1 images for 6 labels"):
        widgets.class_rows(lambda labels, seed: np.zeros((1, 784)), 3, num_cols=2)


def test_picking_a_class_and_new_samples_redraw_the_row():
    picker = widgets.build_class_picker(generate_by_label, ["a", "b", "c"], num_samples=5)
    buttons, new_samples, image = picker.children

    def shown():
        pixels = np.asarray(Image.open(io.BytesIO(image.value)))
        assert pixels.shape == (28 * 3, 28 * 5 * 3)  # one row of five samples, enlarged 3x
        return pixels[0, 0]

    assert shown() == 0
    buttons.value = "c"
    assert shown() == round(255 * 2 / 20)
    new_samples.click()  # seed 0 -> 1
    assert shown() == round(255 * 3 / 20)


def test_headless_class_picker_shows_every_class(monkeypatch):
    shown = []
    monkeypatch.setattr(widgets, "display", lambda obj: shown.append(obj))
    widgets.show_class_picker(generate_by_label, ["a", "b", "c"], num_samples=4)
    assert len(shown) == 1 and isinstance(shown[0], plt.Figure)
    labels = [tick.get_text() for tick in shown[0].axes[0].get_yticklabels()]
    assert labels == ["a", "b", "c"]


def generate_by_code(categories, codes):
    """A stand-in InfoGAN: brightness (category + first code + 2 * second code) / 20."""
    value = (np.asarray(categories) + codes[:, 0] + 2 * codes[:, 1]) / 20.0
    return np.repeat(value[:, None], 784, axis=1).astype(np.float32)


def test_code_sweeps_hold_one_category_per_row_and_move_one_code_at_a_time():
    sweeps = widgets.code_sweeps(generate_by_code, 2, [(0, 2), (0, 1)], num_steps=3)
    assert sweeps.shape == (12, 784)
    expected = np.array([[0 + 1, 1 + 1, 2 + 1, 1 + 0, 1 + 1, 1 + 2]]) + np.array([[0], [1]])
    np.testing.assert_allclose(sweeps[:, 0], expected.ravel() / 20)


def test_picking_a_category_and_moving_a_code_redraw_the_image():
    explorer = widgets.build_code_explorer(generate_by_code, ["a", "b", "c"], [(0, 2), (0, 1)])
    picker, _, second, image = explorer.children

    def shown():
        return np.asarray(Image.open(io.BytesIO(image.value)))[0, 0]

    assert shown() == round(255 * (0 + 1 + 1) / 20)
    picker.value = "c"
    assert shown() == round(255 * (2 + 1 + 1) / 20)
    second.value = 0.0
    assert shown() == round(255 * (2 + 1) / 20)


def test_headless_code_explorer_shows_the_sweeps(monkeypatch):
    shown = []
    monkeypatch.setattr(widgets, "display", lambda obj: shown.append(obj))
    widgets.show_code_explorer(generate_by_code, ["a", "b"], [(0, 2), (0, 1)],
                               names=["width", "slant"], num_steps=3)
    assert len(shown) == 1 and isinstance(shown[0], plt.Figure)
    assert "width, then slant" in shown[0].axes[0].get_title()


def test_record_prints_and_writes_only_under_the_runner(tmp_path, monkeypatch, capsys):
    assert report.record("accuracy", np.float32(0.5)) == 0.5
    assert "accuracy = 0.5" in capsys.readouterr().out
    assert not list(tmp_path.iterdir())
    monkeypatch.setenv("COURSE_REPORT_DIR", str(tmp_path))
    monkeypatch.setenv("COURSE_NOTEBOOK", "01_chapter")
    report.record("accuracy", 0.97)
    report.record("table", {"svm": np.array([1, 2]), "ok": True})
    saved = json.loads((tmp_path / "01_chapter.json").read_text())
    assert saved == {"accuracy": 0.97, "table": {"svm": [1, 2], "ok": True}}


@pytest.mark.parametrize(("name", "value", "message"), [
    ("bad name", 1.0, "snake_case"), ("x", float("nan"), "non-finite"), ("x", object(), "type"),
])
def test_record_rejects_bad_values(name, value, message):
    with pytest.raises(ValueError, match=message):
        report.record(name, value)


def test_recorded_metrics_keep_their_recording_order(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_REPORT_DIR", str(tmp_path))
    monkeypatch.setenv("COURSE_NOTEBOOK", "chapter")
    for name in ("zeta_headline", "alpha_detail"):
        report.record(name, 1.0)
    assert list(json.loads((tmp_path / "chapter.json").read_text())) == ["zeta_headline",
                                                                          "alpha_detail"]


def test_table_marginals_and_correlation_panels():
    import pandas as pd

    from course_utils import tabular

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"kind": rng.choice(["a", "b"], 50), "size": rng.normal(size=50)})
    encoder = tabular.TableEncoder.fit(frame, categorical=["kind"], continuous=["size"])
    other = frame.assign(kind="a")
    figure = plotting.plot_table_marginals({"real": frame, "other": other}, encoder, num_cols=3)
    bars_ax, hist_ax = figure.axes[:2]
    heights = [patch.get_height() for patch in bars_ax.patches]
    counts = frame["kind"].value_counts(normalize=True)
    np.testing.assert_allclose(heights, [counts["a"], counts["b"], 1.0, 0.0])
    assert [text.get_text() for text in bars_ax.get_xticklabels()] == ["a", "b"]
    assert hist_ax.get_title() == "size" and not figure.axes[2].get_visible()
    matrix = np.array([[1.0, -0.5], [-0.5, 1.0]])
    figure = plotting.plot_correlation_matrices({"x": matrix, "y": -matrix}, ["p", "q"])
    np.testing.assert_allclose(figure.axes[1].images[0].get_array(), -matrix)
    assert figure.axes[0].images[0].get_clim() == (-1.0, 1.0)
    plt.close("all")
