"""Newcomer time (issue 21, part 4): ``make test`` and ``make book`` of a baseline commit against HEAD, side by side.

Each revision is checked out into a fresh ``git worktree`` (a temporary folder, removed at the end) that shares this
checkout's ``.venv`` (linked in; set-up is not timed and nothing is installed: ``make`` runs with
``-o .venv/.installed``) and sees ``../shared`` beside it (a link to this checkout's), as a fresh clone on CI would.
``PYTHONPATH`` names the worktree, so the worktree's ``nnip`` is imported everywhere, notebook kernels included (the
venv's editable install points at this checkout). Then, timed, one after the other, alternating when repeated:

* ``book``: ``make book`` (``python -m nnip.book --preset cpu``: the cpu book from the committed store) with an empty
  dataset cache (``NNIP_CACHE``), as on a fresh machine;
* ``test``: ``make test`` with ``NNIP_REQUIRE_SLURM=1`` (what ``.ci/run`` runs). The one-node Slurm cluster must be up
  (``.ci/slurm-up``, as root); a baseline without Slurm tests just does not use it. Both revisions see the same user
  dataset cache (``~/.cache/nnip``; the tiny book reads it) and start with no ``results/tiny``, ``_build`` or
  ``book/executed`` (a fresh worktree), so the tiny book trains from scratch in both; each run gets an empty
  inductor cache (``TORCHINDUCTOR_CACHE_DIR``), so ``torch.compile``'s test compiles cold, as on a fresh machine.

It prints each run's wall time with the load average before and after (the machine may be shared: compare only runs
measured back to back), the pytest summary lines, and the ratio HEAD / baseline against the 0.6 target.

    python benchmarks/bench_make_test.py                      # make book, then make test, baseline 015e714 vs HEAD
    python benchmarks/bench_make_test.py --what book --repeat 2
    python benchmarks/bench_make_test.py --uncommitted        # HEAD plus this checkout's uncommitted changes
    python benchmarks/bench_make_test.py --what test --like-for-like   # also HEAD on the baseline's test files only

``--like-for-like`` adds a third timed ``make test``: the new revision with every test file (``tests/**/test_*.py``)
and notebook (``notebooks/*.ipynb``) that the baseline does not have left out (``--ignore``, through
``PYTEST_ADDOPTS``), so that both run the same test files: what the suite's machinery and the code under test gained,
apart from the tests added since. Both figures are printed; the target is for the whole suite.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "015e714"
TARGET = 0.6


def _git(*args, cwd=ROOT, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, check=True, text=True, capture_output=True, **kw)


def worktree(rev: str, where: Path, uncommitted: bool = False) -> Path:
    """A fresh worktree of ``rev`` at ``where`` with this checkout's .venv linked in (``uncommitted``: with this
    checkout's uncommitted changes to tracked files applied)."""
    _git("worktree", "add", "--detach", "-q", str(where), rev)
    if uncommitted:
        diff = _git("diff", "--binary", "HEAD").stdout
        if diff.strip():
            subprocess.run(["git", "apply", "--whitespace=nowarn"], cwd=where, input=diff, text=True, check=True)
    (where / ".venv").symlink_to(ROOT / ".venv")
    return where


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def new_test_files(baseline: str, tree: Path) -> list[str]:
    """Test files and notebooks in the worktree ``tree`` (tracked or, with ``--uncommitted``, new and untracked)
    that revision ``baseline`` does not have."""
    def tests(names: list[str]) -> set[str]:
        return {f for f in names if re.fullmatch(r"tests/(.*/)?test_[^/]*\.py|notebooks/[^/]*\.ipynb", f)}

    here = _git("ls-files", "--cached", "--others", "--exclude-standard", "tests", "notebooks", cwd=tree).stdout
    there = _git("ls-tree", "-r", "--name-only", baseline, "tests", "notebooks", cwd=tree).stdout
    return sorted(tests(here.split()) - tests(there.split()))


