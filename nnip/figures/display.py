"""The notebook display hook: :func:`enable_notebook_display`."""

from __future__ import annotations

import functools

import pandas as pd
from matplotlib.figure import Figure


def enable_notebook_display() -> bool:
    """Let IPython/Jupyter render a :class:`~matplotlib.figure.Figure` that is a cell's value, as PNG, and a
    :class:`pandas.DataFrame` as an HTML table without its index column.

    The figures here are built without pyplot, so the inline backend — which registers this formatter only when
    pyplot is imported — never sees them, and a notebook cell ``fig`` shows ``<Figure size …>`` text instead of the
    image. Registering the formatter for the ``Figure`` type fixes that without pyplot (so still no double display).
    Idempotent; returns False (and does nothing) outside IPython.
    """
    try:
        from IPython import get_ipython  # optional: IPython
    except ImportError:
        return False
    ip = get_ipython()
    if ip is None or not hasattr(ip, "display_formatter"):
        return False
    from IPython.core.pylabtools import print_figure  # optional: IPython

    ip.display_formatter.formatters["image/png"].for_type(Figure, functools.partial(print_figure, fmt="png",
                                                                                    base64=True))
    # tables are read as tables: no DataFrame index column (a reader would take 0, 1, 2 … for data)
    ip.display_formatter.formatters["text/html"].for_type(pd.DataFrame, _table_html)
    return True


def _table_html(df: pd.DataFrame) -> str:
    return df.to_html(index=False, na_rep="", border=0, classes="dataframe nnip-table")
