"""Every figure of the rendered book is legible at the page's width: its smallest text, as the page shows it, is at
least :data:`nnip.figures.MIN_TEXT_PX` CSS px tall.

A notebook figure reaches its page as a PNG from the formatter of :func:`nnip.figures.enable_notebook_display`,
which writes the figure's smallest text height in PNG pixels into the PNG (text chunk
:data:`nnip.figures.MIN_TEXT_KEY`). The page shows the PNG at its natural width, or scaled down to the content column
(:data:`nnip.figures.PAGE_PX`) when wider, so the reader sees ``min_text_px · min(1, PAGE_PX / PNG width)``. A figure
without the metadata did not come through the formatter and fails too. The book is the tiny one built once per session
(``conftest.py``).
"""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

from PIL import Image

from nnip.figures import MIN_TEXT_KEY, MIN_TEXT_PX, PAGE_PX
from tests.book._book import executed as executed_dir


def _figures(page: Path, dom: str) -> list[tuple[str, Image.Image]]:
    """``(src, image)`` of every figure the page shows: PNGs under ``_images`` (and inline PNGs, if any)."""
    out = []
    for src in re.findall(r'<img[^>]+src="([^"]+)"', dom):
        if src.startswith("data:image/png;base64,"):
            out.append((src[:40] + "…", Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))))
        elif "_images" in src:
            path = (page.parent / src).resolve()
            assert path.exists(), f"{page.name}: missing image {src}"
            out.append((src, Image.open(path)))
    return out


def _shown_px(img: Image.Image) -> float | None:
    """The smallest text height in CSS px as the page shows the image; None without the formatter's metadata."""
    natural = img.text.get(MIN_TEXT_KEY) if hasattr(img, "text") else None
    if natural is None:
        return None
    return float(natural) * min(1.0, PAGE_PX / img.width)


def test_every_notebook_figure_is_legible_at_the_page_width(built_book, doms):
    executed = sorted(executed_dir(built_book).glob("*.ipynb"))
    assert executed, "no executed notebooks"
    problems, n_images = [], 0
    for nb in executed:
        page = built_book / "book" / "executed" / f"{nb.stem}.html"
        assert page in doms, f"{nb.name} is not in the book (_toc.yml)"
        for src, img in _figures(page, doms[page]):
            n_images += 1
            shown = _shown_px(img)
            if shown is None:
                problems.append(f"{page.name}: {src} ({img.width} px wide) carries no {MIN_TEXT_KEY!r}: it did not "
                                "come through nnip.figures.enable_notebook_display's formatter")
            elif shown < MIN_TEXT_PX:
                problems.append(f"{page.name}: {src} ({img.width} px wide) shows its smallest text {shown:.2f} px "
                                f"tall at the page's {PAGE_PX} px (natural {float(img.text[MIN_TEXT_KEY]):.2f} px); "
                                f"need ≥ {MIN_TEXT_PX:g} px")
    assert n_images >= len(executed), "fewer figures than executed notebooks"
    assert not problems, "figures illegible at the page's width:\n" + "\n".join(problems)


def test_the_intro_figure_is_fig1s_and_legible(built_book, doms):
    """The intro page shows ``executed/fig1.png``, a copy of the fig1 notebook's first figure: the same bytes, so the
    same metadata and the same legibility."""
    intro = built_book / "book" / "intro.html"
    assert intro in doms, "book/intro.html was not built"
    shown = _figures(intro, doms[intro])
    assert shown, "intro: no figure rendered"
    fig1 = built_book / "book" / "executed" / "fig1.html"
    fig1_pngs = {img.tobytes() for _, img in _figures(fig1, doms[fig1])}
    for src, img in shown:
        assert img.tobytes() in fig1_pngs, f"intro: {src} is not one of fig1's figures"
        px = _shown_px(img)
        assert px is not None, f"intro: {src} carries no {MIN_TEXT_KEY!r}"
        assert px >= MIN_TEXT_PX, f"intro: {src} shows its smallest text {px:.2f} px tall; need ≥ {MIN_TEXT_PX:g} px"
