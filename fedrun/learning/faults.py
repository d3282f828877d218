"""Surviving failing clients: a client whose data or training raises, or whose update
is not finite, is dropped from its round instead of failing the run.

* Data: `build_cohort_dropping_failures` builds the round's batches; if that raises,
  it finds the clients whose data raises (each alone) and builds the batches of
  the others.
* Training: `train_dropping_failures` trains the cohort in one call; if that
  raises, it trains each client alone to find the ones that raise, then trains
  the others together. Their rows in the stacked outputs are zeros, and they are
  marked in a mask.
* Non-finite updates: `finite_clients` is the per-client mask (vectorized over
  the client axis) of updates without NaN/Inf; `surviving_clients` combines it
  with the training failures, and client work drops the others with
  `AtClients.select`, before metrics are summed and updates aggregated.
* Aggregation: a secure sum that cannot be unmasked loses every update in it;
  `clients_lost_in_aggregation` reads how many from the round's measurements.

The searches are deterministic (they depend only on which clients raise), so a
resumed run drops exactly the clients an uninterrupted one does. A failure that
no single client reproduces is not a client's fault, and is raised as is.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Mapping, NamedTuple, Optional, Sequence

import numpy as np
import tensorflow as tf

from fedrun.data.client_data import ClientData
from fedrun.data.cohort import CohortData, build_cohort
from fedrun.data.preprocess import PreprocessConfig
from fedrun.runtime.base import slice_inputs
from fedrun.runtime.trainer import ClientOutputs, RoundInputs

logger = logging.getLogger(__name__)


class RoundFailedError(RuntimeError):
    """A round that cannot complete: too few of its clients survived.

    Attributes:
        round_num: The round.
        problem: What happened.
    """

    def __init__(self, round_num: int, problem: str) -> None:
        self.round_num = round_num
        self.problem = problem
        super().__init__(f"round {round_num} failed: {problem}")


def _describe(error: BaseException) -> str:
    """The error's type and its telling line (TensorFlow buries it under node traces)."""
    lines = [line.strip() for line in str(error).splitlines()]
    noise = ("Graph execution error", "Detected at node", "File ", "[[")
    telling = [line for line in lines if line and not line.startswith(noise)]
    return f"{type(error).__name__}: {telling[-1] if telling else ''}"


def _all_failed(
    round_num: int, stage: str, failures: Sequence[tuple[str, BaseException]]
) -> RoundFailedError:
    client_id, error = failures[0]
    return RoundFailedError(
        round_num,
        f"the {stage} of every one of its {len(failures)} clients raised; first ({client_id}): {_describe(error)}",
    )


def build_cohort_dropping_failures(
    client_data: ClientData,
    client_ids: Sequence[str],
    config: PreprocessConfig,
    seed: int,
    round_num: int,
    epochs: Optional[Sequence[int]] = None,
) -> tuple[CohortData, dict[str, str]]:
    """`build_cohort` without the clients whose data raises.

    Returns:
        The cohort of the clients whose data loads, and the dropped clients' ids
        with what each raised.

    Raises:
        RoundFailedError: if every client's data raises.
    """
    try:
        return build_cohort(client_data, client_ids, config, seed, round_num, epochs), {}
    except Exception:  # noqa: BLE001  (any client's broken data; found below)
        pass
    failures: list[tuple[str, BaseException]] = []
    for k, client_id in enumerate(client_ids):
        try:
            build_cohort(
                client_data,
                [client_id],
                config,
                seed,
                round_num,
                None if epochs is None else [epochs[k]],
            )
        except Exception as err:  # noqa: BLE001
            failures.append((client_id, err))
            logger.warning(
                "round %d: dropping client %s, its data raised %s",
                round_num,
                client_id,
                _describe(err),
            )
    if len(failures) == len(client_ids):
        raise _all_failed(round_num, "data", failures)
    failed = {client_id: _describe(err) for client_id, err in failures}
    keep = [k for k, client_id in enumerate(client_ids) if client_id not in failed]
    survivors = [client_ids[k] for k in keep]
    kept_epochs = None if epochs is None else [epochs[k] for k in keep]
    return build_cohort(client_data, survivors, config, seed, round_num, kept_epochs), failed


def _scatter_rows(outputs: Any, positions: np.ndarray, count: int) -> Any:
    """Outputs of the clients at `positions` placed in a `count`-row stack (zeros elsewhere)."""
    indices = tf.constant(positions.reshape(-1, 1), tf.int64)

    def scatter(leaf: tf.Tensor) -> tf.Tensor:
        shape = tf.concat([[count], tf.shape(leaf, out_type=tf.int64)[1:]], axis=0)
        return tf.scatter_nd(indices, leaf, shape)

    return tf.nest.map_structure(scatter, outputs)


