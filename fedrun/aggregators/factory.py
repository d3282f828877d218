"""The two kinds of aggregation factory (TFF's `tff.aggregators` contract).

A factory knows *how* to aggregate; `create` makes the `AggregationProcess` for a
particular value type, so one factory serves any model:

* `UnweightedAggregationFactory.create(value_spec)`: `next(state, value@CLIENTS)`.
* `WeightedAggregationFactory.create(value_spec, weight_spec)`:
  `next(state, value@CLIENTS, weight@CLIENTS)`.

`value_spec` is any nest of `tf.TensorSpec` (model weights are nests). A factory
may implement both (the mean does). Wrappers take an `inner` factory, nest the
inner state under their own, and put the inner measurements under a named key;
their weightedness follows the inner factory.
"""

from __future__ import annotations

import abc
import inspect
from typing import Any, Union

import tensorflow as tf

from fedrun.core.processes import AggregationProcess


class UnweightedAggregationFactory(abc.ABC):
    """Creates processes that aggregate values without weights."""

    @abc.abstractmethod
    def create(self, value_spec: Any) -> AggregationProcess:
        """The aggregation process for values of `value_spec`."""


class WeightedAggregationFactory(abc.ABC):
    """Creates processes that aggregate values with a per-client weight."""

    @abc.abstractmethod
    def create(self, value_spec: Any, weight_spec: tf.TensorSpec) -> AggregationProcess:
        """The aggregation process for values of `value_spec`, weights of `weight_spec`."""


AggregationFactory = Union[UnweightedAggregationFactory, WeightedAggregationFactory]


def supports_weighted(factory: Any) -> bool:
    """Whether `factory.create(value_spec, weight_spec)` is available."""
    return isinstance(factory, WeightedAggregationFactory)


def supports_unweighted(factory: Any) -> bool:
    """Whether `factory.create(value_spec)` is available."""
    return isinstance(factory, UnweightedAggregationFactory)


_VARIANTS: dict[tuple[type, bool, bool], type] = {}


def _variant(cls: type, weighted: bool, unweighted: bool) -> type:
    """The subclass of `cls` that also derives from the ABCs selected (cached, so
    every instance of one variant shares one class)."""
    cls = getattr(cls, "_variant_of", cls)
    key = (cls, weighted, unweighted)
    if key not in _VARIANTS:
        bases = (
            (cls,)
            + ((WeightedAggregationFactory,) if weighted else ())
            + ((UnweightedAggregationFactory,) if unweighted else ())
        )
        namespace = {
            "__module__": cls.__module__,
            "__qualname__": cls.__qualname__,
            "__doc__": cls.__doc__,
            "_variant_of": cls,
        }
        _VARIANTS[key] = abc.ABCMeta(cls.__name__, bases, namespace)
    return _VARIANTS[key]


def _new_following(cls: type, inner: Any) -> Any:
    """An uninitialized instance of the variant of `cls` that `inner` calls for."""
    return cls.__new__(cls, inner=inner)


class FollowsInner:
    """Base of wrapper factories whose weightedness follows their `inner` factory.

    Constructing a subclass returns an instance of a variant that derives from
    `WeightedAggregationFactory` and/or `UnweightedAggregationFactory` exactly as the
    `inner` argument does, so `supports_weighted` / `supports_unweighted` (plain
    `isinstance` checks) answer for the whole wrapped tree. The subclass's
    `__init__` must take the inner factory as a parameter named `inner` and keep
    it as `self.inner` (copies and pickles rebuild the variant from it).
    """

    inner: Any

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        bound = inspect.signature(cls.__init__).bind_partial(None, *args, **kwargs)
        inner = bound.arguments.get("inner")
        if inner is None:
            raise TypeError(f"{cls.__name__} needs an inner aggregation factory")
        return super().__new__(_variant(cls, supports_weighted(inner), supports_unweighted(inner)))

    def __reduce__(self) -> tuple:
        # Pickle the declared class (the variant is rebuilt from `inner`), then the attributes.
        return _new_following, (type(self)._variant_of, self.inner), self.__dict__

    def _create_inner(self, value_spec: Any, weight_spec: Any) -> AggregationProcess:
        """The inner process, weighted exactly when this one is."""
        if weight_spec is None:
            return self.inner.create(value_spec)
        return self.inner.create(value_spec, weight_spec)
