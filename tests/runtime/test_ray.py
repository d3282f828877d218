"""`runtime=ray` on a local Ray with 2 CPUs: same numbers as `sequential` (attacked
runs too), actors that die (a Python-level exit, or their process killed from
outside) are replaced and their clients retried once, then dropped."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest
import tensorflow as tf

from fedrun.config.errors import ConfigError
from fedrun.data.cohort import build_cohort
from fedrun.runtime import RUNTIMES
from fedrun.runtime.base import client_seeds
from fedrun.runtime.local import SequentialRuntime
from fedrun.runtime.ray import RayParams, RayRuntime, WorkerFailures, runtime_env
from fedrun.runtime.ray_pool import PoolOutcome
from fedrun.runtime.ray_worker import ClientWorker, to_numpy
from fedrun.runtime.recipe import WorkerRecipe
from fedrun.runtime.trainer import RoundInputs
from tests.conftest import REPO_ROOT
from tests.runtime.conftest import compose_plain

CRASH_DIR_VAR = "FEDRUN_TEST_CRASH_DIR"
OBJECT_STORE_BYTES = 100 * 2**20  # Ray's weights and updates in transit: tiny models here
SMALL_RAY = ["runtime=ray", "runtime.num_cpus=2", "runtime.num_workers=2"]
SMALL_RAY += [f"runtime.object_store_memory={OBJECT_STORE_BYTES}"]


class CrashingWorker(ClientWorker):
    """Exits its process when told to by marker files in `$FEDRUN_TEST_CRASH_DIR`:
    `once` (the first worker to see it removes it and dies) or `always-<client id>`.
    While `hold` exists, a worker given a share writes `running-<its pid>` and waits
    (up to a minute) for `hold` to go, so a test can kill it from outside mid-share."""

    def run_share(self, request, weights, steps=()):
        crash_dir = Path(os.environ[CRASH_DIR_VAR])
        if (crash_dir / "hold").exists():
            (crash_dir / f"running-{os.getpid()}").touch()
            deadline = time.monotonic() + 60
            while (crash_dir / "hold").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
        if any((crash_dir / f"always-{cid}").exists() for cid in request.client_ids):
            os._exit(1)
        try:
            (crash_dir / "once").unlink()
        except FileNotFoundError:
            return super().run_share(request, weights, steps)
        os._exit(1)


# ----------------------------------------------------------------- configuration
def test_fedrun_imports_without_importing_ray():
    code = "import sys, fedrun.runtime, fedrun.run; assert 'ray' not in sys.modules, 'ray imported'"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_missing_ray_names_the_extra_to_install(monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "ray" else real_find_spec(name, *a),
    )
    with pytest.raises(ConfigError, match=r"pip install 'fedrun\[ray\]'") as err:
        RUNTIMES.parse({"type": "ray"}, "runtime")
    assert err.value.path == "runtime"


@pytest.mark.parametrize(
    "node, message",
    [
        ({"address": "auto", "num_cpus": 4}, "num_cpus sizes a local Ray"),
        ({"num_cpus": 2, "num_workers": 3}, "exceeds num_cpus"),
        ({"local": "threads"}, "runtime.local"),
        ({"num_workers": 0}, "runtime.num_workers"),
        ({"address": "auto", "object_store_memory": "1GB"}, "object_store_memory sizes a local"),
        ({"object_store_memory": "lots"}, "runtime.object_store_memory: not a size"),
    ],
    ids=[
        "cpus-with-cluster",
        "too-many-workers",
        "unknown-local-runtime",
        "no-workers",
        "object-store-with-cluster",
        "object-store-not-a-size",
    ],
)
def test_bad_ray_settings_fail_at_validation(node, message):
    with pytest.raises(ConfigError, match=message):
        RUNTIMES.parse({"type": "ray", **node}, "runtime")


def test_worker_failures_count_deaths_retries_and_lost_clients():
    once = PoolOutcome([None, None, None], retried=(0, 2), dropped=())
    twice = PoolOutcome([None, None], retried=(1,), dropped=(1,))  # share 1 died, then again
    counts = WorkerFailures().add(once, 0).add(twice, 3)
    assert counts == WorkerFailures(workers_lost=2 + 2, shares_retried=2 + 1, clients_lost=3)


# ------------------------------------------------------------ on a local Ray
def run_two_rounds(overrides):
    from fedrun.run import build
    from fedrun.training.evaluation import EvaluationCallback
    from fedrun.training.loop import LoopConfig, run_rounds

    built = build(compose_plain(overrides))
    config = built.config
    loop = LoopConfig(config.rounds, config.clients_per_round, config.seed, config.preprocess)
    evaluation = EvaluationCallback(built.evaluator, config.eval_every, config.rounds)
    try:
        state, records = run_rounds(
            built.process,
            built.data,
            built.sampler,
            loop,
            built.process.initialize(),
            [evaluation],
        )
    finally:
        built.runtime.close()
    return built.process.get_model_weights(state), records


@pytest.mark.slow
def test_two_rounds_match_sequential_and_the_local_ray_is_shut_down():
    import ray

    expected_weights, expected = run_two_rounds(["runtime=sequential"])
    weights, records = run_two_rounds(SMALL_RAY)
    assert not ray.is_initialized()
    assert_same_rounds(weights, records, expected_weights, expected)


def assert_same_rounds(weights, records, expected_weights, expected):
    for want, have in zip(tf.nest.flatten(expected_weights), tf.nest.flatten(weights)):
        np.testing.assert_allclose(have.numpy(), want.numpy(), rtol=1e-5, atol=1e-6)
    for want, have in zip(expected, records):
        assert have["train"] == pytest.approx(want["train"], rel=1e-5)
        assert have["eval"]["federated"] == pytest.approx(want["eval"]["federated"], rel=1e-5)
        assert have["eval"]["centralized"] == pytest.approx(want["eval"]["centralized"], rel=1e-5)


def byzantine_trainings(overrides):
    """How many times a Byzantine client is in the two rounds' cohorts (0: the attack never acts)."""
    from fedrun.run import build

    built = build(compose_plain(overrides))
    config, ids = built.config, built.data.train.client_ids
    cohorts = [
        built.sampler.sample(
            ids, config.clients_per_round, r, config.seed, built.data.train.num_examples
        )
        for r in (1, 2)
    ]
    return sum(len(built.attack.byzantine.intersection(c)) for c in cohorts)


