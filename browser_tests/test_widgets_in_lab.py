"""The course's widgets in a real browser: Jupyter Lab on localhost, driven in headless
Chromium by Playwright. Run by ``make test-browser`` (not by ``make test``).

Each test opens a notebook in Lab, runs all its cells, moves a control (a slider handle
by the keyboard, a toggle button by a click), and checks that the image the widget draws
changes, both its PNG (the ``src`` of the ``<img>``) and the pixels on the screen.
Screenshots are kept in ``browser_artifacts/`` (or ``$BROWSER_ARTIFACTS``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
#: Chromium's flags for a closed network and no screen (no sandbox: CI runs as root).
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
TOKEN = "course-browser-test"
#: Lab's settings for the test: every cell kept in the page (by default Lab 4 renders only
#: the cells near the view), and no question about news popping up over the outputs.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false"},
}
TIMEOUT_MS = 180_000
#: The notebook on show (Lab keeps the other open notebooks' panels, hidden, in the page).
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"

#: A notebook with every kind of widget of the course, each given a cheap image function,
#: so that the test checks the widgets' plumbing in the browser in seconds.
WIDGETS_NOTEBOOK = [
    "import numpy as np\nimport course_utils as cu",
    # latent explorer: the image's brightness and a bar follow the two sliders
    "def decode(z):\n"
    "    images = np.zeros((len(z), 28, 28), np.float32)\n"
    "    for image, (a, b) in zip(images, z):\n"
    "        image[:, : int(14 + 6 * a)] = 0.5 + 0.2 * b\n"
    "    return images\n"
    "cu.widgets.show_latent_explorer(decode, [(-2, 2), (-2, 2)])",
    # class picker: class c draws a bar at rows 2c..2c+2
    "def generate(labels, seed):\n"
    "    images = np.zeros((len(labels), 28, 28), np.float32)\n"
    "    for image, label in zip(images, labels):\n"
    "        image[2 * label: 2 * label + 3] = 1.0\n"
    "    return images\n"
    "cu.widgets.show_class_picker(generate, [str(c) for c in range(10)])",
    # code explorer: the category picks the row, the code the column of a square
    "def generate_codes(categories, codes):\n"
    "    images = np.zeros((len(categories), 28, 28), np.float32)\n"
    "    for image, category, (c,) in zip(images, categories, codes):\n"
    "        column = int(12 + 5 * c)\n"
    "        image[3 * category: 3 * category + 4, column: column + 4] = 1.0\n"
    "    return images\n"
    "cu.widgets.show_code_explorer(generate_codes, ['a', 'b', 'c'], [(-2, 2)])",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A Jupyter Lab server on localhost over a work folder holding the widgets notebook and
    chapter 02; yields ``(base_url, folder)``."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: install Debian's 'chromium' package (or set "
                    "CHROMIUM to a Chromium binary) to run the browser tests")
    folder = tmp_path_factory.mktemp("lab")
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(source) for source in WIDGETS_NOTEBOOK])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    nbformat.write(notebook, folder / "widgets.ipynb")
    shutil.copy(ROOT / "notebooks" / "02_generating_from_latent_space.ipynb", folder)
    settings = folder / "lab-settings"
    for plugin, values in LAB_SETTINGS.items():
        path = settings / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = {key: value for key, value in os.environ.items()
           if key not in ("COURSE_HEADLESS", "MPLBACKEND")}  # a person is watching
    env.update(COURSE_FAST="1", COURSE_CACHE_DIR=str(folder / "cache"),
               JUPYTERLAB_SETTINGS_DIR=str(settings),
               JUPYTERLAB_WORKSPACES_DIR=str(folder / "workspaces"))
    port = _free_port()
    log = (folder / "lab.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}",
         "--ip=127.0.0.1", f"--ServerApp.token={TOKEN}", f"--ServerApp.root_dir={folder}",
         "--ServerApp.allow_root=True"], env=env, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{base_url}/api/status?token={TOKEN}", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"Jupyter Lab did not start; see {folder / 'lab.log'}")
                time.sleep(0.5)
        yield base_url, folder
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


def _artifacts() -> Path:
    folder = Path(os.environ.get("BROWSER_ARTIFACTS", ROOT / "browser_artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _kernel_state(base_url: str, name: str) -> str | None:
    """The execution state of the kernel of notebook ``name``'s session, if it has one."""
    with urllib.request.urlopen(f"{base_url}/api/sessions?token={TOKEN}", timeout=5) as reply:
        sessions = json.loads(reply.read())
    states = [session["kernel"]["execution_state"] for session in sessions
              if session.get("path", "").endswith(name) and session.get("kernel")]
    return states[0] if states else None


