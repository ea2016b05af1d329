"""What a notebook cell shows: Figures as PNG (no pyplot), DataFrames as HTML tables without an index column; and how
large a figure's smallest text is on the book's page."""

import base64
import io
import math

import pandas as pd
import pytest
from IPython.core.interactiveshell import InteractiveShell
from matplotlib.figure import Figure
from PIL import Image

from nnip import figures


@pytest.fixture
def shell(monkeypatch):
    shell = InteractiveShell.instance()
    monkeypatch.setattr("IPython.get_ipython", lambda: shell)
    assert figures.enable_notebook_display()
    return shell


def test_figures_and_tables_render_for_readers(shell):
    fig = Figure()
    fig.add_subplot().plot([1, 2], [3, 4])
    data, _ = shell.display_formatter.format(fig)
    assert "image/png" in data
    table = pd.DataFrame({"quantity": ["γ_c"], "ours": ["0.12 [0.1–0.14]"]})
    html = shell.display_formatter.format(table)[0]["text/html"]
    assert "<th>quantity</th>" in html and "0.12 [0.1–0.14]" in html
    assert "<th></th>" not in html and "<th>0</th>" not in html  # no index column


def _figure(width_in: float, size_pt: float = 10.0) -> Figure:
    """A one-panel figure at dpi 100 whose every text is ``size_pt`` points."""
    fig = Figure(figsize=(width_in, 3.0), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    ax.plot([1, 2], [3, 4], label="line")
    ax.tick_params(labelsize=size_pt)
    ax.set_xlabel("x", fontsize=size_pt)
    ax.set_title("title", fontsize=size_pt)
    ax.legend(fontsize=size_pt)
    return fig


def test_smallest_text_px_recovers_the_font_size():
    assert figures.smallest_text_px(_figure(5.0)) == pytest.approx(10 * 100 / 72)  # 13.9 px, narrower than the page
    # 1500 px wide: shown at the page's 760 px, so every text shrinks by 760 / 1500
    assert figures.smallest_text_px(_figure(15.0)) == pytest.approx(10 * 100 / 72 * 760 / 1500)
    assert figures.smallest_text_px(_figure(15.0), page_px=math.inf) == pytest.approx(10 * 100 / 72)
    assert figures.smallest_text_px(_figure(15.0), page_px=1500) == pytest.approx(10 * 100 / 72)
    fig = _figure(5.0)
    # 6.94 pt: the smallest font the book's figures use
    fig.axes[0].text(0.5, 0.5, "note", fontsize="x-small", transform=fig.axes[0].transAxes)
    assert figures.smallest_text_px(fig) == pytest.approx(10 * 0.694 * 100 / 72, rel=1e-3)
    assert figures.PAGE_PX == 760 and figures.MIN_TEXT_PX == 8.0


def test_invisible_blank_and_off_figure_text_is_not_measured():
    fig = _figure(5.0)
    ax = fig.axes[0]
    ax.text(0.5, 0.5, "hidden", fontsize=3, visible=False, transform=ax.transAxes)
    ax.text(0.5, 0.5, "   ", fontsize=3, transform=ax.transAxes)
    ax.text(0.5, 0.5, "", fontsize=3, transform=ax.transAxes)
    ax.text(3.0, 0.5, "far right", fontsize=3, transform=ax.transAxes, in_layout=False)  # beyond the figure's edge
    fig.text(0.2, -0.5, "below\nthe figure", fontsize=3)  # multi-line, off the figure
    hidden = fig.add_axes((0.1, 0.1, 0.2, 0.2))
    hidden.tick_params(labelsize=3)
    hidden.set_title("hidden Axes", fontsize=3)
    hidden.set_visible(False)  # its texts stay "visible" but are never drawn
    assert figures.smallest_text_px(fig) == pytest.approx(10 * 100 / 72)
    fig.text(0.98, 0.5, "partly inside", fontsize=5)  # runs past the right edge: partly inside counts
    assert figures.smallest_text_px(fig) == pytest.approx(5 * 100 / 72)


def test_a_figure_without_text_has_no_smallest_text():
    fig = Figure()
    ax = fig.add_subplot()
    ax.set_axis_off()
    assert figures.smallest_text_px(fig) == math.inf


def test_the_png_carries_its_smallest_natural_text_height(shell):
    fig = _figure(15.0)
    png = base64.b64decode(shell.display_formatter.format(fig)[0]["image/png"])
    img = Image.open(io.BytesIO(png))
    # the natural height in PNG pixels (dpi 100): the page's scaling is the reader's (tests/book/test_legibility.py)
    assert float(img.text[figures.MIN_TEXT_KEY]) == pytest.approx(10 * 100 / 72, abs=1e-3)
    assert img.width == pytest.approx(1500, abs=50)  # tight bounding box around a 15-inch figure at dpi 100


def _tricky_figure(partly_inside: bool) -> Figure:
    """:func:`_figure` with texts that must not be measured (hidden, blank, off the figure, in a hidden Axes) and,
    optionally, a small one that runs past the figure's edge, which must."""
    fig = _figure(5.0)
    ax = fig.axes[0]
    ax.text(0.5, 0.5, "hidden", fontsize=3, visible=False, transform=ax.transAxes)
    ax.text(0.5, 0.5, "   ", fontsize=3, transform=ax.transAxes)
    ax.text(3.0, 0.5, "far right", fontsize=3, transform=ax.transAxes, in_layout=False)
    fig.text(0.2, -0.5, "below\nthe figure", fontsize=3)
    hidden = fig.add_axes((0.1, 0.1, 0.2, 0.2))
    hidden.set_title("hidden Axes", fontsize=3)
    hidden.set_visible(False)
    ax.text(0.5, 0.5, "note", fontsize="x-small", transform=ax.transAxes)
    if partly_inside:
        fig.text(0.98, 0.5, "partly inside", fontsize=5)
    return fig


@pytest.mark.parametrize("partly_inside", [False, True])
def test_the_png_is_measured_in_print_figures_layout_draw_as_smallest_text_px_measures(shell, partly_inside):
    """The formatter measures the text in the layout draw of IPython's ``print_figure`` (no third draw): the value
    is :func:`smallest_text_px`'s for the same figure, and the figure keeps its canvas."""
    expected = figures.smallest_text_px(_tricky_figure(partly_inside), page_px=math.inf)
    fig = _tricky_figure(partly_inside)
    canvas = fig.canvas
    png = base64.b64decode(shell.display_formatter.format(fig)[0]["image/png"])
    assert Image.open(io.BytesIO(png)).text[figures.MIN_TEXT_KEY] == f"{expected:.3f}"
    assert fig.canvas is canvas
    assert expected == pytest.approx((5 if partly_inside else 6.94) * 100 / 72, rel=1e-3)
