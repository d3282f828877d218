"""FedProx vs FedAvg under 90% stragglers on Synthetic(1, 1) (Li et al. 2020, Figure 1).

The paper's setting: 30 devices of Synthetic(1, 1), multinomial logistic regression,
10 devices a round (uniform without replacement), E = 20 local epochs, batch 10,
learning rate 0.01, and 90% of each round's devices straggling (each running
1..E-1 epochs). FedAvg drops the stragglers; FedProx aggregates their partial
work, with mu = 0 and mu = 1. The figure's claim: FedProx with mu = 1 reaches a
lower training loss than FedAvg, which degrades when it drops stragglers.

Training loss is the paper's: the global model's loss over every device's training
examples (example-weighted), measured after each round.

    python -m benchmarks.fedprox_stragglers --rounds 200
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from typing import Any, Optional, Sequence

VARIANTS = {
    "fedavg_drop": ["algorithm=fedavg"],
    "fedprox_mu0": ["algorithm=fedprox", "algorithm.mu=0.0"],
    "fedprox_mu1": ["algorithm=fedprox", "algorithm.mu=1.0"],
}
LABELS = {
    "fedavg_drop": "FedAvg (drops stragglers)",
    "fedprox_mu0": "FedProx mu=0 (keeps partial work)",
    "fedprox_mu1": "FedProx mu=1 (keeps partial work)",
}


def paper_overrides(rounds: int, seed: int, stragglers: float) -> list[str]:
    """Li et al.'s Synthetic(1, 1) setting as fedrun config overrides."""
    return [
        "dataset=synthetic",
        "model=logreg_synthetic",
        "sampling=uniform",
        f"rounds={rounds}",
        f"seed={seed}",
        "clients_per_round=10",
        "client_optimizer.learning_rate=0.01",
        "preprocess.epochs=20",
        "preprocess.batch_size=10",
        "preprocess.shuffle_buffer=1000000",  # a full shuffle of each round's examples
        "eval_every=0",
        "progress=false",
        f"stragglers={{fraction: {stragglers}}}",
    ]


def compose(overrides: Sequence[str]) -> dict[str, Any]:
    """The composed config (as the CLI would build it) as plain Python."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from omegaconf import OmegaConf

    from fedrun.cli import CONF_DIR

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return OmegaConf.to_container(
            hydra_compose("config", overrides=list(overrides)), resolve=True
        )


def run_variant(overrides: Sequence[str]) -> dict[str, Any]:
    """Trains one variant; returns its training loss after every round and its time."""
    from fedrun.data.cohort import build_eval_cohort
    from fedrun.models.build import make_model
    from fedrun.run import build
    from fedrun.runtime.trainer import LocalRule
    from fedrun.training.loop import LoopConfig, run_rounds

    built = build(compose(overrides))
    config, process, data = built.config, built.process, built.data
    loop = LoopConfig(config.rounds, config.clients_per_round, config.seed, config.preprocess)
    # A second copy of the architecture evaluates the weights the process trains.
    model = make_model(built.spec.model, data, config.seed)
    trainer = built.runtime.make_trainer(model, None, LocalRule())
    everyone = build_eval_cohort(data.train, list(data.train.client_ids), 1000)

    def training_loss(state: Any) -> float:
        metrics = built.runtime.evaluate(trainer, process.get_model_weights(state), everyone)
        loss_sum, count = (sum(float(v) for v in part.numpy()) for part in metrics["loss"])
        return loss_sum / count

    state = process.initialize()
    losses = [training_loss(state)]
    started = time.perf_counter()
    for round_num in range(1, config.rounds + 1):
        state, _ = run_rounds(
            process,
            data,
            built.sampler,
            dataclasses.replace(loop, rounds=round_num),
            state,
            start_round=round_num,
            stragglers=built.stragglers,
        )
        losses.append(training_loss(state))
    built.runtime.close()
    return {"training_loss": losses, "seconds": time.perf_counter() - started}


def main(argv: Optional[Sequence[str]] = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stragglers", type=float, default=0.9)
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args(argv)

    from fedrun.cli import import_tensorflow_quietly

    import_tensorflow_quietly()
    results = {}
    for name, extra in VARIANTS.items():
        results[name] = run_variant(
            [*paper_overrides(args.rounds, args.seed, args.stragglers), *extra]
        )
    checkpoints = sorted({0, *range(10, args.rounds + 1, 10), args.rounds})
    print(
        f"Synthetic(1,1), {args.stragglers:.0%} stragglers, E=20, 10 clients/round, lr 0.01, batch 10, seed {args.seed}"
    )
    print("training loss (global model, all devices' train data) after round:")
    print(f"{'':36s}" + "".join(f"{r:>8d}" for r in checkpoints) + f"{'min':>8s}{'seconds':>9s}")
    for name, result in results.items():
        losses = result["training_loss"]
        row = "".join(f"{losses[r]:8.3f}" for r in checkpoints)
        print(f"{LABELS[name]:36s}{row}{min(losses):8.3f}{result['seconds']:9.1f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"args": vars(args), "results": results}, f, indent=2)
    return results


if __name__ == "__main__":
    main()
