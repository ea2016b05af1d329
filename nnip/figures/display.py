"""The notebook display hook, :func:`enable_notebook_display`, and what legible means on a book page:
:data:`PAGE_PX`, :data:`MIN_TEXT_PX`, :func:`smallest_text_px`.

Every figure of the book reaches its page through the PNG formatter registered here, which embeds the smallest text
height of the figure (in PNG pixels, before any scaling by the page) in the PNG as the text chunk
:data:`MIN_TEXT_KEY`; ``tests/book/test_legibility.py`` reads it back from every image of the built book.
"""

from __future__ import annotations

import contextlib
import functools
import math

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

#: Width of the book's content column in CSS px: the widest a figure is shown; a wider PNG is scaled down to it
#: (``img {max-width: 100%}``), a narrower one is shown at its natural size (one PNG pixel per CSS px). Measured with
#: headless Chromium on a page of the built book (jupyter-book 1.0.4, sphinx-book-theme 1.3.0, pydata-sphinx-theme
#: 0.17.1): the article is ``min(60em, page − primary sidebar (20%) − secondary sidebar (17rem))`` with 2rem padding
#: on each side, the page at most 88rem, so a notebook output is 790 px wide in any window from 1440 px up, 745 px at
#: 1366 px, 676 px at 1280 px and 743 px at 1024 px (sidebars collapsed). 760 is the width we design for: a figure
#: at most ~760 px wide (7.6 in at dpi 100) is not scaled down on a common laptop screen or wider.
PAGE_PX = 760

#: Smallest legible text height in CSS px (a font's size, ascender to descender): the book's figures must show
#: nothing smaller. "x-small" (6.94 pt) at dpi 100 is 9.6 px, 8 px after scaling a 916 px wide figure to the page.
MIN_TEXT_PX = 8.0

#: PNG text chunk of the formatter's images: the smallest text height in PNG pixels, before any page scaling.
MIN_TEXT_KEY = "nnip:min_text_px"


def enable_notebook_display() -> bool:
    """Let IPython/Jupyter render a :class:`~matplotlib.figure.Figure` that is a cell's value, as PNG, and a
    :class:`pandas.DataFrame` as an HTML table without its index column.

    The figures here are built without pyplot, so the inline backend — which registers this formatter only when
    pyplot is imported — never sees them, and a notebook cell ``fig`` shows ``<Figure size …>`` text instead of the
    image. Registering the formatter for the ``Figure`` type fixes that without pyplot (so still no double display).
    The PNG carries the figure's smallest text height (:data:`MIN_TEXT_KEY`). Idempotent; returns False (and does
    nothing) outside IPython.
    """
    try:
        from IPython import get_ipython  # optional: IPython
    except ImportError:
        return False
    ip = get_ipython()
    if ip is None or not hasattr(ip, "display_formatter"):
        return False
    from IPython.core.pylabtools import print_figure  # optional: IPython

    ip.display_formatter.formatters["image/png"].for_type(Figure, functools.partial(_figure_png, print_figure))
    # tables are read as tables: no DataFrame index column (a reader would take 0, 1, 2 … for data)
    ip.display_formatter.formatters["text/html"].for_type(pd.DataFrame, _table_html)
    return True


def _figure_png(print_figure, fig: Figure) -> str | None:
    """The figure as base64 PNG (IPython's ``print_figure``: dpi = the figure's, tight bounding box) with its smallest
    natural text height in PNG pixels as the text chunk :data:`MIN_TEXT_KEY`.

    ``print_figure`` draws the figure twice: once without painting (the layout: constrained layout, the tight bounding
    box), then for the PNG. The text is measured in the first of those draws (:class:`_MeasuringCanvas`), which is
    the draw :func:`smallest_text_px` makes — the whole figure on its own canvas, nothing painted — so the value is the
    same (``tests/figures/test_display.py``) and the figure is drawn twice instead of three times: 30 % less time
    rendering the cpu book's 24 figures (25.5 → 17.7 s). The measuring draw used to be one more pass of constrained
    layout before ``print_figure``'s own, so 13 of those PNGs differ from before by a few pixels (one is 1 px wider);
    every measured text height is the same."""
    canvas = fig.canvas
    try:
        return print_figure(_MeasuringCanvas(fig).figure, fmt="png", base64=True, metadata={})
    finally:
        fig.set_canvas(canvas)


