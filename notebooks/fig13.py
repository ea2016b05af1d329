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
# # Figure 13 — test-time group averaging (App. H)
# An unconstrained model $\phi_\theta$ can be made approximately rotation-equivariant at test time, at no training
# cost, by averaging it over $M$ Haar-random rotations (eq. 23):
# $f_\theta(x) = \frac{1}{M}\sum_{i=1}^M \rho_{\text{out}}(g_i^{-1})\,\phi_\theta(\rho_{\text{in}}(g_i)x)$.
# We evaluate the checkpoints of the main study's MPNNs with $M$ rotations (left) and fit eq. (24),
# $L - L_D = A N^{-\alpha}$, with and without group averaging (right), $L_D$ being the data-limited loss at the
# largest $D$ from an eq. (5) fit. The paper finds a small gain that saturates in $M$, the same $\alpha$ and a
# slightly smaller $A$.

# %% tags=["parameters"] nbmake={"mock": {"preset": "tiny"}}
preset = "cpu"
store = "results"
train_missing = True
m_values = "auto"  # "auto": 1, 2, 4, 8, 16, 32 (1, 2, 4 at tiny), or e.g. "1,4,16"
l_d = "fit"  # "fit": B·D_max^-β from eq. (5), or a number

# %%
from nnip.paper import group_averaging

curves, tta = group_averaging.tta_study(preset, store, train_missing, m_values=m_values)

# %%
fig, table = group_averaging.fig13(curves, tta, preset=preset, l_d=l_d)
fig

# %% [markdown]
# The paper's value beside ours; the backtest error (ARE) is that of predicting the largest model from the others.

# %%
table
