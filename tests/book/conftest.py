"""Fixtures of the book tests: each book built once per session, and every page's DOM after Chromium ran it.

Two books are built and checked, one after the other (pytest groups the tests by book): ``tiny``, trained from an
empty store (CI's wiring check), and ``cpu``, rendered from the committed run store ``results/cpu`` — it trains
nothing and generates no data (its dataset cache is empty, as on a fresh machine), so a run or cached evaluation
missing from the store fails the build and names it."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.book._book import HTML, ROOT, dom, pages

#: the books ``make test`` builds and checks
BOOKS = ["tiny", "cpu"]


@pytest.fixture(scope="session", params=BOOKS)
def built_book(request, tmp_path_factory):
    if os.environ.get("NNIP_SKIP_BOOK_BUILD") != "1":
        env = dict(os.environ)
        if request.param != "tiny":  # from the store alone, with no dataset in the cache (as on a fresh machine)
            env["NNIP_CACHE"] = str(tmp_path_factory.mktemp("empty-dataset-cache"))
        t0 = time.monotonic()
        subprocess.run([sys.executable, "-m", "nnip.book", "--preset", request.param], cwd=ROOT, check=True, env=env)
        print(f"\n{request.param} book built in {time.monotonic() - t0:.0f} s")
    assert (HTML / "index.html").exists(), "book was not built"
    return HTML


#: Chromium processes at once (each with its own profile directory: two instances cannot share one)
CHROMIUM_JOBS = 2


@pytest.fixture(scope="session")
def doms(built_book, tmp_path_factory) -> dict:
    """Every page's DOM after Chromium loaded and ran it (one Chromium start per page, :data:`CHROMIUM_JOBS` at a
    time, shared by the tests)."""
    import queue
    from concurrent.futures import ThreadPoolExecutor

    free = queue.Queue()
    for k in range(CHROMIUM_JOBS):
        free.put(tmp_path_factory.mktemp(f"chromium-profile-{k}"))

    def load(page):
        profile = free.get()  # a profile no running Chromium uses
        try:
            return dom(page, profile)
        finally:
            free.put(profile)

    todo = pages(built_book)
    with ThreadPoolExecutor(CHROMIUM_JOBS) as pool:
        return dict(zip(todo, pool.map(load, todo)))
