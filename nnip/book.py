"""``make book``: execute every notebook with papermill against a run store, build the jupyter-book.

``python -m nnip.book --preset cpu`` (what ``make book`` runs) renders the book **from the committed run store**
``results/<preset>/``: it trains nothing and generates no data (its notebooks run with
``NNIP_NO_DATA_GENERATION=1``, so a page that would need a dataset fails and names it). Every notebook runs with ``train_missing=False``, so
a run missing from the store is an error naming it (``python -m nnip.book --missing`` lists them all), never a silent
training job.

``python -m nnip.book --preset cpu --train [--workers 2]`` is how the store is made: it builds the preset's embedded
datasets, trains every missing run of every study (:mod:`nnip.paper.catalog`, ``workers`` processes), executes the
notebooks with ``train_missing=True`` (which also fills the per-run caches that need checkpoints or data, e.g.
test-time averaging and κ against width) and builds the book. The ``tiny`` preset always trains (it is CI's wiring
check, from an empty store).

Steps: (1, ``--train``/tiny only) datasets; (2, ``--train``/tiny only) runs; (3) notebooks into ``book/executed/`` with
papermill, passing ``preset``, ``store="results"`` (resolved against the project root, so no machine path shows on a
page) and ``train_missing``, and Fig. 1's image copied to ``book/executed/fig1.png`` for the intro page
(:func:`intro_figure`); (4) ``jupyter-book build . -W``: ``_build/html/index.html``.

Step 2 trains every study's missing runs in one pool of ``--workers`` processes (:func:`train_catalog`). In step 3
the kernels are forked from one process that has imported torch, scipy, matplotlib and ipykernel already, and
imports pandas, ase, e3nn and torch's compiler front end while no kernel is asked for (:func:`forked_kernels`,
:data:`PRELOAD`, :data:`PRELOAD_LATE`; the executed notebooks are the same, measured output for output on the cpu
book: only object addresses in two ``text/plain`` reprs differ, as they do between any two builds).

``--only-data`` stops after step 1; ``--out DIR`` builds into ``DIR`` instead of the project (:func:`book_tree`: two
books at once); ``--notebooks fig5,table1`` executes a subset; ``--jobs N`` (default 2) executes
N notebooks at once in step 3 (safe when they train: run locks and cache locks, :func:`execute_notebooks`). In step 3 the kernels share one fit memo for the build
(:func:`fit_memo`, :mod:`nnip.scaling._memo`): the scorecard runs first and bootstraps eq. (5) for every
architecture, and Fig. 5, Fig. 6 and Tables 1 and 7 read those optima back (bit-identical) instead of refitting.
A build of every notebook also fails unless the pages read exactly the runs :mod:`nnip.paper.catalog` lists
(:func:`nnip.paper.catalog.check_reads`, from the ``runs_read.tsv`` the kernels write into ``book/executed/``); the
check is prepared in a low-priority process of its own while the pages run (:func:`_prepare_check`), so it adds ~0.5
s after the last page instead of ~4 s.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import importlib.metadata
import json
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from matplotlib.figure import Figure

from nnip.data.registry import NO_GENERATION, dataset_stats, ensure_dataset
from nnip.presets import get, resolve
from nnip.runs import RUN_LOG
from nnip.scaling import _memo
from nnip.scaling._memo import ENV

ROOT = Path(__file__).resolve().parents[1]


def build_datasets(preset: str) -> list[Path]:
    paths = []
    for name, spec in get(preset).datasets.items():
        t0 = time.perf_counter()
        path = ensure_dataset(name, n=spec["n"], seed=spec.get("seed", 0))
        stats = dataset_stats(path)
        print(f"\n== {name} ({spec['n']} structures, seed {spec.get('seed', 0)}): {path}  [{time.perf_counter() - t0:.1f} s]")
        for key, value in stats.items():
            print(f"   {key:<28} {value}")
        paths.append(path)
    return paths


def _execute(nb: Path, out: Path, preset: str, store: str, train_missing: bool) -> Path:
    import papermill  # optional: papermill (the book extra)

    print(f"== executing {nb.name} (preset={preset})", flush=True)
    t0 = time.perf_counter()
    papermill.execute_notebook(
        str(nb), str(out), parameters={"preset": preset, "store": store, "train_missing": train_missing},
        cwd=str(ROOT / "notebooks"),
        progress_bar=False, kernel_name="python3", kernel_manager_class=kernel_manager_class(),
    )
    show_only_injected_parameters(out)
    print(f"== executed {nb.name} in {time.perf_counter() - t0:.1f} s", flush=True)
    return out


@functools.cache
def kernel_manager_class() -> type:
    """jupyter_client's kernel manager, talking to its kernel over Unix sockets named per kernel (``ipc``) instead of
    TCP ports: the book's and nbmake's kernels start in several processes at once (``--jobs``, pytest-xdist), and a
    TCP port is chosen by binding port 0 and closing it, so two processes could be handed the same free port before
    either kernel binds it (seen once in ``make test``: "Address already in use", then "Kernel died before replying
    to kernel_info"). A socket path holding a fresh UUID cannot collide."""
    from jupyter_client import AsyncKernelManager  # the book extra (lazy: only the book starts kernels)

    class IPCKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            kwargs.setdefault("transport", "ipc")
            kwargs.setdefault("ip", os.path.join(tempfile.gettempdir(), f"nnip-kernel-{uuid.uuid4().hex}"))
            super().__init__(**kwargs)

    return IPCKernelManager


def execute_notebooks(preset: str, store: str, names: list[str] | None, out_dir: Path,
                      train_missing: bool = True, jobs: int = 1) -> list[Path]:
    """Execute the notebooks of the book (``names``, default all of :func:`toc_notebooks`) into ``out_dir`` with
    papermill, ``jobs`` kernels at a time.

    Concurrent kernels are safe also when they train (``train_missing``): two kernels that need the same missing
    run share it (the trainer holds the run's lock; the second gets a cache hit), and a per-run cache (test-time
    averaging, the zero-output loss) is computed under a lock per file (:func:`nnip.paper._common.cached_json`)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    pages = toc_notebooks()
    notebooks = sorted((nb for nb in (ROOT / "notebooks").glob("*.ipynb") if nb.stem in pages),
                       key=lambda nb: (nb.stem not in FIRST, nb.stem))
    if names:
        notebooks = [nb for nb in notebooks if nb.stem in names]
    if not names:  # the whole book: an executed notebook left by an earlier build whose page left the toc goes
        for stale in set(out_dir.glob("*.ipynb")) - {out_dir / nb.name for nb in notebooks}:
            stale.unlink()
    args = [(nb, out_dir / nb.name, preset, store, train_missing) for nb in notebooks]
    log = out_dir / RUNS_READ
    log.unlink(missing_ok=True)
    with fit_memo(), _environ(RUN_LOG, str(log)), contextlib.ExitStack() as stack:
        checker = None
        if not names:  # the whole book: its pages must read exactly the runs the catalog lists, checked at the end
            checker = stack.enter_context(ProcessPoolExecutor(1, mp_context=mp.get_context("fork"),
                                                              initializer=os.nice, initargs=(10,)))
            checker.submit(_prepare_check, preset)
        with forked_kernels():
            if jobs <= 1 or len(args) <= 1:
                out = [_execute(*a) for a in args]
            else:
                with ProcessPoolExecutor(max_workers=jobs) as pool:
                    out = list(pool.map(_execute, *zip(*args)))
        if checker is not None:
            print(f"== the pages read {checker.submit(_check_reads, preset, log).result()} runs: exactly the "
                  "catalog's", flush=True)
    return out


def _prepare_check(preset: str) -> None:
    """The build's final check, prepared in its own process while the pages run, at low priority (``nice`` 10: it
    mostly fills the cores' idle moments between kernels): its imports (torch and every model, through
    :mod:`nnip.sweep`, ~4 s) and the catalog's run ids, whose parameter counts go to the build's memo for the pages
    that count the same models (:func:`nnip.paper.ladders.n_params`)."""
    from nnip.paper.catalog import in_production_run_ids, run_ids  # lazy: nnip.paper loads IPython

    run_ids(preset)
    in_production_run_ids(preset)


def _check_reads(preset: str, log: Path) -> int:
    """:func:`nnip.paper.catalog.check_reads`, in the process :func:`_prepare_check` prepared."""
    from nnip.paper.catalog import check_reads  # lazy: nnip.paper loads IPython

    return check_reads(preset, log)


def train_catalog(preset: str, store: str = "results", workers: int = 2) -> "pd.DataFrame":
    """Train every missing run of every study of :mod:`nnip.paper.catalog` (``STUDIES`` and ``IN_PRODUCTION``) in
    **one** pool of ``workers`` processes (:func:`nnip.sweep.run_configs`), the runs of all studies together, each run
    once (a run several studies list, e.g. the main study's, is trained for the first study that lists it).

    The runs :func:`nnip.paper.catalog.train_all` trains, and the in-production studies'; ``train_all`` starts a new pool for each of the catalog's
    16 sweep specs: there each pool's spawned workers import torch and the models again before their first run
    (~6 s of the ~9 s a two-run spec took on the 2-core machine), ~100 s of the tiny book's 160 s of training; in one
    pool the workers start once. A run's result does not depend on the process that trains it (its seeds are in its
    config; every run of a spec already shares its pool's workers). One row per sweep spec, as ``train_all``'s:
    its runs, how many were trained (not cached) and how many failed; ``wall_s`` is the whole pool's."""
    import pandas as pd  # lazy: only --train needs it (python -m nnip.book starts light)

    from nnip.paper._common import store_path  # lazy: nnip.paper loads IPython; only --train needs it
    from nnip.paper.catalog import IN_PRODUCTION, specs  # lazy: as above
    from nnip.sweep import expand, run_configs  # lazy: nnip.sweep imports torch

    p = resolve(preset)
    rows, todo, first = [], {}, {}
    # the studies still in production too: their pages read whatever of their runs is finished, so a book that
    # trains (the tiny one) trains them here, in the pool, rather than one page's kernel training them alone
    for name, spec in [*specs(p), *((n, s) for n, fn in IN_PRODUCTION.items() for s in fn(p))]:
        ids = []
        for cfg in expand(spec, p):
            rid = cfg.run_id()
            ids.append(rid)
            todo.setdefault(rid, cfg)
            first.setdefault(rid, len(rows))
        rows.append({"study": name, "spec": spec.get("name"), "ids": ids})
    t0 = time.monotonic()
    res = run_configs(list(todo.values()), store_path(store, p), name="catalog", workers=workers, progress=True)
    wall = time.monotonic() - t0
    by_id = res.set_index("run_id") if len(res) else pd.DataFrame(columns=["cached", "status"])
    out = []
    for k, row in enumerate(rows):
        ids = row["ids"]
        trained = sum(1 for r in set(ids) if first[r] == k and r in by_id.index and not bool(by_id.at[r, "cached"]))
        failed = sum(1 for r in set(ids) if r in by_id.index and by_id.at[r, "status"] == "failed")
        out.append({"study": row["study"], "spec": row["spec"], "runs": len(ids), "trained": trained,
                    "failed": failed, "wall_s": wall})
    return pd.DataFrame(out)


def toc_notebooks(toc: Path = ROOT / "_toc.yml") -> set[str]:
    """The notebooks the book shows: every ``book/executed/<name>`` page of ``_toc.yml``. A notebook of
    ``notebooks/`` that is not in the table of contents (a chapter whose runs are still being trained) is tested by
    nbmake like every notebook but not executed into the book."""
    import yaml  # optional heavy: only the book build reads the toc

    found: set[str] = set()

    def walk(node) -> None:
        if isinstance(node, dict):
            f = node.get("file")
            if isinstance(f, str) and f.startswith("book/executed/"):
                found.add(f.removeprefix("book/executed/"))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(yaml.safe_load(toc.read_text()))
    return found


# --- notebook kernels forked from one warm process ---------------------------------------------------------------
#: where a kernel launched by :func:`forked_kernels`'s kernel spec asks for its fork (a Unix socket)
ZYGOTE_ENV = "NNIP_KERNEL_ZYGOTE"
#: what the zygote imports before it forks any kernel: third-party modules whose import does not depend on the shell
#: that the kernel starts later, and that every page's kernel imports (measured on the 2-core machine: ~2.4 of the
#: ~3 CPU-s a fresh kernel spends importing before a page's first line runs; torch alone, through nnip.sweep, 1.5 s).
#: Not nnip (importing nnip.paper registers the figure formatter with the running shell), not pyplot or the inline
#: backend (IPython's hooks).
PRELOAD = ("ipykernel.kernelapp", "ipykernel.ipkernel", "torch", "scipy.optimize", "scipy.stats", "scipy.linalg",
           "matplotlib.figure", "matplotlib.backends.backend_agg")
#: what the zygote imports next, one module at a time while no kernel is asked for (the first kernels of a build are
#: forked at once, without them): what the pages' ``nnip`` imports pull in besides :data:`PRELOAD` (measured on the
#: 2-core machine: ~0.5 CPU-s in every page's kernel — pandas and pyarrow, ase's database, submitit — and ~1.5 CPU-s
#: more in each page that builds a model — e3nn, sympy, torch._dynamo). pandas is imported as in a kernel: its
#: ``display.max_columns`` default is 0 in a terminal and 20 inside a Jupyter kernel (``pandas.core.config_init``),
#: and its ``display.encoding`` is that of ``sys.stdout`` (ipykernel's stream in a kernel); the zygote, which has
#: neither, sets the kernel's (``tests/book/test_execute.py`` compares every pandas option and matplotlib rcParam of a
#: forked kernel with a fresh one's). Not ``tqdm.auto`` (it picks its bar by the shell).
PRELOAD_LATE = ("pandas", "pyarrow", "ase.db", "yaml", "submitit", "schedulefree", "sympy", "e3nn.o3",
                "torch._dynamo")
#: the kernel process jupyter starts (argv of the kernel spec): it hands its connection file, working directory,
#: environment and standard streams to the zygote, which forks the kernel; it forwards signals (interrupt, terminate)
#: to the kernel and exits with its exit status. Killed, the zygote kills the kernel. Standard library only.
_CLIENT = """
import json, os, signal, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(os.environ[%r])
msg = {"argv": sys.argv[1:], "cwd": os.getcwd(), "env": dict(os.environ)}
socket.send_fds(s, [json.dumps(msg).encode()], [0, 1, 2])
pid = int(s.recv(64))
for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
    signal.signal(sig, lambda n, _: os.kill(pid, n))
code = s.recv(64)
sys.exit(int(code) if code else 1)
""" % ZYGOTE_ENV


@contextlib.contextmanager
def forked_kernels() -> Iterator[Path | None]:
    """For the block, jupyter's ``python3`` kernels (papermill's, nbmake's) are forked from one process that has
    imported :data:`PRELOAD` already, instead of each starting Python and importing them again.

    A forked kernel is a fresh ipykernel (its own process, sockets, shell and namespace, the environment, working
    directory and standard streams its launcher was given); it only finds those modules in ``sys.modules``. The
    kernel spec is put first on ``JUPYTER_PATH`` for the block (ipykernel's, with another ``argv``: :data:`_CLIENT`).
    Nested blocks, and ``NNIP_FORKED_KERNELS=0``, use the kernels as they are."""
    if os.environ.get(ZYGOTE_ENV) or os.environ.get("NNIP_FORKED_KERNELS") == "0" or not hasattr(os, "fork"):
        yield None
        return
    from ipykernel.kernelspec import get_kernel_dict  # the book extra

    tmp = Path(tempfile.mkdtemp(prefix="nnip-kernels-"))
    sock = tmp / "zygote.sock"
    spec = {**get_kernel_dict(), "argv": [sys.executable, "-c", _CLIENT, "-f", "{connection_file}"]}
    (tmp / "kernels" / "python3").mkdir(parents=True)
    (tmp / "kernels" / "python3" / "kernel.json").write_text(json.dumps(spec, indent=1))
    zygote = subprocess.Popen([sys.executable, "-c", _ZYGOTE, str(sock), *PRELOAD, "--late", *PRELOAD_LATE],
                              stdout=subprocess.PIPE, text=True)
    try:
        if zygote.stdout.readline().strip() != "ready":
            raise RuntimeError("the kernel zygote did not start (nnip.book._ZYGOTE)")
        path = os.pathsep.join(p for p in (str(tmp), os.environ.get("JUPYTER_PATH")) if p)
        with _environ(ZYGOTE_ENV, str(sock)), _environ("JUPYTER_PATH", path):
            yield tmp
    finally:
        zygote.terminate()
        try:
            zygote.wait(30)
        except subprocess.TimeoutExpired:
            zygote.kill()
            zygote.wait()
        shutil.rmtree(tmp, ignore_errors=True)


#: the process :func:`forked_kernels` forks kernels from, as source: run as ``python -c`` with the socket path,
#: :data:`PRELOAD`, ``--late`` and :data:`PRELOAD_LATE` as arguments, so that it imports nothing else (not nnip.book's
#: own imports). Single-threaded: it imports, accepts, forks and reaps; it imports the late modules one at a time when
#: no request is waiting, so the first kernels of a build do not wait for them. A kernel's exit wakes it at once
#: (SIGCHLD through ``signal.set_wakeup_fd``), so the launcher — to jupyter, the kernel's process — ends with it. A
#: kernel whose launcher disconnects (killed) is killed; on SIGTERM every kernel is. In the fork: the launcher's
#: standard streams, working directory and environment, then ipykernel with the launcher's arguments, and the kernel's
#: exit status back to the launcher.
_ZYGOTE = """
import contextlib, gc, importlib, json, os, selectors, signal, socket, sys, traceback

def child(closing, msg, fds):
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for s in closing:
            s.close()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.chdir(msg["cwd"])
        os.environ.clear()
        os.environ.update(msg["env"])
        # the traits ipykernel read from the environment when the zygote imported it, as they are now
        argv = [*msg["argv"], "--IPKernelApp.parent_handle=%d" % int(os.environ.get("JPY_PARENT_PID") or 0),
                "--IPKernelApp.interrupt=%d" % int(os.environ.get("JPY_INTERRUPT_EVENT") or 0)]
        sys.argv = [sys.executable, *argv]
        from ipykernel import kernelapp
        kernelapp.launch_new_instance(argv=argv)
        code = 0
    except SystemExit as err:
        code = err.code if isinstance(err.code, int) else (0 if err.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)

def load(module):
    importlib.import_module(module)
    if module == "pandas":  # the defaults pandas registers when imported inside a kernel: is_terminal() is False
        from ipykernel.iostream import OutStream  # (config_init) and sys.stdout is ipykernel's stream

        sys.modules["pandas"].set_option("display.max_columns", 20, "display.encoding", OutStream.encoding)
    gc.collect()
    gc.freeze()  # the preloaded objects stay shared with the kernels (copy-on-write)

sock, args = sys.argv[1], sys.argv[2:]
preload, late = (args[:args.index("--late")], args[args.index("--late") + 1:]) if "--late" in args else (args, [])
os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")  # what ipykernel sets first
for module in preload:
    load(module)
srv = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
srv.bind(sock)
srv.listen(16)
wake_r, wake_w = socket.socketpair()  # SIGCHLD -> a byte on wake_w: a kernel's exit ends the select at once
wake_r.setblocking(False)
wake_w.setblocking(False)
signal.set_wakeup_fd(wake_w.fileno())
signal.signal(signal.SIGCHLD, lambda *_: None)
sel = selectors.DefaultSelector()
sel.register(srv, selectors.EVENT_READ)
sel.register(wake_r, selectors.EVENT_READ)
kernels, stop, parent = {}, [], os.getppid()
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
print("ready", flush=True)
while not stop and os.getppid() == parent:
    events = sel.select(timeout=0 if late else 1.0)
    if not events and late:  # nothing asked for: the next late module
        with contextlib.suppress(Exception):
            load(late[0])
        late.pop(0)
    for key, _ in events:
        if key.fileobj is wake_r:
            with contextlib.suppress(BlockingIOError):
                while wake_r.recv(4096):
                    pass
        elif key.fileobj is srv:
            conn, _ = srv.accept()
            data, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
            pid = os.fork()
            if pid == 0:  # the kernel keeps none of the zygote's sockets (a launcher's EOF must reach the zygote)
                sel.close()
                child([srv, conn, wake_r, wake_w, *kernels.values()], json.loads(data), fds)
            for fd in fds:
                os.close(fd)
            conn.sendall(str(pid).encode())
            kernels[pid] = conn
            sel.register(conn, selectors.EVENT_READ, pid)
        elif not key.fileobj.recv(64):  # the launcher is gone: so goes its kernel
            with contextlib.suppress(ProcessLookupError):
                os.kill(key.data, signal.SIGKILL)
    while kernels:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            break
        conn = kernels.pop(pid, None)
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.sendall(str(os.waitstatus_to_exitcode(status) % 256).encode())
            sel.unregister(conn)
            conn.close()
for pid in kernels:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
"""


#: the file of ``out_dir`` listing every run a page read (``study<TAB>run id``; :data:`nnip.runs.RUN_LOG`)
RUNS_READ = "runs_read.tsv"


@contextlib.contextmanager
def _environ(key: str, value: str) -> Iterator[None]:
    old = os.environ.get(key)
    os.environ[key] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = old


#: executed first: the scorecard bootstraps eq. (5) for every architecture, and the Fig. 5, Fig. 6, Table 1 and
#: Table 7 pages (executed later) then read those optima from the build's fit memo instead of refitting
FIRST = ("scorecard",)


@contextlib.contextmanager
def fit_memo() -> Iterator[Path | None]:
    """For the block, notebook kernels share one :mod:`nnip.scaling._memo` file (``NNIP_FIT_CACHE``), made empty
    for this build and removed after it, so a fit computed by one page is read by the next instead of being
    recomputed (the numbers are bit-identical either way). A memo the user set already is used as it is
    (``NNIP_FIT_CACHE=off``: none)."""
    if os.environ.get(ENV):
        yield Path(os.environ[ENV])
        return
    tmp = Path(tempfile.mkdtemp(prefix="nnip-fit-memo-"))
    try:
        with _environ(ENV, str(tmp / "fits.sqlite")):
            yield Path(os.environ[ENV])
    finally:
        _memo.close()
        shutil.rmtree(tmp, ignore_errors=True)


def show_only_injected_parameters(path: Path) -> None:
    """Tag the notebook's own ``parameters`` cell ``remove-cell`` when papermill injected the values it ran with:
    the page then shows one parameters cell, the true one (jupyter-book drops ``remove-cell`` cells); papermill's
    recorded paths become relative (:func:`_relative_papermill_paths`)."""
    import nbformat  # optional: nbformat (the book extra)

    nb = nbformat.read(str(path), as_version=4)
    _relative_papermill_paths(nb)
    tags = [set(c.get("metadata", {}).get("tags", [])) for c in nb.cells]
    if any("injected-parameters" in t for t in tags):
        for cell, t in zip(nb.cells, tags):
            if "parameters" in t and "remove-cell" not in t:
                cell.setdefault("metadata", {})["tags"] = [*cell["metadata"].get("tags", []), "remove-cell"]
    nbformat.write(nb, str(path))


def _relative_papermill_paths(nb) -> None:
    """papermill records the notebook's input and output paths in its metadata, absolute; the book ships the
    executed notebook (its download button), so they become relative to the project root."""
    meta = nb.get("metadata", {}).get("papermill", {})
    for key in ("input_path", "output_path"):
        if meta.get(key):
            p = Path(meta[key])
            meta[key] = str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else p.name


#: our Fig. 1, the intro page's first picture (book/intro.md shows ``executed/fig1.png``)
INTRO_FIGURE = "fig1.png"


def intro_figure(executed: Path) -> Path:
    """Write the first figure of the executed ``fig1`` notebook (the loss–compute frontiers of the four architectures)
    to ``executed/fig1.png``, where ``book/intro.md`` shows it. A build that did not execute fig1 (``--notebooks``)
    keeps the PNG of an earlier build, or, if there is none, writes one that says how to render it."""
    out = executed / INTRO_FIGURE
    nb = executed / "fig1.ipynb"
    if nb.exists():
        for cell in json.loads(nb.read_text())["cells"]:
            for output in cell.get("outputs", []):
                png = output.get("data", {}).get("image/png")
                if png:
                    out.write_bytes(base64.b64decode("".join(png)))
                    return out
        raise RuntimeError(f"{nb}: no figure among its outputs; the intro page's Fig. 1 cannot be shown")
    if not out.exists():
        fig = Figure(figsize=(8, 1.5))
        fig.text(0.5, 0.5, "Fig. 1 appears here once fig1 is executed (make book)", ha="center", va="center")
        executed.mkdir(parents=True, exist_ok=True)
        fig.savefig(out)
    return out


#: MathJax 3 in one self-contained file (SVG output, no fonts to fetch), served from the book's own ``_static``:
#: ``_config.yml`` sets ``html_static_path: [book/_static]`` and ``mathjax_path: mathjax/tex-svg.js``, so the pages
#: typeset their equations offline (no CDN), in the Chromium checks too
MATHJAX = ("django-static-mathjax", "mathjax/static/mathjax/es5/tex-svg.js")
STATIC = Path("book") / "_static"


def vendor_mathjax(root: Path = ROOT) -> Path:
    """Copy MathJax (``tex-svg.js`` of the pinned ``django-static-mathjax`` wheel, MathJax 3.2.2, Apache-2.0; only
    its files are used, not django) to ``book/_static/mathjax/`` of the book's tree ``root`` (git-ignored), where the
    book loads it from."""
    dist, rel = MATHJAX
    try:
        src = Path(importlib.metadata.distribution(dist).locate_file(rel))
    except importlib.metadata.PackageNotFoundError:
        src = None
    if src is None or not src.is_file():
        raise RuntimeError(f"MathJax not found ({dist}: {rel}); install the pinned requirements: "
                           f"pip install -r requirements.txt")
    out = root / STATIC / "mathjax" / src.name
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, out)
    return out