def _open_and_run_all(browser, lab, name: str, *, images: int):
    """Open notebook ``name`` in Lab, wait for its kernel, run all cells, and wait for
    ``images`` widget images (a screenshot is kept if they do not come)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    base_url, _ = lab
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{base_url}/lab/tree/{name}?reset&token={TOKEN}")  # only this notebook
    page.wait_for_selector(f"{PANEL} .jp-Cell", state="attached")
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while _kernel_state(base_url, name) != "idle":
        if time.monotonic() > deadline:
            pytest.fail(f"the kernel of {name} did not start")
        time.sleep(0.5)
    widget_images = page.locator(f"{PANEL} .jp-OutputArea .widget-vbox img")
    started = page.locator(f"{PANEL} .jp-InputPrompt").filter(  # "[*]:" or "[1]:", not "[ ]:"
        has_text=re.compile(r"\[(\*|\d+)\]"))
    for attempt in range(2):  # in one CI run a Run All clicked as Lab settled was lost
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-item[data-command='runmenu:run-all']").click()
        try:
            started.first.wait_for(state="attached", timeout=30_000)
            break
        except PlaywrightTimeout:
            page.screenshot(path=_artifacts() / f"{Path(name).stem}_run_all_{attempt}.png")
    try:
        widget_images.nth(images - 1).wait_for(state="attached")
    except PlaywrightTimeout:
        page.screenshot(path=_artifacts() / f"{Path(name).stem}_not_run.png")
        raise
    return page, widget_images


def _changes(page, image, action, label: str) -> None:
    """Do ``action`` and check that ``image``'s PNG and its pixels on screen change."""
    image.scroll_into_view_if_needed()
    before_src, before_pixels = image.get_attribute("src"), image.screenshot()
    action()
    page.wait_for_function("([element, src]) => element.src !== src",
                           arg=[image.element_handle(), before_src])
    page.wait_for_timeout(300)  # let the new PNG be painted
    assert image.screenshot() != before_pixels, f"{label}: the image did not change on screen"
    page.screenshot(path=_artifacts() / f"{label}.png", full_page=True)


def _slide(page, widget_box, presses: int = 5):
    """Move the first slider of a widget box to the right with the keyboard."""
    def action():
        handle = widget_box.locator(".noUi-handle").first
        handle.focus()
        for _ in range(presses):
            handle.press("ArrowRight")
    return action


def test_every_widget_redraws_when_its_control_moves(browser, lab):
    page, images = _open_and_run_all(browser, lab, "widgets.ipynb", images=3)
    boxes = page.locator(f"{PANEL} .jp-OutputArea .widget-vbox")
    _changes(page, images.nth(0), _slide(page, boxes.nth(0)), "latent_explorer")
    _changes(page, images.nth(1),
             lambda: boxes.nth(1).locator("button", has_text="7").click(), "class_picker")
    _changes(page, images.nth(2),
             lambda: boxes.nth(2).locator("button", has_text="c").click(), "code_category")
    _changes(page, images.nth(2), _slide(page, boxes.nth(2)), "code_slider")
    page.close()


def test_chapter_02_latent_explorer_in_lab(browser, lab):
    page, images = _open_and_run_all(browser, lab, "02_generating_from_latent_space.ipynb",
                                     images=1)
    box = page.locator(f"{PANEL} .jp-OutputArea .widget-vbox").first
    _changes(page, images.first, _slide(page, box, presses=20), "chapter_02_latent_explorer")
    page.close()
