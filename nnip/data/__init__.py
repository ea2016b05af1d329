"""Data: readers (ASE Atoms in), graphs, batches, energy references and the embedded datasets.

``read(source) -> AtomsDataset`` (a Sequence of labelled ``ase.Atoms``), ``collate(atoms_list) -> Batch``.
"""

from nnip.data.batch import Batch, collate, labels_of
from nnip.data.readers import AtomsDataset, DataError, read

__all__ = ["AtomsDataset", "Batch", "DataError", "collate", "labels_of", "read"]
