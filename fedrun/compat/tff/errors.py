"""The facade's errors: every mistake a facade call reports is a `FacadeError`.

Each subclasses the built-in error TFF raises in the same place, so `except
TypeError` / `except ValueError` in a TFF program still catches it:

* `FacadeTypeError` (a `TypeError`): an argument of the wrong kind.
* `FacadeValueError` (a `ValueError`): an argument of the right kind with a bad value.
* `UnsupportedError` (a `NotImplementedError`): a TFF feature fedrun does not provide.

fedrun's own `ConfigError` and `DataError` (both `ValueError`s) pass through
unchanged: they already name the config path or file at fault.
"""

from __future__ import annotations


class FacadeError(Exception):
    """The base of the errors the facade raises."""


class FacadeTypeError(FacadeError, TypeError):
    """An argument of a kind the facade call does not take."""


class FacadeValueError(FacadeError, ValueError):
    """An argument the facade call takes, with a value it cannot use."""


class UnsupportedError(FacadeError, NotImplementedError):
    """A TFF feature the fedrun facade does not provide."""


__all__ = ["FacadeError", "FacadeTypeError", "FacadeValueError", "UnsupportedError"]
