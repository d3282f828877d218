"""TFF's factory interfaces, `SumFactory` and `MeanFactory`, and the bridges between
TFF-style and fedrun factories.

TFF-style factories take TFF types in `create` and return TFF-style processes:

* `SumFactory`, `MeanFactory`, ... wrap fedrun's factory of the same name; the
  fedrun factory is available as `.native`, and `create` returns the fedrun process
  presented with TFF's conventions (`templates.bridge_process`). `wrap` does the
  same for any fedrun factory (`clipping_factory` and `zeroing_factory` return
  such wrappers).
* A user's subclass of `UnweightedAggregationFactory` / `WeightedAggregationFactory`
  (the tutorial's `ExampleTaskFactory`) returns its own `tff.templates.AggregationProcess`.

`as_native(factory)` gives the fedrun factory to hand to fedrun code (learning
algorithms, a `MeanFactory`'s inner sums): fedrun factories pass through, wrapped
ones unwrap, and a user's factory is adapted so that fedrun calls its processes
with placed values (`templates.NativeAggregationProcess`).
"""

from __future__ import annotations

import abc
import numbers
from typing import Any, Callable, Optional

import tensorflow as tf

from fedrun.aggregators import factory as native_factory
from fedrun.aggregators.mean import MeanFactory as NativeMeanFactory
from fedrun.aggregators.sum import SumFactory as NativeSumFactory
from fedrun.compat.tff.errors import FacadeTypeError, FacadeValueError
from fedrun.compat.tff.templates import AggregationProcess, NativeAggregationProcess, bridge_process
from fedrun.compat.tff.types import to_spec, to_type


class UnweightedAggregationFactory(abc.ABC):
    """TFF's factory of processes `next(state, value@CLIENTS)`."""

    @abc.abstractmethod
    def create(self, value_type: Any) -> AggregationProcess:
        """The aggregation process for values of `value_type`."""


class WeightedAggregationFactory(abc.ABC):
    """TFF's factory of processes `next(state, value@CLIENTS, weight@CLIENTS)`."""

    @abc.abstractmethod
    def create(self, value_type: Any, weight_type: Any) -> AggregationProcess:
        """The aggregation process for values of `value_type`, weights of `weight_type`."""


class Wrapped:
    """A TFF-named factory backed by a fedrun factory (`native`)."""

    native: Any

    def create(self, value_type: Any, weight_type: Any = None) -> AggregationProcess:
        value_spec = to_spec(to_type(value_type))
        if weight_type is None:
            if not native_factory.supports_unweighted(self.native):
                raise FacadeTypeError(
                    f"{type(self).__name__} is weighted: call create(value_type, weight_type)"
                )
            return bridge_process(self.native.create(value_spec))
        if not native_factory.supports_weighted(self.native):
            raise FacadeTypeError(f"{type(self).__name__} is unweighted: call create(value_type)")
        return bridge_process(self.native.create(value_spec, to_spec(to_type(weight_type))))


_WRAPPED_CLASSES: dict[tuple[str, bool, bool], type] = {}


def wrap(native: Any, name: str) -> Wrapped:
    """A TFF-style factory backed by the fedrun factory `native`, weighted and/or
    unweighted exactly as `native` is (its class, named `name`, derives from the TFF
    interfaces accordingly)."""
    weighted, unweighted = (
        native_factory.supports_weighted(native),
        native_factory.supports_unweighted(native),
    )
    key = (name, weighted, unweighted)
    if key not in _WRAPPED_CLASSES:
        interfaces = ((WeightedAggregationFactory,) if weighted else ()) + (
            (UnweightedAggregationFactory,) if unweighted else ()
        )
        _WRAPPED_CLASSES[key] = type(name, (Wrapped,) + interfaces, {"__module__": __name__})
    factory = _WRAPPED_CLASSES[key]()
    factory.native = native
    return factory


def check_argument(name: str, value: Any, ok: Callable[[float], bool], requirement: str) -> float:
    """`value` as a float if it is a number for which `ok` holds, else ValueError / TypeError
    saying that the argument `name` must be `requirement`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise FacadeTypeError(f"{name}={value!r}: must be a number, {requirement}")
    if not ok(float(value)):
        raise FacadeValueError(f"{name}={value!r}: must be {requirement}")
    return float(value)


class SumFactory(Wrapped, UnweightedAggregationFactory):
    """The federated sum (fedrun's `SumFactory`). State `()`, measurements `()`."""

    def __init__(self) -> None:
        self.native = NativeSumFactory()


class MeanFactory(Wrapped, WeightedAggregationFactory, UnweightedAggregationFactory):
    """The (weighted) mean (fedrun's `MeanFactory`).

    Args:
        value_sum_factory: Sums the weighted values (any unweighted factory).
        weight_sum_factory: Sums the weights.
        no_nan_division: Zeros instead of NaN when the weights sum to zero.

    State `{value_sum_process, weight_sum_process}`; measurements
    `{mean_value, mean_weight}`.
    """

    def __init__(
        self,
        value_sum_factory: Optional[Any] = None,
        weight_sum_factory: Optional[Any] = None,
        no_nan_division: bool = False,
    ) -> None:
        self.native = NativeMeanFactory(
            as_native(value_sum_factory), as_native(weight_sum_factory), no_nan_division
        )


# ------------------------------------------------------------ TFF -> fedrun factories
class _UnweightedAdapter(native_factory.UnweightedAggregationFactory):
    def __init__(self, factory: UnweightedAggregationFactory) -> None:
        self.factory = factory

    def create(self, value_spec: Any) -> NativeAggregationProcess:
        return NativeAggregationProcess(self.factory.create(to_type(value_spec)), value_spec)


class _WeightedAdapter(native_factory.WeightedAggregationFactory):
    def __init__(self, factory: WeightedAggregationFactory) -> None:
        self.factory = factory

    def create(self, value_spec: Any, weight_spec: tf.TensorSpec) -> NativeAggregationProcess:
        process = self.factory.create(to_type(value_spec), to_type(weight_spec))
        return NativeAggregationProcess(process, value_spec, weight_spec)


class _BothAdapter(
    native_factory.WeightedAggregationFactory, native_factory.UnweightedAggregationFactory
):
    def __init__(self, factory: Any) -> None:
        self.factory = factory

    def create(
        self, value_spec: Any, weight_spec: Optional[tf.TensorSpec] = None
    ) -> NativeAggregationProcess:
        if weight_spec is None:
            return NativeAggregationProcess(self.factory.create(to_type(value_spec)), value_spec)
        process = self.factory.create(to_type(value_spec), to_type(weight_spec))
        return NativeAggregationProcess(process, value_spec, weight_spec)


def as_native(factory: Any) -> Any:
    """The fedrun factory for `factory` (None stays None: fedrun's default applies)."""
    if factory is None:
        return None
    if isinstance(factory, Wrapped):
        return factory.native
    if native_factory.supports_weighted(factory) or native_factory.supports_unweighted(factory):
        return factory
    weighted = isinstance(factory, WeightedAggregationFactory)
    unweighted = isinstance(factory, UnweightedAggregationFactory)
    if weighted and unweighted:
        return _BothAdapter(factory)
    if weighted:
        return _WeightedAdapter(factory)
    if unweighted:
        return _UnweightedAdapter(factory)
    raise FacadeTypeError(f"not an aggregation factory: {type(factory).__name__}")


__all__ = [
    "MeanFactory",
    "SumFactory",
    "UnweightedAggregationFactory",
    "WeightedAggregationFactory",
    "Wrapped",
    "as_native",
    "check_argument",
    "wrap",
]
