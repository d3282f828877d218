"""Metric curves across runs: one panel per metric (`plot_curves`) or one panel per
value of chosen overrides (`plot_panels`), one line per group of runs (its mean
over seeds per round, with a band of one standard deviation)."""

from __future__ import annotations

import re
from typing import Any, Optional, Sequence

import numpy as np

from fedrun.report.runs import lower_is_better
from fedrun.report.tables import Group


def group_curve(group: Group, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rounds, mean and standard deviation of `metric` over the group's runs.

    Each round averages the runs that logged it (runs may evaluate on different
    rounds or stop early); the deviation is 0 where one run did.
    """
    by_round: dict[int, list[float]] = {}
    for run in group.runs:
        for round_num, value in zip(*run.series(metric)):
            by_round.setdefault(int(round_num), []).append(float(value))
    rounds = np.asarray(sorted(by_round), dtype=np.int64)
    means = np.asarray([np.mean(by_round[r]) for r in rounds])
    stds = np.asarray(
        [np.std(by_round[r], ddof=1) if len(by_round[r]) > 1 else 0.0 for r in rounds]
    )
    return rounds, means, stds


def line_label(group: Group, keys: Sequence[str]) -> str:
    """A group's legend label: when one key tells the lines apart, its value (the
    legend's title names the key); else `key=value` of each varying key."""
    value = dict(group.settings).get(keys[0]) if len(keys) == 1 else None
    if value is None:
        return group.label(keys)
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def legend_title(keys: Sequence[str]) -> Optional[str]:
    """The key that tells the lines apart, if only one does."""
    return keys[0] if len(keys) == 1 else None


def plot_curves(
    groups: Sequence[Group],
    metrics: Sequence[str],
    varying: Sequence[str],
    path: str,
    title: Optional[str] = None,
) -> None:
    """Writes a PNG with one panel per metric against the round."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 4.2), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for number, group in enumerate(groups):
            rounds, means, stds = group_curve(group, metric)
            if not len(rounds):
                continue
            label = line_label(group, varying)
            if len(group.runs) > 1:
                label += f" (n={len(group.runs)})"
            marker = "o" if len(rounds) <= 20 else None
            # A group keeps its colour in every panel, also where another group has no curve.
            (line,) = ax.plot(
                rounds, means, marker=marker, markersize=3, label=label, color=f"C{number % 10}"
            )
            if np.any(stds > 0):
                ax.fill_between(
                    rounds,
                    means - stds,
                    means + stds,
                    color=line.get_color(),
                    alpha=0.2,
                    linewidth=0,
                )
        ax.set_xlabel("round")
        ax.set_ylabel(metric)
        ax.set_title(
            f"{metric} ({'lower' if lower_is_better(metric) else 'higher'} is better)", fontsize=10
        )
        ax.grid(True, alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:
        fig.legend(
            handles,
            labels,
            loc="lower center",
            ncol=min(3, len(labels)),
            fontsize=8,
            frameon=False,
            title=legend_title(varying),
            title_fontsize=8,
        )
    if title:
        fig.suptitle(title)
    rows_of_legend = (-(-len(labels) // 3) + (1 if legend_title(varying) else 0)) if handles else 0
    fig.tight_layout(rect=(0, min(0.45, 0.06 * rows_of_legend + 0.02), 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_panels(
    groups: Sequence[Group],
    metric: str,
    panel_keys: Sequence[str],
    varying: Sequence[str],
    path: str,
    title: Optional[str] = None,
) -> None:
    """Writes a PNG of `metric` against the round with one panel per value of the
    `panel_keys` overrides (one key: a row of panels; two: rows by the first,
    columns by the second), one line per group in each panel (mean over seeds, with
    a band of one standard deviation), the same colour for the same label everywhere.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def value_of(group: Group, key: str) -> Any:
        return dict(group.settings).get(key)

    values = [list(dict.fromkeys(value_of(g, key) for g in groups)) for key in panel_keys]
    rows, cols = (values[0], values[1]) if len(panel_keys) == 2 else ([None], values[0])
    line_keys = [k for k in varying if k not in panel_keys]
    labels = list(dict.fromkeys(line_label(g, line_keys) for g in groups))
    colors = {label: f"C{i % 10}" for i, label in enumerate(labels)}
    fig, axes = plt.subplots(
        len(rows),
        len(cols),
        figsize=(3.6 * len(cols), 2.8 * len(rows) + 0.6),
        squeeze=False,
        sharex=True,
    )
    for r, row_value in enumerate(rows):
        for c, col_value in enumerate(cols):
            ax = axes[r][c]
            wanted = (
                {panel_keys[0]: row_value, panel_keys[1]: col_value}
                if len(panel_keys) == 2
                else {panel_keys[0]: col_value}
            )
            for group in groups:
                if any(value_of(group, k) != v for k, v in wanted.items()):
                    continue
                rounds, means, stds = group_curve(group, metric)
                if not len(rounds):
                    continue
                label = line_label(group, line_keys)
                ax.plot(rounds, means, color=colors[label], label=label, linewidth=1.2)
                if np.any(stds > 0):
                    ax.fill_between(
                        rounds,
                        means - stds,
                        means + stds,
                        color=colors[label],
                        alpha=0.2,
                        linewidth=0,
                    )
            # The last part of a key names it well enough above a panel (`stragglers.fraction`: `fraction`).
            ax.set_title(
                ", ".join(f"{re.split('[./]', k)[-1]}={v}" for k, v in wanted.items()), fontsize=8
            )
            ax.grid(True, alpha=0.3)
            ax.tick_params(labelsize=7)
            if r == len(rows) - 1:
                ax.set_xlabel("round", fontsize=8)
            if c == 0:
                ax.set_ylabel(metric, fontsize=8)
    handles = [
        matplotlib.lines.Line2D([], [], color=colors[label], label=label) for label in labels
    ]
    title_of_legend = legend_title(line_keys)
    fig.legend(
        handles=handles,
        loc="lower center",
        ncol=min(3, len(labels)),
        fontsize=8,
        title=title_of_legend,
        title_fontsize=8,
        frameon=False,
    )
    if title:
        fig.suptitle(title, fontsize=10)
    legend_rows = -(-len(labels) // 3) + (1 if title_of_legend else 0)
    fig.tight_layout(rect=(0, min(0.3, (0.22 * legend_rows + 0.1) / fig.get_figheight()), 1, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)
