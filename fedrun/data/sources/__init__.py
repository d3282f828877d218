"""Data set sources; importing this package registers every one of them."""

from fedrun.data.sources import (
    cifar100,  # noqa: F401
    emnist,  # noqa: F401
    fashion_mnist,  # noqa: F401
    huggingface,  # noqa: F401
    mnist,  # noqa: F401
    mnist5k,  # noqa: F401
    shakespeare,  # noqa: F401
    synthetic,  # noqa: F401
)
