"""Every number quoted from the papers, for the "paper vs ours" tables: nothing here is computed.

- :data:`PAPER` — Ngo & Ravanbakhsh (2025): Table 7 (sum-power-law eq. 5), Table 1 (compute-optimal F_c, γ_c by eq. 4
  and eq. 7), κ of Fig. 2 and the exponents quoted in §4.2 (Fig. 5), per architecture (model registry names).
- :data:`APP_H` — App. H (test-time group averaging, eq. 23–24).
- :data:`TRIKHA_LAWS`, :data:`TRIKHA_TRANSFORMER_PLATEAU`, :data:`TRIKHA_LR` — Trikha et al. (2025), the materials
  chapter.

The model ladders of Tables 3–6 are hyper-parameters, not results: they live with the models
(:func:`nnip.models.ladder`). ``nnip.scaling.PAPER`` and ``nnip.scaling.paper_params`` re-export this module.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PAPER", "paper_key", "paper_params", "paper_value", "paper_frontier", "APP_H", "TRIKHA_LAWS", "TRIKHA_TRANSFORMER_PLATEAU", "TRIKHA_LR"]

# Every interval is (estimate, lo, hi), 95% bootstrap CI (App. E).

#: The paper's published scaling numbers, for "paper vs ours" tables. Keys are the model registry names.
#: ``table7``: sum-power-law eq. (5) fit, Table 7 (L∞ ≈ 0). ``kappa``: FLOPs per forward pass per atom (Fig. 2).
#: ``table1``: compute-optimal F_c, γ_c (C in PFLOPs) from the frontier fit eq. (4) and from eq. (7).
#: ``fig5``: the exponents quoted in the §4.2 text ("β are .31, .39, .50 and .75"; "α ... .28, .39, .52, .82").
PAPER: dict[str, dict[str, Any]] = {
    "mpnn": {
        "label": "MPNN",
        "table7": {"log10_A": (1.356, 1.307, 1.371), "log10_B": (2.194, 2.147, 2.608),
                   "alpha": (0.276, 0.266, 0.278), "beta": (0.311, 0.301, 0.368)},
        "kappa": 2.33,
        "table1": {"frontier": {"F_c": (0.928, 0.925, 0.930), "gamma_c": (0.142, 0.141, 0.143)},
                   "sum_power_law": {"F_c": (0.934, 0.863, 0.952), "gamma_c": (0.146, 0.142, 0.159)}},
        "fig5": {"alpha": 0.28, "beta": 0.31},
    },
    "egnn": {
        "label": "MC-EGNN",
        "table7": {"log10_A": (1.582, 1.494, 1.692), "log10_B": (2.750, 2.660, 2.863),
                   "alpha": (0.387, 0.370, 0.408), "beta": (0.394, 0.382, 0.401)},
        "kappa": 28.09,
        "table1": {"frontier": {"F_c": (0.775, 0.761, 0.792), "gamma_c": (0.173, 0.169, 0.178)},
                   "sum_power_law": {"F_c": (0.811, 0.784, 0.832), "gamma_c": (0.195, 0.188, 0.204)}},
        "fig5": {"alpha": 0.39, "beta": 0.39},
    },
    "gemnet_oc": {
        "label": "GemNet-OC",
        "table7": {"log10_A": (2.109, 1.901, 2.422), "log10_B": (3.261, 2.842, 3.607),
                   "alpha": (0.524, 0.484, 0.584), "beta": (0.499, 0.444, 0.544)},
        "kappa": 35.18,
        "table1": {"frontier": {"F_c": (0.488, 0.485, 0.491), "gamma_c": (0.255, 0.252, 0.257)},
                   "sum_power_law": {"F_c": (0.479, 0.424, 0.542), "gamma_c": (0.256, 0.232, 0.282)}},
        "fig5": {"alpha": 0.52, "beta": 0.50},
    },
    "esen": {
        "label": "eSEN",
        "table7": {"log10_A": (3.760, 3.119, 4.333), "log10_B": (5.129, 4.348, 6.224),
                   "alpha": (0.817, 0.706, 0.918), "beta": (0.753, 0.662, 0.888)},
        "kappa": 74.36,
        "table1": {"frontier": {"F_c": (0.703, 0.696, 0.712), "gamma_c": (0.403, 0.401, 0.406)},
                   "sum_power_law": {"F_c": (0.669, 0.575, 0.729), "gamma_c": (0.392, 0.342, 0.451)}},
        "fig5": {"alpha": 0.82, "beta": 0.75},
    },
}
_ALIASES = {"mc_egnn": "egnn", "gemnet": "gemnet_oc", "gemnetoc": "gemnet_oc"}


def paper_key(arch: str) -> str:
    """The registry name of ``arch`` in :data:`PAPER` ("eSEN", "mc-egnn" and "gemnet" accepted); ValueError if absent."""
    key = str(arch).strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in PAPER:
        raise ValueError(f"arch: {arch!r} is not in the paper; known: {sorted(PAPER)}")
    return key


def paper_params(arch: str) -> dict[str, float]:
    """Table 7 point estimates of eq. (5) as ``{"E", "A", "B", "alpha", "beta"}`` (E = L∞ = 0, §4.2)."""
    t7 = PAPER[paper_key(arch)]["table7"]
    return {"E": 0.0, "A": 10.0 ** t7["log10_A"][0], "B": 10.0 ** t7["log10_B"][0],
            "alpha": t7["alpha"][0], "beta": t7["beta"][0]}


#: App. H: the data-limited loss at D_max ≈ 9.2e8 atoms ("L_D ≈ 0.223"), GA at the onset of saturation (M = 32), and
#: the MPNN's parameter exponent (Table 7, eq. 5) which eq. (24) estimates; App. H: GA leaves α unchanged.
def paper_value(arch: str, *path: str):
    """``PAPER[arch][path[0]][path[1]]…``, None where the paper prints no such number (e.g. ``("table1",
    "frontier", "gamma_c")`` → the ``(estimate, lo, hi)`` triple)."""
    node = PAPER.get(arch, {})
    for p in path:
        node = node.get(p) if isinstance(node, dict) else None
    return node


def paper_frontier(arch: str, key: str) -> float:
    """Table 1's frontier estimate ``key`` (``"F_c"`` or ``"gamma_c"``) of ``arch``."""
    return PAPER[arch]["table1"]["frontier"][key][0]


APP_H = {"L_D": 0.223, "M": 32, "alpha": PAPER["mpnn"]["table7"]["alpha"][0]}

#: Trikha et al.'s fitted laws L = α·X^{−β}: X = D (training structures), P (parameters) or C (FLOPs). The summary
#: writes the transformer's data law as "77.1·N^−0.052"; it is the dataset-scaling result.
TRIKHA_LAWS = {
    ("equiformer_v2", "D"): {"alpha": 64.7, "beta": 0.242},
    ("transformer", "D"): {"alpha": 77.1, "beta": 0.052},
    ("equiformer_v2", "P"): {"alpha": 776.0, "beta": 0.383},
    ("transformer", "P"): {"alpha": 175.0, "beta": 0.120},
    ("equiformer_v2", "C"): {"alpha": 4.99e5, "beta": 0.339},
}
#: "most transformers plateau at a validation loss of 40 [...] by setting the forces to 0"; learning only beyond 1e15
TRIKHA_TRANSFORMER_PLATEAU = {"loss": 40.0, "below_flops": 1e15}
#: Trikha et al.'s optimiser: AdamW, cosine decay from a peak lr of 6e-4, fixed across model sizes (no μP)
TRIKHA_LR = 6e-4