class _MeasuringRenderer(RendererAgg):
    """An Agg renderer whose draws without painting (``_draw_disabled``, the layout draw of ``print_figure``) record
    the size of every text drawn, as :func:`smallest_text_px` does."""

    sizes: list[float] | None = None
    _measuring = False

    @contextlib.contextmanager
    def _draw_disabled(self):
        if self._measuring:  # a layout engine's own pass inside the measured draw: not the figure as drawn
            with super()._draw_disabled():
                yield
            return
        with super()._draw_disabled():
            self.sizes = []
            self.draw_text, self.draw_tex = _text_recorders(self, self.sizes)
            self._measuring = True
            try:
                yield
            finally:
                self._measuring = False


class _MeasuringCanvas(FigureCanvasAgg):
    """The Agg canvas of :func:`_figure_png`: its renderers measure text in the layout draw, and the PNG it writes
    carries the smallest size measured (:data:`MIN_TEXT_KEY`)."""

    def get_renderer(self):  # FigureCanvasAgg.get_renderer, with a measuring renderer
        w, h = self.get_width_height(physical=True)
        key = w, h, self.figure.dpi
        if self._lastKey != key:
            self.renderer = _MeasuringRenderer(w, h, self.figure.dpi)
            self._lastKey = key
        return self.renderer

    def print_png(self, filename_or_obj, *, metadata=None, pil_kwargs=None, **figure_kwargs):
        # figure_kwargs: print_figure's dpi, facecolor, edgecolor, orientation and bbox_inches_restore, which
        # FigureCanvasAgg.print_png does not take (matplotlib drops them for its own canvases, not for a subclass)
        unknown = set(figure_kwargs) - {"dpi", "facecolor", "edgecolor", "orientation", "bbox_inches_restore"}
        if unknown:
            raise TypeError(f"print_png() got unexpected keyword arguments {sorted(unknown)}")
        sizes = getattr(self.renderer, "sizes", None) if hasattr(self, "renderer") else None
        if sizes is not None:  # the final write, after the layout draw (print_figure calls this once before it too)
            natural = min(sizes) * self.figure.dpi / 72.0 if sizes else math.inf
            metadata = {**(metadata or {}), MIN_TEXT_KEY: f"{natural:.3f}"}
        return super().print_png(filename_or_obj, metadata=metadata, pil_kwargs=pil_kwargs)


def _table_html(df: pd.DataFrame) -> str:
    return df.to_html(index=False, na_rep="", border=0, classes="dataframe nnip-table")


def _text_recorders(renderer, sizes: list[float]):
    """``draw_text`` and ``draw_tex`` stand-ins for ``renderer`` that paint nothing and append to ``sizes`` the point
    size of every text drawn that is non-blank and at least partly inside the renderer's canvas (which texts are
    drawn: :func:`smallest_text_px`)."""
    inside = Bbox.from_bounds(0, 0, renderer.width, renderer.height)

    def measure(s, x, y, prop, mtext) -> None:
        if not str(s).strip():
            return
        if mtext is not None:
            if not mtext.get_window_extent(renderer).overlaps(inside):
                return
        elif not inside.contains(x, y):
            return
        sizes.append(prop.get_size_in_points())

    def record_text(gc, x, y, s, prop, angle, ismath=False, mtext=None):
        measure(s, x, y, prop, mtext)

    def record_tex(gc, x, y, s, prop, angle, *, mtext=None):
        measure(s, x, y, prop, mtext)

    return record_text, record_tex


def smallest_text_px(fig: Figure, page_px: float = PAGE_PX) -> float:
    """Height in CSS px of the smallest text of ``fig`` as the book shows it: ``fontsize_pt · dpi / 72`` (the PNG's
    pixels) times ``min(1, page_px / figure width in px)`` (a figure wider than the page is scaled down to it).

    The figure is drawn on an Agg canvas (no pyplot) without painting a pixel (every draw call but text's is a no-op:
    the same layout and text metrics; measured on the cpu book: 8 % faster than painting, the same values on all
    its 24 figures) and every text actually drawn is measured: visible, non-blank,
    inside a visible parent (an Axes hidden with ``set_visible(False)`` draws nothing), and at least partly inside the
    figure (its window extent, or for a line of multi-line text its anchor point, overlaps the figure). Tick labels
    outside the view limits are not drawn, so not measured. ``math.inf`` if nothing is drawn; ``page_px=math.inf``
    gives the natural size in the PNG.
    """
    canvas = fig.canvas
    try:
        renderer = _MeasuringCanvas(fig).get_renderer()
        with renderer._draw_disabled():  # the whole draw (layout, text metrics), nothing painted, text measured
            fig.draw(renderer)
        sizes = renderer.sizes
    finally:
        fig.set_canvas(canvas)
    if not sizes:
        return math.inf
    scale = min(1.0, page_px / (fig.get_figwidth() * fig.dpi))
    return min(sizes) * fig.dpi / 72.0 * scale
