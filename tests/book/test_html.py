"""The rendered book, checked the way a reader sees it: every page loads in headless Chromium, every figure is
present and non-blank, and no cell shows an error.

The session fixture (``conftest.py``) executes every notebook with ``preset="tiny"`` through papermill and builds the book with
``jupyter-book build -W`` (``python -m nnip.book --preset tiny``), exactly as ``make book`` does at larger scale.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np

from tests.book._book import ERROR_MARKERS, ROOT
from tests.book._book import executed as executed_dir


def test_every_page_loads_without_errors(built_book, doms):
    assert len(doms) >= 5
    for page, dom in doms.items():
        assert "<title>" in dom and len(dom) > 1000, f"{page.name} did not render"
        for marker in ERROR_MARKERS:
            assert marker not in dom, f"{page.relative_to(built_book)} shows an error ({marker!r})"


def test_every_figure_present_and_non_blank(built_book, doms):
    from PIL import Image

    executed = sorted(executed_dir(built_book).glob("*.ipynb"))
    assert executed, "no executed notebooks"
    n_images = 0
    for nb in executed:
        page = built_book / "book" / "executed" / f"{nb.stem}.html"
        assert page in doms, f"{nb.name} is not in the book (_toc.yml)"
        sources = re.findall(r'<img[^>]+src="([^"]+)"', doms[page])
        figures = [s for s in sources if "_images" in s or s.startswith("data:image")]
        assert figures, f"{page.name}: no figure rendered"
        for src in figures:
            if src.startswith("data:image"):
                continue
            path = (page.parent / src).resolve()
            assert path.exists(), f"{page.name}: missing image {src}"
            img = np.asarray(Image.open(path).convert("L"), dtype=float)
            assert img.size > 100 and img.std() > 2.0, f"{page.name}: blank figure {src}"
            n_images += 1
    assert n_images >= len(executed)


def test_no_page_shows_a_machine_path(built_book, doms):
    """A rendered page never shows where the book was built (project root, home, the interpreter's prefix): e.g. an
    injected ``store`` parameter or a warning's source line would."""
    machine = {str(ROOT), str(built_book.parents[1]), str(Path.home()) + "/", sys.prefix}
    for page, dom in doms.items():
        for path in machine:
            assert path not in dom, f"{page.relative_to(built_book)} shows the machine path {path}"


def test_every_equation_is_typeset_offline(built_book, doms):
    """MathJax is served by the book itself (``_static/mathjax``; no CDN, this machine has no internet): on every
    page with math, Chromium ran it and typeset every equation (no ``\\(`` left in the text)."""
    with_math = 0
    for page, dom in doms.items():
        source = page.read_text()
        scripts = re.findall(r'<script[^>]+src="([^"]*mathjax[^"]*)"', source, flags=re.I)
        assert all(not s.startswith(("http:", "https:", "//")) for s in scripts), \
            f"{page.name}: MathJax is loaded from the network ({scripts})"
        n_math = len(re.findall(r'class="math[ "]', source))
        if n_math:
            with_math += 1
            assert scripts, f"{page.name}: has math but loads no MathJax"
            assert dom.count("<mjx-container") >= n_math, f"{page.name}: {n_math} equations, not all typeset"
            assert "\\(" not in re.sub(r"<[^>]+>", "", dom), f"{page.name}: raw LaTeX left on the page"
    assert with_math >= 3  # the chapters and the eq. (4)–(7) pages have math
