# The course's commands. Each creates .venv and installs the project on first use.
#   make course [FULL=1]   execute every notebook (fast mode; full with FULL=1), write the report
#   make test              lint + unit tests + every notebook under nbval, in fast mode
#   make test-browser      the widgets in Jupyter Lab, in headless Chromium (needs chromium)
#   make lab | bench | refresh | clean-cache | lint
PYTHON ?= python3
# glibc gives each thread its own malloc arena that keeps freed memory; TensorFlow's thread
# pools make that hundreds of MB of resident memory. Two arenas keep a chapter's kernel
# around 200 MB smaller at no measurable cost in speed.
export MALLOC_ARENA_MAX ?= 2
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-12)
BROWSER_STAMP := $(VENV)/.browser-$(shell sha256sum pyproject.toml | cut -c1-12)

.PHONY: course test test-browser lint lab bench refresh clean-cache

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Python >= 3.11 is needed, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,dev]"
	rm -f $(VENV)/.installed-* && touch $@

course: $(STAMP)
	$(BIN)/python -m course_utils.runner $(if $(filter 1,$(FULL)),--full,)

test: $(STAMP) lint
	COURSE_FAST=1 COURSE_HEADLESS=1 MPLBACKEND=Agg $(BIN)/python -m pytest tests
	COURSE_FAST=1 COURSE_HEADLESS=1 $(BIN)/python -m pytest -p no:cacheprovider --nbval-lax \
		--nbval-current-env --nbval-cell-timeout=600 notebooks

test-browser: $(BROWSER_STAMP)
	$(BIN)/python -m pytest -p no:cacheprovider browser_tests

$(BROWSER_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[browser]"
	rm -f $(VENV)/.browser-* && touch $@

lint: $(STAMP)
	$(BIN)/ruff check course_utils tests browser_tests
	$(BIN)/nbqa ruff notebooks

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks

bench: $(STAMP)
	$(BIN)/python -m course_utils.bench

refresh: $(STAMP)
	$(BIN)/python -m course_utils.runner --refresh

clean-cache: $(STAMP)
	$(BIN)/python -c 'import shutil, course_utils.config as c; d = c.cache_dir(); shutil.rmtree(d); print("emptied", d)'
