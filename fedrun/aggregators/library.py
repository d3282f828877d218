"""Imports every built-in aggregator module so that each registers itself."""

from fedrun.aggregators import (
    build,  # noqa: F401
    clipping,  # noqa: F401
    dp,  # noqa: F401
    quantize,  # noqa: F401
    robust,  # noqa: F401
    secure,  # noqa: F401
    zeroing,  # noqa: F401
)
