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
