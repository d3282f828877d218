"""Every algorithm from the command line: runs end to end with TensorBoard logs, and
invalid combinations are refused before training with the config path at fault."""

import json

import pytest
from hydra import compose, initialize_config_dir
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from fedrun.app.schema import validate
from fedrun.cli import CONF_DIR
from fedrun.config.errors import ConfigError
from fedrun.learning.algorithms import ALGORITHMS
from fedrun.run import build
from tests.conftest import run_fedrun

SMALL = [
    "dataset.num_clients=20",
    "clients_per_round=5",
    "preprocess.epochs=1",
    "progress=false",
    "rounds=2",
]


def composed(overrides):
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return OmegaConf.to_container(compose("config", overrides=list(overrides)), resolve=True)


def tensorboard_tags(run_dir, run):
    accumulator = EventAccumulator(str(run_dir / "tb" / run), size_guidance={"tensors": 0})
    accumulator.Reload()
    return {tag: len(accumulator.Tensors(tag)) for tag in accumulator.Tags()["tensors"]}


@pytest.mark.slow
@pytest.mark.parametrize(
    "algorithm, extra, own_tags",
    [
        ("fedsgd", [], []),
        ("fedprox", ["algorithm.mu=0.1"], []),
        ("fedopt", [], []),
        (
            "scaffold",
            [],
            [
                "client_work/control_variates/server_norm",
                "client_work/control_variates/client_norm",
            ],
        ),
        (
            "mime_lite",
            ["client_optimizer.momentum=0.9"],
            ["client_work/full_gradient_norm", "client_work/momentum_norm"],
        ),
    ],
    ids=["fedsgd", "fedprox", "fedopt", "scaffold", "mime_lite"],
)
def test_algorithm_runs_end_to_end_and_logs_to_tensorboard(tmp_path, algorithm, extra, own_tags):
    result = run_fedrun([f"hydra.run.dir={tmp_path}", f"algorithm={algorithm}", *SMALL, *extra])
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["round"] for r in records] == [1, 2]
    assert all(r["finalizer"]["update_non_finite"] == 0 for r in records)
    train_tags = tensorboard_tags(tmp_path, "train")
    for tag in ["loss", "accuracy", *own_tags]:
        assert train_tags.get(tag) == 2, (tag, sorted(train_tags))
    assert tensorboard_tags(tmp_path, "eval").get("accuracy") == 2


@pytest.mark.slow
def test_stragglers_schedules_sampling_and_personalization_together(tmp_path):
    result = run_fedrun(
        [
            f"hydra.run.dir={tmp_path}",
            "algorithm=fedprox",
            "sampling=weighted",
            "stragglers={fraction: 0.6, dropout: 0.2}",
            "personalization={clients: 4, max_steps: 3}",
            "client_lr_schedule={type: exponential, decay_rate: 0.5}",
            "server_lr_schedule={type: cosine, decay_rounds: 2}",
            *SMALL,
        ]
    )
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    for record in records:
        assert record["client_work"] == {
            "sampled": 5,
            "stragglers": 3,
            "dropped": 1,
            "training_failed": 0,
            "update_non_finite": 0,
        }
        assert record["clients"] == 4
        personalization = record["eval"]["personalization"]
        assert (
            set(personalization) == {"before", "after", "clients"}
            and personalization["clients"] == 4
        )
    assert tensorboard_tags(tmp_path, "train").get("client_work/stragglers") == 2
    assert tensorboard_tags(tmp_path, "eval").get("personalization/after/accuracy") == 2


