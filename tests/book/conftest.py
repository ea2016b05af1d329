"""Fixtures of the book tests: each book built once per session, and every page's DOM after Chromium ran it.

Two books are built and checked: ``tiny``, trained from an empty store (CI's wiring check), and ``cpu``, rendered
from the committed run store ``results/cpu`` — it trains nothing and generates no data (its dataset cache is empty,
as on a fresh machine), so a run or cached evaluation missing from the store fails the build and names it.

The cpu book is built in the project (``_build/`` and ``book/executed/``, as ``make book`` does), the tiny book in a
folder of its own (``python -m nnip.book --out``: a copy of the book's sources; its runs go to the project's
``results/tiny``), so the two can build at once. Under pytest-xdist (``make test``: ``--dist loadgroup``) the tests
of one book are one ``xdist_group``, ``book-<name>`` (:func:`group`): one worker builds and checks that book.
pytest-xdist queues its work units largest first (by number of tests) and hands them out one per worker in turn;
the book groups are among the largest, so they start on different workers (measured: 242 s and 220 s of build,
overlapping, in a 539 s suite)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.book._book import ROOT, Browser, pages

#: the books ``make test`` builds and checks
BOOKS = ["tiny", "cpu"]

#: the tests that use a built book: they take the book as the parameter of :func:`built_book`
BOOK_FIXTURES = {"built_book", "doms"}


def group(book: str) -> str:
    """The xdist group of every test of ``book`` (its build is a session fixture writing the book's tree: two
    workers must not each build it)."""
    return f"book-{book}"


@pytest.hookimpl(tryfirst=True)  # before tests/conftest.py's hook, which writes the groups into the test ids
def pytest_collection_modifyitems(config, items):
    for item in items:
        if BOOK_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.xdist_group(group(item.callspec.params["built_book"])))


def _the_only_builder(book: str, tmp_path_factory):
    """An open lock file held while this worker has ``book``; fails a second xdist worker that would build the same
    book (its tests' groups split)."""
    import fcntl

    from tests.conftest import session_tmp

    lock = open(session_tmp(tmp_path_factory) / f"book-builder-{book}.lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        pytest.fail(f"another pytest-xdist worker builds the {book} book: every test using it must be in the "
                    f"xdist_group {group(book)!r} (run with --dist loadgroup)")
    return lock


def tree(book: str, tmp_path_factory) -> "os.PathLike":
    """Where ``book`` is built: the cpu book in the project, the tiny book in a folder of the session."""
    from tests.conftest import session_tmp

    return ROOT if book == "cpu" else session_tmp(tmp_path_factory) / f"{book}-book"


@pytest.fixture(scope="session", params=BOOKS)
def built_book(request, tmp_path_factory):
    """The built book's HTML folder (``<tree>/_build/html``); its executed notebooks are in
    ``<tree>/book/executed`` (:func:`tests.book._book.executed`)."""
    book = request.param
    root = tree(book, tmp_path_factory)
    lock = _the_only_builder(book, tmp_path_factory)
    request.addfinalizer(lock.close)
    if os.environ.get("NNIP_SKIP_BOOK_BUILD") != "1":
        env = dict(os.environ)
        if book != "tiny":  # from the store alone, with no dataset in the cache (as on a fresh machine)
            env["NNIP_CACHE"] = str(tmp_path_factory.mktemp("empty-dataset-cache"))
        t0 = time.monotonic()
        subprocess.run([sys.executable, "-m", "nnip.book", "--preset", book, "--out", str(root)], cwd=ROOT,
                       check=True, env=env)
        print(f"\n{book} book built in {time.monotonic() - t0:.0f} s")
    html = root / "_build" / "html"
    assert (html / "index.html").exists(), f"the {book} book was not built"
    return html


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
