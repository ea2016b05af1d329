"""Data: readers (ASE Atoms in), graphs, batches, energy references and the embedded datasets.

``read(source) -> AtomsDataset`` (a Sequence of labelled ``ase.Atoms``), ``collate(atoms_list) -> Batch``.
Names are imported lazily so that dataset-generation workers (``nnip.data.xtb_mols``) do not pay for torch.
"""

import importlib

_EXPORTS = {
    "AtomsDataset": "nnip.data.readers",
    "DataError": "nnip.data.readers",
    "read": "nnip.data.readers",
    "Batch": "nnip.data.batch",
    "collate": "nnip.data.batch",
    "labels_of": "nnip.data.labels",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'nnip.data' has no attribute {name!r}")


def __dir__():
    return __all__
