"""nnip.paper.published: the papers' numbers, and their re-export as nnip.scaling.PAPER."""

import pytest

from nnip import scaling
from nnip.paper import published
from nnip.scaling import PAPER


def test_fig5_exponents_consistent_with_table7():
    for k, v in PAPER.items():
        assert v["table7"]["alpha"][0] == pytest.approx(v["fig5"]["alpha"], abs=6e-3)
        assert v["table7"]["beta"][0] == pytest.approx(v["fig5"]["beta"], abs=6e-3)


def test_published_numbers_are_reexported_by_scaling():
    assert scaling.PAPER is published.PAPER and PAPER is published.PAPER
    assert scaling.paper_params is published.paper_params
    assert published.paper_key("MC-EGNN") == "egnn" and published.paper_key("eSEN") == "esen"
    assert published.APP_H["alpha"] == PAPER["mpnn"]["table7"]["alpha"][0]
    from nnip.paper import materials

    assert materials.PAPER_LAWS is published.TRIKHA_LAWS
    assert published.paper_frontier("esen", "gamma_c") == PAPER["esen"]["table1"]["frontier"]["gamma_c"][0]
    assert published.paper_value("esen", "table1", "nothing") is None
    with pytest.raises(AttributeError):
        scaling.no_such_name  # noqa: B018
