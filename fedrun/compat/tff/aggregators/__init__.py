"""TFF's `tff.aggregators` on fedrun's factories (`fedrun.aggregators`).

`factories` holds the interfaces, `SumFactory`, `MeanFactory` and the bridges
between TFF-style and fedrun factories (`as_native`); `robust` the norm
wrappers (`clipping_factory`, `zeroing_factory`, `PrivateQuantileEstimationProcess`);
`secure` the `SecureSumFactory` (`secure_bounds` its integer and adaptive sums);
`differential_privacy` the `DifferentiallyPrivateFactory`; `encoded` the
`EncodedSumFactory.quantize_above_threshold`.
"""

from fedrun.compat.tff.aggregators.differential_privacy import DifferentiallyPrivateFactory
from fedrun.compat.tff.aggregators.encoded import EncodedSumFactory
from fedrun.compat.tff.aggregators.factories import (
    MeanFactory,
    SumFactory,
    UnweightedAggregationFactory,
    WeightedAggregationFactory,
    as_native,
)
from fedrun.compat.tff.aggregators.robust import (
    PrivateQuantileEstimationProcess,
    clipping_factory,
    zeroing_factory,
)
from fedrun.compat.tff.aggregators.secure import SecureSumFactory
from fedrun.compat.tff.unsupported import AGGREGATORS, error


def __getattr__(name: str) -> object:
    raise error("tff.aggregators", name, AGGREGATORS)


__all__ = [
    "DifferentiallyPrivateFactory",
    "EncodedSumFactory",
    "MeanFactory",
    "PrivateQuantileEstimationProcess",
    "SecureSumFactory",
    "SumFactory",
    "UnweightedAggregationFactory",
    "WeightedAggregationFactory",
    "as_native",
    "clipping_factory",
    "zeroing_factory",
]
