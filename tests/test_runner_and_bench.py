"""The runner on small synthetic notebooks, its audit and metadata stripping; the bench."""

import json
from pathlib import Path

import nbformat
import pytest

from course_utils import bench, runner


def write_notebook(path, *sources):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    nbformat.write(notebook, path)
    return path


def test_run_executes_measures_and_collects_metrics(tmp_path):
    notebook = write_notebook(
        tmp_path / "01_demo.ipynb",
        "import course_utils as cu\nprint(cu.config.mode())",
        "cu.report.record('answer', 42)\nimport numpy as np\nblock = np.ones(20_000_000)",
    )
    code = runner.run([notebook], mode="fast", in_place=False, output_dir=tmp_path / "out",
                      json_path=tmp_path / "run.json", markdown_path=tmp_path / "run.md")
    assert code == 0
    report = json.loads((tmp_path / "run.json").read_text())
    chapter = report["chapters"]["01_demo"]
    assert chapter["metrics"] == {"answer": 42} and report["mode"] == "fast"
    assert chapter["peak_rss_mib"] > 150  # the kernel held a 160 MB array
    executed = nbformat.read(tmp_path / "out" / "01_demo.ipynb", as_version=4)
    assert executed.cells[0].outputs[0]["text"] == "fast\n"
    assert "| 01_demo |" in (tmp_path / "run.md").read_text()
    assert set(report["versions"]) >= {"tensorflow", "keras", "python"}


def test_profile_prints_each_code_cells_time_and_memory(tmp_path, capsys):
    notebook = write_notebook(tmp_path / "02_profiled.ipynb", "x = 1",
                              "import numpy as np\nblock = np.ones(20_000_000)")
    runner.run([notebook], mode="fast", in_place=False, output_dir=tmp_path / "out",
               json_path=tmp_path / "run.json", markdown_path=tmp_path / "run.md", profile=True)
    lines = [line for line in capsys.readouterr().out.splitlines() if "cell" in line]
    assert [line.split(":")[0].strip() for line in lines] == ["cell   0", "cell   1"]
    peaks = [float(line.split("peak")[1].split()[0]) for line in lines]
    assert peaks[0] > 20 and peaks[1] > peaks[0] + 100  # the second cell held 160 MB more


def test_a_partial_run_replaces_only_its_own_rows(tmp_path):
    """``--refresh NOTEBOOK``: the chapters run now replace their rows; the others stay."""
    json_path = tmp_path / "run.json"
    json_path.write_text(json.dumps({"mode": "full", "chapters": {
        "01_demo": {"seconds": 9.0, "peak_rss_mib": 1.0, "metrics": {"answer": 1}},
        "03_other": {"seconds": 5.0, "peak_rss_mib": 2.0, "metrics": {"kept": 3}}}}))
    notebook = write_notebook(tmp_path / "01_demo.ipynb",
                              "import course_utils as cu\ncu.report.record('answer', 42)")
    code = runner.run([notebook], mode="fast", in_place=False, output_dir=tmp_path / "out",
                      json_path=json_path, markdown_path=tmp_path / "run.md",
                      keep=runner.earlier_results(json_path, {"01_demo", "03_other"}))
    chapters = json.loads(json_path.read_text())["chapters"]
    assert code == 0 and list(chapters) == ["01_demo", "03_other"]
    assert chapters["01_demo"]["metrics"] == {"answer": 42}
    assert chapters["03_other"]["metrics"] == {"kept": 3}


def test_a_later_chapter_reads_the_rows_of_the_chapters_run_before_it(tmp_path):
    """The comparison chapter reads the report: it must hold this run's earlier rows."""
    json_path = tmp_path / "run.json"
    first = write_notebook(tmp_path / "01_first.ipynb",
                           "import course_utils as cu\ncu.report.record('answer', 42)")
    second = write_notebook(
        tmp_path / "02_reader.ipynb",
        f"import json\nrows = json.loads(open({str(json_path)!r}).read())['chapters']\n"
        "assert rows['01_first']['metrics'] == {'answer': 42}, rows")
    code = runner.run([first, second], mode="fast", in_place=False, output_dir=tmp_path / "out",
                      json_path=json_path, markdown_path=tmp_path / "run.md")
    assert code == 0


def test_a_refresh_keeps_the_rows_of_existing_chapters_only(tmp_path):
    """A full refresh stopped half-way must not lose the rows of the chapters not yet run,
    and a chapter that no longer exists must lose its row."""
    json_path = tmp_path / "run.json"
    json_path.write_text(json.dumps({"chapters": {"01_kept": {"seconds": 1.0},
                                                  "99_removed": {"seconds": 2.0}}}))
    assert runner.earlier_results(json_path, {"01_kept", "02_new"}) == {
        "01_kept": {"seconds": 1.0}}
    assert runner.earlier_results(tmp_path / "missing.json", {"01_kept"}) == {}


