"""Training-curve plot: loss and accuracies per epoch, written as a PNG beside the model."""

from __future__ import annotations

from pathlib import Path

import matplotlib


def plot_history(history: dict[str, list[float]], path: Path, title: str) -> None:
    """CTC loss (log scale) and char / whole-captcha accuracy, training against validation."""
    matplotlib.use("Agg")  # headless: the curve goes to a PNG, never a window
    from matplotlib import pyplot as plt  # after choosing the backend
    from matplotlib.ticker import MaxNLocator

    epochs = range(1, len(history["loss"]) + 1)
    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(11, 4))
    loss_axis.plot(epochs, history["loss"], marker="o", label="train")
    if "val_loss" in history:
        loss_axis.plot(epochs, history["val_loss"], marker="o", label="validation")
    loss_axis.set_ylabel("CTC loss")
    loss_axis.set_yscale("log")
    for key, label in (
        ("char_accuracy", "train char"),
        ("whole_accuracy", "train whole"),
        ("val_char_accuracy", "validation char"),
        ("val_whole_accuracy", "validation whole"),
    ):
        accuracy_axis.plot(epochs, history[key], marker="o", label=label)
    accuracy_axis.set_ylabel("accuracy")
    accuracy_axis.set_ylim(top=1.0)
    for axis in (loss_axis, accuracy_axis):
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
