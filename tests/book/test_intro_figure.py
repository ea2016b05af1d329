"""The intro page's first picture is our Fig. 1: ``nnip.book`` copies it out of the executed fig1 notebook."""

import base64
import io
import re
from pathlib import Path

import nbformat
import pytest
from matplotlib.figure import Figure

from nnip import book

INTRO = Path(__file__).resolve().parents[2] / "book" / "intro.md"


def _png(text: str) -> bytes:
    fig = Figure(figsize=(2, 1))
    fig.text(0.5, 0.5, text)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _executed_fig1(directory: Path, *pngs: bytes) -> None:
    v4 = nbformat.v4
    outputs = [v4.new_output("stream", name="stderr", text="bootstrap …")]
    outputs += [v4.new_output("execute_result", data={"image/png": base64.b64encode(p).decode()}, execution_count=2)
                for p in pngs]
    nb = v4.new_notebook(cells=[v4.new_markdown_cell("# Figure 1"), v4.new_code_cell("fig", outputs=outputs)])
    nbformat.write(nb, directory / "fig1.ipynb")


def test_intro_figure_is_the_first_image_of_executed_fig1(tmp_path):
    first, second = _png("frontiers"), _png("something else")
    _executed_fig1(tmp_path, first, second)
    out = book.intro_figure(tmp_path)
    assert out == tmp_path / book.INTRO_FIGURE and out.read_bytes() == first


def test_intro_figure_without_fig1_keeps_an_earlier_one_or_writes_a_placeholder(tmp_path):
    out = book.intro_figure(tmp_path)
    assert out.read_bytes().startswith(b"\x89PNG")  # a placeholder, so the intro never points at nothing
    out.write_bytes(earlier := _png("earlier build"))
    assert book.intro_figure(tmp_path).read_bytes() == earlier


def test_intro_figure_fails_loudly_when_fig1_shows_no_figure(tmp_path):
    _executed_fig1(tmp_path)
    with pytest.raises(RuntimeError, match="no figure"):
        book.intro_figure(tmp_path)


def test_intro_page_shows_fig1_first_and_points_to_the_scorecard():
    text = INTRO.read_text()
    images = re.findall(r"```\{(?:figure|image)\}\s*(\S+)|!\[[^\]]*\]\(([^)]+)\)", text)
    assert images and images[0][0] == f"executed/{book.INTRO_FIGURE}"
    assert "{doc}`executed/scorecard`" in text


def test_only_the_injected_parameters_cell_is_shown(tmp_path):
    """A page shows the parameters it ran with (papermill's injected cell), not the notebook's defaults as well."""
    import nbformat

    from nnip.book import show_only_injected_parameters

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('preset = "cpu"', metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell('preset = "tiny"', metadata={"tags": ["injected-parameters"]}),
                nbformat.v4.new_code_cell("x = 1")]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(path))
    show_only_injected_parameters(path)
    tags = [c.metadata.get("tags", []) for c in nbformat.read(str(path), as_version=4).cells]
    assert tags == [["parameters", "remove-cell"], ["injected-parameters"], []]
    show_only_injected_parameters(path)  # idempotent
    assert [c.metadata.get("tags", []) for c in nbformat.read(str(path), as_version=4).cells] == tags


def test_papermill_paths_in_the_shipped_notebook_are_relative(tmp_path):
    """The executed notebook is downloadable from its page: papermill's absolute input/output paths become relative
    to the project root (or the bare file name outside it)."""
    import nbformat

    from nnip.book import ROOT, show_only_injected_parameters

    nb = nbformat.v4.new_notebook()
    nb.metadata["papermill"] = {"input_path": str(ROOT / "notebooks" / "fig1.ipynb"),
                                "output_path": str(tmp_path / "fig1.ipynb"), "parameters": {"preset": "cpu"}}
    path = tmp_path / "fig1.ipynb"
    nbformat.write(nb, str(path))
    show_only_injected_parameters(path)
    meta = nbformat.read(str(path), as_version=4).metadata["papermill"]
    assert meta["input_path"] == "notebooks/fig1.ipynb" and meta["output_path"] == "fig1.ipynb"
