"""nnip — scaling laws of neural interatomic potentials (companion to Ngo & Ravanbakhsh 2025 and Trikha et al. 2025).

Data flow (no back-edges): ``ase.Atoms --read()--> AtomsDataset --collate()--> Batch --model()--> outputs``,
``TrainConfig --train()--> RunStore``, ``RunStore.curves() --> nnip.scaling fits --> nnip.figures``.
"""

__version__ = "0.1.0"
