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
# # The pilot — could the `cpu` preset show power laws at all?
#
# Before the budget of the `cpu` book was spent, the preset had to pass a pilot whose criteria were fixed before
# any run (`nnip.paper.pilot`): for the MPNN and eSEN, on the first half of every main-study run, the loss–compute
# frontier (eq. 4, the main study's preparation) must span at least 1.5 decades of measured compute, have a 95%
# bootstrap interval on $\gamma_c$ narrower than ±30 % of $\gamma_c$, and be straight in log–log — fitted on the
# lower three quarters of its log-compute range it must predict the top quarter within 5 % (mean absolute relative
# error). A streaming run truncated at half its atoms *is* the run on half the data (the stream is a prefix, §4.2),
# so the pilot costs nothing beyond the main study's first halves. Had it failed, the preset (data, ladders,
# learning rates) would have been changed, never the analysis.
#
# **How to read it.** The frontiers with their eq. (4) fits; the table gives each criterion and the verdict.

# %% tags=["parameters"] nbmake={"mock": {"preset": "tiny"}}
preset = "cpu"
store = "results"
train_missing = True

# %%
from nnip.paper import main, pilot

curves = main.main_study(preset, store, train_missing, archs="mpnn,esen")

# %%
fig, table = pilot.fig_pilot(curves, preset=preset)
fig

# %%
table
