"""`attack:` in a built run: bad blocks refused before training with their config
path, the Byzantine set drawn once and the same in every runtime, attacked runs
giving the same numbers sequentially and vectorized."""

import json

import pytest

from fedrun.app.schema import validate
from fedrun.cli import compose_config
from fedrun.config.errors import ConfigError
from fedrun.run import build, run


def plain(mnist5k_file, *overrides):
    settings = [
        f"dataset.path={mnist5k_file}",
        "dataset.num_clients=10",
        "dataset.central_test_size=50",
        "clients_per_round=10",
        "rounds=2",
        "progress=false",
        "checkpoint.enabled=false",
    ]
    return compose_config([*settings, *overrides])


@pytest.mark.parametrize(
    "override, path, message",
    [
        ("attack={kind: nope, fraction: 0.1}", "attack.kind", "unknown value"),
        ("attack={kind: sign_flip, fraction: 1.0}", "attack.fraction", "out of range"),
        ("attack={kind: sign_flip, fraction: -0.1}", "attack.fraction", "out of range"),
        ("attack={kind: gaussian, std: 0}", "attack.std", "out of range"),
        (
            "attack={kind: sign_flip, fraction: 0.1, clients: [client_1]}",
            "attack",
            "either fraction or clients",
        ),
        ("attack={kind: sign_flip, fractoin: 0.1}", "attack.fractoin", "unknown key"),
    ],
    ids=[
        "unknown-kind",
        "fraction-one",
        "negative-fraction",
        "zero-std",
        "fraction-and-clients",
        "misspelt-key",
    ],
)
def test_bad_attack_block_is_refused_by_validation(mnist5k_file, override, path, message):
    with pytest.raises(ConfigError, match=message) as err:
        validate(plain(mnist5k_file, override))
    assert err.value.path == path


@pytest.mark.parametrize(
    "overrides, path",
    [
        (
            ["aggregator=krum", "attack={kind: sign_flip, fraction: 0.3}"],
            "attack.fraction",
        ),  # 3 expected, f = 2
        (
            ["aggregator=trimmed_mean", "attack={kind: alie, fraction: 0.2}"],
            "attack.fraction",
        ),  # trims 1 a side
        (
            ["aggregator=krum", "attack={kind: ipm, clients: [mnist5k_0, mnist5k_1, mnist5k_2]}"],
            "attack.clients",
        ),
        (["attack={kind: label_flip, clients: [mnist5k_0, nobody]}"], "attack.clients[1]"),
    ],
    ids=["krum-f", "trimmed-mean-trim", "krum-id-list", "unknown-client"],
)
def test_attack_the_aggregator_or_data_cannot_take_is_refused_before_training(
    mnist5k_file, overrides, path
):
    with pytest.raises(ConfigError) as err:
        build(plain(mnist5k_file, *overrides))
    assert err.value.path == path


def test_byzantine_set_is_drawn_once_from_the_seed_and_independent_of_the_runtime(mnist5k_file):
    attack = "attack={kind: sign_flip, fraction: 0.2}"
    sequential = build(plain(mnist5k_file, attack, "runtime=sequential")).attack.byzantine
    vectorized = build(plain(mnist5k_file, attack, "runtime=vectorized")).attack.byzantine
    other_seed = build(plain(mnist5k_file, attack, "seed=1")).attack.byzantine
    assert sequential == vectorized and len(sequential) == 2
    assert other_seed != sequential


def test_worker_recipe_poisons_the_data_it_loads_as_the_driver_did(mnist5k_file):
    """A Ray worker rebuilds the data from the recipe: a data attack must come with it."""
    import pickle

    from fedrun.runtime.recipe import WorkerRecipe

    config = validate(plain(mnist5k_file, "attack={kind: label_flip, fraction: 0.2}"))
    built = build(config)
    recipe = pickle.loads(
        pickle.dumps(
            WorkerRecipe(
                config.dataset,
                config.model,
                config.settings.seed,
                config.settings.preprocess,
                built.attack.poisoning,
            )
        )
    )
    rebuilt = recipe.build_data().train
    clean = WorkerRecipe(
        config.dataset, config.model, config.settings.seed, config.settings.preprocess
    ).build_data()
    byzantine = sorted(built.attack.byzantine)[0]
    honest = next(c for c in built.data.train.client_ids if c not in built.attack.byzantine)
    for client_id in (byzantine, honest):
        assert (
            rebuilt.arrays_for(client_id)["y"] == built.data.train.arrays_for(client_id)["y"]
        ).all()
    flipped = clean.train.arrays_for(byzantine)["y"] != rebuilt.arrays_for(byzantine)["y"]
    assert flipped.any()


def records(run_dir):
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "round_seconds"} for line in lines]


@pytest.mark.slow
@pytest.mark.parametrize(
    "attack",
    [
        "{kind: gaussian, fraction: 0.3, std: 0.5}",
        "{kind: alie, fraction: 0.2}",
        "{kind: backdoor, fraction: 0.3}",
    ],
    ids=["gaussian", "alie", "backdoor"],
)
def test_attacked_runs_match_across_runtimes(mnist5k_file, tmp_path, attack):
    results = {}
    for runtime in ("sequential", "vectorized"):
        run(
            plain(
                mnist5k_file,
                f"attack={attack}",
                "aggregator=median",
                "sampling=uniform",
                f"runtime={runtime}",
            ),
            str(tmp_path / runtime),
        )
        results[runtime] = records(tmp_path / runtime)
    for seq, vec in zip(results["sequential"], results["vectorized"]):
        assert seq["client_work"]["attack"] == vec["client_work"]["attack"]
        assert seq["eval"]["centralized"]["accuracy"] == pytest.approx(
            vec["eval"]["centralized"]["accuracy"], abs=1e-5
        )
        assert seq["train"]["loss"] == pytest.approx(vec["train"]["loss"], rel=1e-5)
    if "backdoor" in attack:
        assert 0 <= results["sequential"][-1]["eval"]["backdoor"]["attack_success_rate"] <= 1
