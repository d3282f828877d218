"""The `fedrun-data` command: describe the data a `fedrun` config would train on.

It composes the same Hydra config as `fedrun` (`fedrun-data dataset=shakespeare`
describes what `fedrun dataset=shakespeare` trains on), validates it, builds the
data, prints client counts, examples per client (min / median / max) and label
histograms, and writes `data_summary.json` and `clients.png` (per-client label
distributions, client sizes, example images or text) into its run directory.

`+describe.max_clients=N` bounds how many clients are read for label histograms
(default 5000); `+describe.plot_clients=N` how many the figure shows (default 30).

`fedrun-data download NAME` downloads one of TFF's federated sets instead
(`fedrun.data.download_cli`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from typing import Any

from fedrun.cli import (
    CONF_DIR,
    EXIT_BAD_INPUT,
    import_tensorflow_quietly,
    plain_config,
    register_experiments,
)
from fedrun.config.params import bounded, parse

SUMMARY_FILE = "data_summary.json"
FIGURE_FILE = "clients.png"


@dataclasses.dataclass(frozen=True)
class DescribeParams:
    """The optional `describe:` node (`+describe.max_clients=...`).

    Attributes:
        max_clients: Clients read for the label histograms.
        plot_clients: Clients whose label distributions the figure shows.
    """

    max_clients: int = bounded(5000, ge=1)
    plot_clients: int = bounded(30, ge=1)


def describe(plain: dict[str, Any], output_dir: str) -> dict[str, Any]:
    """Builds the configured data, writes the summary and figure, returns the summary."""
    from fedrun.app.schema import validate
    from fedrun.data.build import load_data
    from fedrun.data.describe import format_summary, plot, summarize
    from fedrun.data.progress import DataProgress
    from fedrun.data.registry import DataContext

    options = parse(DescribeParams, plain.pop("describe", None), "describe")
    spec = validate(plain)
    config = spec.settings
    progress = DataProgress(config.progress)
    data = load_data(spec.dataset, DataContext(config.seed, config.preprocess, progress))
    summary = summarize(data, options.max_clients, progress)
    os.makedirs(output_dir, exist_ok=True)
    with open(os.path.join(output_dir, SUMMARY_FILE), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2)
    plot(data, os.path.join(output_dir, FIGURE_FILE), options.plot_clients)
    print(format_summary(summary))
    print(
        f"Wrote {os.path.join(output_dir, SUMMARY_FILE)} and {os.path.join(output_dir, FIGURE_FILE)}"
    )
    return summary


def _task(cfg: Any) -> None:
    from hydra.core.hydra_config import HydraConfig

    from fedrun.config.errors import ConfigError
    from fedrun.data.errors import DataError

    plain = plain_config(cfg)
    try:
        describe(plain, HydraConfig.get().runtime.output_dir)
    except ConfigError as err:
        print(f"fedrun-data: config error: {err}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    except DataError as err:
        print(f"fedrun-data: data error: {err}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)


def main() -> None:
    """Console entry point."""
    if sys.argv[1:2] == ["download"]:
        from fedrun.data.download_cli import main as download_main

        sys.exit(download_main(sys.argv[2:]))
    import hydra

    import_tensorflow_quietly()
    register_experiments()
    hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")(_task)()


if __name__ == "__main__":
    main()