def test_a_failing_notebook_stops_the_run_and_shows_the_cell(tmp_path, capsys):
    first = write_notebook(tmp_path / "01_bad.ipynb", "x = 1", "assert x == 2, 'floor missed'")
    second = write_notebook(tmp_path / "02_never.ipynb", "print('unreached')")
    code = runner.run([first, second], mode="fast", in_place=False, output_dir=tmp_path / "out",
                      json_path=tmp_path / "run.json", markdown_path=tmp_path / "run.md")
    output = capsys.readouterr().out
    assert code == 1 and "FAILED: 01_bad.ipynb" in output and "floor missed" in output
    assert "02_never" not in output
    assert (tmp_path / "out" / "01_bad.ipynb").exists()  # the executed copy, for inspection


def test_in_place_run_strips_metadata_and_audits(tmp_path):
    notebook = write_notebook(tmp_path / "03_noisy.ipynb", "print(1)",
                              "import sys; print('oops', file=sys.stderr)")
    code = runner.run([notebook], mode="fast", in_place=True, output_dir=tmp_path,
                      json_path=tmp_path / "run.json", markdown_path=tmp_path / "run.md")
    assert code == 1  # the stderr output is an audit problem
    executed = nbformat.read(notebook, as_version=4)
    assert set(executed.metadata) == {"kernelspec", "language_info"}
    assert [c.execution_count for c in executed.cells] == [1, 2]
    problems = runner.audit_notebook(notebook)
    assert len(problems) == 1 and "stderr" in problems[0]


def test_stripping_keeps_a_solutions_hidden_source_and_tags_only(tmp_path):
    notebook = write_notebook(tmp_path / "04_solved.ipynb", "print(1)", "print(2)")
    cells = nbformat.read(notebook, as_version=4).cells
    cells[0].metadata = {"jupyter": {"source_hidden": True, "outputs_hidden": False},
                         "tags": ["hide-input"], "collapsed": True, "scrolled": False}
    cells[1].metadata = {"jupyter": {"source_hidden": False}, "scrolled": True}
    nbformat.write(nbformat.v4.new_notebook(cells=cells), notebook)
    runner.strip_metadata(notebook)
    stripped = nbformat.read(notebook, as_version=4).cells
    assert stripped[0].metadata == {"jupyter": {"source_hidden": True}, "tags": ["hide-input"]}
    assert stripped[1].metadata == {}


def test_audit_flags_out_of_order_cells(tmp_path):
    path = write_notebook(tmp_path / "04.ipynb", "a = 1", "b = 2")
    notebook = nbformat.read(path, as_version=4)
    notebook.cells[0].execution_count, notebook.cells[1].execution_count = 2, 1
    nbformat.write(notebook, path)
    assert any("execution counts" in p for p in runner.audit_notebook(path))


def test_bench_measures_a_median_and_rejects_unknown_cases(capsys):
    calls = []
    rates = bench.samples_per_second({"a": lambda: calls.append("a"),
                                      "b": lambda: calls.append("b")}, 1000)
    assert calls == ["a", "b"] + ["a", "b"] * bench.REPEATS  # warm-ups, then interleaved
    assert set(rates) == {"a", "b"} and min(rates.values()) > 0
    with pytest.raises(SystemExit):
        bench.main(["no_such_model"])
    assert "unknown case" in capsys.readouterr().err


def test_update_readme_replaces_only_the_marked_table(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- course-report -->\nold\n<!-- /course-report -->\noutro\n")
    runner.update_readme(readme, "# Course run\n\ntext\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    assert readme.read_text() == ("intro\n<!-- course-report -->\n| a | b |\n|---|---|\n"
                                  "| 1 | 2 |\n<!-- /course-report -->\noutro\n")


def test_a_chapter_records_the_same_metrics_twice_from_a_cold_cache(tmp_path, monkeypatch):
    """Reproducibility: chapter 02 in fast mode, run twice in new kernels, each time with an
    empty model cache (so everything is trained again): the recorded metrics are equal."""
    notebook = Path(__file__).resolve().parent.parent / "notebooks" / \
        "02_generating_from_latent_space.ipynb"
    metrics = []
    for attempt in range(2):
        report_dir = tmp_path / f"report_{attempt}"
        report_dir.mkdir()
        monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / f"cache_{attempt}"))
        monkeypatch.setenv("COURSE_REPORT_DIR", str(report_dir))
        metrics.append(runner.execute_notebook(notebook, tmp_path / f"run_{attempt}.ipynb",
                                               report_dir)["metrics"])
    assert metrics[0], "the chapter recorded nothing"
    assert metrics[0] == metrics[1]
