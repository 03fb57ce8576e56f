"""Execute the course's notebooks and report time, memory and metrics.

    python -m course_utils.runner                  # fast mode -> reports/executed/, fast report
    python -m course_utils.runner --full           # the same in full mode (full_local_*)
    python -m course_utils.runner --refresh        # maintainers: clear the cache, full mode
                                                   # IN PLACE, strip metadata, audit, write the
                                                   # committed full_run.json + course_report.md
                                                   # and the README's summary table (a run
                                                   # stopped half-way keeps the other rows)
    python -m course_utils.runner --refresh [--profile] notebooks/08_infogan.ipynb
                                                   # the same for some chapters; their rows
                                                   # replace theirs in full_run.json, the
                                                   # other chapters' rows are kept;
                                                   # --profile: each cell's time, memory
    python -m course_utils.runner --refresh --keep-cache notebooks/12_*.ipynb
                                                   # the same without emptying the cache
                                                   # (chapter 12 compares the models the
                                                   # other chapters cached)

Each notebook runs in a fresh kernel with ``COURSE_HEADLESS=1``, ``COURSE_REPORT_DIR`` and
``COURSE_NOTEBOOK`` set, so ``report.record`` collects its figures. The peak resident memory
of the kernel and all its children is sampled every 0.1 s. The first failing notebook stops
the run with its failing cell shown.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from course_utils import __version__, config
from course_utils.config import chapter_notebooks

CELL_TIMEOUT_SECONDS = 1800
MAX_NOTEBOOK_BYTES = 2_000_000
#: Output text that must never be committed.
FORBIDDEN_OUTPUT = re.compile(r"Traceback|Warning:|WARNING:|Error:|DeprecationWarning")


class MemorySampler:
    """Sample the summed RSS of a process and all its descendants in a background thread."""

    def __init__(self, pid: int, interval: float = 0.1):
        self.process = psutil.Process(pid)
        self.interval = interval
        self.peak_bytes = 0
        self.window_peak_bytes = 0  # since the last reset_window()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def current_bytes(self) -> int:
        """The summed RSS now (0 if the process has gone)."""
        try:
            return self._rss()
        except psutil.Error:
            return 0

    def _rss(self) -> int:
        total = 0
        for process in [self.process, *self.process.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):  # a child may exit while we look
                total += process.memory_info().rss
        return total

    def sample(self) -> int:
        """Measure now and update both peaks; return the RSS (0 if the process has gone).
        The runner also calls it after every cell, so that a cell shorter than the
        sampling interval still counts."""
        rss = self.current_bytes()
        self.peak_bytes = max(self.peak_bytes, rss)
        self.window_peak_bytes = max(self.window_peak_bytes, rss)
        return rss

    def _run(self):
        while not self._stop.is_set() and self.sample():  # 0: the process has gone
            self._stop.wait(self.interval)

    def reset_window(self) -> None:
        """Start a new window for ``window_peak_bytes`` (e.g. one notebook cell)."""
        self.window_peak_bytes = 0

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _kernel_pid(client: NotebookClient) -> int:
    provisioner = getattr(client.km, "provisioner", None)
    process = getattr(provisioner, "process", None)
    if process is None:
        raise RuntimeError("cannot find the kernel's process to measure its memory")
    return process.pid


def execute_notebook(path: Path, output_path: Path, report_dir: Path, *,
                     profile: bool = False) -> dict:
    """Run one notebook top to bottom in a new kernel; return seconds, memory and metrics.
    With ``profile``, print each code cell's time and peak memory as it finishes.

    Raises:
        CellExecutionError: a cell failed (the message shows the cell and the traceback).
    """
    notebook = nbformat.read(path, as_version=4)
    os.environ["COURSE_NOTEBOOK"] = path.stem
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_SECONDS,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=False,
        store_widget_state=False,
    )
    start = time.perf_counter()
    try:
        with client.setup_kernel(), MemorySampler(_kernel_pid(client)) as sampler:
            for index, cell in enumerate(notebook.cells):
                sampler.reset_window()
                cell_start = time.perf_counter()
                client.execute_cell(cell, index, execution_count=client.code_cells_executed + 1)
                sampler.sample()
                if profile and cell.cell_type == "code":
                    print(f"    cell {index:>3}: {time.perf_counter() - cell_start:6.1f} s, "
                          f"peak {sampler.window_peak_bytes / 2**20:6.0f} MiB", flush=True)
    finally:
        output_path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, output_path)
    seconds = time.perf_counter() - start
    metrics_file = report_dir / f"{path.stem}.json"
    metrics = json.loads(metrics_file.read_text()) if metrics_file.exists() else {}
    return {"seconds": round(seconds, 1), "peak_rss_mib": round(sampler.peak_bytes / 2**20, 1),
            "metrics": metrics}


def strip_metadata(path: Path) -> None:
    """Keep only the kernelspec and language of a notebook's metadata, and of a cell's only
    its tags and whether its source is hidden (an exercise's solution)."""
    notebook = nbformat.read(path, as_version=4)
    notebook.metadata = nbformat.from_dict({
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    })
    for cell in notebook.cells:
        kept = {k: v for k, v in cell.metadata.items() if k == "tags"}
        if cell.metadata.get("jupyter", {}).get("source_hidden"):
            kept["jupyter"] = {"source_hidden": True}
        cell.metadata = nbformat.from_dict(kept)
        cell.pop("id", None)
    notebook.nbformat_minor = 4  # cell ids (4.5) change on every save; the course omits them
    nbformat.write(notebook, path)


def audit_notebook(path: Path) -> list[str]:
    """Return the problems of an executed notebook: size, order, errors, warnings."""
    problems = []
    notebook = nbformat.read(path, as_version=4)
    size = path.stat().st_size
    if size > MAX_NOTEBOOK_BYTES:
        problems.append(f"{path.name}: {size / 1e6:.1f} MB, over the 2 MB limit")
    code = [cell for cell in notebook.cells if cell.cell_type == "code" and cell.source.strip()]
    counts = [cell.execution_count for cell in code]
    if counts != list(range(1, len(code) + 1)):
        problems.append(f"{path.name}: execution counts are not 1, 2, 3, ...")
    for index, cell in enumerate(code, start=1):
        for output in cell.get("outputs", []):
            text = output.get("text", "") or "".join(output.get("traceback", []))
            if output.output_type == "error" or output.get("name") == "stderr" \
                    or FORBIDDEN_OUTPUT.search(text):
                problems.append(f"{path.name}: code cell {index} has an error, warning or "
                                f"stderr output: {text[:200]!r}")
    return problems


def environment_summary() -> dict:
    """The versions and machine a report was produced with."""
    from importlib.metadata import version  # importing TensorFlow here would be slow

    memory_gb = psutil.virtual_memory().total / 2**30
    return {
        "versions": {"python": platform.python_version(), "tensorflow": version("tensorflow"),
                     "keras": version("keras"), "numpy": version("numpy"),
                     "course_utils": __version__},
        "machine": {"cpus": config.available_cpus(), "memory_gb": round(memory_gb, 1),
                    "platform": platform.platform(), "processor": platform.machine()},
    }


def _headline(metrics: dict) -> str:
    parts = []
    for name, value in metrics.items():
        if isinstance(value, (int, float)):
            parts.append(f"{name} {value:.4g}")
    return ", ".join(parts[:3]) or "—"


def write_reports(results: dict, mode: str, json_path: Path, markdown_path: Path) -> None:
    """Write the JSON report and its Markdown summary table."""
    report = {"mode": mode, "chapters": results, **environment_summary()}
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(report, indent=1) + "\n")  # metrics in recording order
    total = sum(chapter["seconds"] for chapter in results.values())
    machine = report["machine"]
    lines = [
        f"# Course run ({mode} mode)",
        "",
        f"{machine['cpus']} CPU cores, {machine['memory_gb']} GB; "
        f"TensorFlow {report['versions']['tensorflow']}, Keras {report['versions']['keras']}. "
        f"Total {total / 60:.1f} min. Written by `python -m course_utils.runner`.",
        "",
        "| notebook | time (s) | peak memory (MiB) | headline metrics |",
        "|---|---:|---:|---|",
    ]
    for stem, chapter in results.items():
        lines.append(f"| {stem} | {chapter['seconds']:.0f} | {chapter['peak_rss_mib']:.0f} | "
                     f"{_headline(chapter['metrics'])} |")
    markdown_path.write_text("\n".join(lines) + "\n")


