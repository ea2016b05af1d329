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
# # Figure 3 — Pareto frontiers per architecture, in FLOPs and in wall-clock time (eq. 4)
# The paper plots, per architecture, every run's learning curve against training FLOPs (top) and training hours
# (bottom), coloured by model size; the lower envelope of all curves — the compute-optimal frontier — is close to a
# straight line in log–log axes, and eq. (4) with $L_\infty = 0$ is fitted to it (Table 1, frontier column).
#
# This notebook draws the same panels from the main study, one row per architecture (FLOPs left, hours right): thin
# lines are runs (colour = parameters N), black points the frontier after dropping each run's first steps (§3.2), red
# the eq. (4) fit. Where the small models' curves sit on the frontier at low compute and the large models' at high
# compute, the ladder is wide enough to resolve the compute-optimal trade-off. Set `arch` to one architecture
# ("mpnn", "egnn", "gemnet_oc", "esen") to draw and train only that one.

# %% tags=["parameters"] nbmake={"mock": {"preset": "tiny"}}
preset = "cpu"
store = "results"
train_missing = True
arch = "all"

# %%
from nnip.paper import main

curves = main.main_study(preset, store, train_missing, archs=arch)

# %%
fig, table = main.fig3(curves, arch=arch, preset=preset)
fig

# %% [markdown]
# Paper vs ours ($F_c$, $\gamma_c$ from Table 1's frontier column, C in PFLOPs; the paper prints no time fits), with
# bootstrap 95% intervals and the backtest error (ARE) of extrapolating each frontier fit to its largest budgets:

# %%
table
