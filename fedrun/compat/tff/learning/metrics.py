"""TFF's `tff.learning.metrics`: metric aggregation.

fedrun aggregates metrics one way, TFF's default: clients' unfinalized metrics are
summed at the server, then finalized. `sum_then_finalize` names that choice; it is
the only `metrics_aggregator` the facade's learning builders accept.
"""

from __future__ import annotations

from typing import Any

from fedrun.compat.tff.unsupported import UnsupportedError


def sum_then_finalize(*args: Any, **kwargs: Any) -> Any:
    """TFF's default metrics aggregator; pass the function itself as `metrics_aggregator`."""
    raise UnsupportedError(
        "fedrun sums unfinalized metrics and finalizes them inside its learning processes; pass "
        "tff.learning.metrics.sum_then_finalize (uncalled) as metrics_aggregator, or leave it out"
    )


def check_metrics_aggregator(metrics_aggregator: Any) -> None:
    """Refuses metric aggregators other than `sum_then_finalize`."""
    if metrics_aggregator not in (None, sum_then_finalize):
        raise UnsupportedError(
            "fedrun aggregates metrics by summing then finalizing (tff.learning.metrics.sum_then_finalize); "
            f"{getattr(metrics_aggregator, '__name__', metrics_aggregator)!r} is not supported"
        )


__all__ = ["check_metrics_aggregator", "sum_then_finalize"]