def timed(tree: Path, what: str, log: Path, ignore: list[str] = ()) -> float:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    if ignore:
        env["PYTEST_ADDOPTS"] = " ".join([env.get("PYTEST_ADDOPTS", ""), *(f"--ignore={f}" for f in ignore)]).strip()
    env.pop("NNIP_CACHE", None)
    if what == "book":
        cache = Path(tempfile.mkdtemp(prefix="nnip-bench-cache-"))  # no dataset: the cpu book must need none
        env["NNIP_CACHE"] = str(cache)
    else:
        env["NNIP_REQUIRE_SLURM"] = "1"
        # an empty inductor cache, as on a fresh machine (torch.compile's test would otherwise reuse this machine's
        # compiled kernels from /tmp/torchinductor_$USER)
        env["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="nnip-bench-inductor-")
    for stale in ("_build", "book/executed", "results/tiny"):
        shutil.rmtree(tree / stale, ignore_errors=True)
    t0 = time.perf_counter()
    with open(log, "w") as out:
        rc = subprocess.run(["make", "--no-print-directory", "-o", ".venv/.installed", what], cwd=tree, env=env,
                            stdout=out, stderr=subprocess.STDOUT).returncode
    wall = time.perf_counter() - t0
    for key in ("NNIP_CACHE", "TORCHINDUCTOR_CACHE_DIR"):
        if key in env and Path(env[key]).name.startswith("nnip-bench-"):
            shutil.rmtree(env[key], ignore_errors=True)
    if rc != 0:
        raise SystemExit(f"make {what} failed in {tree} (exit {rc}); log: {log}\n{log.read_text()[-3000:]}")
    return wall


def summary(log: Path) -> str:
    text = log.read_text()
    lines = [ln for ln in text.splitlines() if re.search(r"\d+ passed|\d+ failed", ln)]
    return "; ".join(ln.strip(" =") for ln in lines[:1]) + (f" (+{len(lines) - 1} kernel-setting runs)"
                                                            if len(lines) > 1 else "")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--what", choices=["book", "test", "both"], default="both")
    ap.add_argument("--baseline", default=BASELINE, help=f"baseline revision (default {BASELINE})")
    ap.add_argument("--new", default="HEAD", help="revision to compare (default HEAD)")
    ap.add_argument("--uncommitted", action="store_true", help="apply this checkout's uncommitted changes to --new")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each (alternating baseline, new)")
    ap.add_argument("--keep", action="store_true", help="keep the worktrees and logs")
    ap.add_argument("--like-for-like", action="store_true",
                    help="also time make test of the new revision on the baseline's test files only")
    args = ap.parse_args()
    whats = ["book", "test"] if args.what == "both" else [args.what]
    if "test" in whats and subprocess.run(["sinfo", "-h"], capture_output=True).returncode != 0:
        raise SystemExit("make test needs the Slurm cluster up (NNIP_REQUIRE_SLURM=1): run .ci/slurm-up as root")
    tmp = Path(tempfile.mkdtemp(prefix="nnip-bench-make-"))
    (tmp / "shared").symlink_to(ROOT.parent / "shared")  # ../shared beside each worktree, as on CI
    trees = {}
    try:
        trees["baseline"] = worktree(args.baseline, tmp / "baseline")
        trees["new"] = worktree(args.new, tmp / "new", args.uncommitted)
        revs = {k: _git("rev-parse", "--short", "HEAD", cwd=t).stdout.strip() for k, t in trees.items()}
        print(f"baseline {revs['baseline']}, new {revs['new']}{' + uncommitted changes' if args.uncommitted else ''}; "
              f"{os.cpu_count()} cores; worktrees in {tmp}", flush=True)
        for what in whats:
            walls = {"baseline": [], "new": []}
            for k in range(args.repeat):
                for name in ("baseline", "new"):
                    log = tmp / f"{what}-{name}-{k}.log"
                    before = _load()
                    wall = timed(trees[name], what, log)
                    walls[name].append(wall)
                    print(f"make {what:<4} {name:<8} {wall:7.1f} s   load {before} -> {_load()}   {summary(log)}",
                          flush=True)
            b, n = statistics.median(walls["baseline"]), statistics.median(walls["new"])
            print(f"make {what}: new / baseline = {n:.1f} s / {b:.1f} s = {n / b:.2f} "
                  f"(target <= {TARGET}: {'met' if n / b <= TARGET else 'NOT met'})", flush=True)
            if what == "test" and args.like_for_like:
                ignore = new_test_files(revs["baseline"], trees["new"])
                log = tmp / "test-new-like-for-like.log"
                before = _load()
                wall = timed(trees["new"], what, log, ignore)
                print(f"make test new, the baseline's test files only ({len(ignore)} files left out: "
                      f"{', '.join(ignore)}): {wall:.1f} s   load {before} -> {_load()}   {summary(log)}; "
                      f"/ baseline = {wall / b:.2f}", flush=True)
    finally:
        if not args.keep:
            for t in trees.values():
                subprocess.run(["git", "worktree", "remove", "--force", str(t)], cwd=ROOT, capture_output=True)
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept: {tmp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