def book_tree(out: Path | None) -> Path:
    """The root of the book's tree: the project (``out`` None or the project), or ``out`` with a copy of the book's
    sources (``_config.yml``, ``_toc.yml`` and ``book/``, without executed notebooks or vendored MathJax), so that
    two books build at once (``make test`` builds the tiny and the cpu book on two workers). Notebooks still run
    from the project's ``notebooks/`` against its run store; only ``book/executed/`` and ``_build/`` are the tree's."""
    if out is None or out.resolve() == ROOT:
        return ROOT
    out = out.resolve()
    (out / "book").mkdir(parents=True, exist_ok=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copyfile(ROOT / name, out / name)
    shutil.copytree(ROOT / "book", out / "book", dirs_exist_ok=True,
                    ignore=lambda d, names: [n for n in names if Path(d, n) in (ROOT / "book" / "executed",
                                                                                 ROOT / STATIC / "mathjax")])
    return out


def build_book(root: Path = ROOT) -> Path:
    shutil.rmtree(root / "_build", ignore_errors=True)  # incremental builds keep pages that left the toc
    vendor_mathjax(root)
    jb = Path(sys.executable).with_name("jupyter-book")
    subprocess.run([str(jb), "build", str(root), "-W", "--keep-going"], check=True)
    return root / "_build" / "html" / "index.html"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nnip.book", description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="cpu", choices=["tiny", "cpu", "paper"])
    parser.add_argument("--store", default="results",
                        help="run store: 'results' (default: <project>/results/<preset>) or a path")
    parser.add_argument("--train", action="store_true",
                        help="build the datasets and train every missing run first (always on for --preset tiny)")
    parser.add_argument("--workers", type=int, default=2, help="--train: parallel training processes")
    parser.add_argument("--missing", action="store_true", help="list the runs missing from the store and exit")
    parser.add_argument("--only-data", action="store_true", help="only build the datasets and print statistics")
    parser.add_argument("--notebooks", default=None, help="comma-separated notebook names (default: all)")
    parser.add_argument("--jobs", type=int, default=2, help="notebooks executed at once (default 2)")
    parser.add_argument("--out", type=Path, default=None,
                        help="build the book in this folder (a copy of the book's sources; default: the project, "
                             "book/executed/ and _build/html/)")
    args = parser.parse_args(argv)
    train = args.train or args.preset == "tiny"
    if args.missing:
        from nnip.paper.catalog import missing_runs  # lazy: nnip.paper loads IPython; only --missing needs it

        todo = missing_runs(args.preset, args.store)
        print(todo.to_string(index=False) if len(todo) else "no run is missing")
        return 1 if len(todo) else 0
    if train or args.only_data:
        build_datasets(args.preset)
    if args.only_data:
        return 0
    if train:  # tiny too: the catalog's runs on --workers processes first, then the pages only read them
        print(train_catalog(args.preset, args.store, workers=args.workers).to_string(index=False), flush=True)
    names = args.notebooks.split(",") if args.notebooks else None
    if not train:  # the book from the committed store: a page that would generate a dataset is an error
        os.environ[NO_GENERATION] = "1"
    root = book_tree(args.out)
    execute_notebooks(args.preset, args.store, names, root / "book" / "executed", train_missing=train,
                      jobs=args.jobs)
    intro_figure(root / "book" / "executed")
    t0 = time.perf_counter()
    index = build_book(root)
    print(f"== jupyter-book build in {time.perf_counter() - t0:.1f} s", flush=True)
    print(f"\nbook: {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
