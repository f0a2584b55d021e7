"""What every recognizer's training writes beside its model, written in one place.

    <model_dir>/model.keras           the servable model: best weights, no optimizer state
    <model_dir>/card.json             the model card (recognition_common.serving.model_card)
    <model_dir>/history.json          per-epoch figures, the best epoch, training seconds
    <model_dir>/training_curve.png    the same, plotted

`save_training_artifacts` writes all four, so every task's trainers leave the
same files, named alike and drawn alike. The figure has the loss per epoch on the left (log
scale) and the task's own measures on the right, one point per epoch; each trainer says which
measures in a `Curve`. matplotlib and Keras come with each service's `train` extra and are
imported only when a model is written, never by a serving process.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recognition_common.serving.model_card import CARD_FILE, MODEL_FILE, ModelCard, write_card

if TYPE_CHECKING:
    import keras
    import numpy as np

HISTORY_FILE = "history.json"
CURVE_FILE = "training_curve.png"
ARTIFACT_FILES = (MODEL_FILE, CARD_FILE, HISTORY_FILE, CURVE_FILE)

History = Mapping[str, Sequence[float]]


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


@dataclass(frozen=True)
class Curve:
    """A task's training curve: the loss label, and which measures of the history it plots."""

    loss_label: str
    measures: Callable[[History], Mapping[str, Sequence[float]]]
    measures_label: str
    log_measures: bool = False
    measures_top: float | None = None


def plot_history(history: History, path: Path, title: str, curve: Curve) -> None:
    """The training curve of a Keras history: loss (train, validation) and `curve`'s measures."""
    plot_training_curve(
        path,
        title,
        loss=train_and_validation(history, "loss"),
        loss_label=curve.loss_label,
        measures=curve.measures(history),
        measures_label=curve.measures_label,
        log_measures=curve.log_measures,
        measures_top=curve.measures_top,
    )


def servable_copy(build: Callable[[], keras.Model], weights: list[np.ndarray]) -> keras.Model:
    """The weights in a fresh, uncompiled copy of the model, as the service loads it.

    Without an optimizer the file holds only what inference needs (Adam's two moment slots would
    triple its size), and `keras.saving.load_model` needs no custom objects (losses, metrics) to
    read it.
    """
    model = build()
    model.set_weights(weights)
    return model


@dataclass(frozen=True)
class TrainingRun:
    """What a training run leaves besides the model: its per-epoch history and how it went."""

    history: History
    best_epoch: int | tuple[int, ...]  # one per member when several models were trained and joined
    seconds: float
    extra: Mapping[str, Any] = field(default_factory=dict)  # more figures for history.json


def save_training_artifacts(
    model_dir: Path, model: keras.Model, card: ModelCard, run: TrainingRun, curve: Curve, label: str
) -> str:
    """Write model, card, history and curve into `model_dir`; return them as one line to print.

    `model` should be a `servable_copy`. The history file holds every per-epoch series, then
    `best_epoch`, the run's `extra` figures and `training_seconds` (rounded to 0.1 s); the curve
    is titled "<label>: best epoch <n>" (or "best epochs <n>, <m>" for a run of several members).
    """
    import keras

    model_dir.mkdir(parents=True, exist_ok=True)
    keras.saving.save_model(model, model_dir / MODEL_FILE)
    record = {
        **{key: list(values) for key, values in run.history.items()},
        "best_epoch": run.best_epoch,
        **run.extra,
        "training_seconds": round(run.seconds, 1),
    }
    # default=float: Keras can record NumPy scalars, which json cannot write by itself
    text = json.dumps(record, indent=2, default=float) + "\n"
    (model_dir / HISTORY_FILE).write_text(text, encoding="utf-8")
    best = run.best_epoch
    title = (
        f"{label}: best epoch {best}"
        if isinstance(best, int)
        else f"{label}: best epochs {', '.join(map(str, best))}"
    )
    plot_history(run.history, model_dir / CURVE_FILE, title, curve)
    write_card(model_dir, card)
    return f"{model_dir}/{{{','.join(ARTIFACT_FILES)}}}"