@pytest.mark.slow
@pytest.mark.parametrize(
    "attack",
    ["attack={kind: sign_flip, fraction: 0.2}", "attack={kind: label_flip, fraction: 0.2}"],
    ids=["sign-flip-update-attack", "label-flip-data-attack"],
)
def test_attacked_rounds_match_sequential(attack):
    """Ray's workers send the same attacked updates and train on the same poisoned data."""
    assert byzantine_trainings(["runtime=sequential", attack]) > 0
    expected_weights, expected = run_two_rounds(["runtime=sequential", attack])
    weights, records = run_two_rounds([*SMALL_RAY, attack])
    assert_same_rounds(weights, records, expected_weights, expected)


class CrashSetup(NamedTuple):
    """A run on a module-owned local Ray whose workers crash on demand, and one cohort."""

    runtime: RayRuntime
    crash_dir: Path
    cohort: Any
    inputs: RoundInputs
    weights: Any
    expected: Any  # the cohort's outputs from the sequential runtime
    built: Any  # the run, training with `runtime`
    spec: Any


@pytest.fixture(scope="module")
def crash_setup(tmp_path_factory):
    import ray

    from fedrun.app.schema import validate
    from fedrun.run import build

    crash_dir = tmp_path_factory.mktemp("crash")
    env = runtime_env(ship_code=False)
    env["env_vars"] = {**env["env_vars"], CRASH_DIR_VAR: str(crash_dir)}
    ray.init(
        num_cpus=2,
        object_store_memory=OBJECT_STORE_BYTES,
        include_dashboard=False,
        runtime_env=env,
    )
    spec = validate(compose_plain(["runtime=ray", "runtime.local=sequential"]))
    recipe = WorkerRecipe(spec.dataset, spec.model, spec.settings.seed, spec.settings.preprocess)
    runtime = RayRuntime(
        RayParams(num_workers=2, local="sequential"), recipe, worker_class=CrashingWorker
    )
    built = build(spec, runtime=runtime)
    config = built.config
    ids = list(built.data.train.client_ids)[:4]
    cohort = build_cohort(built.data.train, ids, config.preprocess, config.seed, 1)
    inputs = RoundInputs(tf.constant(0.05, tf.float32), (), (), client_seeds(config.seed, 1, ids))
    weights = built.process.get_model_weights(built.process.initialize())
    expected = to_numpy(SequentialRuntime().train(runtime.trainers[0], weights, cohort, inputs))
    yield CrashSetup(runtime, crash_dir, cohort, inputs, weights, expected, built, spec)
    runtime.close()
    ray.shutdown()


