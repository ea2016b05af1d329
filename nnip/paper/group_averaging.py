r"""Fig. 13 (App. H) of Ngo & Ravanbakhsh (2025): test-time group averaging (GA) of the unconstrained MPNN.

The trained MPNNs' checkpoints evaluated with eq. (23),
:math:`f(x) = \frac1M \sum_i \rho_{out}(g_i^{-1}) \phi(\rho_{in}(g_i) x)` (:func:`nnip.train.evaluate.evaluate_run`):
loss vs M, and eq. (24) :math:`L - L_D = A N^{-\alpha}` with and without GA. Each evaluation is cached in the run's
``tta.json`` beside ``curve.csv``, so a book rebuilt from a committed store does not need the (uncommitted)
checkpoints.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from nnip import figures, scaling
from nnip.figures import AXIS
from nnip.paper import fits
from nnip.paper._common import (
    cached_json, comparison_table, notes_left_out, preset_name, report_row, run_study, store_path,
)
from nnip.paper.main import main_spec
from nnip.paper.published import APP_H
from nnip.presets import Preset, resolve
from nnip.runs import RunStore

__all__ = ["M_VALUES", "parse_m_values", "tta_study", "data_limited_loss", "fig13"]

#: the m values of Fig. 13 (left); the ``tiny`` preset uses the first three
M_VALUES = (1, 2, 4, 8, 16, 32)

figures.enable_notebook_display()


def parse_m_values(values, preset: str | Preset) -> tuple[int, ...]:
    """``"auto"`` → :data:`M_VALUES` (the first three at ``tiny``); ``"1,4"`` or a list → those, sorted, ≥ 1."""
    if values in (None, "auto"):
        return M_VALUES[:3] if preset_name(preset) == "tiny" else M_VALUES
    if isinstance(values, str):
        values = [int(m) for m in values.split(",") if m.strip()]
    ms = tuple(sorted({int(m) for m in values}))
    if not ms or ms[0] < 1:
        raise ValueError(f"m_values: positive numbers of rotations, got {values!r}")
    return ms


def tta_study(preset: str | Preset, store="results", train_missing: bool = True, *, m_values="auto",
              seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """App. H: the MPNN runs of the main study (trained if missing), each evaluated on its validation split with
    test-time group averaging over M Haar rotations (eq. 23) for M in ``m_values`` (``"auto"``: 1, 2, 4, …, 32; 1, 2,
    4 at ``tiny``; or ``"1,2,4"``) and without (M = 0, which equals the curve's last evaluation).

    Each result is cached in the run's ``tta.json`` (key ``M=<m>,seed=<seed>``); computing one needs the run's
    ``checkpoint.pt`` (kept by the trainer, not committed) and the dataset, so with ``train_missing=False`` a result
    missing from ``tta.json`` is an error, never a computation. Returns ``(curves, tta)`` with ``tta`` one row per
    (run, M): ``run_id, params, M, val_loss, val_energy_mae, val_force_l2``.
    """
    import torch  # torch-free analysis: lazy

    from nnip.train.evaluate import evaluate_run  # torch-free analysis: lazy

    preset = resolve(preset)

    device = "cuda" if torch.cuda.is_available() else "cpu"
    curves = run_study(main_spec("mpnn"), preset, store, train_missing)
    rs = RunStore(store_path(store, preset))
    ms = parse_m_values(m_values, preset)
    rows = []
    for run_id, params in curves.groupby("run_id", sort=False)["params"].first().items():
        for m in (0, *ms):
            def compute(run_id=run_id, m=m):
                if not rs.checkpoint_path(run_id).exists():
                    raise FileNotFoundError(
                        f"run {run_id} has no checkpoint.pt and no cached GA result for M={m} in tta.json; "
                        "checkpoints are not committed: re-train the run (delete its directory, train_missing=True)")
                return evaluate_run(rs.run_dir(run_id), tta_m=m, seed=seed, device=device)

            res = cached_json(rs, run_id, "tta.json", f"M={m},seed={seed}", compute,
                              compute_missing=train_missing)
            rows.append({"run_id": run_id, "params": int(params), "M": m,
                         **{k: res[k] for k in ("val_loss", "val_energy_mae", "val_force_l2") if k in res}})
    return curves, pd.DataFrame(rows)


def _sum_law(d: pd.DataFrame) -> scaling.SumPowerLaw:
    return scaling.fit_sum_power_law(d["params"], d["atoms_seen"], d["val_loss"])


def data_limited_loss(curves: pd.DataFrame, preset: str | Preset, drop_first: float | None = None
                      ) -> tuple[float | None, str]:
    """L_D = B·D_max^{−β} from eq. (5) fitted on the learning curves (App. H: "see eq. (7)"): ``(L_D | None, note)``."""
    preset = resolve(preset)
    rep = fits.report(_sum_law, fits.prepare(curves, preset, drop_first=drop_first), preset, n_boot=0)
    if not rep.ok:
        return None, rep.note
    d_max = float(curves["atoms_seen"].max())
    return float(rep.estimate.B * d_max ** (-rep.estimate.beta)), f"eq. (5) fit: B·D_max^-β at D_max = {d_max:.3g} atoms"


@notes_left_out
def fig13(curves: pd.DataFrame, tta: pd.DataFrame, *, preset: str | Preset = "cpu", l_d="fit",
          drop_first: float | None = None) -> tuple[Figure, pd.DataFrame]:
    """Fig. 13. Left: validation loss vs the number of rotations M of test-time GA (eq. 23), one line per model size;
    dashed: without GA. Right: eq. (24) ``L − L_D = A N^{−α}`` vs N (log–log) without GA and with GA at the largest M.

    ``l_d``: ``"fit"`` (B·D_max^{−β} of an eq. (5) fit on ``curves``, as the paper derives its 0.223; first steps
    dropped as the preset says unless ``drop_first``) or a number.
    """
    preset = resolve(preset)
    m_max = int(tta["M"].max())
    fig = Figure(figsize=(7.8, 4.0), layout="constrained")
    ax_m, ax_n = fig.subplots(1, 2)
    colors = figures.size_colors(tta["params"])
    for n, grp in tta.sort_values("M").groupby("params"):
        ga = grp[grp["M"] > 0]
        ax_m.plot(ga["M"], ga["val_loss"], "o-", color=colors[n], ms=4, label=f"N = {n:,}")
        base = grp.loc[grp["M"] == 0, "val_loss"]
        if len(base):
            ax_m.axhline(float(base.iloc[0]), color=colors[n], ls="--", lw=1)
    ax_m.plot([], [], "k--", lw=1, label="no GA (M = 0)")
    ax_m.set_xscale("log", base=2)
    ms = sorted(int(m) for m in tta["M"].unique() if m > 0)
    ax_m.set_xticks(ms, [str(m) for m in ms])
    ax_m.minorticks_off()
    ax_m.set_xlabel("rotations M of test-time group averaging (eq. 23)")
    ax_m.set_ylabel(AXIS["val_loss"][1])
    ax_m.legend(fontsize="x-small")

    if isinstance(l_d, str) and l_d == "fit":
        L_D, ld_note = data_limited_loss(curves, preset, drop_first)
        if L_D is None:
            L_D, ld_note = 0.0, f"L_D = 0 used: eq. (5) {ld_note}"
    else:
        L_D, ld_note = float(l_d), "given"
    pivot = tta.pivot_table(index="params", columns="M", values="val_loss").sort_index()
    N = pivot.index.to_numpy(dtype=float)
    reps = {}
    for label, m, marker in (("no GA", 0, "o"), (f"GA, M = {m_max}", m_max, "s")):
        L = pivot[m].to_numpy(dtype=float)
        rep = fits.power_law_report(pd.DataFrame({"params": N, "val_loss": L}), "params", preset, l_inf=L_D)
        reps[m] = rep
        color = "C0" if m == 0 else "C3"
        y = L - L_D
        keep = y > 0
        ax_n.plot(N[keep], y[keep], marker, color=color, ms=5,
                  label=label + (f": α = {rep.value('gamma'):.3f}, A = {rep.value('F'):.3g}" if rep.ok else ""))
        if rep.ok:
            ng = np.geomspace(N.min(), N.max(), 50)
            ax_n.plot(ng, rep.value("F") * ng ** (-rep.value("gamma")), "-", color=color, lw=1)
    ax_n.set_xscale("log")
    ax_n.set_yscale("log")
    ax_n.set_xlabel(AXIS["params"][1])
    ax_n.set_ylabel(f"L − L_D  (eq. 24; L_D = {L_D:.3g}, normalised)")
    ax_n.legend(fontsize="x-small")

    rows = [{"quantity": "L_D (data-limited loss at D_max)", "paper": APP_H["L_D"], "ours": L_D, "note": ld_note}]
    for label, m in (("α without GA (eq. 24)", 0), (f"α with GA, M = {m_max} (eq. 24)", m_max)):
        rows.append(report_row(label, reps[m], "gamma", APP_H["alpha"],
                               "paper: Table 7 α; App. H: unchanged by GA" if reps[m].ok else ""))
    if reps[0].ok and reps[m_max].ok:
        rows.append({"quantity": "A with GA / A without GA", "paper": None,
                     "ours": reps[m_max].value("F") / reps[0].value("F"),
                     "note": "paper: slightly below 1 (a small downward shift)"})
    largest = pivot.index.max()
    rows.append({"quantity": f"L(M = {m_max}) / L(no GA), largest N", "paper": None,
                 "ours": float(pivot.loc[largest, m_max] / pivot.loc[largest, 0]),
                 "note": "paper: only a minimal improvement, saturating in M"})
    return figures.tidy_narrow_log_axes(fig), comparison_table(rows)

