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
# # Figure 14 — energy and force terms of the loss (App. I)
# The loss of eq. (1) is the sum of a per-atom energy error and a per-atom force error. Here are the two terms of
# every learning curve of the main study (the same runs as Fig. 1–6), energy on the left and forces on the right, one
# row per architecture, colour by model size. The paper finds the energy curves noisy and the force curves smooth.

# %% tags=["parameters"] nbmake={"mock": {"preset": "tiny"}}
preset = "cpu"
store = "results"
train_missing = True
x = "atoms_seen"  # or "flops"

# %%
from nnip.paper import energy_force

curves = energy_force.energy_force_study(preset, store, train_missing)

# %%
fig, table = energy_force.fig14(curves, x=x)
fig

# %% [markdown]
# Noise is measured as the share of a curve's total log-variation that goes up (0: monotone decrease; about 0.5:
# noise-dominated); no fit is involved.

# %%
table
