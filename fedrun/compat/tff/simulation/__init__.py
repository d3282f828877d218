"""TFF's `tff.simulation`: client data sets for simulations."""

from fedrun.compat.tff.simulation import datasets

__all__ = ["datasets"]
