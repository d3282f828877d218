"""What every workload shares: building runs, timing rounds, memory, the bound.

A workload times whole federated rounds (`process.next` on a cohort, metrics read
back to Python) and, in the same process, on the same examples, model and batch
size, the *centralized bound*: a plain Keras loop (Keras model, Keras loss, Keras
SGD `apply_gradients`) with the whole pass inside one `tf.function`. Seconds per
round are the median of rounds 2..N (round 1 includes tracing and compilation);
CPU seconds are shown beside wall seconds because the machine may be shared.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import resource
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

ROOT = Path(__file__).resolve().parent.parent
CONF_DIR = ROOT / "conf"


def quiet_tensorflow() -> None:
    """Hides TensorFlow's start-up log lines (set before TensorFlow is imported)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from fedrun.cli import import_tensorflow_quietly

    import_tensorflow_quietly()


def compose(overrides: Sequence[str] = ()) -> dict[str, Any]:
    """The composed `conf/config.yaml` with Hydra overrides, as plain Python."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = hydra_compose("config", overrides=list(overrides))
    plain = OmegaConf.to_container(cfg, resolve=True)
    plain.pop("hydra", None)
    return plain


def rss_mb() -> float:
    """Resident memory of this process now, in MiB."""
    with open("/proc/self/statm", encoding="ascii") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def device_line() -> str:
    """The device TensorFlow runs on (a GPU when it sees one)."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        names = ", ".join(
            tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus
        )
        return f"device: GPU ({names})"
    return f"device: CPU ({os.cpu_count()} logical cores, {platform.processor() or platform.machine()})"


def load_line() -> str:
    """The 1/5/15-minute load averages (other work on the machine skews timings)."""
    one, five, fifteen = os.getloadavg()
    return f"load average: {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


