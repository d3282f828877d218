"""Describing a federated data set: client sizes, labels, examples, and a figure.

`summarize` gives the numbers (`fedrun-data` prints them and writes them as JSON);
`plot` draws, as the TFF tutorials do with matplotlib, each client's label
distribution, the spread of client sizes and some examples. For label sequences
(next-character data) every position counts as a label and id 0, padding, is
left out.

Sizes come from `ClientData.num_examples` for every client; labels need each
client's examples, so at most `max_clients` clients (evenly spaced over the id
list) are read for the label histogram.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import numpy as np

from fedrun.data import chars
from fedrun.data.client_data import ClientData, FederatedData
from fedrun.data.progress import QUIET, DataProgress

TEXT_DECODERS: dict[str, Callable[[Sequence[int]], str]] = {"shakespeare": chars.decode}
"""Data set name -> how to show its (integer sequence) examples as text."""


def _labels(y: np.ndarray) -> np.ndarray:
    labels = y.reshape(-1)
    return labels[labels != chars.PAD] if y.ndim > 1 else labels


def spread(values: Sequence[int]) -> dict[str, float]:
    """min / median / max / total of client sizes."""
    array = np.asarray(values)
    if array.size == 0:
        return {"min": 0, "median": 0, "max": 0, "total": 0}
    return {
        "min": int(array.min()),
        "median": float(np.median(array)),
        "max": int(array.max()),
        "total": int(array.sum()),
    }


def read_clients(client_data: ClientData, max_clients: int) -> list[str]:
    """The ids whose examples are read: all, or `max_clients` evenly spaced ones."""
    ids = list(client_data.client_ids)
    if len(ids) <= max_clients:
        return ids
    return [ids[i] for i in np.linspace(0, len(ids) - 1, max_clients).astype(int)]


def label_counts(
    client_data: ClientData,
    client_ids: Sequence[str],
    num_classes: int,
    progress: DataProgress = QUIET,
) -> np.ndarray:
    """int64 `[clients, classes]` label counts."""
    counts = np.zeros((len(client_ids), num_classes), dtype=np.int64)
    reading = progress.track(client_ids, "reading client labels", "clients")
    for row, cid in enumerate(reading):
        counts[row] = np.bincount(_labels(client_data.arrays_for(cid)["y"]), minlength=num_classes)[
            :num_classes
        ]
    return counts


def summarize_split(
    client_data: ClientData,
    num_classes: int,
    max_clients: int,
    progress: DataProgress = QUIET,
) -> dict[str, Any]:
    """Client count, size spread and label histogram of one split."""
    ids = progress.track(client_data.client_ids, "reading client sizes", "clients")
    sizes = [client_data.num_examples(cid) for cid in ids]
    read = read_clients(client_data, max_clients)
    histogram = label_counts(client_data, read, num_classes, progress).sum(axis=0)
    return {
        "clients": len(sizes),
        "examples_per_client": spread(sizes),
        "label_histogram": histogram.tolist(),
        "label_histogram_clients": len(read),
    }


def summarize(
    data: FederatedData, max_clients: int = 5000, progress: DataProgress = QUIET
) -> dict[str, Any]:
    """The numbers `fedrun-data` reports (plain Python, JSON-ready)."""
    summary: dict[str, Any] = {
        "name": data.name,
        "num_classes": data.num_classes,
        "element_spec": {
            k: {"shape": v.shape.as_list(), "dtype": v.dtype.name}
            for k, v in data.train.element_spec.items()
        },
        "train": summarize_split(data.train, data.num_classes, max_clients, progress),
    }
    if data.test is not None:
        summary["test"] = summarize_split(data.test, data.num_classes, max_clients, progress)
    if data.central_test is not None:
        labels = _labels(np.asarray(data.central_test["y"]))
        summary["central_test"] = {
            "examples": int(len(data.central_test["y"])),
            "label_histogram": np.bincount(labels, minlength=data.num_classes)[
                : data.num_classes
            ].tolist(),
        }
    return summary


def format_summary(summary: dict[str, Any]) -> str:
    """Human-readable lines of a summary."""
    lines = [
        f"Data set: {summary['name']} ({summary['num_classes']} classes); example spec {summary['element_spec']}"
    ]
    for split in ("train", "test"):
        if split not in summary:
            lines.append(f"{split}: none")
            continue
        part = summary[split]
        size = part["examples_per_client"]
        lines.append(
            f"{split}: {part['clients']} clients, {size['total']} examples; "
            f"per client min {size['min']} / median {size['median']:g} / max {size['max']}"
        )
        sampled = (
            ""
            if part["label_histogram_clients"] == part["clients"]
            else f" (from {part['label_histogram_clients']} clients)"
        )
        lines.append(f"  label histogram{sampled}: {part['label_histogram']}")
    if "central_test" in summary:
        lines.append(f"central test: {summary['central_test']['examples']} examples")
    return "\n".join(lines)


def _show_examples(
    figure: Any, grid: Any, data: FederatedData, decode: Optional[Callable[[Sequence[int]], str]]
) -> None:
    first = data.train.client_ids[0]
    arrays = data.train.arrays_for(first)
    x, y = arrays["x"], arrays["y"]
    side = int(round(np.sqrt(x[0].size)))
    if np.issubdtype(x.dtype, np.floating) and side * side == x[0].size:
        cells = grid[2, :].subgridspec(1, 8)
        for k in range(min(8, len(x))):
            axis = figure.add_subplot(cells[0, k])
            axis.imshow(x[k].reshape(side, side), cmap="gray")
            axis.set_title(f"label {int(y[k])}", fontsize=8)
            axis.axis("off")
        return
    axis = figure.add_subplot(grid[2, :])
    rows = [decode(list(row)) if decode else " ".join(map(str, row[:40])) for row in x[:4]]
    axis.text(
        0,
        1,
        "\n\n".join(repr(r) for r in rows),
        va="top",
        family="monospace",
        fontsize=7,
        wrap=True,
    )
    axis.axis("off")
    axis.set_title(f"first examples of client {first}", fontsize=9, loc="left")


def plot(data: FederatedData, path: str, max_clients: int = 30) -> None:
    """Writes a PNG: label distribution of the first clients, client sizes, examples."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ids = list(data.train.client_ids)[:max_clients]
    counts = label_counts(data.train, ids, data.num_classes).astype(float)
    fractions = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    figure = plt.figure(figsize=(13, 10), constrained_layout=True)
    grid = figure.add_gridspec(3, 2, height_ratios=[3, 2, 2])
    bars = figure.add_subplot(grid[0, :])
    colors = plt.get_cmap(
        "tab10" if data.num_classes <= 10 else "tab20" if data.num_classes <= 20 else "viridis"
    )
    bottom = np.zeros(len(ids))
    for label in range(data.num_classes):
        color = (
            colors(label)
            if data.num_classes <= 20
            else colors(label / max(data.num_classes - 1, 1))
        )
        bars.bar(
            range(len(ids)),
            fractions[:, label],
            bottom=bottom,
            color=color,
            label=str(label),
            width=0.85,
        )
        bottom += fractions[:, label]
    bars.set_xticks(range(len(ids)), [cid[-18:] for cid in ids], rotation=70, fontsize=7)
    bars.set_ylabel("share of client's labels")
    bars.set_title(
        f"{data.name}: label distribution of the first {len(ids)} of {len(data.train.client_ids)} clients"
    )
    if data.num_classes <= 20:
        bars.legend(title="label", ncol=2, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    sizes = [data.train.num_examples(cid) for cid in data.train.client_ids]
    hist = figure.add_subplot(grid[1, 0])
    hist.hist(sizes, bins=min(50, max(len(set(sizes)), 1)), color="steelblue")
    hist.set_xlabel("training examples per client")
    hist.set_ylabel("clients")
    hist.set_title(
        f"client sizes (min {min(sizes)}, median {np.median(sizes):g}, max {max(sizes)})"
    )
    total = figure.add_subplot(grid[1, 1])
    histogram = counts.sum(axis=0)
    total.bar(range(data.num_classes), histogram, color="gray")
    total.set_xlabel("label")
    total.set_ylabel("examples")
    total.set_title(f"labels of the first {len(ids)} clients")
    _show_examples(figure, grid, data, TEXT_DECODERS.get(data.name))
    figure.savefig(path, dpi=90)
    plt.close(figure)
