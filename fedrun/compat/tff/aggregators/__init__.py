"""TFF's `tff.aggregators` on fedrun's factories (`fedrun.aggregators`).

`factories` holds the interfaces, `SumFactory`, `MeanFactory` and the bridges
between TFF-style and fedrun factories (`as_native`); `robust` the norm
wrappers (`clipping_factory`, `zeroing_factory`, `PrivateQuantileEstimationProcess`);
`secure` the `SecureSumFactory`; `differential_privacy` the
`DifferentiallyPrivateFactory`.
"""

from fedrun.compat.tff.aggregators.differential_privacy import DifferentiallyPrivateFactory
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

__all__ = [
    "DifferentiallyPrivateFactory",
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
