"""Step 3 of ``make book``: notebooks executed with papermill, several at once when the store is only read."""

from __future__ import annotations

import json

from nnip import book


def test_notebooks_run_two_at_a_time_from_the_committed_store(tmp_path):
    """``jobs=2`` with ``train_missing=False``: both notebooks execute (from the committed cpu store: the tuning
    sweep and the cost page), each with the injected parameters, shown once, and no error output."""
    out = book.execute_notebooks("cpu", "results", ["cost", "tuning"], tmp_path, train_missing=False, jobs=2)
    assert sorted(p.name for p in out) == ["cost.ipynb", "tuning.ipynb"]
    for path in out:
        nb = json.loads(path.read_text())
        injected = [c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
        assert len(injected) == 1 and "train_missing = False" in "".join(injected[0]["source"])
        errors = [o for c in nb["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, f"{path.name}: {errors[0].get('ename')}"


def test_the_scorecard_runs_first_and_kernels_share_a_fit_memo_for_one_build(tmp_path, monkeypatch):
    """The scorecard (which bootstraps eq. 5 for every architecture) is executed first, and every kernel of the
    build sees the same ``NNIP_FIT_CACHE`` file, which exists only for the build."""
    from nnip.scaling._memo import ENV

    monkeypatch.delenv(ENV, raising=False)
    seen = []

    def fake_execute(nb, out, preset, store, train_missing):
        seen.append((nb.stem, book.os.environ.get(ENV)))
        return out

    monkeypatch.setattr(book, "_execute", fake_execute)
    book.execute_notebooks("cpu", "results", ["table1", "fig5", "scorecard"], tmp_path, train_missing=False, jobs=1)
    assert [name for name, _ in seen] == ["scorecard", "fig5", "table1"]
    memo = {path for _, path in seen}
    assert len(memo) == 1 and None not in memo
    assert ENV not in book.os.environ  # gone after the build, with its directory
    assert not book.Path(memo.pop()).parent.exists()


def test_a_fit_memo_the_user_set_is_kept(tmp_path, monkeypatch):
    from nnip.scaling._memo import ENV

    mine = tmp_path / "mine.sqlite"
    monkeypatch.setenv(ENV, str(mine))
    with book.fit_memo() as path:
        assert path == mine
    assert book.os.environ[ENV] == str(mine)


def test_a_whole_build_executes_the_toc_and_drops_stale_pages(tmp_path, monkeypatch):
    """The book executes exactly the notebooks of _toc.yml; a notebook outside it (a chapter whose runs are being
    trained) is not executed, and an executed notebook an earlier build left behind is removed."""
    seen = []
    monkeypatch.setattr(book, "_execute", lambda nb, out, *a: seen.append(nb.stem) or out)
    import nnip.paper.catalog as catalog

    monkeypatch.setattr(catalog, "check_reads", lambda *a: 0)
    pages = book.toc_notebooks()
    assert {"scorecard", "fig1", "cost"} <= pages
    outside = {p.stem for p in (book.ROOT / "notebooks").glob("*.ipynb")} - pages
    (tmp_path / "stale.ipynb").write_text("{}")
    book.execute_notebooks("tiny", "results", None, tmp_path, jobs=1)
    assert set(seen) == pages and not set(seen) & outside
    assert not (tmp_path / "stale.ipynb").exists()


def test_kernels_talk_over_unix_sockets_named_per_kernel(tmp_path):
    """The book's (and nbmake's, tests/conftest.py) kernels use ``ipc`` transport with a fresh socket path each, so
    kernels started at once by several processes cannot be handed the same TCP port; such a kernel runs code."""
    import asyncio

    from nnip.book import forked_kernels, kernel_manager_class

    async def run_one():
        km = kernel_manager_class()(kernel_name="python3")
        await km.start_kernel()
        try:
            kc = km.client()
            kc.start_channels()
            await kc.wait_for_ready(timeout=60)
            reply = await kc.execute_interactive("x = 6 * 7")
            assert reply["content"]["status"] == "ok"
            kc.stop_channels()
            info = json.loads(book.Path(km.connection_file).read_text())
            return info["transport"], info["ip"]
        finally:
            await km.shutdown_kernel(now=True)

    async def two():
        return await asyncio.gather(run_one(), run_one())

    with forked_kernels():
        (t1, ip1), (t2, ip2) = asyncio.run(two())
    assert t1 == t2 == "ipc" and ip1 != ip2
    assert not book.Path(f"{ip1}-1").exists(), "socket files are removed when the kernel shuts down"


def test_a_book_tree_elsewhere_holds_the_sources_not_the_outputs(tmp_path):
    """``--out``: the book's sources are copied (so two books build at once), not the project's executed notebooks
    or vendored MathJax; the project itself is its own tree."""
    (book.ROOT / "book" / "executed").mkdir(exist_ok=True)
    root = book.book_tree(tmp_path / "tree")
    assert (root / "_toc.yml").read_text() == (book.ROOT / "_toc.yml").read_text()
    assert (root / "_config.yml").exists() and (root / "book" / "intro.md").exists()
    assert not (root / "book" / "executed").exists() and not (root / book.STATIC / "mathjax").exists()
    assert book.book_tree(None) == book.book_tree(book.ROOT) == book.ROOT


#: what a kernel prints for the comparison below: every pandas option and matplotlib rcParam, and whether the modules
#: of :data:`nnip.book.PRELOAD_LATE` were in the kernel before this code imported anything
_STATE = """
import json, sys
preloaded = all(m in sys.modules for m in %r)
import matplotlib, pandas
from pandas._config.config import _registered_options
state = {"pandas": {k: repr(pandas.get_option(k)) for k in sorted(_registered_options)},
         "rcParams": {k: repr(v) for k, v in sorted(matplotlib.rcParams.items())}}
print(json.dumps({"preloaded": preloaded, "state": state}))
""" % (book.PRELOAD_LATE,)


def _kernel_state() -> dict:
    import asyncio

    async def run():
        km = book.kernel_manager_class()(kernel_name="python3")
        await km.start_kernel()
        try:
            kc = km.client()
            kc.start_channels()
            await kc.wait_for_ready(timeout=60)
            out = []
            reply = await kc.execute_interactive(
                _STATE, output_hook=lambda m: out.append(m["content"]["text"])
                if m["msg_type"] == "stream" and m["content"]["name"] == "stdout" else None)
            assert reply["content"]["status"] == "ok", reply["content"]
            kc.stop_channels()
            return json.loads("".join(out))
        finally:
            await km.shutdown_kernel(now=True)

    return asyncio.run(run())


def test_a_forked_kernel_has_a_fresh_kernels_pandas_options_and_rcparams(monkeypatch):
    """The zygote imports pandas, matplotlib and more outside any shell (:data:`nnip.book.PRELOAD_LATE`); a kernel
    forked from it once they are imported must see the options a freshly started kernel has (pandas registers some
    defaults by asking whether it runs inside a Jupyter kernel)."""
    import time

    with book.forked_kernels():
        deadline = time.monotonic() + 120
        forked = _kernel_state()
        while not forked["preloaded"]:  # the zygote imports the late modules while no kernel is asked for
            assert time.monotonic() < deadline, "the zygote never finished importing PRELOAD_LATE"
            time.sleep(1)
            forked = _kernel_state()
    monkeypatch.delenv(book.ZYGOTE_ENV, raising=False)  # under nbmake the session's zygote is on JUPYTER_PATH
    path = [p for p in book.os.environ.get("JUPYTER_PATH", "").split(book.os.pathsep) if p and "nnip-kernels-" not in p]
    monkeypatch.setenv("JUPYTER_PATH", book.os.pathsep.join(path))
    fresh = _kernel_state()
    assert not fresh["preloaded"] or "pandas" in book.PRELOAD
    assert forked["state"] == fresh["state"]