class TrainedCohort(NamedTuple):
    """Client outputs of a cohort, and which clients' training raised.

    Attributes:
        outputs: Stacked outputs of every client (zero rows where training raised).
        raised: bool `[K]`, True where a client's training raised.
    """

    outputs: ClientOutputs
    raised: np.ndarray


def train_dropping_failures(
    train: Callable[[CohortData, RoundInputs], ClientOutputs],
    cohort: CohortData,
    inputs: RoundInputs,
) -> TrainedCohort:
    """Trains the cohort; clients whose training raises are found and left out.

    Args:
        train: Trains a cohort (the runtime's `train` with its trainer and weights).
        cohort: The round's cohort.
        inputs: The round's inputs, stacked like the cohort.

    Raises:
        RoundFailedError: if every client's training raises.
    """
    count = cohort.num_clients
    try:
        return TrainedCohort(train(cohort, inputs), np.zeros(count, bool))
    except Exception as err:  # noqa: BLE001  (searched for its clients below)
        cohort_error = err
    raised = np.zeros(count, bool)
    failures: list[tuple[str, BaseException]] = []
    for k in range(count):
        try:
            train(cohort.subset([k]), slice_inputs(inputs, [k]))
        except Exception as err:  # noqa: BLE001
            raised[k] = True
            failures.append((cohort.client_ids[k], err))
            logger.warning(
                "round %d: dropping client %s, its training raised %s",
                cohort.round_num,
                cohort.client_ids[k],
                _describe(err),
            )
    if not raised.any():
        raise cohort_error
    if raised.all():
        raise _all_failed(cohort.round_num, "training", failures)
    survivors = np.flatnonzero(~raised)
    outputs = train(cohort.subset(survivors.tolist()), slice_inputs(inputs, survivors.tolist()))
    return TrainedCohort(_scatter_rows(outputs, survivors, count), raised)


# XLA fuses the check into one kernel: half the cost of this every-round call on CPU.
@tf.function(reduce_retracing=True, jit_compile=True)
def _finite_rows(leaves: list[tf.Tensor]) -> tf.Tensor:
    flags = [
        tf.reduce_all(tf.reshape(tf.math.is_finite(leaf), [tf.shape(leaf)[0], -1]), axis=1)
        for leaf in leaves
    ]
    return tf.reduce_all(tf.stack(flags, axis=0), axis=0)


def finite_clients(update: Any) -> tf.Tensor:
    """bool `[K]`: whether each client's update (stacked nest) is free of NaN and Inf."""
    leaves = tf.nest.flatten(update)
    floating = [leaf for leaf in leaves if leaf.dtype.is_floating]
    if not floating:
        return tf.ones([tf.shape(leaves[0])[0]] if leaves else [0], tf.bool)
    return _finite_rows(floating)  # one compiled call: this runs every round


def surviving_clients(
    update: Any, raised: np.ndarray, cohort: CohortData
) -> tuple[np.ndarray, np.ndarray]:
    """Which clients a round keeps: those whose training did not raise and whose update is finite.

    Returns:
        `keep` and `non_finite`, bool `[K]` each (dropped clients are named in a warning).

    Raises:
        RoundFailedError: if no client is kept.
    """
    non_finite = ~finite_clients(update).numpy() & ~raised
    keep = ~(non_finite | raised)
    if non_finite.any():
        names = ", ".join(cid for cid, bad in zip(cohort.client_ids, non_finite) if bad)
        logger.warning(
            "round %d: dropping client update(s) with NaN/Inf: %s", cohort.round_num, names
        )
    if not keep.any():
        problem = f"every one of its {cohort.num_clients} clients was dropped ({int(non_finite.sum())} non-finite updates)"
        raise RoundFailedError(cohort.round_num, problem)
    return keep, non_finite


def clients_lost_in_aggregation(aggregator: Mapping[str, Any]) -> int:
    """How many clients' updates a round's aggregation lost, from its plain measurements.

    A secure sum that could not be unmasked (a `protocol` measurement with `failed`,
    anywhere in the aggregator tree) loses the updates of all its `survivors`,
    the clients whose masked input it summed; a tree with several such sums (a secure
    mean's weights too) loses the same clients once.
    """
    lost = 0
    for key, value in aggregator.items():
        if not isinstance(value, Mapping):
            continue
        if key == "protocol" and value.get("failed"):
            lost = max(lost, int(value.get("survivors", 0)))
        else:
            lost = max(lost, clients_lost_in_aggregation(value))
    return lost
