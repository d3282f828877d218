"""TFF's `tff.simulation.datasets`: `ClientData` and the EMNIST loader."""

from fedrun.compat.tff.simulation.datasets import emnist
from fedrun.compat.tff.simulation.datasets.client_data import ClientData

__all__ = ["ClientData", "emnist"]
