"""TFF's `tff.simulation.datasets`: `ClientData` and the EMNIST loader."""

from fedrun.compat.tff.simulation.datasets import emnist, shakespeare
from fedrun.compat.tff.simulation.datasets.client_data import ClientData, TestClientData
from fedrun.compat.tff.unsupported import SIMULATION_DATASETS, error


def __getattr__(name: str) -> object:
    raise error("tff.simulation.datasets", name, SIMULATION_DATASETS)


train_test_client_split = ClientData.train_test_client_split

__all__ = ["ClientData", "TestClientData", "emnist", "shakespeare", "train_test_client_split"]
