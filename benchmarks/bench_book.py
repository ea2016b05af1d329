"""Book-render benchmark: how long ``make book`` (preset ``cpu``, from the committed run store) takes.

Target (issue 10): from a fresh clone, after set-up, the cpu book renders in <= 3 minutes. Two measurements:

1. The five pages that bootstrap eq. (5) (scorecard, Fig. 5, Fig. 6, Tables 1 and 7), executed one after the other
   with papermill, once without the build's fit memo (``NNIP_FIT_CACHE=off``, the reference) and once with it
   (:func:`nnip.book.fit_memo`, as ``make book`` runs them): the ratio is what the memo buys.
2. ``--full``: ``python -m nnip.book --preset cpu`` in a fresh ``git clone`` of HEAD (this checkout's ``.venv``
   linked in, so set-up is not timed; an empty dataset cache, ``NNIP_CACHE``, as on a fresh machine), against the
   180 s target. It needs a complete store (a missing run is an error naming it).

The load average is printed: a shared machine (e.g. with training runs) inflates both.

    python benchmarks/bench_book.py [--full]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nnip import book
from nnip.scaling._memo import ENV, OFF

ROOT = Path(__file__).resolve().parents[1]
EQ5_PAGES = ["scorecard", "fig5", "fig6", "table1", "table7"]
TARGET_S = 180.0


def pages(memo: bool, out: Path) -> float:
    if memo:
        os.environ.pop(ENV, None)  # execute_notebooks makes the build's memo, as make book does
    else:
        os.environ[ENV] = OFF
    t0 = time.perf_counter()
    book.execute_notebooks("cpu", "results", EQ5_PAGES, out, train_missing=False, jobs=1)
    return time.perf_counter() - t0


def full() -> float:
    with tempfile.TemporaryDirectory(prefix="nnip-bench-book-") as tmp:
        clone = Path(tmp) / "nnip"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        (clone / ".venv").symlink_to(ROOT / ".venv")
        empty = Path(tmp) / "cache"  # no generated dataset: the book must not need one (as on CI)
        empty.mkdir()
        t0 = time.perf_counter()
        subprocess.run([str(clone / ".venv" / "bin" / "python"), "-m", "nnip.book", "--preset", "cpu"], cwd=clone,
                       check=True, stdout=subprocess.DEVNULL, env={**os.environ, "NNIP_CACHE": str(empty)})
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--full", action="store_true", help="also time the whole book from a fresh clone")
    args = ap.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} (cores: {os.cpu_count()})")
    with tempfile.TemporaryDirectory() as tmp:
        ref = pages(False, Path(tmp) / "off")
        new = pages(True, Path(tmp) / "on")
    print(f"eq. (5) pages {', '.join(EQ5_PAGES)} in series: without memo {ref:.1f} s, with memo {new:.1f} s, "
          f"ratio {ref / new:.2f}x")
    if args.full:
        t = full()
        print(f"whole cpu book from a fresh clone: {t:.0f} s = {t / TARGET_S:.2f} x the {TARGET_S:.0f} s target "
              f"({'met' if t <= TARGET_S else 'MISSED'})")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    sys.exit(main())
