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
# # η* at the CPU base width — the learning-rate sweep behind the `cpu` preset
#
# §3.3 of the paper fixes $\eta^* = 10^{-3}$ on ≈1M-parameter models and transfers it to every width with μP,
# $\eta(w) = \eta^*\, w_\text{base}/w$. The `cpu` ladders end well below one million parameters, so carrying the
# paper's $\eta^*$ down from its base width would raise the matrix learning rates of the smallest CPU models up to
# 16× with nothing to say that this is stable. The `cpu` preset therefore puts $w_\text{base}$ at a rung of its own
# ladder (the geometric middle in $N$) and chooses $\eta^*$ and a warmup from this sweep: each main architecture at
# its base rung streams a fifth of the training data once per (learning rate, warmup) of the grid — the machinery
# of Fig. 10, with a warmup axis instead of the batch-size axis.
#
# **How to read it.** Final validation loss against $\eta^*$, one line per warmup; the ring marks what the preset
# uses. The table puts the sweep's optimum beside the paper's $\eta^*$ and says, from the store, whether the preset
# matches its own sweep.

# %% tags=["parameters"] nbmake={"mock": {"preset": "tiny"}}
preset = "cpu"
store = "results"
train_missing = True
archs = "all"

# %%
from nnip.paper import tuning

curves = tuning.tuning_study(preset, store, train_missing, archs=archs)

# %%
fig, table = tuning.fig_tuning(curves, preset=preset)
fig

# %%
table
