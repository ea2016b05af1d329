"""The import rules of book/design.md: the analysis layer does not import torch, no module imports another module's
private name, and every function-local import says why it is local."""

import ast
import io
import subprocess
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "nnip"
SOURCES = sorted(PACKAGE.rglob("*.py"))

#: modules that must import without torch (figures and tables are drawn on machines without the training stack)
TORCH_FREE = ("nnip.scaling", "nnip.figures", "nnip.paper.fits", "nnip.paper.verdicts", "nnip.paper.scorecard",
              "nnip.fit")


def _where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(ROOT)}:{node.lineno}"


def test_the_analysis_layer_imports_without_torch():
    code = f"import sys\nfor m in {TORCH_FREE!r}:\n    __import__(m)\nprint('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", f"importing {TORCH_FREE} imports torch"


def _is_private_module(module: str) -> bool:
    return any(part.startswith("_") and not part.startswith("__") for part in module.split("."))


def _is_module(module: str, name: str) -> bool:
    base = ROOT.joinpath(*module.split("."), name)
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def test_no_module_imports_a_private_name_of_a_public_module():
    bad = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.ImportFrom) or node.level or not (node.module or "").startswith("nnip"):
                continue
            for alias in node.names:  # ``from m import x as _x`` imports the public x: alias.name is "x"
                name = alias.name
                if (name.startswith("_") and not name.startswith("__") and not _is_private_module(node.module)
                        and not _is_module(node.module, name)):
                    bad.append(f"{_where(path, node)}: from {node.module} import {name}")
    assert not bad, "private names imported from public modules:\n" + "\n".join(bad)


def _local_imports(tree: ast.AST):
    """Import statements inside a function (at any depth)."""
    def walk(node, in_function):
        for child in ast.iter_child_nodes(node):
            if in_function and isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child
            yield from walk(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)))

    yield from walk(tree, False)


def test_every_function_local_import_says_why():
    bad = []
    for path in SOURCES:
        text = path.read_text()
        comments = {tok.start[0] for tok in tokenize.generate_tokens(io.StringIO(text).readline)
                    if tok.type == tokenize.COMMENT}
        for node in _local_imports(ast.parse(text, str(path))):
            if not comments & set(range(node.lineno, node.end_lineno + 1)):
                bad.append(f"{_where(path, node)}: {ast.unparse(node)}")
    assert not bad, ("function-local imports without a comment saying why (optional heavy dependency, or keeping "
                     "a torch-free module torch-free):\n" + "\n".join(bad))
