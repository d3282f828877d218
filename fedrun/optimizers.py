"""Functional optimizers for clients and the server.

Shaped like TFF's `tff.learning.optimizers`: `initialize(specs) -> state` and
`next(state, weights, gradients) -> (state, weights)`, pure functions of tensors.
They work unchanged on *stacked* weights (a leading client axis): pass
`batch_shape=[num_clients]` to `initialize` and every scalar of the state (learning
rate, step count) becomes one value per client, which is what lets a vectorized
cohort stop each client's optimizer exactly where a sequential run would.

State keys: `learning_rate` (always), `step` (adaptive methods), and the slots
`momentum` / `m` / `v` / `accumulator` shaped like the weights.

`OPTIMIZERS` is the one registry of both the `client_optimizer` and the
`server_optimizer` config groups, for every algorithm (FedOpt included). Its
adaptive methods take `tau`, Reddi et al. 2021's adaptivity, for their
"Adaptive Federated Optimization" (Algorithm 2) forms.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, Optional, Sequence

import tensorflow as tf

from fedrun.config.params import bounded
from fedrun.config.registry import Registry

Nest = Any


def expand_per_client(scalar: tf.Tensor, leaf: tf.Tensor) -> tf.Tensor:
    """Reshapes a per-client scalar `[K]` to broadcast against a leaf `[K, ...]`."""
    extra = leaf.shape.rank - scalar.shape.rank
    if scalar.shape.rank == 0 or extra <= 0:
        return scalar
    return tf.reshape(scalar, tf.concat([tf.shape(scalar), tf.ones([extra], tf.int32)], axis=0))


def _zeros_like_specs(specs: Nest, value: float = 0.0) -> Nest:
    return tf.nest.map_structure(
        lambda s: tf.fill(
            tf.shape(s) if isinstance(s, tf.Tensor) else s.shape, tf.constant(value, s.dtype)
        ),
        specs,
    )


class Optimizer(abc.ABC):
    """A functional optimizer.

    Args:
        learning_rate: The initial learning rate (a schedule may replace it per
            round through the state's `learning_rate`).
    """

    def __init__(self, learning_rate: float) -> None:
        self.learning_rate = float(learning_rate)

    def initialize(self, specs: Nest, batch_shape: Sequence[int] = ()) -> dict[str, Any]:
        """The initial state for weights described by `specs`.

        Args:
            specs: Nest of `tf.TensorSpec` or tensors shaped like the weights
                (including the client axis when stacked).
            batch_shape: `[]` for one model, `[num_clients]` for stacked weights.
        """
        state: dict[str, Any] = {
            "learning_rate": tf.fill(batch_shape, tf.constant(self.learning_rate, tf.float32))
        }
        state.update(self._slots(specs, batch_shape))
        return state

    @abc.abstractmethod
    def _slots(self, specs: Nest, batch_shape: Sequence[int]) -> dict[str, Any]:
        """Per-weight state beyond the learning rate."""

    @abc.abstractmethod
    def next(
        self, state: dict[str, Any], weights: Nest, gradients: Nest
    ) -> tuple[dict[str, Any], Nest]:
        """One step: returns the new state and the new weights."""


class SGD(Optimizer):
    """SGD with optional (Nesterov) momentum: `acc = m*acc + g; w -= lr*acc`."""

    def __init__(self, learning_rate: float, momentum: float = 0.0, nesterov: bool = False) -> None:
        super().__init__(learning_rate)
        self.momentum = float(momentum)
        self.nesterov = nesterov

    def _slots(self, specs: Nest, batch_shape: Sequence[int]) -> dict[str, Any]:
        return {"momentum": _zeros_like_specs(specs)} if self.momentum > 0 else {}

    def next(
        self, state: dict[str, Any], weights: Nest, gradients: Nest
    ) -> tuple[dict[str, Any], Nest]:
        lr = state["learning_rate"]
        if self.momentum == 0:
            new_weights = tf.nest.map_structure(
                lambda w, g: w - expand_per_client(lr, w) * g, weights, gradients
            )
            return state, new_weights
        accumulators = tf.nest.map_structure(
            lambda a, g: self.momentum * a + g, state["momentum"], gradients
        )
        if self.nesterov:
            directions = tf.nest.map_structure(
                lambda a, g: g + self.momentum * a, accumulators, gradients
            )
        else:
            directions = accumulators
        new_weights = tf.nest.map_structure(
            lambda w, d: w - expand_per_client(lr, w) * d, weights, directions
        )
        return {**state, "momentum": accumulators}, new_weights


class _Adaptive(Optimizer):
    """Shared state handling of Adam and Yogi (first and second moments)."""

    def __init__(
        self,
        learning_rate: float,
        beta_1: float,
        beta_2: float,
        epsilon: float,
        initial_preconditioner_value: float,
        bias_correction: bool,
    ) -> None:
        super().__init__(learning_rate)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        self.initial_preconditioner_value = float(initial_preconditioner_value)
        self.bias_correction = bias_correction

    def _slots(self, specs: Nest, batch_shape: Sequence[int]) -> dict[str, Any]:
        return {
            "step": tf.zeros(batch_shape, tf.int64),
            "m": _zeros_like_specs(specs),
            "v": _zeros_like_specs(specs, self.initial_preconditioner_value),
        }

    @abc.abstractmethod
    def _second_moment(self, v: tf.Tensor, g: tf.Tensor) -> tf.Tensor:
        """The new second-moment estimate."""

    def next(
        self, state: dict[str, Any], weights: Nest, gradients: Nest
    ) -> tuple[dict[str, Any], Nest]:
        step = state["step"] + 1
        lr = state["learning_rate"]
        if self.bias_correction:
            t = tf.cast(step, tf.float32)
            lr = lr * tf.sqrt(1.0 - tf.pow(self.beta_2, t)) / (1.0 - tf.pow(self.beta_1, t))
        m = tf.nest.map_structure(
            lambda m_, g: self.beta_1 * m_ + (1.0 - self.beta_1) * g, state["m"], gradients
        )
        v = tf.nest.map_structure(self._second_moment, state["v"], gradients)
        new_weights = tf.nest.map_structure(
            lambda w, m_, v_: w - expand_per_client(lr, w) * m_ / (tf.sqrt(v_) + self.epsilon),
            weights,
            m,
            v,
        )
        return {**state, "step": step, "m": m, "v": v}, new_weights


class Adam(_Adaptive):
    """Adam (Kingma & Ba 2015); without bias correction it is FedAdam's server rule."""

    def _second_moment(self, v: tf.Tensor, g: tf.Tensor) -> tf.Tensor:
        return self.beta_2 * v + (1.0 - self.beta_2) * tf.square(g)


class Yogi(_Adaptive):
    """Yogi (Zaheer et al. 2018): `v -= (1 - b2) * sign(v - g^2) * g^2`."""

    def _second_moment(self, v: tf.Tensor, g: tf.Tensor) -> tf.Tensor:
        g2 = tf.square(g)
        return v - (1.0 - self.beta_2) * tf.sign(v - g2) * g2


class Adagrad(Optimizer):
    """Adagrad: `acc += g^2; w -= lr * g / (sqrt(acc) + eps)`."""

    def __init__(
        self, learning_rate: float, initial_accumulator_value: float = 0.1, epsilon: float = 1e-7
    ) -> None:
        super().__init__(learning_rate)
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.epsilon = float(epsilon)

    def _slots(self, specs: Nest, batch_shape: Sequence[int]) -> dict[str, Any]:
        return {"accumulator": _zeros_like_specs(specs, self.initial_accumulator_value)}

    def next(
        self, state: dict[str, Any], weights: Nest, gradients: Nest
    ) -> tuple[dict[str, Any], Nest]:
        acc = tf.nest.map_structure(lambda a, g: a + tf.square(g), state["accumulator"], gradients)
        lr = state["learning_rate"]
        new_weights = tf.nest.map_structure(
            lambda w, g, a: w - expand_per_client(lr, w) * g / (tf.sqrt(a) + self.epsilon),
            weights,
            gradients,
            acc,
        )
        return {**state, "accumulator": acc}, new_weights


class FedAdagrad(Optimizer):
    """Reddi et al. 2021's FedAdagrad (Algorithm 2): first moment `m`, `v += g^2`.

    `m = b1 m + (1 - b1) g`, `w -= lr m / (sqrt(v) + tau)` with `v` starting at
    `tau^2`; with `beta_1 = 0` it is Adagrad whose accumulator starts at `tau^2`.
    """

    def __init__(self, learning_rate: float, beta_1: float, tau: float) -> None:
        super().__init__(learning_rate)
        self.beta_1, self.tau = float(beta_1), float(tau)

    def _slots(self, specs: Nest, batch_shape: Sequence[int]) -> dict[str, Any]:
        return {"m": _zeros_like_specs(specs), "v": _zeros_like_specs(specs, self.tau**2)}

    def next(
        self, state: dict[str, Any], weights: Nest, gradients: Nest
    ) -> tuple[dict[str, Any], Nest]:
        m = tf.nest.map_structure(
            lambda m_, g: self.beta_1 * m_ + (1.0 - self.beta_1) * g, state["m"], gradients
        )
        v = tf.nest.map_structure(lambda v_, g: v_ + tf.square(g), state["v"], gradients)
        lr = state["learning_rate"]
        new_weights = tf.nest.map_structure(
            lambda w, m_, v_: w - expand_per_client(lr, w) * m_ / (tf.sqrt(v_) + self.tau),
            weights,
            m,
            v,
        )
        return {**state, "m": m, "v": v}, new_weights


OPTIMIZERS: Registry[Optimizer] = Registry("optimizer")


def _check_tau(params: Any, *exclusive: str) -> None:
    """Refuses a tau beside the settings it replaces."""
    if params.tau is None:
        return
    given = [name for name in exclusive if getattr(params, name) is not None]
    if given:
        raise ValueError(f"set tau or {given[0]}, not both (tau sets {', '.join(exclusive)})")


@dataclasses.dataclass(frozen=True)
class SGDParams:
    """SGD settings (`sgd`, and `sgdm`, the name TFF gives it with momentum).

    Attributes:
        learning_rate: The step size.
        momentum: Heavy-ball momentum (0: plain SGD).
        nesterov: Nesterov momentum.
    """

    learning_rate: float = bounded(0.01, gt=0)
    momentum: float = bounded(0.0, ge=0, lt=1)
    nesterov: bool = False


@dataclasses.dataclass(frozen=True)
class AdamParams:
    """Adam settings.

    Attributes:
        learning_rate: The step size.
        beta_1: First-moment decay.
        beta_2: Second-moment decay.
        epsilon: Added to the root of the second moment (null: 1e-7).
        bias_correction: Kingma & Ba's correction (null: on, off with `tau`).
        tau: Reddi et al. 2021's adaptivity (Algorithm 2): when set, it is the
            epsilon, the second moment starts at `tau^2` and bias correction is
            off unless asked for.
    """

    learning_rate: float = bounded(0.001, gt=0)
    beta_1: float = bounded(0.9, ge=0, lt=1)
    beta_2: float = bounded(0.999, ge=0, lt=1)
    epsilon: Optional[float] = bounded(None, gt=0)
    bias_correction: Optional[bool] = None
    tau: Optional[float] = bounded(None, gt=0)

    def __post_init__(self) -> None:
        _check_tau(self, "epsilon")


@dataclasses.dataclass(frozen=True)
class YogiParams:
    """Yogi settings.

    Attributes:
        learning_rate: The step size.
        beta_1: First-moment decay.
        beta_2: Second-moment decay.
        epsilon: Added to the root of the second moment (null: 1e-3).
        initial_preconditioner_value: The second moment's start (null: 1e-6).
        bias_correction: Kingma & Ba's correction (null: on, off with `tau`).
        tau: Reddi et al. 2021's adaptivity (Algorithm 2): when set, it is the
            epsilon, the second moment starts at `tau^2` and bias correction is
            off unless asked for.
    """

    learning_rate: float = bounded(0.01, gt=0)
    beta_1: float = bounded(0.9, ge=0, lt=1)
    beta_2: float = bounded(0.99, ge=0, lt=1)
    epsilon: Optional[float] = bounded(None, gt=0)
    initial_preconditioner_value: Optional[float] = bounded(None, ge=0)
    bias_correction: Optional[bool] = None
    tau: Optional[float] = bounded(None, gt=0)

    def __post_init__(self) -> None:
        _check_tau(self, "epsilon", "initial_preconditioner_value")


@dataclasses.dataclass(frozen=True)
class AdagradParams:
    """Adagrad settings.

    Attributes:
        learning_rate: The step size.
        initial_accumulator_value: The accumulator's start (null: 0.1).
        epsilon: Added to the root of the accumulator (null: 1e-7).
        beta_1: First-moment decay of Reddi et al.'s FedAdagrad (needs `tau`;
            null: 0, no first moment).
        tau: Reddi et al. 2021's adaptivity (Algorithm 2): when set, it is the
            epsilon, the second moment starts at `tau^2` and bias correction is
            off unless asked for.
    """

    learning_rate: float = bounded(0.01, gt=0)
    initial_accumulator_value: Optional[float] = bounded(None, ge=0)
    epsilon: Optional[float] = bounded(None, gt=0)
    beta_1: Optional[float] = bounded(None, ge=0, lt=1)
    tau: Optional[float] = bounded(None, gt=0)

    def __post_init__(self) -> None:
        _check_tau(self, "epsilon", "initial_accumulator_value")
        if self.beta_1 is not None and self.tau is None:
            raise ValueError("beta_1 is FedAdagrad's (Algorithm 2): it needs tau")


def _bias_correction(p: Any) -> bool:
    return p.bias_correction if p.bias_correction is not None else p.tau is None


@OPTIMIZERS.register("sgd", SGDParams)
@OPTIMIZERS.register("sgdm", SGDParams)
def build_sgd(p: SGDParams) -> Optimizer:
    """SGD, plain or with (Nesterov) momentum (FedAvgM's server optimizer)."""
    return SGD(p.learning_rate, p.momentum, p.nesterov)


@OPTIMIZERS.register("adam", AdamParams)
def build_adam(p: AdamParams) -> Optimizer:
    """Adam; with `tau`, FedAdam's server rule as in Reddi et al. 2021."""
    if p.tau is not None:
        return Adam(p.learning_rate, p.beta_1, p.beta_2, p.tau, p.tau**2, _bias_correction(p))
    epsilon = p.epsilon if p.epsilon is not None else 1e-7
    return Adam(p.learning_rate, p.beta_1, p.beta_2, epsilon, 0.0, _bias_correction(p))


@OPTIMIZERS.register("yogi", YogiParams)
def build_yogi(p: YogiParams) -> Optimizer:
    """Yogi; with `tau`, FedYogi's server rule as in Reddi et al. 2021."""
    if p.tau is not None:
        return Yogi(p.learning_rate, p.beta_1, p.beta_2, p.tau, p.tau**2, _bias_correction(p))
    return Yogi(
        p.learning_rate,
        p.beta_1,
        p.beta_2,
        p.epsilon if p.epsilon is not None else 1e-3,
        p.initial_preconditioner_value if p.initial_preconditioner_value is not None else 1e-6,
        _bias_correction(p),
    )


@OPTIMIZERS.register("adagrad", AdagradParams)
def build_adagrad(p: AdagradParams) -> Optimizer:
    """Adagrad; with `tau`, FedAdagrad's server rule as in Reddi et al. 2021."""
    if p.tau is not None:
        return FedAdagrad(p.learning_rate, p.beta_1 or 0.0, p.tau)
    return Adagrad(
        p.learning_rate,
        p.initial_accumulator_value if p.initial_accumulator_value is not None else 0.1,
        p.epsilon if p.epsilon is not None else 1e-7,
    )
