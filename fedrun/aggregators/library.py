"""Imports every built-in aggregator module so that each registers itself."""

from fedrun.aggregators import build  # noqa: F401
from fedrun.aggregators import clipping  # noqa: F401
from fedrun.aggregators import dp  # noqa: F401
from fedrun.aggregators import quantize  # noqa: F401
from fedrun.aggregators import robust  # noqa: F401
from fedrun.aggregators import secure  # noqa: F401
from fedrun.aggregators import zeroing  # noqa: F401
