"""The pinned and golden numbers again under other CPUs' kernels, forced on this machine (issue 21): MKL's code path
(``MKL_CBWR``), ATen's SIMD level (``ATEN_CPU_CAPABILITY``), OpenBLAS's CPU model (``OPENBLAS_CORETYPE``) and thread
counts. A pin that depends on the machine fails here, not on a reader's machine.

Each setting is its own process (the libraries read these variables once, when they load): one test per setting runs
the pinned tests in a fresh ``pytest`` with the variable set, so ``make test``'s xdist workers spread them over the
cores between the longer tests. ``make test-kernels`` runs only these."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: one forced setting per process
SETTINGS = ["MKL_CBWR=AVX2", "MKL_CBWR=COMPATIBLE", "ATEN_CPU_CAPABILITY=default", "ATEN_CPU_CAPABILITY=avx2",
            "OPENBLAS_CORETYPE=Zen", "OPENBLAS_CORETYPE=Sandybridge", "OPENBLAS_CORETYPE=Prescott",
            "OPENBLAS_NUM_THREADS=2"]
#: the tests that pin numbers
PINNED = ["tests/models/test_numerics_pinned.py", "tests/scaling/test_golden.py"]


@pytest.mark.parametrize("setting", SETTINGS)
def test_pinned_numbers_do_not_depend_on_the_machine(setting):
    key, value = setting.split("=", 1)
    # a fresh pytest, not an xdist worker of this one (tests/conftest.py reads PYTEST_XDIST_WORKER)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHONHASHSEED"))}
    env.update({key: value, "PYTHONHASHSEED": "0"})
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", *PINNED],
                         cwd=ROOT, env=env, capture_output=True, text=True)
    tail = run.stdout.strip().splitlines()[-1:] or [""]
    print(f"{setting}: {tail[0]}")
    assert run.returncode == 0, f"pinned numbers depend on the machine under {setting}:\n{run.stdout[-4000:]}"
