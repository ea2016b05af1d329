r"""The scorecard: every quantitative claim of the two papers, the paper's value, ours with its 95% interval, and a
verdict computed from the run store by the rules of :mod:`nnip.paper.verdicts` (:func:`rules`) — never
typed by hand (issue 10, §4).

Our numbers come from the same studies and fits as the item pages: every compute exponent γ_c is the eq. (4)
frontier fit on measured training FLOPs of :func:`nnip.paper.fits.frontier_report` (Fig. 1, Table 1) applied to the
study a claim is about (the ablation pages use fewer resamples and may differ in the third digit); α, β are Table 7's
eq. (5) fits with the very same bootstrap resamples, from which a = β/(α+β) and α − β are derived; other intervals
are bootstraps over runs (``n_boot`` and seed of :class:`nnip.presets.Analysis`).

The rules, the :class:`~nnip.paper.verdicts.Estimate` type and the estimates live in :mod:`nnip.paper.verdicts`
(re-exported here); this module reads the studies and renders the page.
"""

from __future__ import annotations

import html
import math
import textwrap
from collections.abc import Callable, Mapping

import pandas as pd
from matplotlib.figure import Figure

from nnip import scaling
from nnip.paper import (fits, group_averaging, main, materials, multi_epoch, pilot, symmetry, transformer, translation,
                        verdicts)
from nnip.paper._common import ARCH_LABELS, PAPER_ARCHS, store_path
from nnip.paper.verdicts import (
    A_MARGIN, ALPHA_BETA_MARGIN, AUGMENTED_GAMMA_C, INCONCLUSIVE, MIN_RUNS, NOT_REPRODUCED, REPRODUCED, SAME_EXPONENT,
    Estimate, bootstrap_estimates, chain, combine, compare, equivalence_verdict, frontier_gamma, ga_alpha_ratio,
    ordering_verdict, paired_ratio, ratio, sum_law_estimates,
)
from nnip.presets import Preset
from nnip.presets import resolve

__all__ = ["REPRODUCED", "NOT_REPRODUCED", "INCONCLUSIVE", "ALPHA_BETA_MARGIN", "A_MARGIN", "SAME_EXPONENT", "MIN_RUNS",
           "AUGMENTED_GAMMA_C", "COLUMNS", "Estimate", "bootstrap_estimates", "compare", "chain",
           "ordering_verdict", "equivalence_verdict", "combine", "ratio", "paired_ratio", "ga_alpha_ratio",
           "frontier_gamma", "sum_law_estimates", "rules", "scorecard", "styled", "figure"]

COLUMNS = ["claim", "source", "paper", "ours (95% CI)", "verdict", "why"]
NAMES = {a: label.split(" (")[0] for a, label in ARCH_LABELS.items()}


# --- the page ------------------------------------------------------------------------------------------------------
def rules() -> str:
    """The verdict rules (:mod:`nnip.paper.verdicts`' docstring), as markdown (shown on the scorecard page)."""
    return verdicts.__doc__.split("## Verdict rules", 1)[1].strip()


def _load(fn: Callable, preset: str | Preset, store, train_missing: bool) -> tuple[object, str]:
    try:
        return fn(preset, store, train_missing), ""
    except (RuntimeError, FileNotFoundError) as err:  # nothing else: a bug must not read as "missing"
        msg = str(err).replace(str(store_path(store, preset)), "the store").split(";")[0]
        return None, f"study missing from the store: {msg}"


def _bent(verdict: tuple[str, str], named: Mapping[str, Estimate]) -> tuple[str, str]:
    """Append to a verdict's reason the frontiers that are not straight: backtest error above the pilot's limit
    (:data:`nnip.paper.pilot.MAX_ARE`). Shown, never used to change the verdict (the rules were fixed first)."""
    bent = {k: v.backtest for k, v in named.items() if math.isfinite(v.backtest) and v.backtest > pilot.MAX_ARE}
    if not bent:
        return verdict
    return verdict[0], verdict[1] + "; frontier not straight (backtest error > " + f"{pilot.MAX_ARE:.0%}): " + \
        ", ".join(f"{k} {v:.0%}" for k, v in bent.items())


def _list(named: Mapping[str, Estimate | float], sep: str = "; ") -> str:
    return sep.join(f"{k} {v if isinstance(v, Estimate) else format(v, '.3g')}" for k, v in named.items())


