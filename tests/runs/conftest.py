"""The run store, sweep and calculator tests train tiny runs with the trainer tests' fixtures (stand-in model,
small ethanol/EMT files, a config factory)."""

from tests.train.conftest import _threads_and_path, config_factory, emt_small, ethanol_small  # noqa: F401
