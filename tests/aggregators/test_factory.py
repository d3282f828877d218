"""Wrappers are weighted and/or unweighted exactly as their inner factory."""

import copy
import pickle

import pytest

from fedrun.aggregators.clipping import ClippingFactory
from fedrun.aggregators.factory import (
    UnweightedAggregationFactory,
    WeightedAggregationFactory,
    supports_unweighted,
    supports_weighted,
)
from fedrun.aggregators.mean import MeanFactory
from fedrun.aggregators.sum import SumFactory
from fedrun.aggregators.zeroing import ZeroingFactory
from tests.aggregators.example_factory import ExampleWeightedMeanFactory


@pytest.mark.parametrize(
    "inner, weighted, unweighted",
    [
        (SumFactory(), False, True),
        (MeanFactory(), True, True),
        (ExampleWeightedMeanFactory(), True, False),
    ],
    ids=["sum", "mean", "weighted-only"],
)
def test_variant_follows_inner(inner, weighted, unweighted):
    wrapper = ClippingFactory(1.0, inner)
    assert isinstance(wrapper, ClippingFactory)
    assert (supports_weighted(wrapper), supports_unweighted(wrapper)) == (weighted, unweighted)


def test_nested_wrappers_propagate():
    outer = ZeroingFactory(10.0, ClippingFactory(1.0, ExampleWeightedMeanFactory()))
    assert isinstance(outer, WeightedAggregationFactory) and not isinstance(
        outer, UnweightedAggregationFactory
    )


def test_variants_are_shared_classes():
    assert type(ClippingFactory(1.0, SumFactory())) is type(ClippingFactory(2.0, SumFactory()))
    assert type(ClippingFactory(1.0, SumFactory())) is not type(ClippingFactory(1.0, MeanFactory()))


def test_inner_is_required():
    with pytest.raises(TypeError, match="inner"):
        ClippingFactory(1.0, None)


def test_copies_and_pickles_keep_the_variant():
    wrapper = ZeroingFactory(10.0, ClippingFactory(1.0, ExampleWeightedMeanFactory()))
    for clone in (copy.deepcopy(wrapper), pickle.loads(pickle.dumps(wrapper))):
        assert type(clone) is type(wrapper)
        assert isinstance(clone.inner, ClippingFactory) and clone.norm.norm == 10.0
