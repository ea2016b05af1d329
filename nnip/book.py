"""``make book``: build the embedded datasets, execute every notebook with papermill, build the jupyter-book.

``python -m nnip.book --preset cpu`` (what ``make book`` runs):

1. makes sure the preset's embedded datasets exist in the cache (``nnip data make``; generated offline, never
   downloaded) and prints their statistics;
2. executes every ``notebooks/*.ipynb`` into ``book/executed/`` with papermill, passing ``preset`` and ``store``
   (notebooks read the committed run store and train only what is missing);
3. runs ``jupyter-book build . -W`` (warnings are errors); the result is ``_build/html/index.html``.

``--only-data`` stops after step 1; ``--notebooks fig5,table1`` executes a subset.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def build_datasets(preset: str) -> list[Path]:
    from nnip.data.registry import dataset_stats, ensure_dataset
    from nnip.presets import get

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


def execute_notebooks(preset: str, store: str, names: list[str] | None, out_dir: Path) -> list[Path]:
    import papermill

    out_dir.mkdir(parents=True, exist_ok=True)
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    if names:
        notebooks = [nb for nb in notebooks if nb.stem in names]
    done = []
    for nb in notebooks:
        out = out_dir / nb.name
        print(f"== executing {nb.name} (preset={preset})", flush=True)
        papermill.execute_notebook(
            str(nb), str(out), parameters={"preset": preset, "store": store}, cwd=str(ROOT / "notebooks"),
            progress_bar=False, kernel_name="python3",
        )
        done.append(out)
    return done


def build_book() -> Path:
    import shutil

    shutil.rmtree(ROOT / "_build", ignore_errors=True)  # incremental builds keep pages that left the toc
    jb = Path(sys.executable).with_name("jupyter-book")
    subprocess.run([str(jb), "build", str(ROOT), "-W", "--keep-going"], check=True)
    return ROOT / "_build" / "html" / "index.html"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nnip.book", description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="cpu", choices=["tiny", "cpu", "paper"])
    parser.add_argument("--store", default=None, help="run store root (default: results/<preset>)")
    parser.add_argument("--only-data", action="store_true", help="only build the datasets and print statistics")
    parser.add_argument("--notebooks", default=None, help="comma-separated notebook names (default: all)")
    args = parser.parse_args(argv)
    build_datasets(args.preset)
    if args.only_data:
        return 0
    store = args.store or str(ROOT / "results" / args.preset)
    names = args.notebooks.split(",") if args.notebooks else None
    execute_notebooks(args.preset, store, names, ROOT / "book" / "executed")
    index = build_book()
    print(f"\nbook: {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
