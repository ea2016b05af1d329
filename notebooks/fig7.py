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
# # Figure 7 — symmetry loss (eq. 2) on the unconstrained MPNN
#
# §4.4 of Ngo & Ravanbakhsh (2025) trains the unconstrained MPNN with the task loss eq. (1) plus the symmetry loss
# eq. (2): the same loss on $M = 5$ Haar-random rotations of every structure, weight $\lambda = 1$. The paper finds
# that the data exponent $\beta$ goes up slightly, the parameter exponent $\alpha$ goes down, and the compute exponent
# stays put: the frontier only moves right because every step costs about $(M+1)\times$ the FLOPs, a shift of
# $\Delta \approx \gamma \log_{10}(M+1) \approx 0.14 \log_{10} 6$ in log–log axes.
#
# This notebook trains (or reads) the MPNN ladder of the preset with `loss.symmetry_m` $\in \{0, M\}$ — the $M = 0$
# runs are the main study's MPNN runs — and fits eq. (4) to each loss–compute frontier and eq. (5) to each set of
# learning curves (`nnip.scaling`).
#
# **How to read it.** Top left: both frontiers against the *measured* training FLOPs, which include the $M$ extra
# forward/backward passes; the dotted line is the no-loss fit moved right by $(M+1)$ — what the extra compute alone
# would cost. If the symmetry-loss frontier sits on the dotted line, the regulariser buys nothing per FLOP.
# Top right: loss vs training atoms $D$ for the largest model, with the data-limited term $B D^{-\beta}$. Bottom:
# loss at each model's largest $D$ vs parameters $N$, with $A N^{-\alpha}$. The validation loss is the task loss
# eq. (1) only.
# The table compares each number with the paper's (Table 7, Table 1, §4.4); "backtest ARE" is the error of predicting
# the held-out largest model (eq. 5) or the top of the compute range (eq. 4) from the rest.

# %% tags=["parameters"] nbmake={"mock": {"preset": "tiny"}}
preset = "cpu"
store = "results"
train_missing = True
symmetry_m = 5

# %%
from nnip.paper import symmetry

curves = symmetry.symmetry_study(preset, store, train_missing, m=symmetry_m)

# %%
fig, table = symmetry.fig7(curves, preset=preset, m=symmetry_m)
fig

# %%
table