README_MARKERS = ("<!-- course-report -->", "<!-- /course-report -->")


def report_table(markdown_report: str) -> str:
    """Return the table (the lines starting with '|') of a course report."""
    return "\n".join(line for line in markdown_report.splitlines() if line.startswith("|"))


def update_readme(readme: Path, markdown_report: str) -> None:
    """Replace the table between the README's course-report markers by the report's."""
    text = readme.read_text()
    start, end = README_MARKERS
    if start not in text or end not in text:
        raise ValueError(f"{readme} lacks the markers {start} ... {end}")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    readme.write_text(f"{head}{start}\n{report_table(markdown_report)}\n{end}{tail}")


def earlier_results(json_path: Path, chapters: set[str]) -> dict:
    """The rows of an existing report for the given chapters (notebook stems), or ``{}``
    when there is none: a row of a chapter that no longer exists is dropped."""
    if not json_path.exists():
        return {}
    rows = json.loads(json_path.read_text())["chapters"]
    return {stem: row for stem, row in rows.items() if stem in chapters}


def run(notebooks: list[Path], *, mode: str, in_place: bool, output_dir: Path,
        json_path: Path, markdown_path: Path, keep: dict | None = None,
        profile: bool = False) -> int:
    """Execute notebooks in order; write the reports; return a process exit code.

    ``keep``: earlier chapters' results to report besides these notebooks' (a chapter run
    now replaces its earlier row); rows are in notebook order. ``profile``: print each
    code cell's time and peak memory.
    """
    os.environ["COURSE_FAST"] = "1" if mode == "fast" else "0"
    os.environ["COURSE_HEADLESS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("MALLOC_ARENA_MAX", "2")  # kernels inherit it; see the Makefile
    results: dict[str, dict] = {}
    problems: list[str] = []

    def write():
        merged = {**(keep or {}), **results}
        write_reports({stem: merged[stem] for stem in sorted(merged)}, mode, json_path,
                      markdown_path)

    with tempfile.TemporaryDirectory(prefix="course-report-") as report_dir:
        os.environ["COURSE_REPORT_DIR"] = report_dir
        for number, path in enumerate(notebooks, start=1):
            target = path if in_place else output_dir / path.name
            print(f"[{number}/{len(notebooks)}] {path.name} ({mode} mode) ...", flush=True)
            try:
                results[path.stem] = execute_notebook(path, target, Path(report_dir),
                                                      profile=profile)
            except CellExecutionError as error:
                print(f"\nFAILED: {path.name} (executed copy: {target})\n{error}", flush=True)
                write()
                return 1
            chapter = results[path.stem]
            print(f"    {chapter['seconds']:.0f} s, peak {chapter['peak_rss_mib']:.0f} MiB, "
                  f"{_headline(chapter['metrics'])}", flush=True)
            if in_place:
                strip_metadata(target)
            problems += audit_notebook(target)
            write()  # after each chapter: a later chapter (the comparison) reads the rows
    print(f"Wrote {json_path} and {markdown_path}.")
    for problem in problems:
        print(f"AUDIT: {problem}")
    return 1 if problems and in_place else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--full", action="store_true", help="full mode (default: fast)")
    group.add_argument("--refresh", action="store_true",
                       help="clear the cache, run full mode in place, write committed reports "
                            "(given notebooks: replace only their rows)")
    parser.add_argument("--keep-cache", action="store_true",
                        help="with --refresh: keep the model cache (for chapter 12, which "
                             "loads the models the other chapters trained)")
    parser.add_argument("--profile", action="store_true",
                        help="print each code cell's time and peak memory")
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks to run (default: every notebooks/*.ipynb)")
    args = parser.parse_args(argv)
    root = config.project_root() or Path.cwd()
    chapters = chapter_notebooks(root)
    notebooks = args.notebooks or chapters
    if not notebooks:
        print(f"No notebooks found under {root / 'notebooks'}.", file=sys.stderr)
        return 2
    reports = root / "reports"
    if args.keep_cache and not args.refresh:
        parser.error("--keep-cache goes with --refresh (other runs never empty the cache)")
    if args.refresh:
        if not args.keep_cache:
            shutil.rmtree(config.cache_dir(), ignore_errors=True)
        json_path = reports / "full_run.json"
        code = run(notebooks, mode="full", in_place=True, output_dir=root / "notebooks",
                   json_path=json_path, markdown_path=reports / "course_report.md",
                   keep=earlier_results(json_path, {path.stem for path in chapters}),
                   profile=args.profile)
        update_readme(root / "README.md", (reports / "course_report.md").read_text())
        return code
    # Only --refresh writes the committed full_run.json; a local full run is kept apart.
    stem = "full_local" if args.full else "fast"
    return run(notebooks, mode="full" if args.full else "fast", in_place=False,
               output_dir=reports / "executed", json_path=reports / f"{stem}_run.json",
               markdown_path=reports / f"{stem}_report.md", profile=args.profile)


if __name__ == "__main__":
    sys.exit(main())
