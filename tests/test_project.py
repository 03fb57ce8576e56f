"""The project's files agree with each other, and every chapter follows the skeleton."""

import contextlib
import json
import re
import tomllib
from pathlib import Path

import nbformat
import pytest

from course_utils.config import chapter_notebooks, chapter_number

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = chapter_notebooks(ROOT)
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_versions_are_pinned_once_and_the_environments_install_the_project():
    for requirement in PYPROJECT["project"]["dependencies"]:
        assert "==" in requirement, f"pin {requirement} exactly in pyproject.toml"
    for path in (ROOT / "environment.yml", ROOT / "binder" / "environment.yml"):
        text = path.read_text()
        assert "python=3.11" in text, path
        assert not re.search(r"tensorflow|keras|numpy", text), f"{path} must not pin packages"
    assert 'pip install --no-cache-dir -e ".[dev]"' in (ROOT / "binder" / "postBuild").read_text()
    assert "COURSE_FAST=1" in (ROOT / "binder" / "start").read_text()


def test_there_are_notebooks_in_course_order():
    numbers = [chapter_number(p.stem) for p in NOTEBOOKS]
    assert numbers[:3] == ["00", "01", "02"]
    assert numbers.index("07a") + 1 == numbers.index("07b") == numbers.index("08") - 1
    with pytest.raises(ValueError, match="no chapter name"):
        chapter_number("7_wasserstein")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_chapter_skeleton(path):
    """Header, one setup cell, one parameters cell, the ending, and the metrics cell last."""
    notebook = nbformat.read(path, as_version=4)
    cells = notebook.cells
    sources = [cell.source for cell in cells]
    header = sources[0]
    assert header.startswith(f"# {chapter_number(path.stem)} · "), "title '# NN · Topic' first"
    repository = PYPROJECT["project"]["urls"]["Repository"].removeprefix("https://github.com/")
    assert f"colab.research.google.com/github/{repository}/blob/main/notebooks/{path.name}" \
        in header
    assert f"mybinder.org/v2/gh/{repository}/main" in header
    for part in ("**Goal:**", "**You will learn**", "**Prerequisites:**", "**Run time"):
        assert part in header, f"the header lacks {part}"
    code = [c.source for c in cells if c.cell_type == "code"]
    assert "cu.config.setup_notebook(" in code[0] and "import course_utils as cu" in code[0]
    assert sum("setup_notebook(" in s for s in code) == 1, "one setup cell only"
    markdown = "\n".join(c.source for c in cells if c.cell_type == "markdown")
    positions = [markdown.find(h) for h in
                 ("## Parameters", "## What we saw", "## Exercises", "## References",
                  "## Metrics")]
    assert -1 not in positions and positions == sorted(positions), positions
    solutions = [c for c in cells if c.cell_type == "code"
                 and c.metadata.get("jupyter", {}).get("source_hidden")]
    assert solutions or "<details>" in markdown, "exercises need solutions (or hints)"
    for cell in solutions:  # hidden in JupyterLab and on the website alike
        assert "hide-input" in cell.metadata.get("tags", []), cell.source[:60]
    if solutions:
        assert "<details>" not in markdown, "a solved chapter keeps no folded hints"
    assert "cu.report.record(" in code[-1] and "assert " in code[-1], "metrics cell last"
    assert not any(re.search(r"\bTODO\b", s) for s in sources)
    assert all(s.strip() for s in sources), "no empty cells"
    assert max(len(s.splitlines()) for s in code) <= 30, "code cells stay short"
    assert path.stat().st_size < 2_000_000


def test_the_readme_shows_the_committed_course_report():
    from course_utils.runner import report_table

    report = ROOT / "reports" / "course_report.md"
    if not report.exists():
        pytest.skip("no full run committed yet")
    assert report_table(report.read_text()) in (ROOT / "README.md").read_text()


def test_citation_and_contributing_agree_with_the_project():
    import yaml

    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["cff-version"] == "1.2.0" and citation["title"] and citation["authors"]
    assert citation["repository-code"] == PYPROJECT["project"]["urls"]["Repository"]
    assert citation["license"] == "MIT" and "MIT License" in (ROOT / "LICENSE").read_text()
    contributing = (ROOT / "CONTRIBUTING.md").read_text()
    for part in ("**Goal**", "**You will learn**", "**Prerequisites**", "**Metrics**",
                 "cu.config.pick", "make test-browser"):
        assert part in contributing, part


#: Words of the course's making that a student must never meet: source documents named by
#: their file number, paths outside the published repository, the process that built it.
PROCESS_WORDS = re.compile(r"\bseed 00[0-4]|\.\./shared|development runs?\b|the chapter's issue"
                           r"|\bthe seed (?:reports|says|claims|shows)\b|\bin our runs?\b",
                           re.IGNORECASE)


