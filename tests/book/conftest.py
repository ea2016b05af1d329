"""Fixtures of the book tests: the book built once per session, and every page's DOM after Chromium ran it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.book._book import HTML, ROOT, dom, pages


@pytest.fixture(scope="session")
def built_book(tmp_path_factory):
    if os.environ.get("NNIP_SKIP_BOOK_BUILD") != "1":
        subprocess.run([sys.executable, "-m", "nnip.book", "--preset", "tiny"], cwd=ROOT, check=True)
    assert (HTML / "index.html").exists(), "book was not built"
    return HTML


@pytest.fixture(scope="session")
def doms(built_book, tmp_path_factory) -> dict:
    """Every page's DOM after Chromium loaded and ran it (one Chromium start per page, shared by the tests)."""
    profile = tmp_path_factory.mktemp("chromium-profile")
    return {page: dom(page, profile) for page in pages(built_book)}