@pytest.mark.parametrize(
    "overrides, path",
    [
        (["algorithm=fedprox", "algorithm.mu=-1"], "algorithm.mu"),
        (["algorithm=fedopt", "server_optimizer.type=rmsprop"], "server_optimizer.type"),
        (["algorithm=fedadagrad", "+server_optimizer.beta_2=0.9"], "server_optimizer.beta_2"),
        (["algorithm=fedyogi", "server_optimizer.tau=0"], "server_optimizer.tau"),
        (["algorithm=fedadam", "+server_optimizer.epsilon=0.1"], "server_optimizer"),
        (
            ["algorithm=fedadam", "+algorithm.server_optimizer.learning_rate=0.1"],
            "algorithm.server_optimizer",
        ),
        (
            ["algorithm=fedopt", "+algorithm.server_optimizer={type: rmsprop}"],
            "algorithm.server_optimizer.type",
        ),
        (["stragglers={fraction: 0.7, dropout: 0.7}"], "stragglers"),
        (["personalization={max_steps: 0}"], "personalization.max_steps"),
        (
            ["client_lr_schedule={type: exponential, decay_rate: 2}"],
            "client_lr_schedule.decay_rate",
        ),
        (["server_lr_schedule={type: warmup}"], "server_lr_schedule.type"),
    ],
    ids=[
        "negative-mu",
        "unknown-server-optimizer",
        "adagrad-beta-2",
        "zero-tau",
        "tau-and-epsilon",
        "partial-old-server-optimizer-node",
        "unknown-old-server-optimizer-node",
        "over-full-cohort",
        "zero-personalization-steps",
        "growing-decay",
        "unknown-schedule",
    ],
)
def test_bad_values_fail_at_validation(overrides, path):
    with pytest.raises(ConfigError) as err:
        validate(composed(overrides))
    assert err.value.path == path


@pytest.mark.parametrize(
    "overrides, path",
    [
        (["algorithm=fedsgd", "preprocess.epochs=2"], "preprocess.epochs"),
        (["algorithm=scaffold", "client_optimizer=adam"], "client_optimizer.type"),
        (["algorithm=scaffold", "client_optimizer.momentum=0.9"], "client_optimizer.momentum"),
        (["algorithm=mime_lite", "client_optimizer=adam"], "client_optimizer.type"),
        (
            [
                "algorithm=mime_lite",
                "client_optimizer.momentum=0.9",
                "+client_optimizer.nesterov=true",
            ],
            "client_optimizer.nesterov",
        ),
        (["stragglers={fraction: 1.0}"], "stragglers"),
    ],
    ids=[
        "fedsgd-epochs",
        "scaffold-adam",
        "scaffold-momentum",
        "mime-adam",
        "mime-nesterov",
        "fedavg-drops-everyone",
    ],
)
def test_invalid_combinations_fail_while_building(overrides, path):
    with pytest.raises(ConfigError) as err:
        build(composed(["dataset.num_clients=20", *overrides]))
    assert err.value.path == path


def test_fedsgd_preset_sets_one_epoch_and_full_batches_and_builds():
    plain = composed(["dataset.num_clients=20", "algorithm=fedsgd"])
    assert plain["algorithm"] == {"type": "fedsgd", "weighted": True}
    assert (plain["preprocess"]["epochs"], plain["preprocess"]["batch_size"]) == (1, 600)
    built = build(plain)
    built.runtime.close()
    assert built.config.preprocess.epochs == 1


@pytest.mark.parametrize(
    "overrides, epochs, batch_size",
    [
        (["preprocess.batch_size=20"], 1, 20),
        (["preprocess.epochs=1"], 1, 600),
        (["algorithm.weighted=false"], 1, 600),
    ],
    ids=["own-batch-size", "explicit-one-epoch", "unweighted"],
)
def test_fedsgd_preset_keeps_explicit_overrides(overrides, epochs, batch_size):
    plain = composed(["algorithm=fedsgd", *overrides])
    assert (plain["preprocess"]["epochs"], plain["preprocess"]["batch_size"]) == (
        epochs,
        batch_size,
    )


@pytest.mark.parametrize(
    "name",
    [
        "fedavg",
        "fedsgd",
        "fedprox",
        "fedopt",
        "fedadam",
        "fedyogi",
        "fedadagrad",
        "fedavgm",
        "scaffold",
        "mime_lite",
    ],
    ids=lambda n: n,
)
def test_every_algorithm_config_parses(name):
    node = composed([f"algorithm={name}"])["algorithm"]
    ALGORITHMS.parse(node, "algorithm")


@pytest.mark.slow
def test_cli_refuses_fedsgd_with_several_epochs(tmp_path):
    result = run_fedrun(
        [f"hydra.run.dir={tmp_path}", "algorithm=fedsgd", "preprocess.epochs=5", "rounds=1"]
    )
    assert result.returncode != 0
    assert "preprocess.epochs" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "metrics.jsonl").exists()
