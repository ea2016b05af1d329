"""One function per item of the papers: each runs (or reads) its study and returns figures and tables.

Notebooks stay thin: a ``parameters`` cell, then calls into these modules (``preset``: a name or a
:class:`nnip.presets.Preset`, resolved once by each function). A *study* is a sweep spec
(:mod:`nnip.sweep`) run at a preset's scale (:mod:`nnip.presets`) into a run store; :func:`run_study` trains what is
missing (``train_missing=True``) or fails loudly naming what is missing.

One module per section of the paper, each study spec → run store → :mod:`nnip.paper.fits` (on :mod:`nnip.scaling`)
→ :mod:`nnip.figures` → :func:`comparison_table`:

- :mod:`~nnip.paper.main` — the main scaling study (Fig. 1–6, Tables 1 and 7), its items in
  :mod:`~nnip.paper.frontiers` (Fig. 1–4) and :mod:`~nnip.paper.compute_optimal` (Fig. 5, 6, Tables 1, 7);
  :mod:`~nnip.paper.kappa` — κ
  against width; :mod:`~nnip.paper.tuning` — the η* sweep; :mod:`~nnip.paper.pilot` — the cpu preset's pilot
- :mod:`~nnip.paper.symmetry` — Fig. 7 (symmetry loss, §4.4)
- :mod:`~nnip.paper.multi_epoch` — Fig. 8, 9 (multi-epoch training, augmentation vs equivariance, §4.5)
- :mod:`~nnip.paper.hyperparameters` — Fig. 10 (learning rate × batch size, depth × width, §3.3)
- :mod:`~nnip.paper.vector_channels` — Fig. 11 (EGNN vector channels, App. F)
- :mod:`~nnip.paper.diverse` — Fig. 12 (another data split, App. G)
- :mod:`~nnip.paper.group_averaging` — Fig. 13 (test-time group averaging, App. H)
- :mod:`~nnip.paper.energy_force` — Fig. 14 (energy and force terms of the loss, App. I)
- :mod:`~nnip.paper.translation` — Fig. 15 (translation invariance, App. J)
- :mod:`~nnip.paper.transformer` — Fig. 16 (the vanilla transformer and the all-zero predictor, App. K)
- :mod:`~nnip.paper.materials` — the materials chapter (Trikha et al. 2025)
- :mod:`~nnip.paper.scorecard` — every claim of the paper against our runs (rules and estimates:
  :mod:`~nnip.paper.verdicts`); :mod:`~nnip.paper.catalog` — every study
- shared: :mod:`~nnip.paper.fits` (the fits and their settings), :mod:`~nnip.paper.ladders` (the ablations' model
  entries), :mod:`~nnip.paper.published` (the papers' numbers)
"""

from nnip.figures import enable_notebook_display
from nnip.paper._common import ARCH_LABELS, comparison_table, project_root, run_study, select_archs, store_path

__all__ = ["ARCH_LABELS", "comparison_table", "project_root", "run_study", "select_archs", "store_path"]

enable_notebook_display()  # figures are built without pyplot; render them as PNG in notebooks
