"""Fixtures of the runtime tests: small composed configs and the runs built from them."""

from __future__ import annotations

from typing import Any, Sequence

import pytest

from tests.conftest import REPO_ROOT

SMALL_RUN = (
    "dataset.num_clients=8",
    "clients_per_round=4",
    "rounds=2",
    "preprocess.epochs=1",
    "sampling=uniform",
    "eval_clients=4",
    "progress=false",
)


def compose_plain(overrides: Sequence[str] = ()) -> dict[str, Any]:
    """The plain config `fedrun OVERRIDES` would run (a small run by default)."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(str(REPO_ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=[*SMALL_RUN, *overrides])
    return OmegaConf.to_container(cfg, resolve=True)


@pytest.fixture(scope="session")
def ray_driver_run():
    """A run built with `runtime=ray` (no Ray started: actors start on first use)."""
    from fedrun.run import build

    return build(compose_plain(["runtime=ray", "runtime.num_cpus=2"]))
