"""Figures and tables of the paper, one function per figure, each returning a :class:`matplotlib.figure.Figure`
(or a DataFrame for tables). Figures are built without pyplot (``Figure()``), so they are backend-agnostic
(``Agg``-safe), never shown, and not double-displayed in notebooks; the fits come from :mod:`nnip.scaling`.

One module per job, all re-exported here:

- ``_style``: :data:`AXIS` (units of the curve columns), :func:`panel_row`, :func:`legend_below`,
  :func:`tidy_log_axes`, :func:`tidy_narrow_log_axes`, :func:`size_colors`.
- :mod:`~nnip.figures.frontiers`: :func:`plot_frontier` (Fig. 3, with power-law fit and CI band),
  :func:`plot_frontiers` (Fig. 1, 4), :func:`plot_frontier_by_size` (Fig. 3 panel), :func:`plot_kappa` (Fig. 2).
- :mod:`~nnip.figures.laws`: :func:`plot_sum_power_law`, :func:`plot_sum_power_law_panels` (Fig. 5),
  :func:`plot_exponent_shift` (Fig. 7), :func:`plot_compute_optimal`, :func:`plot_compute_optimal_comparison`
  (Fig. 6).
- :mod:`~nnip.figures.ablations`: :func:`plot_exponent_trend` (Fig. 4 right), :func:`plot_heatmap`,
  :func:`plot_loss_vs` (Fig. 10, 11).
- :mod:`~nnip.figures.tables`: :func:`table_frame` (formatted numbers and "est [lo–hi]" intervals, Tables 1, 7),
  :func:`plot_estimates` (the same as error bars).
- :mod:`~nnip.figures.display`: :func:`enable_notebook_display` (figures and tables as a notebook cell's value; the
  PNG carries its smallest text height, :data:`MIN_TEXT_KEY`), :func:`smallest_text_px` (the smallest text as the book
  page shows it), :data:`PAGE_PX` (the page's content width) and :data:`MIN_TEXT_PX` (the smallest legible text).

Every figure is at most ~8 inches wide (two panels side by side; :func:`panel_row` wraps more into rows) and uses no
font below "x-small", so that its text stays legible at the page's width (``tests/book/test_legibility.py``).
"""

from nnip.figures._style import AXIS, legend_below, panel_row, size_colors, tidy_log_axes, tidy_narrow_log_axes
from nnip.figures.ablations import plot_exponent_trend, plot_heatmap, plot_loss_vs
from nnip.figures.display import MIN_TEXT_KEY, MIN_TEXT_PX, PAGE_PX, enable_notebook_display, smallest_text_px
from nnip.figures.frontiers import plot_frontier, plot_frontier_by_size, plot_frontiers, plot_kappa
from nnip.figures.laws import (
    plot_compute_optimal, plot_compute_optimal_comparison, plot_exponent_shift, plot_sum_power_law,
    plot_sum_power_law_panels,
)
from nnip.figures.tables import plot_estimates, table_frame

__all__ = ["AXIS", "plot_frontier", "plot_sum_power_law", "plot_compute_optimal", "plot_kappa", "table_frame",
           "enable_notebook_display", "panel_row", "legend_below", "tidy_log_axes", "tidy_narrow_log_axes",
           "size_colors", "plot_frontiers", "plot_frontier_by_size", "plot_exponent_trend", "plot_sum_power_law_panels",
           "plot_compute_optimal_comparison", "plot_estimates", "plot_exponent_shift", "plot_heatmap", "plot_loss_vs",
           "PAGE_PX", "MIN_TEXT_PX", "MIN_TEXT_KEY", "smallest_text_px"]
