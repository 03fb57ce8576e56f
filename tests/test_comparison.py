"""Chapter 12's comparison: its registry agrees with the chapters, it trains nothing, and
its table holds what the report and the samples say."""

import json
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pytest
from test_metrics import fixed_classifier  # tests/ is on sys.path (pytest prepends it)

from course_utils import cache, comparison, config
from course_utils.recipes import CourseModel
from course_utils.runner import main as runner_main


def test_every_model_names_a_chapter_and_figures_that_chapter_recorded():
    """The committed full-mode report holds each model's FID (and likelihood) under the
    names the registry gives, in the row of the chapter it names."""
    root = config.project_root()
    report = comparison.full_run_report()
    for model in comparison.IMAGE_MODELS:
        assert (root / "notebooks" / f"{model.chapter}.ipynb").is_file(), model.chapter
        recorded = report[model.chapter]
        assert isinstance(recorded[model.fid_key], float), (model.name, model.fid_key)
        if model.likelihood_key is not None:
            assert recorded[model.likelihood_key] > 0, (model.name, model.likelihood_key)
    names = [model.name for model in comparison.IMAGE_MODELS]
    assert len(set(names)) == len(names)


def test_full_run_report_explains_a_missing_or_corrupt_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="make refresh"):
        comparison.full_run_report(tmp_path / "full_run.json")
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text('{"chapters": [1, 2')
    with pytest.raises(ValueError, match="git checkout"):
        comparison.full_run_report(corrupt)
    corrupt.write_text(json.dumps({"chapters": {"01_x": {"seconds": 3}}}))  # no metrics
    with pytest.raises(ValueError, match="not a course report"):
        comparison.full_run_report(corrupt)


def test_without_a_repository_the_report_comes_from_the_published_one(monkeypatch):
    import io
    import tomllib
    import urllib.error

    pyproject = tomllib.loads((config.project_root() / "pyproject.toml").read_text())
    repository = pyproject["project"]["urls"]["Repository"].removeprefix("https://github.com/")
    requested = []

    def fake_urlopen(url, timeout):
        requested.append(url)
        return io.BytesIO(json.dumps({"chapters": {"11_x": {"metrics": {"bpd": 1.9}}}}).encode())

    monkeypatch.setattr(config, "project_root", lambda: None)
    monkeypatch.setattr(comparison, "urlopen", fake_urlopen)
    assert comparison.full_run_report() == {"11_x": {"bpd": 1.9}}
    assert requested == [f"https://raw.githubusercontent.com/{repository}/main/"
                         "reports/full_run.json"]

    def offline(url, timeout):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(comparison, "urlopen", offline)
    with pytest.raises(FileNotFoundError, match="clone the course"):
        comparison.full_run_report()


@dataclass
class StubModel:
    """What :func:`comparison.sample_models` reads of a registry entry."""

    name: str
    chapter: str
    load: object
    draw: object = None


def test_sample_models_trains_nothing_and_says_which_chapter_to_run(isolated_cache):
    built = []

    def load_missing():
        return cache.load_or_train(
            "never_trained", lambda: built.append(1), config_dict={"v": 1}, epochs=1,
            train_data=lambda: pytest.fail("the comparison must not train"))

    cached = cache.CachedRun(model=None, history={}, train_seconds=12.0)
    drawn = []

    def draw(run, num_samples, seed):
        drawn.append((run, num_samples, seed))
        return np.zeros((num_samples, 28, 28), np.float32)

    models = [StubModel("missing", "05_some_chapter", load_missing),
              StubModel("present", "06_other", lambda: cached, draw=draw)]
    samples, seconds, missing = comparison.sample_models(models, num_samples=3, seed=7)
    assert list(samples) == ["present"] and samples["present"].shape == (3, 28, 28)
    assert drawn == [(cached, 3, 7)] and seconds == {"present": 12.0} and not built
    assert "notebooks/05_some_chapter.ipynb" in missing["missing"]
    assert f"({config.mode()} mode)" in missing["missing"]
    assert not cache.is_cache_only()


def test_sample_summary_against_a_hand_count():
    classifier = fixed_classifier([[0.0, 5.0, -5.0]])  # first pixel 1 -> class 1, p = 0.993
    images = np.zeros((5, 28, 28), np.float32)
    images[:3, 0, 0] = 1.0  # three read confidently as 1; two uniform (read as 0, unsure)
    summary = comparison.sample_summary(images, classifier=classifier)
    assert summary["confident"] == pytest.approx(3 / 5)
    assert summary["largest_class_share"] == pytest.approx(3 / 5)
    p_one = np.exp([0.0, 5.0, -5.0]) / np.exp([0.0, 5.0, -5.0]).sum()
    p = np.array([p_one] * 3 + [[1 / 3] * 3] * 2)
    expected = np.exp(np.mean(np.sum(p * np.log(p / p.mean(axis=0)), axis=1)))
    assert summary["classifier_score"] == pytest.approx(expected, rel=1e-5)


def test_comparison_table_joins_the_report_the_cache_and_the_samples():
    classifier = fixed_classifier([[0.0, 5.0, -5.0]])
    models = [CourseModel("flow", "flow", "11_flows", "flow", SimpleNamespace,
                          fid_key="fid_flow", likelihood_key="bpd", likelihood_unit="bits/dim"),
              CourseModel("gan", "gan", "05_gans", "GAN", lambda: SimpleNamespace(digits=(1, 5, 6)),
                          fid_key="fid_gan")]
    report = {"11_flows": {"fid_flow": 101.5, "bpd": 1.86}}  # chapter 05 not run
    samples = {"flow": np.ones((4, 28, 28), np.float32)}
    table = comparison.comparison_table(samples, {"flow": 225.0}, report, models,
                                        classifier=classifier)
    flow, gan = table.loc["flow"], table.loc["gan"]
    assert (flow["FID (full run)"], flow["likelihood (full run)"]) == (101.5, 1.86)
    assert flow["train s"] == 225.0 and flow["largest_class_share"] == 1.0
    assert flow["likelihood unit"] == "bits/dim" and gan["likelihood unit"] == "-"
    assert (flow["digits"], gan["digits"]) == ("0-9", "1, 5, 6")
    assert np.isnan([gan["FID (full run)"], gan["train s"], gan["classifier_score"]]).all()


def test_keep_cache_goes_with_refresh_only(capsys):
    with pytest.raises(SystemExit):
        runner_main(["--keep-cache", "notebooks/12_comparing_generative_models.ipynb"])
    assert "--keep-cache goes with --refresh" in capsys.readouterr().err
