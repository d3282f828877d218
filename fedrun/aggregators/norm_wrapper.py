"""The shared shape of clipping and zeroing: a wrapper that bounds each client's
L2 norm before delegating to an `inner` factory.

Per round: the bound `B` comes from the norm state (fixed or adaptive); every
client computes its norm and applies the subclass's per-client rule against `B`
(clip or zero); the inner process aggregates the results (with the weights, if
weighted); an adaptive bound then updates from the client norms. Weightedness
follows `inner`.
"""

from __future__ import annotations

import collections
from typing import Any, Callable, Optional, Union

import tensorflow as tf

from fedrun.aggregators.factory import FollowsInner
from fedrun.aggregators.nests import unzip_clients
from fedrun.aggregators.norms import AdaptiveNorm, AdaptiveNormParams, FixedNorm, NormBound
from fedrun.core import intrinsics
from fedrun.core.placements import AtClients, AtServer
from fedrun.core.processes import AggregationProcess, MeasuredProcessOutput

NormSpec = Union[float, AdaptiveNormParams, FixedNorm, AdaptiveNorm]


def as_norm_bound(norm: NormSpec) -> NormBound:
    """A number -> fixed bound; `AdaptiveNormParams` -> adaptive bound (no noise)."""
    if isinstance(norm, (FixedNorm, AdaptiveNorm)):
        return norm
    if isinstance(norm, AdaptiveNormParams):
        return AdaptiveNorm(norm)
    return FixedNorm(float(norm))


class NormWrapperFactory(FollowsInner):
    """Base of `ClippingFactory` and `ZeroingFactory`.

    Subclasses set:
        client_rule: `fn(value, bound) -> (new_value, norm, affected)` for one client
            (a module-level function, so its vectorized form is cached; an
            instance may set its own).
        name: Key of the inner measurements (`clipping`, `zeroing`).
        norm_key: Key of the bound measurement (`clipping_norm`, `zeroing_norm`).
        count_key: Key of the affected-client count (`clipped_count`, `zeroed_count`).
        state_type: `NamedTuple(<norm state>, <inner state>)`.
    """

    client_rule: Callable[[Any, tf.Tensor], tuple[Any, tf.Tensor, tf.Tensor]]
    name: str
    norm_key: str
    count_key: str
    state_type: type

    def __init__(self, norm: NormSpec, inner: Any) -> None:
        self.norm = as_norm_bound(norm)
        self.inner = inner

    def create(
        self, value_spec: Any, weight_spec: Optional[tf.TensorSpec] = None
    ) -> AggregationProcess:
        inner_process = self._create_inner(value_spec, weight_spec)
        norm, rule, state_type = self.norm, self.client_rule, self.state_type

        def initialize() -> Any:
            return state_type(norm.initialize(), inner_process.initialize())

        def next_fn(state: Any, value: AtClients, *weight: AtClients) -> MeasuredProcessOutput:
            norm_state, inner_state = state
            bound = norm.bound(norm_state)
            at_clients = intrinsics.broadcast(AtServer(bound), value.num_clients)
            bounded, norms, affected = unzip_clients(intrinsics.map(rule, (value, at_clients)))
            inner_out = inner_process.next(inner_state, bounded, *weight)
            new_norm_state, _ = norm.next(norm_state, norms)
            measurements = collections.OrderedDict(
                [
                    (self.norm_key, bound),
                    (self.count_key, intrinsics.sum(affected).value),
                    (self.name, inner_out.measurements),
                ]
            )
            return MeasuredProcessOutput(
                state_type(new_norm_state, inner_out.state), inner_out.result, measurements
            )

        return AggregationProcess(
            initialize, next_fn, value_spec, weight_spec, inner_process.traceable
        )
