"""How far a re-trained committed run can drift on another CPU: the measurement behind ``nnip.verify.RTOL``.

``nnip runs verify`` re-trains a committed run from its ``config.json`` and compares the validation loss along the
curve. On the machine that made the run the curve is identical; on another CPU the kernels differ (MKL's code path,
ATen's SIMD level, OpenBLAS's core type) and float32 training drifts. We cannot borrow another CPU, so each run is
re-trained here under each forced setting below, in its own process (the libraries read these variables when they
load), and the largest relative difference of the validation loss along the curve is printed per run and setting.

    python benchmarks/bench_verify.py [RUN_ID ...]      # default: the two cheapest committed cpu runs (one per family)

Prints a table and, last, the largest drift over all settings against ``RTOL_EARLY`` (first half of the steps) and
``RTOL`` (whole curve); a ratio < 1: the tolerance holds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STORE = ROOT / "results" / "cpu"
SETTINGS = ["(this machine)", "MKL_CBWR=AVX2", "MKL_CBWR=COMPATIBLE", "ATEN_CPU_CAPABILITY=default",
            "ATEN_CPU_CAPABILITY=avx2", "OPENBLAS_CORETYPE=Zen"]


def main(argv: list[str]) -> int:
    from nnip.verify import RTOL, RTOL_EARLY, cheapest_runs

    ids = argv or cheapest_runs(STORE, 2)
    rows, worst, worst_early = [], 0.0, 0.0
    for setting in SETTINGS:
        env = dict(os.environ)
        if "=" in setting:
            k, v = setting.split("=", 1)
            env[k] = v
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "table.json"
            subprocess.run([sys.executable, "-m", "nnip", "runs", "verify", str(STORE), *ids, "--scratch",
                            str(Path(tmp) / "scratch"), "--rtol", "1", "--rtol-early", "1", "--json", str(out)], env=env, cwd=ROOT,
                           check=False, stdout=subprocess.DEVNULL)
            for r in json.loads(out.read_text()):
                d, e = float(r["max rel. diff"]), float(r["early rel. diff"])
                if setting != "(this machine)":
                    worst, worst_early = max(worst, d), max(worst_early, e)
                rows.append((setting, r["run"], r["arch"], r["steps"], e, d, r["verdict"]))
                print(f"{setting:<28} {r['run']}  {r['arch']:<12} {r['steps']:>6}  early {e:9.2e}  whole {d:9.2e}"
                      f"  {r['verdict']}", flush=True)
    print(f"largest drift under forced kernels: first half {worst_early:.2e} (RTOL_EARLY {RTOL_EARLY:g}, ratio "
          f"{worst_early / RTOL_EARLY:.3f}); whole curve {worst:.2e} (RTOL {RTOL:g}, ratio {worst / RTOL:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
