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
# # Table 7 — sum-power-law parameters (eq. 5)
# The paper's fit of $L(N, D) = A N^{-\alpha} + B D^{-\beta}$ (eq. 5, $L_\infty \approx 0$) for each architecture, with
# 95% intervals from 1000 bootstrap resamples (App. E): $\log_{10} A$, $\log_{10} B$, α and β all grow from MPNN to
# MC-EGNN to GemNet-OC to eSEN.
#
# This notebook fits eq. (5) to every evaluation (after each run's first steps) of the main study, bootstraps whole
# runs for the intervals, and backtests the fit by predicting the held-out largest model from the others. The figure
# shows the four parameters per architecture, the paper's next to ours. The exponents are the comparable part;
# A and B depend on the loss normalisation and the units of N and D.

# %% tags=["parameters"] nbmake={"mock": {"preset": "tiny"}}
preset = "cpu"
store = "results"
train_missing = True

# %%
from nnip.paper import main

curves = main.main_study(preset, store, train_missing)

# %%
fig, table = main.table7(curves, preset=preset)
fig

# %% [markdown]
# Paper vs ours (bootstrap 95% intervals, backtest error on the held-out largest model):

# %%
table
