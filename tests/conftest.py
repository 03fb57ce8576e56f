"""Shared fixtures: every test runs in fast mode, headless, with its own empty cache."""

import os

import pytest

os.environ.setdefault("COURSE_FAST", "1")
os.environ.setdefault("COURSE_HEADLESS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """A fresh model cache and no report directory for each test."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("COURSE_CACHE_DIR", str(cache))
    monkeypatch.delenv("COURSE_REPORT_DIR", raising=False)
    return cache
