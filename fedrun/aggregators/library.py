"""Imports every built-in aggregator module so that each registers itself."""

from fedrun.aggregators import build  # noqa: F401
