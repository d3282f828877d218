"""Sweeps in TensorBoard: each job records its swept values and final metrics.

A Hydra job's overrides (`.hydra/overrides.yaml` in its run directory) are its
hyperparameters. `HParamsCallback` writes them into the job's `tb/` directory as a
TensorBoard hparams session, with the final metrics declared as the last values of
the per-round scalars the `TensorBoardCallback` writes (`train/loss`,
`eval/accuracy`, ...). Pointing TensorBoard at a sweep directory then shows every
job side by side in the HParams dashboard.

`objective_value` reads the number a job returns to a Hydra sweeper (Optuna) from
the run's summary.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Optional

from fedrun.config.errors import ConfigError
from fedrun.training.callbacks import Callback
from fedrun.training.metrics import flatten

HParamValue = bool | int | float | str
OVERRIDES_FILE = os.path.join(".hydra", "overrides.yaml")
# Summary section -> the TensorBoard run (under tb/) holding its per-round scalars.
METRIC_RUNS = {
    "final_train": "train",
    "final_eval/federated": "eval",
    "final_eval/centralized": "eval_centralized",
}
COUNTERS = ("num_examples", "num_batches")


def hparam_value(value: Any) -> HParamValue:
    """A value TensorBoard's hparams accept: numbers, booleans, strings (others as text)."""
    if isinstance(value, (bool, int, float, str)):
        return value
    return "null" if value is None else str(value)


def job_overrides(run_dir: str) -> dict[str, Any]:
    """The command-line overrides of the Hydra job in `run_dir`, typed ({} if none).

    Deletions (`~key`) are left out; `+key` / `++key` count as `key`.
    """
    path = os.path.join(run_dir, OVERRIDES_FILE)
    if not os.path.exists(path):
        return {}
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    lines = [str(line) for line in OmegaConf.to_container(OmegaConf.load(path)) or []]
    parsed = OverridesParser.create().parse_overrides(lines)
    return {
        o.key_or_group: o.value()
        for o in parsed
        if not o.is_delete() and not o.key_or_group.startswith("hydra.")
    }


def final_metric_tags(summary: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(TensorBoard run, tag) of each final metric in a run summary (counters left out)."""
    tags = []
    for section, run in METRIC_RUNS.items():
        values: Any = summary
        for key in section.split("/"):
            values = values.get(key, {}) if isinstance(values, Mapping) else {}
        tags += [(run, name) for name, _ in flatten(values) if name not in COUNTERS]
    return tags


class HParamsCallback(Callback):
    """Writes a TensorBoard hparams session for this run.

    Args:
        logdir: The run's TensorBoard root (`tb/`), whose `train`, `eval` and
            `eval_centralized` runs hold the per-round scalars.
        hparams: Name -> value (a job's overrides).
    """

    def __init__(self, logdir: str, hparams: Mapping[str, Any]) -> None:
        import tensorflow as tf

        self._tf = tf
        self.logdir = logdir
        self.hparams = {str(k): hparam_value(v) for k, v in hparams.items()}
        self._writer = tf.summary.create_file_writer(logdir)

    def on_train_begin(self, start_round: int) -> None:
        from tensorboard.plugins.hparams import api as hp

        with self._writer.as_default():
            hp.hparams(self.hparams)
        self._writer.flush()

    def on_train_end(self, summary: Mapping[str, Any]) -> None:
        from tensorboard.plugins.hparams import api as hp

        metrics = [
            hp.Metric(tag, group=run, display_name=f"{run}/{tag}")
            for run, tag in final_metric_tags(summary)
        ]
        with self._writer.as_default():
            hp.hparams_config(hparams=[hp.HParam(name) for name in self.hparams], metrics=metrics)
        self._writer.close()


def objective_value(summary: Mapping[str, Any], path: Optional[str]) -> Optional[float]:
    """The summary value at a dotted `path` (`final_eval.federated.accuracy`), or None.

    Raises:
        ConfigError: at `objective` if the summary has no number there.
    """
    if path is None:
        return None
    value: Any = summary
    for key in path.split("."):
        value = value.get(key) if isinstance(value, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        available = [name.replace("/", ".") for name, _ in flatten(summary)]
        raise ConfigError(
            "objective", "no number at this path of the run's summary", path, available
        )
    return float(value)