def scorecard(preset: str | Preset, store="results", train_missing: bool = False) -> pd.DataFrame:
    """One row per claim (:data:`COLUMNS`): the claim, where the paper makes it, its value, ours with 95% intervals,
    the verdict and why. Studies missing from the store (``train_missing=False``) make their claims inconclusive."""
    preset = resolve(preset)
    rows: list[dict] = []

    def add(claim, source, paper, ours, verdict, missing=""):
        rows.append(dict(zip(COLUMNS, (claim, source, paper, *(("–", INCONCLUSIVE, missing) if missing
                                                                  else (ours, *verdict))))))

    def load(fn):
        return _load(fn, preset, store, train_missing)

    def gammas(df, by, arch):  # γ_c per value of column ``by`` (absent study: missing estimates)
        return {} if df is None else {v: frontier_gamma(df[df[by] == v], preset, arch) for v in sorted(df[by].unique())}

    P, n, names = scaling.PAPER, NAMES, [NAMES[a] for a in PAPER_ARCHS]
    t1 = {n[a]: P[a]["table1"]["frontier"]["gamma_c"][0] for a in PAPER_ARCHS}
    t7 = {k: {n[a]: P[a]["table7"][k][0] for a in PAPER_ARCHS} for k in ("alpha", "beta")}
    curves, miss = load(main.main_study)
    g = {n[a]: frontier_gamma(curves, preset, a) if curves is not None else Estimate() for a in PAPER_ARCHS}
    s = {n[a]: sum_law_estimates(fits.prepare(curves, preset, a), preset) if curves is not None else {}
         for a in PAPER_ARCHS}
    est = {k: {x: s[x].get(k, Estimate()) for x in names} for k in ("alpha", "beta", "a", "alpha_minus_beta",
                                                                   "gamma_c_eq7", "B")}
    add("γ_c grows with the degree of symmetry: MPNN < MC-EGNN < GemNet-OC < eSEN", "§4.1, Fig. 1, Table 1 (eq. 4)",
        _list(t1, " < "), _list(g), _bent(ordering_verdict(chain(list(g.items()))), g), miss)
    for k, sym, what in (("beta", "β", "data"), ("alpha", "α", "parameter")):
        add(f"the {what} exponent {sym} grows in the same order", "§4.2, Fig. 5, Table 7 (eq. 5)",
            _list(t7[k], " < "), _list(est[k]), ordering_verdict(chain(list(est[k].items()))), miss)
    add("α ≈ β for every architecture: |α − β| ≤ 0.1", "§4.2, Table 7",
        _list({x: t7["alpha"][x] - t7["beta"][x] for x in names}, "; "), _list(est["alpha_minus_beta"]),
        combine({x: equivalence_verdict(est["alpha_minus_beta"][x], ALPHA_BETA_MARGIN) for x in names}), miss)
    add("compute-optimal a ≈ b ≈ 0.5: a = β/(α+β) ∈ [0.4, 0.6], b = 1 − a", "§4.3, eq. (6), Fig. 6",
        _list({x: t7["beta"][x] / (t7["alpha"][x] + t7["beta"][x]) for x in names}, "; "), _list(est["a"]),
        combine({x: equivalence_verdict(est["a"][x], A_MARGIN) for x in names}), miss)
    agree = {x: ratio(g[x], est["gamma_c_eq7"][x]) for x in names}
    add("the frontier (eq. 4) and sum-power-law (eq. 7) γ_c agree: ratio ∈ [0.8, 1.25]", "§4.3, Table 1",
        _list({n[a]: t1[n[a]] / P[a]["table1"]["sum_power_law"]["gamma_c"][0] for a in PAPER_ARCHS}, "; "),
        _list(agree), combine({x: equivalence_verdict(agree[x], SAME_EXPONENT) for x in names}), miss)

    lmax, miss4 = load(main.lmax_study)
    gl = {f"ℓmax {int(k)}": v for k, v in gammas(lmax, "model.hparams.l_max", "esen").items()}
    add("γ_c of eSEN grows with ℓmax from 2 to 4", "§4.1, Fig. 4", f"grows (not printed; ℓmax 4: {t1['eSEN']:.3g})",
        _list(gl), ordering_verdict(chain(list(gl.items()))), miss4)

    sym, miss7 = load(symmetry.symmetry_study)
    gm = gammas(sym, "loss.symmetry_m", "mpnn")
    gs, gn = (gm[max(gm)], gm[0]) if len(gm) > 1 else (Estimate(), Estimate())
    add("the symmetry loss does not close the MPNN's gap: γ_c(MPNN + sym. loss) < γ_c of each equivariant model",
        "§4.4, Fig. 7", f"MPNN + sym. loss ≈ MPNN {t1['MPNN']:.3g} (unchanged) < " + _list(
            {x: t1[x] for x in names[1:]}, ", "), _list({"MPNN + sym. loss": gs, **{x: g[x] for x in names[1:]}}),
        ordering_verdict([("MPNN + sym. loss", gs, x, g[x]) for x in names[1:]]), miss7 or miss)
    add("the symmetry loss leaves γ_c unchanged: γ_c(with) / γ_c(without) ∈ [0.8, 1.25]", "§4.4, Fig. 7 (left)",
        "unchanged (the frontier only shifts right by γ_c·log10(M+1))", str(ratio(gs, gn)),
        equivalence_verdict(ratio(gs, gn), SAME_EXPONENT), miss7)

    epochs, miss8 = load(multi_epoch.multi_epoch_study)
    aug = gammas(None if epochs is None else epochs.assign(aug=epochs["train.augment"].astype(bool)), "aug", "mpnn")
    no, yes = aug.get(False, Estimate()), aug.get(True, Estimate())
    add("without augmentation the multi-epoch MPNN frontier breaks: γ_c(no aug.) < γ_c(aug.)", "§4.5, Fig. 8",
        f"breaks without augmentation; γ_c ≈ {AUGMENTED_GAMMA_C} with it", _list({"no aug.": no, "aug.": yes}),
        ordering_verdict([("no aug.", no, "aug.", yes)]), miss8)
    add("augmentation recovers the one-epoch power law: γ_c(aug., multi-epoch) / γ_c(one epoch) ∈ [0.8, 1.25]",
        "§4.5, Fig. 8 (middle)", f"{AUGMENTED_GAMMA_C / t1['MPNN']:.3g} ({AUGMENTED_GAMMA_C} / {t1['MPNN']:.3g})",
        str(ratio(yes, g["MPNN"])), equivalence_verdict(ratio(yes, g["MPNN"]), SAME_EXPONENT), miss8 or miss)
    both, miss9 = load(multi_epoch.augmented_vs_equivariant_study)
    ge = frontier_gamma(both, preset, "esen") if both is not None else Estimate()
    add("the gap between augmentation and equivariance grows with compute: γ_c(MPNN + aug.) < γ_c(eSEN), multi-epoch",
        "§4.5, Fig. 9", "the gap grows", _list({"MPNN + aug.": yes, "eSEN": ge}),
        ordering_verdict([("MPNN + aug.", yes, "eSEN", ge)]), miss9 or miss8)

    tta, miss13 = load(group_averaging.tta_study)
    ga = Estimate()
    if tta is not None and curves is not None:  # L_D = B·D_max^−β of the MPNN's eq. (5) fit (Table 7), as App. H
        b, beta = est["B"]["MPNN"].value, est["beta"]["MPNN"].value
        d_max = curves.loc[curves["arch"] == "mpnn", "atoms_seen"].max()
        ga = ga_alpha_ratio(tta[1], b * float(d_max) ** -beta if math.isfinite(b * beta) else 0.0, preset)
    add("test-time group averaging leaves α unchanged: α(GA) / α(no GA) ∈ [0.8, 1.25] (eq. 24)", "App. H, Fig. 13",
        "unchanged (only A shifts down slightly)", str(ga), equivalence_verdict(ga, SAME_EXPONENT), miss13 or miss)

    ti, miss15 = load(translation.translation_study)
    drop = Estimate()
    if ti is not None:  # final losses paired by width (the same ladder)
        on, off = (fits.final(ti[ti["translation_invariant"] == v]).set_index("model.hparams.hidden_dim")["val_loss"]
                   for v in (True, False))
        both, cfg = on.index.intersection(off.index), fits.settings(preset)
        drop = paired_ratio(off[both], on[both], cfg.n_boot, cfg.seed)
    add("dropping translation invariance costs accuracy: final L(without) / L(with) > 1, paired by width",
        "App. J, Fig. 15", "> 1 (a performance drop)", str(drop),
        ordering_verdict([("1", Estimate(1.0, 1.0, 1.0), "L(without) / L(with)", drop)]), miss15)

    tr, miss16 = load(transformer.transformer_study)
    gt = frontier_gamma(tr[0], preset, "transformer") if tr is not None else Estimate()
    add("the vanilla transformer learns worse than the MPNN: γ_c(transformer) < γ_c(MPNN)", "App. K, Fig. 16",
        "no meaningful learning (curves saturate rapidly)", _list({"transformer": gt, "MPNN": g["MPNN"]}),
        ordering_verdict([("transformer", gt, "MPNN", g["MPNN"])]), miss16 or miss)

    mat, miss_m = load(materials.materials_study)
    pts = materials.scaling_points(mat) if mat is not None else None
    for axis, role, col, what in (("D", "data", "n_train", "data"), ("P", "params_role", "params", "parameter")):
        paper = {n[a]: materials.PAPER_LAWS[(a, axis)]["beta"] for a in materials.ARCHS}
        e = {n[a]: Estimate() if pts is None else bootstrap_estimates(_power_law, pd.DataFrame(
            {"x": pts[col].astype(float), "y": pts["loss"]})[(pts["arch"] == a) & pts[role]], ("gamma",),
            preset, columns=["x", "y"])["gamma"] for a in sorted(materials.ARCHS, key=lambda a: paper[n[a]])}
        add(f"materials, {what} exponent (L = α·{axis}^−β): EquiformerV2's exceeds the transformer's",
            "Trikha et al. 2025, §2.3", _list({x: paper[x] for x in e}, " < "), _list(e),
            ordering_verdict(chain(list(e.items()))), miss_m)
    return pd.DataFrame(rows, columns=COLUMNS)