@dataclasses.dataclass
class Timing:
    """Per-round wall and CPU seconds, and examples per round."""

    wall: list[float] = dataclasses.field(default_factory=list)
    cpu: list[float] = dataclasses.field(default_factory=list)
    examples: list[int] = dataclasses.field(default_factory=list)

    def add(self, wall: float, cpu: float, examples: int) -> None:
        self.wall.append(wall)
        self.cpu.append(cpu)
        self.examples.append(examples)

    def _steady(self, values: list[float]) -> list[float]:
        return values[1:] if len(values) > 1 else values

    @property
    def seconds(self) -> float:
        """Median wall seconds of rounds 2..N."""
        return statistics.median(self._steady(self.wall))

    @property
    def cpu_seconds(self) -> float:
        """Median CPU seconds of rounds 2..N."""
        return statistics.median(self._steady(self.cpu))

    @property
    def examples_per_second(self) -> float:
        return statistics.median(self._steady([float(e) for e in self.examples])) / self.seconds


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """Runs `fn`; returns its result, wall seconds and CPU seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


class Rounds:
    """A learning process run one timed round at a time.

    Round time covers `process.next` (local training, aggregation, server update)
    and reading the metrics back to Python; building the cohort's batch schedule
    (numpy, the counterpart of a `tf.data` pipeline) is timed apart in `cohorts`.
    """

    def __init__(
        self,
        process: Any,
        client_data: Any,
        client_ids: Callable[[int], Sequence[str]],
        preprocess: Any,
        seed: int,
    ) -> None:
        self.process = process
        self.client_data = client_data
        self.client_ids = client_ids
        self.preprocess = preprocess
        self.seed = seed
        self.state = process.initialize()
        self.round_num = 0
        self.train, self.cohorts = Timing(), Timing()
        self.cohort: Any = None

    def __call__(self) -> None:
        from fedrun.data.cohort import build_cohort
        from fedrun.training.metrics import to_python

        self.round_num += 1
        ids = self.client_ids(self.round_num)
        self.cohort, wall, cpu = timed(
            lambda: build_cohort(self.client_data, ids, self.preprocess, self.seed, self.round_num)
        )
        self.cohorts.add(wall, cpu, int(self.cohort.mask.numpy().sum()))

        def one_round() -> Any:
            output = self.process.next(self.state, self.cohort)
            return output.state, to_python(output.metrics)

        (self.state, metrics), wall, cpu = timed(one_round)
        self.train.add(wall, cpu, int(metrics["client_work"]["train"]["num_examples"]))


class CentralizedBound:
    """A plain Keras loop over a cohort's examples, in its order, in batches.

    The model is a fresh copy of `keras_model`'s architecture; every real example
    of the cohort's schedule is visited once per call (an incomplete last batch is
    dropped), with Keras' own loss and SGD, the whole pass in one `tf.function`.
    """

    def __init__(
        self, keras_model: Any, cohort: Any, learning_rate: float, batch_size: int
    ) -> None:
        import keras
        import tensorflow as tf

        model = keras.models.clone_model(keras_model)
        optimizer = keras.optimizers.SGD(learning_rate)
        loss_fn = keras.losses.SparseCategoricalCrossentropy()
        order = tf.boolean_mask(tf.reshape(cohort.index, [-1]), tf.reshape(cohort.mask, [-1]) > 0)
        steps = int(order.shape[0]) // batch_size
        batches = tf.reshape(order[: steps * batch_size], [steps, batch_size])
        self.x = tf.gather(cohort.pool["x"], batches)
        self.y = tf.gather(cohort.pool["y"], batches)
        self.examples = steps * batch_size

        @tf.function
        def one_pass(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
            loss = tf.constant(0.0)
            for s in tf.range(tf.shape(x)[0]):
                with tf.GradientTape() as tape:
                    loss = loss_fn(y[s], model(x[s], training=True))
                grads = tape.gradient(loss, model.trainable_variables)
                optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return loss

        self._one_pass = one_pass
        self.timing = Timing()

    def __call__(self) -> None:
        _, wall, cpu = timed(lambda: self._one_pass(self.x, self.y).numpy())
        self.timing.add(wall, cpu, self.examples)


class XlaFloor:
    """The round's SGD steps alone: the floor a compiled round of a dense softmax model could reach.

    One XLA-compiled `tf.while_loop` runs every real step of every client of
    `cohort` in turn (each client starts from the same weights), on batches
    gathered into one tensor beforehand: no metrics, no per-client outputs besides
    the example-weighted sum of the clients' final weights, no server update. The
    model is a dense layer with softmax cross-entropy (the tutorial's `logreg`).
    """

    def __init__(self, cohort: Any, learning_rate: float, num_classes: int) -> None:
        import numpy as np
        import tensorflow as tf

        steps = cohort.steps_per_client()
        index, mask = cohort.index.numpy(), cohort.mask.numpy()
        order = [(k, s) for k in range(cohort.num_clients) for s in range(int(steps[k]))]
        batches = np.stack([index[k, s] for k, s in order])
        pool_x = tf.reshape(cohort.pool["x"], [int(cohort.pool["x"].shape[0]), -1])
        self.x = tf.gather(pool_x, batches)
        self.y = tf.gather(tf.cast(cohort.pool["y"], tf.int32), batches)
        self.mask = tf.constant(np.stack([mask[k, s] for k, s in order]))
        self.starts = tf.constant([s == 0 for _, s in order])
        client_examples = mask.sum(axis=(1, 2))
        self.end_weights = tf.constant(
            [client_examples[k] if s == steps[k] - 1 else 0.0 for k, s in order], tf.float32
        )
        self.examples = int(mask.sum())
        features = int(self.x.shape[2])
        self.kernel = tf.zeros([features, num_classes])
        self.bias = tf.zeros([num_classes])

        @tf.function(jit_compile=True)
        def one_round(
            x: tf.Tensor,
            y: tf.Tensor,
            m: tf.Tensor,
            starts: tf.Tensor,
            end_weights: tf.Tensor,
            kernel: tf.Tensor,
            bias: tf.Tensor,
        ) -> tf.Tensor:
            def body(
                s: tf.Tensor, w: tf.Tensor, b: tf.Tensor, sw: tf.Tensor, sb: tf.Tensor
            ) -> tuple:
                w = tf.where(starts[s], kernel, w)
                b = tf.where(starts[s], bias, b)
                with tf.GradientTape() as tape:
                    tape.watch([w, b])
                    logits = tf.matmul(x[s], w) + b
                    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(y[s], logits)
                    loss = tf.reduce_sum(losses * m[s]) / tf.maximum(tf.reduce_sum(m[s]), 1.0)
                gw, gb = tape.gradient(loss, [w, b])
                w, b = w - learning_rate * gw, b - learning_rate * gb
                return s + 1, w, b, sw + end_weights[s] * w, sb + end_weights[s] * b

            _, _, _, sw, sb = tf.while_loop(
                lambda s, *_: s < tf.shape(x)[0],
                body,
                (tf.constant(0), kernel, bias, tf.zeros_like(kernel), tf.zeros_like(bias)),
            )
            return tf.reduce_sum(sw) + tf.reduce_sum(sb)

        self._one_round = one_round
        self.timing = Timing()

    def __call__(self) -> None:
        args = (self.x, self.y, self.mask, self.starts, self.end_weights, self.kernel, self.bias)
        _, wall, cpu = timed(lambda: self._one_round(*args).numpy())
        self.timing.add(wall, cpu, self.examples)


def interleave(runners: Sequence[Callable[[], None]], rounds: int) -> None:
    """Calls each runner `rounds` times, in turn, so load on a shared machine
    affects every variant alike."""
    for _ in range(rounds):
        for runner in runners:
            runner()


@dataclasses.dataclass
class Row:
    """One line of a workload's table."""

    name: str
    timing: Timing
    traces: Optional[int] = None
    peak_rss: Optional[float] = None
    note: str = ""


def print_table(title: str, rows: Sequence[Row], bound: Optional[Timing]) -> None:
    """Prints a workload's results with each row's speed relative to the bound."""
    print(f"\n{title}")
    header = f"  {'':28s} {'s/round':>9s} {'cpu s':>8s} {'examples/s':>11s} {'x bound':>8s} {'traces':>6s} {'peak RSS':>9s}"
    print(header)
    for row in rows:
        ratio = (
            f"{row.timing.examples_per_second / bound.examples_per_second:8.2f}"
            if bound
            else f"{'':8s}"
        )
        traces = f"{row.traces:6d}" if row.traces is not None else f"{'':6s}"
        rss = f"{row.peak_rss:6.0f} MB" if row.peak_rss is not None else f"{'':9s}"
        line = f"  {row.name:28s} {row.timing.seconds:9.4f} {row.timing.cpu_seconds:8.4f} {row.timing.examples_per_second:11,.0f} {ratio} {traces} {rss}"
        print(line + (f"  {row.note}" if row.note else ""))


def trace_count(runtime: Any) -> int:
    """Traces of the local-training functions of the trainers a runtime made."""
    return sum(t.trace_count for t in getattr(runtime, "trainers", []) if t.optimizer is not None)


def configured_rounds(overrides: Sequence[str]) -> tuple[Any, Rounds]:
    """A run built from `conf/` with `overrides` exactly as `fedrun` builds it."""
    from fedrun.run import build

    built = build(compose(overrides))
    config = built.config
    train = built.data.train

    def client_ids(round_num: int) -> Sequence[str]:
        return built.sampler.sample(
            train.client_ids, config.clients_per_round, round_num, config.seed, train.num_examples
        )

    return built, Rounds(built.process, train, client_ids, config.preprocess, config.seed)


def keras_model_of(built: Any) -> Any:
    """A Keras model of the run's architecture (for the centralized bound)."""
    from fedrun.models.build import make_model

    return make_model(built.spec.model, built.data, built.config.seed).keras_model


def header(title: str, what: str) -> None:
    """Prints a workload's title, what it measures, the device and the load."""
    print(f"== {title}: {what}")
    print(f"   {device_line()}; {load_line()}")
