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
# # Figure 11 — EGNN: loss vs number of vector channels E
#
# The MC-EGNN of the paper (App. C.3) carries $E$ Cartesian vector channels besides its $w$ scalar channels; its
# ladder ties them as $E = \lfloor\sqrt{w}\rfloor$. App. F shows that the validation loss decreases consistently as
# $E$ grows, which is why the ladder scales $E$ with the width.
#
# This notebook trains (or reads) EGNN at one reference width with `model.hparams.vector_channels` $E$ on a grid,
# everything else fixed.
#
# **How to read it.** Left: learning curves (loss vs training atoms $D$), one colour per $E$. Right: the final loss
# against $E$ (log–log). The table gives the relative change from the smallest to the largest $E$, Spearman's rank
# correlation (negative = loss falls as $E$ grows, the paper's finding) and a descriptive power law in $E$ with the
# error of predicting the largest $E$ from the others.

# %% tags=["parameters"] nbmake={"mock": {"preset": "tiny"}}
preset = "cpu"
store = "results"
train_missing = True

# %%
from nnip.paper import vector_channels

curves = vector_channels.vector_channels_study(preset, store, train_missing)

# %%
fig, table = vector_channels.fig11(curves, preset=preset)
fig

# %%
table
