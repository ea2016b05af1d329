# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Figure 4 — eSEN with higher-order features scales better with compute
# The paper trains eSEN's ladder with maximum degree $\ell_{\max} \in \{2, 3, 4\}$ and finds that the compute exponent
# $\gamma_c$ of the loss–FLOPs frontier (eq. 4) grows with $\ell_{\max}$: the benefit of symmetry holds within one
# architecture too (§4.1).
#
# This notebook runs eSEN over the preset's eSEN widths at the three degrees (the preset's own degree is shared with
# the main study's runs), builds the frontier per $\ell_{\max}$ and fits eq. (4). Left: frontiers and fits; right:
# $\gamma_c$ against $\ell_{\max}$ with bootstrap 95% intervals. The paper prints no values for $\ell_{\max}$ = 2, 3;
# its Table 1 eSEN ($\ell_{\max} = 4$, $\gamma_c = 0.403$) is the reference point.

# %% tags=["parameters"] nbmake={"mock": {"preset": "tiny"}}
preset = "cpu"
store = "results"
train_missing = True

# %%
from nnip.paper import main

curves = main.lmax_study(preset, store, train_missing)

# %%
fig, table = main.fig4(curves, preset=preset)
fig

# %% [markdown]
# Paper vs ours ($\gamma_c$, $F_c$ per $\ell_{\max}$, C in PFLOPs), with bootstrap 95% intervals and the backtest
# error (ARE) of each frontier fit:

# %%
table
