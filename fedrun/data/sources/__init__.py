"""Data set sources; importing this package registers every one of them."""

from fedrun.data.sources import mnist5k  # noqa: F401
from fedrun.data.sources import synthetic  # noqa: F401
