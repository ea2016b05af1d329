"""Notebook hygiene: jupytext pairs in sync, a literal ``parameters`` cell first, no functions, no outputs."""

import ast
import json
from pathlib import Path

import jupytext
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
SOURCES = sorted(NOTEBOOKS.glob("*.py"))
REQUIRED_PARAMETERS = {"preset", "store", "train_missing"}


def _code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def test_there_are_notebooks():
    assert SOURCES, "notebooks/*.py missing"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_pair_in_sync_and_clean(source):
    paired = source.with_suffix(".ipynb")
    assert paired.exists(), f"{source.name} has no paired {paired.name} (run: jupytext --sync {source})"
    from_py = jupytext.read(source)
    committed = json.loads(paired.read_text())
    src = lambda cells: [("".join(c["source"]) if isinstance(c["source"], list) else c["source"]).strip() for c in cells]  # noqa: E731
    assert src(from_py.cells) == src(committed["cells"]), f"{source.name} and {paired.name} differ: jupytext --sync"
    for cell in committed["cells"]:
        if cell["cell_type"] == "code":
            assert not cell.get("outputs"), f"{paired.name} is committed with outputs"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_parameters_cell_and_no_definitions(source):
    nb = jupytext.read(source)
    cells = _code_cells(nb)
    first = cells[0]
    assert "parameters" in first.metadata.get("tags", []), f"{source.name}: first code cell must be tagged parameters"
    names = set()
    for node in ast.parse(first.source).body:
        assert isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant), (
            f"{source.name}: the parameters cell holds literals only, got: {ast.unparse(node)}"
        )
        names |= {t.id for t in node.targets}
    assert REQUIRED_PARAMETERS <= names, f"{source.name}: parameters cell lacks {REQUIRED_PARAMETERS - names}"
    mock = first.metadata.get("nbmake", {}).get("mock", {})
    assert mock.get("preset") == "tiny", f"{source.name}: nbmake must mock preset='tiny'"
    for cell in cells:
        for node in ast.walk(ast.parse(cell.source)):
            assert not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)), (
                f"{source.name}: notebooks call into nnip; no def/class/lambda"
            )
            assert not (isinstance(node, ast.Expr) and "pip install" in ast.unparse(node))
