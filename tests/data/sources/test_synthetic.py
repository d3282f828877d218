"""FedProx's Synthetic(alpha, beta): the published recipe's statistics, on-demand
generation for a million devices, and the CLI end to end."""

import json

import numpy as np
import pytest

from fedrun.data.build import build_data
from fedrun.data.preprocess import PreprocessConfig
from fedrun.data.registry import DataContext
from fedrun.data.sources.synthetic import SyntheticParams, SyntheticPopulation, example_count
from tests.conftest import run_fedrun


def federated(seed=0, **params):
    return build_data(
        {"type": "synthetic", **params}, "dataset", DataContext(seed, PreprocessConfig())
    )


@pytest.mark.parametrize(
    "alpha, beta", [(0.0, 0.0), (0.5, 0.5), (1.0, 1.0)], ids=["0-0", "half-half", "1-1"]
)
def test_device_models_spread_by_alpha_and_features_by_beta(alpha, beta):
    population = SyntheticPopulation(SyntheticParams(alpha=alpha, beta=beta), seed=1)
    models = [population.model(k) for k in range(1500)]
    weight_means = np.array([m.weights.mean() for m in models])
    bias_means = np.array([m.bias.mean() for m in models])
    feature_means = np.array([m.feature_mean.mean() for m in models])
    # W_k, b_k ~ N(u_k, 1), u_k ~ N(0, alpha); v_k ~ N(B_k, 1), B_k ~ N(0, beta).
    assert weight_means.std() == pytest.approx(np.sqrt(alpha**2 + 1 / 600), rel=0.1)
    assert feature_means.std() == pytest.approx(np.sqrt(beta**2 + 1 / 60), rel=0.1)
    assert np.mean([m.weights.std() for m in models]) == pytest.approx(1.0, rel=0.05)
    assert np.mean([m.feature_mean.std() for m in models]) == pytest.approx(1.0, rel=0.05)
    if alpha > 0:  # W_k and b_k share the same mean u_k
        assert np.corrcoef(weight_means, bias_means)[0, 1] > 0.8


def test_features_follow_the_covariance_and_labels_the_device_model():
    population = SyntheticPopulation(SyntheticParams(), seed=2)
    largest = max(range(300), key=lambda k: example_count(2, k))
    x, y = population.examples(largest)
    assert len(x) == population.num_examples(largest) > 2000
    model = population.model(largest)
    centered = x.astype(np.float64) - model.feature_mean
    expected_variance = np.arange(1, 61, dtype=np.float64) ** -1.2  # Sigma_jj = j^-1.2
    np.testing.assert_allclose(centered.var(axis=0), expected_variance, rtol=0.2)
    assert abs(np.corrcoef(centered[:, 0], centered[:, 1])[0, 1]) < 0.1
    np.testing.assert_array_equal(
        y, np.argmax(x.astype(np.float64) @ model.weights + model.bias, axis=1)
    )
    assert x.dtype == np.float32 and y.dtype == np.int32 and y.max() < 10


def test_sizes_are_lognormal_4_2_plus_50():
    counts = np.array([example_count(0, k) for k in range(200_000)])
    assert counts.min() >= 50
    extra = counts - 50
    assert 52 <= np.median(extra) <= 57  # floor(e^4) = 54
    assert 340 <= np.quantile(extra, 0.8413) <= 470  # floor(e^(4 + 2)) = 403


def test_iid_variant_shares_one_model_and_centres_features():
    population = SyntheticPopulation(SyntheticParams(iid=True), seed=3)
    first, other = population.model(0), population.model(17)
    np.testing.assert_array_equal(first.weights, other.weights)
    np.testing.assert_array_equal(first.feature_mean, np.zeros(60))


def test_devices_split_ninety_ten_and_repeat_with_the_seed():
    data = federated(seed=4)
    assert len(data.train.client_ids) == 30 and data.num_classes == 10 and data.central_test is None
    cid = data.train.client_ids[5]
    train, test = data.train.arrays_for(cid), data.test.arrays_for(cid)
    total = len(train["y"]) + len(test["y"])
    assert len(train["y"]) == data.train.num_examples(cid) == int(0.9 * total)
    assert len(test["y"]) == data.test.num_examples(cid)
    again = federated(seed=4).train.arrays_for(cid)
    np.testing.assert_array_equal(again["x"], train["x"])
    other = federated(seed=5).train.arrays_for(cid)
    assert other["x"].shape != train["x"].shape or not np.array_equal(other["x"], train["x"])
    batch = next(iter(data.train.dataset_for(cid).batch(4)))
    np.testing.assert_array_equal(batch["x"].numpy(), train["x"][:4])


def test_a_million_devices_build_lazily_with_bounded_memory():
    data = federated(num_clients=1_000_000, cache_clients=8)
    ids = data.train.client_ids
    assert (
        len(ids) == 1_000_000
        and ids[-1] == "synthetic_999999"
        and ids[:2] == ["synthetic_000000", "synthetic_000001"]
    )
    assert (
        "synthetic_999999" in ids and "synthetic_1000000" not in ids and "other_000001" not in ids
    )
    for k in range(0, 1_000_000, 50_000):
        assert len(data.train.arrays_for(ids[k])["y"]) == data.train.num_examples(ids[k])
    assert data.train.population.num_cached <= 8
    with pytest.raises(KeyError):
        data.train.arrays_for("synthetic_1000000")


@pytest.mark.parametrize(
    "override, path",
    [
        ({"alpha": -1.0}, "dataset.alpha"),
        ({"test_fraction": 1.0}, "dataset.test_fraction"),
        ({"max_examples": 10}, "dataset.max_examples"),
    ],
    ids=["negative-alpha", "no-train-split", "cap-below-recipe-minimum"],
)
def test_bad_parameters_name_their_path(override, path):
    from fedrun.config.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        federated(**override)
    assert err.value.path == path


@pytest.mark.slow
def test_cli_trains_logistic_regression_on_synthetic(tmp_path):
    result = run_fedrun(
        [
            f"hydra.run.dir={tmp_path}",
            "dataset=synthetic",
            "model=logreg_synthetic",
            "rounds=2",
            "progress=false",
        ]
    )
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["round"] for r in records] == [1, 2]
    assert records[-1]["eval"]["federated"]["num_examples"] > 0
    assert (tmp_path / "tb" / "train").is_dir()
