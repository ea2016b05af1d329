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
# # Figure 6 — compute-optimal model size and data size (eq. 6)
# Minimising eq. (5) under the budget $3\kappa N D = C$ gives $N^*(C) \propto C^{a}$ and $D^*(C) \propto C^{b}$ with
# $a = \beta/(\alpha+\beta)$, $b = \alpha/(\alpha+\beta)$ (eq. 6). The paper finds $a \approx b \approx 0.5$ for
# every architecture: parameters and data should grow in tandem, as in Chinchilla (§4.3).
#
# This notebook combines our eq. (5) fits with our measured κ (Fig. 2) and draws $N^*(C)$ (left) and $D^*(C)$
# (right) as solid lines, next to the paper's (Table 7 with its Fig. 2 κ) as dashed lines in the same colour. The
# grey band is the compute our runs cover; everything right of it is extrapolation. Compare slopes (a, b) rather
# than heights: our dataset, loss normalisation and model scales differ from OMol25's.

# %% tags=["parameters"] nbmake={"mock": {"preset": "tiny"}}
preset = "cpu"
store = "results"
train_missing = True

# %%
from nnip.paper import main

curves = main.main_study(preset, store, train_missing)

# %%
fig, table = main.fig6(curves, preset=preset)
fig

# %% [markdown]
# Paper vs ours (allocation exponents a, b and κ, with bootstrap 95% intervals; the backtest is that of the
# underlying eq. (5) fit on the held-out largest model, or of κ on the largest model's FLOPs):

# %%
table