def _power_law(d: pd.DataFrame) -> scaling.PowerLaw:
    return scaling.fit_power_law(d["x"], d["y"])


_COLOURS = {REPRODUCED: "#d9f2d9", NOT_REPRODUCED: "#f8d7d7", INCONCLUSIVE: "#eeeeee"}


def figure(card: pd.DataFrame):
    """The verdicts at a glance: one line per claim (its text up to the first colon, and its source), the verdict
    in a coloured box."""
    # drawn at about the page's width (7 in), so its text is not scaled down when the book shows it
    fig = Figure(figsize=(7.0, 0.46 * len(card) + 0.4), layout="constrained")
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set(xlim=(0, 1), ylim=(len(card) - 0.5, -0.5))
    for i, row in enumerate(card.itertuples(index=False)):
        claim = textwrap.shorten(row.claim.split(": ")[0], 96, placeholder="…")
        ax.text(0.0, i, textwrap.fill(claim, 48), va="center", fontsize=10, linespacing=1.1)
        source = textwrap.shorten(str(row.source), 40, placeholder="…")
        ax.text(0.585, i, textwrap.fill(source, 22), va="center", fontsize=8.5, color="0.35", linespacing=1.1)
        ax.text(0.80, i, row.verdict, va="center", fontsize=10,
                bbox={"boxstyle": "round", "facecolor": _COLOURS.get(row.verdict, "white"), "edgecolor": "0.6"})
    return fig


#: share of the page's width per column of :func:`styled` (the claim and the per-architecture values need room)
_WIDTHS = {"claim": "22%", "source": "9%", "paper": "17%", "ours (95% CI)": "21%", "verdict": "13%", "why": "18%"}


def _lines(value) -> str:
    """A cell as HTML: escaped, one ``"; "``-separated item (an architecture, a pair) per line."""
    return "<br>".join(html.escape(part) for part in str(value).split("; "))


def styled(card: pd.DataFrame):
    """The scorecard as a pandas Styler: no index column, left-aligned text in fixed column widths, one architecture
    (or pair) per line, verdicts coloured."""
    widths = [{"selector": f"th.col{j}, td.col{j}", "props": f"width: {_WIDTHS.get(c, 'auto')};"}
              for j, c in enumerate(card.columns)]
    return (card.style.hide(axis="index").format(_lines)
            .set_properties(**{"text-align": "left", "vertical-align": "top", "font-size": "0.85em",
                               "padding": "0.3em 0.7em 0.3em 0"})
            .set_table_styles([{"selector": "", "props": "table-layout: fixed; width: 100%;"}, *widths])
            .map(lambda v: f"background-color: {_COLOURS.get(v, '')}", subset=["verdict"]))
