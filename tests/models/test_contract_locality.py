"""Contract, part 2: locality and smoothness at the cutoff, for exactly the models that promise them.

(The negatives — an unconstrained or non-local model *fails* these checks — are in test_models_specific.py.)
"""

import pytest

from nnip import testing as T
from nnip.models import model_class

from .conftest import ALL_MODELS, tiny_model

RTOL = 1e-9  # float64, as in test_contract.py


@pytest.mark.parametrize("name", [m for m in ALL_MODELS if model_class(m).local])
def test_locality(name, molecules):
    """Two molecules 40 Å apart in one structure: the energy is the sum of their energies (float64)."""
    T.assert_local(tiny_model(name), molecules[0], molecules[2], separation=40.0, rtol=RTOL)


@pytest.mark.parametrize("name", [m for m in ALL_MODELS if model_class(m).smooth_cutoff])
def test_smooth_cutoff(name):
    """Moving a neighbour across the cutoff changes the energy continuously (the envelope reaches zero)."""
    T.assert_smooth_cutoff(tiny_model(name))
