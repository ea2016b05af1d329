"""One function per item of the papers: each runs (or reads) its study and returns figures and tables.

Notebooks stay thin: a ``parameters`` cell, then calls into these modules. A *study* is a sweep spec
(:mod:`nnip.sweep`) run at a preset's scale (:mod:`nnip.presets`) into a run store; :func:`run_study` trains what is
missing (``train_missing=True``) or fails loudly naming what is missing.

- :mod:`nnip.paper.main` — Fig. 1–6, Tables 1 and 7 (the main scaling study and κ)
- :mod:`nnip.paper.ablations` — Fig. 7–12 (symmetry loss, multi-epoch, augmentation, hyper-parameters, EGNN channels,
  diverse split)
- :mod:`nnip.paper.extras` — Fig. 13–16 (test-time averaging, energy vs force, translation invariance, transformer)
- :mod:`nnip.paper.materials` — the materials chapter (Trikha et al. 2025)
"""

from nnip.figures import enable_notebook_display
from nnip.paper._common import ARCH_LABELS, comparison_table, project_root, run_study, select_archs, store_path

__all__ = ["ARCH_LABELS", "comparison_table", "project_root", "run_study", "select_archs", "store_path"]

enable_notebook_display()  # figures are built without pyplot; render them as PNG in notebooks
