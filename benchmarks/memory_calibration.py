"""The memory estimate against measured peaks: `runtime.memory`'s lane cost per model.

For each model (`logreg`, `cnn_emnist`, `char_rnn`), training (SGD, one step a
client) and evaluation, and a few lane counts, a fresh interpreter builds the
model and a cohort, reads its peak resident memory (`VmHWM` in
/proc/self/status), makes one vectorized call (tracing included) and reads the
peak again. Tracing and the process itself cost the same at every lane count, so
the calibration compares the growth per added lane, measured and estimated.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from typing import Optional, Sequence

from benchmarks import harness

MODELS = {
    "logreg": {"shape": (784,), "dtype": "float32", "classes": 10, "batch": 20},
    "cnn_emnist": {"shape": (28, 28), "dtype": "float32", "classes": 62, "batch": 20},
    "char_rnn": {"shape": (80,), "dtype": "int32", "classes": 90, "batch": 4},
}


def _vm_hwm() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))


def measure(name: str, lanes: int, training: bool) -> dict:
    """One point, in this process: estimated and measured peak growth of one call."""
    import numpy as np
    import tensorflow as tf

    from fedrun.data.client_data import ArrayClientData, FederatedData
    from fedrun.data.cohort import build_cohort
    from fedrun.data.preprocess import PreprocessConfig
    from fedrun.models.build import build_model
    from fedrun.optimizers import SGD
    from fedrun.runtime import memory
    from fedrun.runtime.base import client_seeds
    from fedrun.runtime.local import VectorizedRuntime
    from fedrun.runtime.trainer import LocalRule, no_inputs

    shape = MODELS[name]
    batch = int(shape["batch"]) if training else 100
    rng = np.random.default_rng(0)
    total = lanes * batch
    if shape["dtype"] == "int32":
        x = rng.integers(1, shape["classes"], (total, *shape["shape"])).astype(np.int32)
        y = rng.integers(1, shape["classes"], (total, *shape["shape"])).astype(np.int32)
    else:
        x = rng.random((total, *shape["shape"]), dtype=np.float32)
        y = rng.integers(0, shape["classes"], total).astype(np.int32)
    ids = [f"c{k}" for k in range(lanes)]
    clients = ArrayClientData(
        {"x": x, "y": y}, {cid: np.arange(k * batch, (k + 1) * batch) for k, cid in enumerate(ids)}
    )
    data = FederatedData(name, clients, None, None, int(shape["classes"]))
    model = build_model({"type": name}, "model", data, seed=0)
    config = PreprocessConfig(epochs=1, batch_size=batch, shuffle_buffer=0, flatten=False)
    cohort = build_cohort(clients, ids, config, seed=0, round_num=1)
    optimizer = SGD(0.1) if training else None
    trainer = VectorizedRuntime(fallback="error").make_trainer(model, optimizer, LocalRule())
    estimate = memory.LaneCost.of(model, optimizer, training).bytes(batch, 1) * lanes
    before = _vm_hwm()
    if training:
        outputs = trainer.train(
            model.initial_weights, cohort, no_inputs(0.1, lanes, client_seeds(0, 1, ids))
        )
    else:
        outputs = trainer.evaluate(model.initial_weights, cohort)
    tf.nest.map_structure(lambda t: t.numpy(), outputs)
    return {"estimate": estimate, "growth": _vm_hwm() - before}


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.memory_calibration", description=__doc__
    )
    parser.add_argument("--lanes", default="1,8", help="lane counts, comma-separated")
    parser.add_argument("--models", default=",".join(MODELS), help="models, comma-separated")
    parser.add_argument("--point", help=argparse.SUPPRESS)  # one point, in a child process
    args = parser.parse_args(argv)
    harness.quiet_tensorflow()
    if args.point:
        name, lanes, mode = args.point.split(":")
        print(json.dumps(measure(name, int(lanes), mode == "train")))
        return
    harness.header("memory calibration", "estimated vs measured peak growth of one vectorized call")
    lane_counts = [int(n) for n in args.lanes.split(",")]
    print(f"  {'model':12s} {'mode':6s} {'lanes':>5s} {'estimate MB':>12s} {'measured MB':>12s}")
    for name in args.models.split(","):
        for mode in ("train", "eval"):
            points = {}
            for lanes in lane_counts:
                child = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "benchmarks.memory_calibration",
                        "--point",
                        f"{name}:{lanes}:{mode}",
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                    cwd=harness.ROOT,
                )
                points[lanes] = json.loads(child.stdout.strip().splitlines()[-1])
                p = points[lanes]
                print(
                    f"  {name:12s} {mode:6s} {lanes:5d} {p['estimate'] / 1e6:12.1f} {p['growth'] / 1e6:12.1f}",
                    flush=True,
                )
            low, high = min(points), max(points)
            if high > low:
                estimated = (points[high]["estimate"] - points[low]["estimate"]) / (high - low)
                measured = (points[high]["growth"] - points[low]["growth"]) / (high - low)
                print(
                    f"  {name:12s} {mode:6s} per added lane: estimate {estimated / 1e6:.1f} MB, "
                    f"measured {measured / 1e6:.1f} MB (measured/estimate {measured / estimated:.2f})"
                )
    print(f"  {harness.load_line()} (at the end)")


if __name__ == "__main__":
    main()
