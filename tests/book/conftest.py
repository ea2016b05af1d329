"""Fixtures of the book tests: each book built once per session, and every page's DOM after Chromium ran it.

Two books are built and checked, one after the other (pytest groups the tests by book): ``tiny``, trained from an
empty store (CI's wiring check), and ``cpu``, rendered from the committed run store ``results/cpu`` — it trains
nothing and generates no data (its dataset cache is empty, as on a fresh machine), so a run or cached evaluation
missing from the store fails the build and names it.

Under pytest-xdist (``make test``: ``-n 2 --dist loadgroup``) every test that uses the built book is in one
``xdist_group``, :data:`GROUP`, so one worker builds and checks both books (each once, in ``_build/`` and
``book/executed/`` of the project, as ``make book`` does) while the other worker runs the rest of the suite."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.book._book import HTML, ROOT, Browser, pages

#: the books ``make test`` builds and checks
BOOKS = ["tiny", "cpu"]

#: the xdist group of every test that uses :func:`built_book` (the build is a session fixture writing the project's
#: ``_build/`` and ``book/executed/``: two workers must not each build it)
GROUP = "book"
BOOK_FIXTURES = {"built_book", "doms"}


@pytest.hookimpl(tryfirst=True)  # before tests/conftest.py's hook, which writes the groups into the test ids
def pytest_collection_modifyitems(config, items):
    for item in items:
        if BOOK_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.xdist_group(GROUP))


@pytest.fixture(scope="session")
def _the_only_builder(tmp_path_factory):
    """Fails a second xdist worker that would build the book while another has it (the groups split)."""
    import fcntl

    from tests.conftest import session_tmp

    with open(session_tmp(tmp_path_factory) / "book-builder.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pytest.fail(f"another pytest-xdist worker builds the book: every test using it must be in the "
                        f"xdist_group {GROUP!r} (run with --dist loadgroup)")
        yield


@pytest.fixture(scope="session", params=BOOKS)
def built_book(request, tmp_path_factory, _the_only_builder):
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
    """Every page's DOM after Chromium loaded and ran it, shared by the tests: :data:`CHROMIUM_JOBS` browsers
    (:class:`tests.book._book.Browser`, one Chromium each for all its pages) reading every other page."""
    from concurrent.futures import ThreadPoolExecutor

    todo = pages(built_book)

    def read(k: int) -> dict:
        with Browser(tmp_path_factory.mktemp(f"chromium-profile-{k}")) as browser:
            return {page: browser.dom(page) for page in todo[k::CHROMIUM_JOBS]}

    with ThreadPoolExecutor(CHROMIUM_JOBS) as pool:
        read_by = list(pool.map(read, range(CHROMIUM_JOBS)))
    return {page: next(r[page] for r in read_by if page in r) for page in todo}
