"""TFF's `tff.simulation`: client data sets for simulations."""

from fedrun.compat.tff.simulation import datasets
from fedrun.compat.tff.simulation.compositions import (
    compose_dataset_computation_with_iterative_process,
)
from fedrun.compat.tff.simulation.sampling import build_uniform_sampling_fn
from fedrun.compat.tff.unsupported import SIMULATION, error


def __getattr__(name: str) -> object:
    raise error("tff.simulation", name, SIMULATION)


__all__ = [
    "build_uniform_sampling_fn",
    "compose_dataset_computation_with_iterative_process",
    "datasets",
]
