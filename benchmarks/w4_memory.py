"""W4: 200 rounds of W1 (`vectorized`, evaluation every round) through fedrun's own loop.

Memory must stay flat (target: resident memory grows less than 5% from round 20
to round 200) and the local-training function must be traced exactly once.
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any, Optional, Sequence

from benchmarks import harness

TITLE = "W4 memory over 200 rounds"


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.w4_memory", description=__doc__)
    parser.add_argument("--rounds", type=int, default=200, help="rounds to run")
    parser.add_argument(
        "--baseline-round", type=int, default=20, help="round whose memory is the baseline"
    )
    args = parser.parse_args(argv)
    harness.quiet_tensorflow()
    harness.header(
        TITLE,
        f"W1 for {args.rounds} rounds, runtime=vectorized, federated + centralized evaluation each round",
    )

    from fedrun.training.callbacks import Callback
    from fedrun.training.evaluation import EvaluationCallback
    from fedrun.training.loop import LoopConfig, run_rounds

    built, _ = harness.configured_rounds(["runtime=vectorized", "progress=false"])
    config = built.config
    rss: dict[int, float] = {}

    class MemoryCallback(Callback):
        def on_round_end(self, record: dict[str, Any]) -> None:
            rss[record["round"]] = harness.rss_mb()

    loop_config = LoopConfig(args.rounds, config.clients_per_round, config.seed, config.preprocess)
    _, records = run_rounds(
        built.process,
        built.data,
        built.sampler,
        loop_config,
        built.process.initialize(),
        [EvaluationCallback(built.evaluator, 1, args.rounds), MemoryCallback()],
    )

    base, last = rss[min(args.baseline_round, args.rounds)], rss[args.rounds]
    seconds = statistics.median(r["round_seconds"] for r in records[1:])
    traces = harness.trace_count(built.runtime)
    print(f"\n{TITLE}")
    print(
        f"  rounds: {args.rounds}; median training round (rounds 2..N, evaluation excluded): {seconds:.4f} s"
    )
    print(
        f"  RSS at round {args.baseline_round}: {base:.0f} MB; at round {args.rounds}: {last:.0f} MB; "
        f"growth {last / base - 1:+.2%} (target < +5%)"
    )
    print(
        "  RSS at rounds 1/50/100/150/200: "
        + ", ".join(f"{rss[r]:.0f}" for r in (1, 50, 100, 150, 200) if r in rss)
        + " MB"
    )
    print(f"  peak RSS: {harness.peak_rss_mb():.0f} MB")
    print(f"  traces of the local-training function: {traces} (target: 1)")
    print(
        f"  final centralized accuracy: {records[-1].get('eval', {}).get('centralized', {}).get('accuracy', float('nan')):.4f}"
    )


if __name__ == "__main__":
    main()
