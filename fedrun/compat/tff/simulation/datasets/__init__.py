"""TFF's `tff.simulation.datasets`: `ClientData` and the EMNIST loader."""

from fedrun.compat.tff.simulation.datasets import emnist, shakespeare
from fedrun.compat.tff.simulation.datasets.client_data import ClientData
from fedrun.compat.tff.unsupported import SIMULATION_DATASETS, error


def __getattr__(name: str) -> object:
    raise error("tff.simulation.datasets", name, SIMULATION_DATASETS)


__all__ = ["ClientData", "emnist", "shakespeare"]
