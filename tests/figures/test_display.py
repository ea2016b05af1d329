"""What a notebook cell shows: Figures as PNG (no pyplot), DataFrames as HTML tables without an index column."""

import pandas as pd
from IPython.core.interactiveshell import InteractiveShell
from matplotlib.figure import Figure

from nnip import figures


def test_figures_and_tables_render_for_readers(monkeypatch):
    shell = InteractiveShell.instance()
    monkeypatch.setattr("IPython.get_ipython", lambda: shell)
    assert figures.enable_notebook_display()
    fig = Figure()
    fig.add_subplot().plot([1, 2], [3, 4])
    data, _ = shell.display_formatter.format(fig)
    assert "image/png" in data
    table = pd.DataFrame({"quantity": ["γ_c"], "ours": ["0.12 [0.1–0.14]"]})
    html = shell.display_formatter.format(table)[0]["text/html"]
    assert "<th>quantity</th>" in html and "0.12 [0.1–0.14]" in html
    assert "<th></th>" not in html and "<th>0</th>" not in html  # no index column
