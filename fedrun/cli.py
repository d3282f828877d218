"""The `fedrun` command (and `python -m fedrun`): Hydra entry point.

`conf/config.yaml` is the composition root. Experiments in `experiments/NAME/
config.yaml` are registered as options of the `experiment` group, so
`fedrun experiment=NAME` applies one as a diff on top of the defaults; an
experiment's other files (`experiments/NAME/reduced.yaml`) are its variants,
`fedrun experiment=NAME_reduced`.

Exit codes: 0 done; 1 the run failed (a round lost too many clients, the run
directory or a checkpoint could not be written; the last checkpoint is kept and
re-running the same command resumes); 2 bad input (config or data, found before
training); 130 / 143 stopped by SIGINT / SIGTERM after checkpointing the last
completed round (re-run the same command to continue). Hydra itself exits with 1
when the config cannot be composed (an unknown option, a mistyped top-level key).
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from typing import Any, Optional, Sequence

ROOT = Path(__file__).resolve().parent.parent
CONF_DIR = ROOT / "conf"
EXPERIMENTS_DIR = ROOT / "experiments"
EXIT_RUN_FAILED = 1
EXIT_BAD_INPUT = 2

# conf/hydra/launcher/ presets share their names with the launcher plugins' schemas
# on purpose (`hydra/launcher=joblib`); Hydra 1.3 validates them against those
# schemas and warns that it does, also in the launchers' job processes, which
# import this module to run `_task`.
warnings.filterwarnings(
    "ignore", message="(?s).*is validated against ConfigStore schema with the same name"
)


def experiment_option(config_file: Path) -> str:
    """The `experiment=` option of an experiment file: `experiments/NAME/config.yaml`
    is NAME (the full variant), any other `experiments/NAME/VARIANT.yaml` is NAME_VARIANT."""
    name = config_file.parent.name
    return name if config_file.stem == "config" else f"{name}_{config_file.stem}"


def register_experiments(directory: Path = EXPERIMENTS_DIR) -> list[str]:
    """Stores every `experiments/NAME/*.yaml` as an option of group `experiment`
    (named by `experiment_option`); returns the option names.

    An experiment's own presets, `experiments/NAME/GROUP/OPTION.yaml` (the methods
    it compares, say), become options of group `NAME/GROUP`, so its configs can
    select one in their defaults list and sweeps can range over them
    (`NAME/GROUP=a,b`). Every node is global: it overrides any key it names.
    """
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    names = []
    store = ConfigStore.instance()
    for config_file in sorted(directory.glob("*/*.yaml")):
        name = experiment_option(config_file)
        store.store(
            group="experiment", name=name, node=OmegaConf.load(config_file), package="_global_"
        )
        names.append(name)
    for preset in sorted(directory.glob("*/*/*.yaml")):
        group = f"{preset.parent.parent.name}/{preset.parent.name}"
        store.store(group=group, name=preset.stem, node=OmegaConf.load(preset), package="_global_")
    return names


def compose_config(overrides: Sequence[str] = ()) -> dict[str, Any]:
    """The config `fedrun OVERRIDES` would run, as plain Python (for scripts and tests)."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from fedrun.config.store import register_schemas

    register_schemas()
    register_experiments()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return OmegaConf.to_container(compose("config", overrides=list(overrides)), resolve=True)  # type: ignore[return-value]


def _task(cfg: Any) -> Optional[float]:
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    from fedrun.config.errors import ConfigError
    from fedrun.data.errors import DataError

    import_tensorflow_quietly()  # jobs of parallel launchers run in fresh processes
    from fedrun.learning.faults import RoundFailedError
    from fedrun.training.checkpoint import CheckpointError
    from fedrun.training.run_directory import RunDirectoryError
    from fedrun.training.signals import RunInterrupted

    # `_target_` names user modules relative to where fedrun was launched.
    sys.path.insert(0, os.getcwd())
    output_dir = HydraConfig.get().runtime.output_dir
    plain = OmegaConf.to_container(cfg, resolve=True)
    try:
        from fedrun.run import run
        from fedrun.training.hparams import objective_value

        summary = run(plain, output_dir)
        objective = objective_value(summary, plain.get("objective"))
    except ConfigError as err:
        print(f"fedrun: config error: {err}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    except DataError as err:
        print(f"fedrun: data error: {err}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    except RunInterrupted as err:
        print(f"fedrun: {err}; re-run the same command to continue", file=sys.stderr)
        sys.exit(err.exit_code)
    except (RoundFailedError, CheckpointError, RunDirectoryError) as err:
        print(f"fedrun: {err}", file=sys.stderr)
        sys.exit(EXIT_RUN_FAILED)
    except OSError as err:  # an output that could not be written (a full disk ...)
        print(f"fedrun: cannot write the run's outputs: {err}", file=sys.stderr)
        sys.exit(EXIT_RUN_FAILED)
    logdir = summary["tensorboard_logdir"]
    print(f"Run directory: {output_dir}")
    print(f"TensorBoard logs: {logdir}")
    print(f"Open them with:  tensorboard --logdir {logdir}   (then browse http://localhost:6006)")
    return objective  # what a Hydra sweeper (Optuna) optimizes


def import_tensorflow_quietly() -> None:
    """Imports TensorFlow with its C++ start-up log lines hidden.

    TensorFlow prints them before its log level is read; they are replayed if the
    import fails, so a broken installation still explains itself.
    """
    import tempfile

    with tempfile.TemporaryFile(mode="w+b") as captured:
        saved = os.dup(2)
        sys.stderr.flush()
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def check_run_dir_override(args: list[str]) -> None:
    """Refuses an explicit `hydra.run.dir=DIR` that cannot be written, before Hydra
    tries (Hydra would fail with a traceback of its own)."""
    from fedrun.training.run_directory import RunDirectoryError, prepare_run_directory

    for arg in args:
        key, _, value = arg.partition("=")
        if key == "hydra.run.dir" and value and "${" not in value:
            try:
                prepare_run_directory(value)
            except RunDirectoryError as err:
                print(f"fedrun: {err}", file=sys.stderr)
                sys.exit(EXIT_RUN_FAILED)


def main() -> None:
    """Console entry point."""
    import hydra

    check_run_dir_override(sys.argv[1:])
    import_tensorflow_quietly()
    from fedrun.config.store import register_schemas

    register_schemas()
    register_experiments()
    hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")(_task)()
