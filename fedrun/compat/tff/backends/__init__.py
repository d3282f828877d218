"""TFF's `tff.backends`: only the client count of `native`'s local contexts has a
fedrun meaning (fedrun runs every computation in this Python process)."""

from fedrun.compat.tff.backends import native
from fedrun.compat.tff.unsupported import BACKENDS, error


def __getattr__(name: str) -> object:
    raise error("tff.backends", name, BACKENDS)


__all__ = ["native"]