def test_sources_are_cited_by_name_and_no_process_words_reach_a_student():
    texts = {path.name: "\n".join(cell.source for cell in nbformat.read(path, as_version=4).cells
                                   if cell.cell_type == "markdown") for path in NOTEBOOKS}
    texts |= {path.relative_to(ROOT).as_posix(): path.read_text()
              for path in [ROOT / "README.md", ROOT / "data" / "README.md",
                           *sorted((ROOT / "course_utils").rglob("*.py"))]}
    found = {name: PROCESS_WORDS.findall(text) for name, text in texts.items()}
    assert not {name: words for name, words in found.items() if words}


def test_the_process_words_check_catches_a_planted_file_reference():
    assert PROCESS_WORDS.search("as in Seed 001's figure") and PROCESS_WORDS.search(
        "see ../shared/seeds/") and not PROCESS_WORDS.search("Mode: full | seed 0 | CPU only")
    assert PROCESS_WORDS.search("The seed reports a failure") and PROCESS_WORDS.search(
        "reached 0.76 in our run") and not PROCESS_WORDS.search("the mean over the seeds")


#: A decimal number in prose, e.g. 0.907 or 1,860.5 (not part of a word or a version).
DECIMAL = re.compile(r"(?<![\w.])(\d[\d,]*\.\d+)(?![\w.]*\d)")
#: A printed or written number (outputs, code).
NUMBER = re.compile(r"\d[\d,]*\.?\d*(?:e-?\d+)?")
#: A citation: a numbered reference, "et al." or "(Author, 2017)".
CITATION = re.compile(r"\[\d+\]|et al\.|\(\w+(?: & \w+)?, \d{4}\)")
#: Spans whose numbers are definitions, not measurements: math and code.
DEFINITIONS = re.compile(r"\$[^$]*\$|`[^`]*`")


def printed_numbers(notebook) -> set[float]:
    """Every number of the notebook's code and outputs."""
    texts = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        texts.append(cell.source)
        for output in cell.get("outputs", []):
            texts.append(output.get("text", ""))
            texts += [value for kind, value in output.get("data", {}).items()
                      if kind.startswith("text/")]
    numbers = set()
    for match in NUMBER.finditer("\n".join(texts)):
        with contextlib.suppress(ValueError):
            numbers.add(float(match.group().replace(",", "")))
    return numbers


def is_printed(decimal: str, numbers: set[float]) -> bool:
    """Whether a printed number rounds to ``decimal`` at its precision (as a share, or as a
    percentage of it)."""
    places = len(decimal.split(".")[1])
    value = float(decimal.replace(",", ""))
    return any(abs(round(number * scale, places) - value) < 10 ** -(places + 3)
               for number in numbers for scale in (1, 100))


def unprinted_decimals(notebook) -> list[tuple[str, str]]:
    """``(number, line)`` for each decimal of the prose (before the exercises) that no code
    or output of the notebook gives and no citation on its paragraph accounts for; the run
    time in the header is checked against the report instead."""
    numbers = printed_numbers(notebook)
    found = []
    for cell in notebook.cells[1:]:
        if cell.cell_type != "markdown":
            continue
        prose = cell.source.split("## Exercises")[0].split("## References")[0]
        for paragraph in re.split(r"\n\s*\n", prose):
            if CITATION.search(paragraph):
                continue
            for decimal in DECIMAL.findall(DEFINITIONS.sub(" ", paragraph)):
                if not is_printed(decimal, numbers):
                    found.append((decimal, paragraph.strip().splitlines()[0][:80]))
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_decimal_in_the_prose_was_printed_or_is_cited(path):
    assert not unprinted_decimals(nbformat.read(path, as_version=4))


def test_the_decimals_check_catches_a_planted_number():
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# 99 · Title"),
        nbformat.v4.new_code_cell("print(accuracy)", outputs=[
            nbformat.v4.new_output("stream", text="accuracy 0.9068, share 0.1234\n")]),
        nbformat.v4.new_markdown_cell("It reaches 0.907 and 12.3% ($\\beta = 0.5$).\n\n"
                                      "The paper reports 0.95 [1].\n\nIt reaches 0.79."),
    ])
    assert unprinted_decimals(notebook) == [("0.79", "It reaches 0.79.")]


def test_each_header_states_the_run_time_the_report_measured():
    report = json.loads((ROOT / "reports" / "full_run.json").read_text())["chapters"]
    for path in NOTEBOOKS:
        header = " ".join(nbformat.read(path, as_version=4).cells[0].source.split())
        if path.stem not in report:
            continue
        measured = report[path.stem]["seconds"] / 60
        about = re.search(r"full mode about ([\d.]+) min", header)
        if about:
            assert abs(float(about.group(1)) - measured) <= 0.5, (path.stem, measured)
        under = re.search(r"full mode under (\d+) min", header)
        if under:  # "under N min": the measured time is between N - 1 and N minutes
            assert int(under.group(1)) - 1 <= measured < int(under.group(1)), (path.stem,
                                                                                measured)
