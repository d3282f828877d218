"""Data set sources; importing this package registers every one of them."""

from fedrun.data.sources import mnist5k  # noqa: F401
from fedrun.data.sources import emnist  # noqa: F401
from fedrun.data.sources import fashion_mnist  # noqa: F401
from fedrun.data.sources import mnist  # noqa: F401
from fedrun.data.sources import shakespeare  # noqa: F401
from fedrun.data.sources import synthetic  # noqa: F401
from fedrun.data.sources import huggingface  # noqa: F401
from fedrun.data.sources import cifar100  # noqa: F401
