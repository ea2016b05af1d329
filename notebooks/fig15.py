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
# # Figure 15 — translation invariance (App. J)
# The unconstrained MPNN sees geometry only through relative vectors $r_{uv} = x_u - x_v$, so it is
# translation-invariant by construction although it is not rotation-equivariant. Feeding it absolute positions too
# (`translation_invariant=False`) removes that symmetry. The paper reports a performance drop; we compare the
# loss–compute frontiers and their compute exponents $\gamma_c$ (eq. 4, $L_\infty = 0$).

# %% tags=["parameters"] nbmake={"mock": {"preset": "tiny"}}
preset = "cpu"
store = "results"
train_missing = True

# %%
from nnip.paper import translation

curves = translation.translation_study(preset, store, train_missing)

# %%
fig, table = translation.fig15(curves, preset=preset)
fig

# %% [markdown]
# The paper's value beside ours; the backtest error (ARE) is that of predicting the top quarter of the frontier's
# log-compute range from the rest.

# %%
table
