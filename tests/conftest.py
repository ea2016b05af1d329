"""Shared fixtures. Real DFT data lives beside the project in ../shared/data (CI has it there)."""

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("NNIP_SHARED_DATA", ROOT.parent / "shared" / "data"))
ETHANOL_DIR = SHARED_DATA / "botnet-ethanol"


@pytest.fixture(scope="session")
def ethanol_xyz() -> Path:
    path = ETHANOL_DIR / "train.xyz"
    if not path.exists():
        raise FileNotFoundError(f"real test data missing: {path} (../shared/data must sit beside the repo)")
    return path


@pytest.fixture(scope="session")
def ethanol_lmdb() -> Path:
    return ETHANOL_DIR / "ethanol.aselmdb"


def session_tmp(tmp_path_factory) -> Path:
    """The temporary directory of the whole pytest session: its base temp, or under pytest-xdist (``make test`` runs
    the suite on 2 worker processes) the controller's, which every worker's base temp sits in."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def pytest_configure(config):
    """With nbmake, the session's notebook kernels are forked from one process that has imported torch, scipy,
    matplotlib and ipykernel (:func:`nnip.book.forked_kernels`, as the book builds do; ``NNIP_FORKED_KERNELS=0``:
    plain kernels). Under pytest-xdist, one such process per worker, none in the controller."""
    if config.getoption("nbmake", default=False) and not config.getoption("numprocesses", default=None):
        import contextlib

        from nnip.book import forked_kernels  # the book extra (ipykernel); only with --nbmake

        config._nnip_kernels = contextlib.ExitStack()
        config._nnip_kernels.enter_context(forked_kernels())
    if config.getoption("nbmake", default=False):  # nbmake's kernels on Unix sockets too (no TCP port races)
        import nbmake.nb_run
        from traitlets import default

        from nnip.book import kernel_manager_class

        class IPCNotebookClient(nbmake.nb_run.NotebookClient):
            @default("kernel_manager_class")
            def _kernel_manager_class_default(self):
                return kernel_manager_class()

        nbmake.nb_run.NotebookClient = IPCNotebookClient


def pytest_unconfigure(config):
    stack = getattr(config, "_nnip_kernels", None)
    if stack is not None:
        stack.close()


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Never touch the user's ~/.cache/nnip from tests unless a test sets NNIP_CACHE itself. One cache for the
    session, shared by the xdist workers (a dataset is generated once: :func:`nnip.data.registry.ensure_dataset`
    is safe for concurrent callers)."""
    if "NNIP_CACHE" not in os.environ:
        monkeypatch.setenv("NNIP_CACHE", str(session_tmp(tmp_path_factory) / "nnip-cache"))


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """``--dist loadgroup`` (``make test``) keeps the tests of one ``xdist_group`` on one worker by reading the group
    from the suffix ``@<group>`` of each test id. pytest-xdist 3.8 appends it by assigning ``item._nodeid``, which
    pytest 9 no longer reads (the id lives in ``item._id``), so the groups would be silently ignored (both workers
    built the books at once): the suffix is set here, and checked."""
    if not getattr(config.option, "loadgroup", False):
        return
    for item in items:
        groups = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                         for m in item.iter_markers("xdist_group")})
        if not groups or item.nodeid.endswith("@" + "_".join(groups)):
            continue
        nodeid = f"{item.nodeid}@{'_'.join(groups)}"
        if hasattr(item, "_id"):  # pytest >= 9
            from _pytest.nodeid import coerce_node_id

            item._id = coerce_node_id(nodeid)
        else:
            item._nodeid = nodeid
        if item.nodeid != nodeid:
            raise pytest.UsageError(f"cannot put {item.nodeid} in its xdist group {groups}: pytest and pytest-xdist "
                                    "disagree on test ids; run without -n")
