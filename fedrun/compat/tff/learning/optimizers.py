"""TFF's `tff.learning.optimizers` and Keras optimizer factories on fedrun's
functional optimizers (`fedrun.optimizers`).

TFF builders return fedrun optimizers directly. A Keras optimizer (or a function
returning one, as the tutorials pass `lambda: tf.keras.optimizers.SGD(0.02)`) is
read through its config and mapped onto the fedrun optimizer with the same update;
options fedrun does not implement are refused by name.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Union

import keras
import numpy as np

from fedrun.compat.tff.errors import FacadeTypeError
from fedrun.compat.tff.unsupported import UnsupportedError
from fedrun.optimizers import SGD, Adagrad, Adam, Optimizer, Yogi

OptimizerSpec = Union[Optimizer, keras.optimizers.Optimizer, Callable[[], Any]]


def _check_numbers(builder: str, **options: Any) -> None:
    """TFF's builders take Python or numpy numbers (None where an option is optional)."""
    for name, value in options.items():
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, float, np.number))
        ):
            raise FacadeTypeError(f"{builder}: {name} must be a number, got {value!r}")


def build_sgdm(learning_rate: float = 0.01, momentum: Optional[float] = None) -> Optimizer:
    """SGD, with momentum if `momentum` is given."""
    _check_numbers("build_sgdm", learning_rate=learning_rate, momentum=momentum)
    return SGD(learning_rate, momentum or 0.0)


def build_adam(
    learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7
) -> Optimizer:
    """Adam with bias correction."""
    _check_numbers(
        "build_adam", learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon
    )
    return Adam(learning_rate, beta_1, beta_2, epsilon, 0.0, True)


def build_yogi(
    learning_rate: float = 0.01,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-3,
    initial_preconditioner_value: float = 1e-6,
) -> Optimizer:
    """Yogi with bias correction."""
    _check_numbers(
        "build_yogi",
        learning_rate=learning_rate,
        beta_1=beta_1,
        beta_2=beta_2,
        epsilon=epsilon,
        initial_preconditioner_value=initial_preconditioner_value,
    )
    return Yogi(learning_rate, beta_1, beta_2, epsilon, initial_preconditioner_value, True)


def build_adagrad(
    learning_rate: float, initial_preconditioner_value: float = 0.1, epsilon: float = 1e-7
) -> Optimizer:
    """Adagrad."""
    _check_numbers(
        "build_adagrad",
        learning_rate=learning_rate,
        initial_preconditioner_value=initial_preconditioner_value,
        epsilon=epsilon,
    )
    return Adagrad(learning_rate, initial_preconditioner_value, epsilon)


# Keras options that change the update in ways fedrun's optimizers do not implement,
# with the value that means "off".
_OFF = {
    "weight_decay": None,
    "clipnorm": None,
    "global_clipnorm": None,
    "clipvalue": None,
    "use_ema": False,
    "loss_scale_factor": None,
    "gradient_accumulation_steps": None,
}


def from_keras(optimizer: keras.optimizers.Optimizer) -> Optimizer:
    """The fedrun optimizer with the update of a Keras SGD, Adam or Adagrad."""
    name = type(optimizer).__name__
    config = optimizer.get_config()
    for option, off in _OFF.items():
        if config.get(option, off) not in (off, 0):
            raise UnsupportedError(
                f"Keras {name}({option}={config[option]!r}) has no fedrun counterpart; remove {option}"
            )
    if isinstance(config.get("learning_rate"), dict):
        raise UnsupportedError(
            f"Keras {name} with a learning-rate schedule has no fedrun counterpart here; use a constant learning rate "
            "(fedrun's own configs schedule learning rates per round)"
        )
    learning_rate = float(config["learning_rate"])
    if isinstance(optimizer, keras.optimizers.SGD):
        return SGD(learning_rate, config["momentum"], config["nesterov"])
    if isinstance(optimizer, keras.optimizers.Adam):
        if config["amsgrad"]:
            raise UnsupportedError(
                "Keras Adam(amsgrad=True) has no fedrun counterpart; remove amsgrad"
            )
        return Adam(learning_rate, config["beta_1"], config["beta_2"], config["epsilon"], 0.0, True)
    if isinstance(optimizer, keras.optimizers.Adagrad):
        return Adagrad(learning_rate, config["initial_accumulator_value"], config["epsilon"])
    raise UnsupportedError(
        f"Keras {name} has no fedrun counterpart; use Keras SGD, Adam or Adagrad, or "
        "tff.learning.optimizers.build_sgdm / build_adam / build_yogi / build_adagrad"
    )


def to_fedrun(spec: OptimizerSpec, role: str) -> Optimizer:
    """A fedrun optimizer from what a TFF program passes as `role`."""
    if isinstance(spec, Optimizer):
        return spec
    if isinstance(spec, keras.optimizers.Optimizer):
        return from_keras(spec)
    if callable(spec):
        built = spec()
        if isinstance(built, (Optimizer, keras.optimizers.Optimizer)):
            return to_fedrun(built, role)
        raise FacadeTypeError(f"{role} returned a {type(built).__name__}, not an optimizer")
    raise FacadeTypeError(
        f"{role} must be a tff.learning.optimizers optimizer, a Keras optimizer or a function returning one"
    )


__all__ = ["build_adagrad", "build_adam", "build_sgdm", "build_yogi", "from_keras", "to_fedrun"]
