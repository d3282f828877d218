"""Numpy references for the numeric algorithm tests: a logistic-regression client
trained with plain loops, so each algorithm's published rule is written out by hand."""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np

Direction = Callable[
    [np.ndarray, np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]
]


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def batch_gradient(
    w: np.ndarray, b: np.ndarray, x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean cross-entropy gradient of a batch, and each example's loss."""
    p = softmax(x @ w + b)
    onehot = np.eye(w.shape[1])[y]
    losses = -np.log(p[np.arange(len(y)), y])
    grad = (p - onehot) / len(y)
    return x.T @ grad, grad.sum(0), losses


def local_training(
    w: np.ndarray,
    b: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    epochs: int,
    batch: int,
    lr: float,
    direction: Optional[Direction] = None,
) -> tuple[np.ndarray, np.ndarray, int, float]:
    """SGD over `repeat(epochs).batch(batch)` in stored order (batches cross epochs).

    `direction(gw, gb, w, b)` turns the batch gradient into the step direction.
    Returns the final weights, the number of steps and the summed loss.
    """
    order = np.tile(np.arange(len(y)), epochs)
    steps, loss_sum = 0, 0.0
    for start in range(0, len(order), batch):
        idx = order[start : start + batch]
        gw, gb, losses = batch_gradient(w, b, x[idx], y[idx])
        if direction is not None:
            gw, gb = direction(gw, gb, w, b)
        w, b = w - lr * gw, b - lr * gb
        steps += 1
        loss_sum += float(losses.sum())
    return w, b, steps, loss_sum


def full_gradient(
    w: np.ndarray, b: np.ndarray, x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float]:
    """The mean gradient over all examples, and the summed loss."""
    gw, gb, losses = batch_gradient(w, b, x, y)
    return gw, gb, float(losses.sum())
