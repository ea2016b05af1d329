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
# # Figure 16 — the vanilla transformer (App. K)
# A GPT-style encoder that reads atomic numbers and raw Cartesian coordinates, with global attention over all atoms:
# no rotation or translation symmetry and no locality. The paper finds that its learning curves saturate rapidly and
# stay flat. We train the preset's transformer ladder on the same molecules, stream and optimiser as the main study
# and plot it beside the MPNN; the dashed line is the loss of the all-zero predictor (mean energy, zero forces).

# %% tags=["parameters"] nbmake={"mock": {"preset": "tiny"}}
preset = "cpu"
store = "results"
train_missing = True
x = "atoms_seen"  # or "flops"

# %%
from nnip.paper import transformer

curves, zero_loss = transformer.transformer_study(preset, store, train_missing)

# %%
fig, table = transformer.fig16(curves, zero_loss, x=x)
fig

# %% [markdown]
# The paper states no number for App. K; the table quantifies "saturate rapidly" for both models.

# %%
table
