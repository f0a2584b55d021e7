"""The training-curve figure every recognizer's training writes beside its model.

One figure for all of them, so they read alike: the loss per epoch on the left (log scale), the
task's own measures on the right, one point per epoch. matplotlib comes with each service's
`train` extra and is imported only when a figure is drawn, never by a serving process.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path


def plot_training_curve(
    path: Path,
    title: str,
    *,
    loss: Mapping[str, Sequence[float]],
    loss_label: str,
    measures: Mapping[str, Sequence[float]],
    measures_label: str,
    log_measures: bool = False,
    measures_top: float | None = None,
) -> None:
    """Write the figure as a PNG: `loss` and `measures` map a legend label to one value an epoch."""
    import matplotlib

    matplotlib.use("Agg")  # headless: the curve goes to a PNG, never a window
    from matplotlib import pyplot as plt  # after choosing the backend
    from matplotlib.ticker import MaxNLocator

    figure, (loss_axis, measure_axis) = plt.subplots(1, 2, figsize=(11, 4))
    for axis, series in ((loss_axis, loss), (measure_axis, measures)):
        for label, values in series.items():
            axis.plot(range(1, len(values) + 1), values, marker="o", label=label)
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
        axis.legend()
    loss_axis.set_ylabel(loss_label)
    loss_axis.set_yscale("log")
    measure_axis.set_ylabel(measures_label)
    if log_measures:
        measure_axis.set_yscale("log")
    if measures_top is not None:
        measure_axis.set_ylim(top=measures_top)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def train_and_validation(history: Mapping[str, Sequence[float]], key: str) -> dict[str, Sequence[float]]:
    """`key` and, when Keras recorded it, `val_<key>`, labelled for the legend."""
    series = {"train": history[key]}
    if f"val_{key}" in history:
        series["validation"] = history[f"val_{key}"]
    return series
