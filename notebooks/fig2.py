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
# # Figure 2 — estimating κ, the forward FLOPs per parameter per atom (eq. 3)
# The paper writes training compute as $C \approx 3\kappa N D$ (eq. 3): a forward pass costs κ FLOPs per parameter
# per atom, the backward pass about twice that. It estimates κ per architecture by fitting measured FLOPs against
# $N \cdot D$ (Fig. 2): MPNN ≈ 2.33 (mostly dense layers, like a transformer's 2), MC-EGNN 28.09, GemNet-OC 35.18,
# eSEN 74.36.
#
# Here every evaluation of every run of the main study contributes one point: the cumulative training FLOPs
# measured by the trainer (every aten op of the forward and backward pass, see `nnip.train.flops`) against
# $N \cdot D$ (parameters × atoms seen), fitted through the origin with $C = 3\kappa N D$. Points on one line mean
# the cost is proportional to $N D$; the line's height is κ. We count every op on every edge — the paper does not
# say how it counted — and κ also depends on the graphs (edges per atom), so expect the ordering, not the values,
# to carry over. The backtest predicts the largest model's FLOPs from κ fitted on the smaller ones.

# %% tags=["parameters"] nbmake={"mock": {"preset": "tiny"}}
preset = "cpu"
store = "results"
train_missing = True

# %%
from nnip.paper import main

curves = main.main_study(preset, store, train_missing)

# %%
fig, table = main.fig2(curves, preset=preset)
fig

# %% [markdown]
# Paper vs ours (κ with a bootstrap 95% interval over runs, R² of the line, backtest error on the largest model):

# %%
table