@pytest.mark.slow
def test_a_worker_that_dies_once_is_replaced_and_its_clients_retried(crash_setup):
    runtime, crash_dir, cohort, inputs, weights, expected = crash_setup[:6]
    (crash_dir / "once").touch()
    got = to_numpy(runtime.train(runtime.trainers[0], weights, cohort, inputs))
    assert not (crash_dir / "once").exists()
    assert runtime.restarts == 1 and runtime.dropped_clients == 0
    for want, have in zip(tf.nest.flatten(expected), tf.nest.flatten(got)):
        np.testing.assert_allclose(have, want, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_clients_whose_worker_dies_twice_are_dropped(crash_setup):
    runtime, crash_dir, cohort, inputs, weights, expected = crash_setup[:6]
    restarts = runtime.restarts
    marker = crash_dir / f"always-{cohort.client_ids[3]}"
    marker.touch()
    try:
        got = to_numpy(runtime.train(runtime.trainers[0], weights, cohort, inputs))
    finally:
        marker.unlink()
    (share,) = [
        list(r.positions)
        for r in runtime.share_requests("train", runtime.trainers[0], cohort, inputs)
        if 3 in r.positions
    ]
    kept = [p for p in range(4) if p not in share]
    assert runtime.restarts == restarts + 2
    assert runtime.dropped_clients == len(share)  # the dying client's whole share
    assert runtime.take_lost_clients() == {cohort.client_ids[p] for p in share}
    assert runtime.take_lost_clients() == frozenset()  # reported once
    np.testing.assert_array_equal(got.num_examples[share], 0)
    assert all(np.all(u[share] == 0) for u in got.update)
    np.testing.assert_allclose(got.num_examples[kept], expected.num_examples[kept])
    # The replaced worker trains the next round normally.
    again = to_numpy(runtime.train(runtime.trainers[0], weights, cohort, inputs))
    np.testing.assert_allclose(again.num_examples, expected.num_examples)


def kill_the_first_worker_to_start(crash_dir, timeout=300.0):
    """Waits until a worker holds a share, kills its process with SIGKILL from this
    (the test's) process, then lets the others go on; returns the pid killed."""
    deadline, pid = time.monotonic() + timeout, None
    try:
        while pid is None and time.monotonic() < deadline:
            started = sorted(crash_dir.glob("running-*"))
            if started:
                pid = int(started[0].name.split("-")[1])
                os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)
    finally:
        (crash_dir / "hold").unlink()
    return pid


@pytest.mark.slow
def test_a_worker_killed_from_outside_mid_round_has_its_share_retried(crash_setup):
    from fedrun.run import build
    from fedrun.training.loop import LoopConfig, run_round

    setup = crash_setup
    config = setup.built.config
    loop = LoopConfig(config.rounds, config.clients_per_round, config.seed, config.preprocess)
    sequential = build(setup.spec, runtime=SequentialRuntime())
    expected_state, expected = run_round(
        sequential.process,
        sequential.data,
        sequential.sampler,
        loop,
        sequential.process.initialize(),
        1,
    )
    setup.runtime.take_measurements()  # forget what the tests before left
    setup.runtime.take_lost_clients()
    restarts = setup.runtime.restarts
    (setup.crash_dir / "hold").touch()
    killed = []
    killer = threading.Thread(
        target=lambda: killed.append(kill_the_first_worker_to_start(setup.crash_dir))
    )
    killer.start()
    try:
        process = setup.built.process
        state, record = run_round(
            process, setup.built.data, setup.built.sampler, loop, process.initialize(), 1
        )
    finally:
        killer.join()
        for marker in setup.crash_dir.glob("running-*"):
            marker.unlink()
    assert killed[0] is not None and setup.runtime.restarts == restarts + 1
    assert record["client_work"]["runtime"] == {
        "workers_lost": 1,
        "shares_retried": 1,
        "clients_lost": 0,
    }
    assert record["clients_failed"] == 0 and record["client_work"]["training_failed"] == 0
    assert record["train"] == pytest.approx(expected["train"], rel=1e-5)
    for want, have in zip(
        tf.nest.flatten(sequential.process.get_model_weights(expected_state)),
        tf.nest.flatten(process.get_model_weights(state)),
    ):
        np.testing.assert_allclose(have.numpy(), want.numpy(), rtol=1e-5, atol=1e-6)
