"""Learning algorithms; importing this package registers every one of them."""

from fedrun.learning.algorithms import fedavg, fedopt, fedprox, fedsgd, mime_lite, scaffold  # noqa: F401
from fedrun.learning.algorithms.registry import ALGORITHMS, AlgorithmContext

__all__ = ["ALGORITHMS", "AlgorithmContext"]
