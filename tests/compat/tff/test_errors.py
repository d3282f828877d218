"""Every public facade name called with arguments of the wrong kind fails with
fedrun's own errors, never an internal exception from deep inside."""

import enum
import inspect

import pytest

import fedrun.compat.tff as tff
from fedrun.compat.tff.errors import FacadeError
from fedrun.config.errors import ConfigError
from fedrun.core.types import TypeSpecError
from fedrun.data.errors import DataError
from tests.compat.tff.test_migration_table import FEDRUN_HELPERS, public_names, resolve

OWN_ERRORS = (FacadeError, ConfigError, DataError, TypeSpecError)


class Wrong:
    """An argument no facade call takes."""


def callables():
    for name in sorted(set(public_names(tff, "tff", []))):
        value = resolve(name)
        if callable(value) and name not in FEDRUN_HELPERS:
            yield name, value


def required_positional(fn):
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 1
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(1 for p in parameters if p.kind in kinds and p.default is inspect.Parameter.empty)


def cases():
    for name, fn in callables():
        # Python's own enum lookup error is what TFF raises too.
        if isinstance(fn, type) and issubclass(fn, enum.Enum):
            continue
        # Nothing to get wrong in a call without required arguments.
        if required_positional(fn) == 0:
            continue
        yield pytest.param(name, fn, id=name)


@pytest.mark.parametrize("name, fn", list(cases()))
def test_wrong_argument_types_raise_fedrun_errors(name, fn):
    arguments = [Wrong() for _ in range(required_positional(fn))]
    try:
        result = fn(*arguments)
    except OWN_ERRORS:
        return
    except Exception as err:  # noqa: BLE001 - the point is to see which error escapes
        pytest.fail(f"{name} raised {type(err).__module__}.{type(err).__name__}: {err}")
    if callable(result) and not isinstance(result, type):
        # A decorator given a wrong type must refuse it when it is applied.
        with pytest.raises(OWN_ERRORS):
            result(Wrong())
