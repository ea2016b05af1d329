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
# # Figure 5 — data and parameter scaling (sum-power-law, eq. 5)
# The paper fits $L(N, D) = A N^{-\alpha} + B D^{-\beta}$ (eq. 5, $L_\infty \approx 0$) to every model size N at many
# data sizes D and finds larger exponents for more symmetric architectures: β = .31, .39, .50, .75 (data-limited,
# the paper's top row) and α = .28, .39, .52, .82 (parameter-limited, its bottom row) for MPNN, MC-EGNN, GemNet-OC,
# eSEN, with α ≈ β throughout (§4.2, Table 7).
#
# Here each run of the main study streams its data once, so L at $D < D_{\max}$ is read off the run's intermediate
# evaluations (atoms seen). Every evaluation after each run's first steps enters the fit (Huber loss on log
# residuals, approach 3 of Hoffmann et al.); the 95% intervals come from a bootstrap that resamples whole runs
# (App. E). One row per architecture, its legend below it. Left: L vs D, one colour per model size, with the fitted
# $L(N_i, D)$ and the data-limited term $B D^{-\beta}$ (dashed); right: L vs N at each model's largest D, with
# $L(N, D_{\max})$ and $A N^{-\alpha}$ (dashed). Set `arch` to one architecture to draw (and train) only that one.

# %% tags=["parameters"] nbmake={"mock": {"preset": "tiny"}}
preset = "cpu"
store = "results"
train_missing = True
arch = "all"

# %%
from nnip.paper import main

curves = main.main_study(preset, store, train_missing, archs=arch)

# %%
fig, table = main.fig5(curves, arch=arch, preset=preset)
fig

# %% [markdown]
# Paper vs ours (exponents, with bootstrap 95% intervals and the backtest error of our fit on the held-out largest
# model; the paper's values are Table 7's, which the Fig. 5 text rounds):

# %%
table
