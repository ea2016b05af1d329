r"""The verdicts of the scorecard (:mod:`nnip.paper.scorecard`): estimates with 95% intervals, the rules that turn
them into "reproduced", "not reproduced" or "inconclusive", and the estimates of the studies the claims are about.

The rules are pure functions of :class:`Estimate` s; the estimates (:func:`frontier_gamma`, :func:`sum_law_estimates`,
:func:`ga_alpha_ratio`, :func:`bootstrap_estimates`) use the same fits, resamples and seed as the item pages
(:mod:`nnip.paper.fits`; ``n_boot`` and seed of :class:`nnip.presets.Analysis`).

## Verdict rules

Fixed before any `cpu` result was seen; they are never tuned to the results.

- **Ordering** `x₁ < x₂ < … < x_k` (e.g. γ_c across MPNN < MC-EGNN < GemNet-OC < eSEN): a pair *holds* when the
  two 95% intervals do not overlap in the claimed direction (hi₁ < lo₂), is *contradicted* when they do not overlap
  in the opposite direction (hi₂ < lo₁), and is *unresolved* otherwise. The claim is **reproduced** when every
  adjacent pair holds, **not reproduced** when any pair is contradicted, **inconclusive** otherwise. Disjoint 95%
  intervals are a conservative test of a difference: fewer false "reproduced", more "inconclusive" on small
  studies. A claim `x > t` against a fixed number `t` is the same rule with the interval [t, t].
- **Equivalence** `x ≈ target` within a stated margin: **reproduced** when the 95% interval lies inside the margin,
  **not reproduced** when it lies entirely outside, **inconclusive** when it straddles an edge. Margins:
  |α − β| ≤ 0.1 (Table 7's own largest gap is 0.064); a = β/(α+β) ∈ [0.4, 0.6] for "a ≈ b ≈ 0.5" (b = 1 − a, so
  one interval decides both; neither N nor D may take more than 60% of the growth in log-compute); an exponent
  "unchanged", or two exponents "in agreement": their ratio in [0.8, 1.25] (a factor 1.25 either way).
- A ratio of two separately estimated quantities gets the interval-arithmetic interval [lo₁/hi₂, hi₁/lo₂]
  (coverage ≥ 90% by Bonferroni; usually wider than a joint bootstrap). Paired quantities (the same model sizes
  with and without an intervention) get a joint bootstrap over them.
- A claim made for every architecture is **reproduced** when it is for each, **not reproduced** when it fails for
  any, **inconclusive** otherwise.
- An interval needs at least 5 independent runs (model sizes: 126 distinct bootstrap resamples; with 2 runs half
  the resamples are degenerate and the rest repeat the original set, so the interval collapses onto the point).
  No interval (a missing study, too few runs for a fit or an interval): **inconclusive**, with the reason.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from nnip import scaling
from nnip.paper import fits
from nnip.presets import Preset
from nnip.presets import resolve

__all__ = ["report_estimate", "REPRODUCED", "NOT_REPRODUCED", "INCONCLUSIVE", "ALPHA_BETA_MARGIN", "A_MARGIN", "SAME_EXPONENT",
           "MIN_RUNS", "AUGMENTED_GAMMA_C", "Estimate", "compare", "chain", "ordering_verdict", "equivalence_verdict",
           "combine", "ratio", "paired_ratio", "too_few", "bootstrap_estimates", "frontier_gamma", "sum_law_estimates",
           "ga_alpha_ratio"]

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"
ALPHA_BETA_MARGIN = (-0.1, 0.1)
A_MARGIN = (0.4, 0.6)
SAME_EXPONENT = (0.8, 1.25)
#: fewest independent runs behind a 95% interval (see the rules)
MIN_RUNS = 5
#: §4.5: the augmented multi-epoch MPNN "recovers the same power law (γ_c ≈ 0.14, F_c ≈ 0.96)"
AUGMENTED_GAMMA_C = 0.14


@dataclass(frozen=True)
class Estimate:
    """A number with its 95% interval; NaN parts are missing, ``note`` says why."""

    value: float = math.nan
    lo: float = math.nan
    hi: float = math.nan
    note: str = ""
    #: the fit's backtest error (mean absolute relative error on held-out points), where the estimate has one
    backtest: float = math.nan

    @property
    def ok(self) -> bool:
        return all(math.isfinite(v) for v in (self.value, self.lo, self.hi))

    def __str__(self) -> str:
        if not math.isfinite(self.value):
            return "–"
        return f"{self.value:.3g} " + (f"[{self.lo:.3g}, {self.hi:.3g}]" if self.ok else "[no interval]")


# --- verdict rules (pure) ------------------------------------------------------------------------------------------
def compare(a: Estimate, b: Estimate) -> str:
    """The claim ``a < b`` on one pair: "holds", "contradicted", "unresolved" (overlap) or "no interval"."""
    if not (a.ok and b.ok):
        return "no interval"
    return "holds" if a.hi < b.lo else "contradicted" if b.hi < a.lo else "unresolved"


def chain(named: Sequence[tuple[str, Estimate]]) -> list[tuple[str, Estimate, str, Estimate]]:
    """The adjacent pairs of an ordering ``x₁ < x₂ < …`` given as ``[(name, estimate), …]``."""
    return [(*named[i], *named[i + 1]) for i in range(len(named) - 1)]


def _outcome(a: Estimate, b: Estimate) -> str:
    o = compare(a, b)
    return o if o != "no interval" else f"no interval ({next(x.note for x in (a, b) if not x.ok) or 'missing'})"


def _why(reasons: Mapping[str, str], what: str) -> str:
    """``"a: r1; b: r2"``, or ``"every <what>: r"`` when all reasons are the same."""
    if len(reasons) > 1 and len(set(reasons.values())) == 1:
        return f"every {what}: {next(iter(reasons.values()))}"
    return "; ".join(f"{k}: {r}" for k, r in reasons.items())


def ordering_verdict(pairs: Sequence[tuple[str, Estimate, str, Estimate]]) -> tuple[str, str]:
    """Verdict and reason of the claims ``a < b`` for every ``(name_a, a, name_b, b)``."""
    outcomes = [compare(a, b) for _, a, _, b in pairs]
    why = _why({f"{na} < {nb}": _outcome(a, b) for na, a, nb, b in pairs}, "pair") or "nothing to compare"
    if "contradicted" in outcomes:
        return NOT_REPRODUCED, why
    return (REPRODUCED if outcomes and set(outcomes) == {"holds"} else INCONCLUSIVE), why


def equivalence_verdict(x: Estimate, margin: tuple[float, float]) -> tuple[str, str]:
    """Verdict and reason of ``x`` within ``margin`` (the interval inside / outside / straddling it)."""
    lo, hi = margin
    if not x.ok:
        return INCONCLUSIVE, "no interval" + (f" ({x.note})" if x.note else "")
    if lo <= x.lo and x.hi <= hi:
        return REPRODUCED, f"inside [{lo:g}, {hi:g}]"
    if x.hi < lo or x.lo > hi:
        return NOT_REPRODUCED, f"outside [{lo:g}, {hi:g}]"
    return INCONCLUSIVE, f"straddles [{lo:g}, {hi:g}]"


def combine(parts: Mapping[str, tuple[str, str]]) -> tuple[str, str]:
    """One verdict from per-architecture verdicts: all reproduced → reproduced, any not → not, else inconclusive."""
    verdicts = [v for v, _ in parts.values()]
    why = _why({name: w for name, (_, w) in parts.items()}, "architecture")
    if NOT_REPRODUCED in verdicts:
        return NOT_REPRODUCED, why
    return (REPRODUCED if verdicts and set(verdicts) == {REPRODUCED} else INCONCLUSIVE), why


def ratio(a: Estimate, b: Estimate) -> Estimate:
    """``a / b`` with the interval-arithmetic interval ``[a.lo / b.hi, a.hi / b.lo]`` (all positive)."""
    value = a.value / b.value if b.value else math.nan
    if not (a.ok and b.ok and min(a.lo, b.lo) > 0):
        return Estimate(value, note=a.note or b.note or "an interval reaches 0")
    return Estimate(value, a.lo / b.hi, a.hi / b.lo)


def paired_ratio(num, den, n_boot: int, seed: int = 0) -> Estimate:
    """Geometric mean of ``num_i / den_i`` over pairs, 95% percentile interval from ``n_boot`` resamples of pairs."""
    logs = np.log(np.asarray(num, float) / np.asarray(den, float))
    if not logs.size or not np.isfinite(logs).all():
        return Estimate(note="no pairs of runs")
    value = float(np.exp(logs.mean()))
    if logs.size < MIN_RUNS or n_boot < 1:
        return Estimate(value, note=too_few(logs.size))
    means = logs[np.random.default_rng(seed).integers(0, logs.size, (n_boot, logs.size))].mean(axis=1)
    return Estimate(value, *np.exp(np.percentile(means, [2.5, 97.5])))


# --- estimates from the studies ------------------------------------------------------------------------------------
def too_few(k: int) -> str:
    """Why ``k`` runs get no interval (:data:`MIN_RUNS`)."""
    return f"{k} run(s); an interval needs {MIN_RUNS}"


def bootstrap_estimates(fit_fn: Callable, data: pd.DataFrame, keys: Sequence[str], preset: str | Preset,
                        group: str | None = None, derived: Callable | None = None,
                        columns: Sequence[str] | None = None) -> dict[str, Estimate]:
    """``keys`` of ``fit_fn(data)`` (a fit with ``params()`` or a mapping) and of ``derived(fit)``, with bootstrap
    intervals over ``group`` (rows if None; ``n_boot`` and seed of :class:`nnip.presets.Analysis`); ``columns``: the
    only columns ``fit_fn`` reads, as arrays (:func:`nnip.scaling.bootstrap`'s fast resamples; the same numbers)."""
    preset = resolve(preset)
    cfg, data = fits.settings(preset), data.reset_index(drop=True)
    k = data[group].nunique() if group else len(data)
    try:
        fit = fit_fn(data)
        point = {**(fit if isinstance(fit, Mapping) else fit.params()), **(derived(fit) if derived else {})}
    except ValueError as err:
        return {key: Estimate(note=f"no fit ({err})") for key in keys}
    if k < MIN_RUNS:
        return {key: Estimate(point.get(key, math.nan), note=too_few(k)) for key in keys}
    try:
        with warnings.catch_warnings():  # degenerate resamples are skipped; the rule on runs keeps them rare
            warnings.filterwarnings("ignore", message="bootstrap:")
            boot = scaling.bootstrap(fit_fn, data, n=cfg.n_boot, seed=cfg.seed, group=group,
                                     derived=derived, progress=False, columns=columns)
    except ValueError as err:
        return {key: Estimate(point.get(key, math.nan), note=f"no interval ({err})") for key in keys}
    return {key: Estimate(boot[key], *boot.ci(key)) for key in keys}


def frontier_gamma(curves: pd.DataFrame, preset: str | Preset, arch: str | None = None) -> Estimate:
    """γ_c of the eq. (4) frontier fit on measured C with its 95% interval, as Fig. 1 and Table 1 compute it."""
    preset = resolve(preset)
    pts = fits.prepare(curves, preset, arch)
    _, rep = fits.frontier_report(pts, fits.X_FLOPS, preset)
    return report_estimate(rep, "gamma", pts["run_id"].nunique() if len(pts) else 0)


def report_estimate(rep: scaling.Report, key: str, runs: int) -> Estimate:
    """Parameter ``key`` of a :class:`nnip.scaling.Report` fitted on ``runs`` runs as an :class:`Estimate`: its 95%
    interval (none below :data:`MIN_RUNS` runs, whatever the bootstrap gave), the report's backtest error, and why an
    interval is missing."""
    ci, value = rep.ci(key), rep.value(key)
    are = rep.backtest.are if rep.backtest is not None else math.nan
    if runs < MIN_RUNS or ci is None:
        return Estimate(value, note=too_few(runs) if runs < MIN_RUNS else (rep.note or "no interval"), backtest=are)
    return Estimate(value, *ci, backtest=are)


def _sum_fit(d: pd.DataFrame) -> scaling.SumPowerLaw:
    return scaling.fit_sum_power_law(d["params"], d["atoms_seen"], d["val_loss"], run_id=d["run_id"])


def _allocation(fit: scaling.SumPowerLaw) -> dict[str, float]:
    s = fit.alpha + fit.beta
    return {"a": fit.beta / s if s > 0 else math.nan, "alpha_minus_beta": fit.alpha - fit.beta,
            "gamma_c_eq7": fit.alpha * fit.beta / s if s > 0 else math.nan}


def sum_law_estimates(points: pd.DataFrame, preset: str | Preset) -> dict[str, Estimate]:
    """α, β, B of eq. (5) on :func:`nnip.paper.fits.prepare`'d points with the resamples of Table 7
    (:func:`~nnip.paper.fits.sum_power_law_report`: same data, fit, ``n_boot`` and seed), and from the same resamples
    a = β/(α+β) (eq. 6), α − β and γ_c = αβ/(α+β) (eq. 7)."""
    preset = resolve(preset)
    pts = points[["run_id", "step", "params", "atoms_seen", "val_loss"]]
    return bootstrap_estimates(_sum_fit, pts, ("alpha", "beta", "B", "a", "alpha_minus_beta", "gamma_c_eq7"), preset,
                               group="run_id", derived=_allocation, columns=["params", "atoms_seen", "val_loss", "run_id"])


def ga_alpha_ratio(tta: pd.DataFrame, l_d: float, preset: str | Preset) -> Estimate:
    """α of eq. (24) ``L − L_D = A N^{−α}`` with GA at the largest M over α without GA (App. H), with a paired
    bootstrap over model sizes; ``tta``: rows ``params, M, val_loss`` (:func:`nnip.paper.group_averaging.tta_study`)."""
    preset = resolve(preset)
    m = int(tta["M"].max())
    wide = tta.pivot_table(index="params", columns="M", values="val_loss").reset_index()
    if m == 0:
        return Estimate(note="no group-averaged evaluations")
    data = pd.DataFrame({"N": wide["params"].astype(float), "L0": wide[0], "Lm": wide[m]})

    def fit(d: pd.DataFrame) -> dict[str, float]:
        g0 = scaling.fit_power_law(d["N"], d["L0"], l_inf=l_d).gamma
        return {"ratio": scaling.fit_power_law(d["N"], d["Lm"], l_inf=l_d).gamma / g0}

    return bootstrap_estimates(fit, data, ("ratio",), preset, columns=["N", "L0", "Lm"])["ratio"]
