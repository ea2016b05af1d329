"""xtb-mols structures live in random frames (issue 10 §1) and splits hold out whole molecules."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from nnip.data import registry, xtb_mols
from nnip.data.splits import fraction_indices, group_ids, split
from nnip.train.config import DataSpec, TrainConfig


def _main_axis_alignment(positions: np.ndarray) -> float:
    """|cos| between the principal (largest-variance) axis and the nearest Cartesian axis."""
    x = positions - positions.mean(axis=0)
    _, vectors = np.linalg.eigh(x.T @ x)
    return float(np.abs(vectors[:, -1]).max())


def _isotropic_alignment(n: int, seed: int) -> np.ndarray:
    u = np.random.default_rng(seed).normal(size=(n, 3))
    return np.abs(u / np.linalg.norm(u, axis=1, keepdims=True)).max(axis=1)


@pytest.fixture(scope="module")
def fresh():
    """A freshly generated set on a seed no other test uses (60 structures, 15 molecules)."""
    return list(registry.generate("xtb-mols", 60, seed=2027, workers=1))


def test_orientations_are_isotropic(fresh):
    """Principal axes of generated molecules are distributed as isotropic directions (two-sample KS test)."""
    ours = np.array([_main_axis_alignment(a.positions) for a in fresh])
    ks = stats.ks_2samp(ours, _isotropic_alignment(20_000, seed=1))
    assert ks.pvalue > 0.01, (ks, np.median(ours))
    # the statistic has power: RDKit's own frames (principal-axis aligned) are rejected
    from nnip.data.xtb_mols import embed

    aligned = [_main_axis_alignment(embed(a.info["smiles"], 1)[1]) for a in fresh[::4]]
    assert stats.ks_2samp(aligned, _isotropic_alignment(20_000, seed=1)).pvalue < 0.01


def test_structures_are_translated_and_frames_differ_per_conformer(fresh):
    centroids = np.array([a.positions.mean(axis=0) for a in fresh])
    assert np.median(np.linalg.norm(centroids, axis=1)) > 3.0  # several Å from the origin
    # each conformer has its own frame (not one frame per molecule)
    first = [a for a in fresh if a.info["mol_index"] == 0]
    axes = [_main_axis_alignment(a.positions) for a in first]
    assert len(set(np.round(axes, 6))) == len(first)


def test_random_frame_is_a_rigid_motion_and_labels_follow_it():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(7, 3))
    y = xtb_mols.random_frame(x, np.random.default_rng(5))
    dx = np.linalg.norm(x[:, None] - x[None], axis=-1)
    dy = np.linalg.norm(y[:, None] - y[None], axis=-1)
    np.testing.assert_allclose(dx, dy, atol=1e-12)
    # proper rotation (no reflection): the signed volume of three difference vectors is kept
    vol = lambda p: np.linalg.det(np.stack([p[1] - p[0], p[2] - p[0], p[3] - p[0]]))  # noqa: E731
    assert vol(x) == pytest.approx(vol(y), rel=1e-10)


def test_labels_are_computed_in_the_stored_frame(fresh):
    """Forces rotate with the frame: they equal −∇E of the stored positions (finite difference)."""
    atoms = fresh[3]
    z, x = atoms.numbers, atoms.positions
    h = 1e-4
    i, k = 2, 1
    xp, xm = x.copy(), x.copy()
    xp[i, k] += h
    xm[i, k] -= h
    fd = -(xtb_mols.xtb_singlepoint(z, xp)[0] - xtb_mols.xtb_singlepoint(z, xm)[0]) / (2 * h)
    assert atoms.get_forces()[i, k] == pytest.approx(fd, abs=2e-3)


# --- grouped splits ---------------------------------------------------------------------------------------------


def test_grouped_split_never_shares_a_group():
    groups = np.repeat(np.arange(250), 4)[np.random.default_rng(0).permutation(1000)]
    train, val = split(1000, n_val=101, seed=3, groups=groups)
    assert set(groups[train]).isdisjoint(groups[val])
    assert len(train) + len(val) == 1000 and len(set(train) | set(val)) == 1000
    assert 101 <= len(val) < 101 + 4  # at least n_val, at most one group more
    # deterministic in the seed, different for another seed
    again = split(1000, n_val=101, seed=3, groups=groups)
    np.testing.assert_array_equal(train, again[0])
    assert not np.array_equal(val, split(1000, n_val=101, seed=4, groups=groups)[1])
    # the training stream is shuffled (conformers of a molecule are not consecutive) and nested fractions hold
    assert np.mean(groups[train][1:] == groups[train][:-1]) < 0.05
    assert set(fraction_indices(train, 0.3)) <= set(fraction_indices(train, 0.6))


def test_grouped_split_rejects_bad_groups():
    with pytest.raises(ValueError, match="groups has 3 entries"):
        split(4, n_val=1, groups=[0, 0, 1])
    with pytest.raises(ValueError, match="at least 2 groups"):
        split(4, n_val=1, groups=[7, 7, 7, 7])
    with pytest.raises(ValueError, match="every group"):
        split(4, n_val=3, groups=[0, 0, 1, 1])


def test_ungrouped_split_is_unchanged():
    """groups=None keeps the per-structure split (same indices as before grouping existed)."""
    train, val = split(20, n_val=5, seed=0)
    order = np.random.default_rng(0).permutation(20)
    np.testing.assert_array_equal(train, order[5:])
    np.testing.assert_array_equal(val, np.sort(order[:5]))


def test_group_ids_reads_info_and_names_a_missing_key(fresh):
    ids = group_ids(fresh, "mol_index")
    assert ids.max() + 1 == len({a.info["mol_index"] for a in fresh})
    with pytest.raises(KeyError, match="structure 0 has no info\\['batch_id'\\]"):
        group_ids(fresh, "batch_id")


def test_trainer_split_of_xtb_mols_holds_out_whole_molecules(tmp_path, monkeypatch):
    """``group_by="auto"`` resolves to ``mol_index`` for xtb-mols; the trainer's split has no shared molecule."""
    from nnip.train.pipeline import load_data

    monkeypatch.setenv("NNIP_CACHE", str(tmp_path))
    spec = DataSpec(name="xtb-mols", n=48, n_val=9, val_fraction=None, seed=2028)
    assert spec.group_key == "mol_index"
    assert DataSpec(source="x.xyz").group_key is None  # user files: no grouping unless named
    data = load_data(spec)
    train_mols = {a.info["mol_index"] for a in data.train}
    val_mols = {a.info["mol_index"] for a in data.val}
    assert train_mols.isdisjoint(val_mols) and len(data.val) >= 9
    assert data.info["group_by"] == "mol_index"
    again = load_data(spec)  # second load reads the cached group ids
    assert [a.info["mol_index"] for a in again.val] == [a.info["mol_index"] for a in data.val]


def test_run_id_records_grouping_and_dataset_version():
    cfg = TrainConfig.from_dict({"model": {"name": "mpnn"}, "data": {"name": "xtb-mols", "n": 64}})
    hashed = cfg.hashed_dict()
    assert hashed["data"]["group_by"] == "mol_index"
    assert hashed["data"]["dataset_version"] == xtb_mols.VERSION
    ungrouped = TrainConfig.from_dict({"model": {"name": "mpnn"}, "data": {"name": "xtb-mols", "n": 64, "group_by": None}})
    assert ungrouped.run_id() != cfg.run_id()
