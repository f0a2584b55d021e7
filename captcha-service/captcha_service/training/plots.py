"""Training-curve plot: loss and accuracies per epoch, written as a PNG beside the model."""

from __future__ import annotations

from pathlib import Path

from recognition_common.plots import plot_training_curve, train_and_validation


def plot_history(history: dict[str, list[float]], path: Path, title: str) -> None:
    """CTC loss and char / whole-captcha accuracy, training against validation."""
    plot_training_curve(
        path,
        title,
        loss=train_and_validation(history, "loss"),
        loss_label="CTC loss",
        measures={
            "train char": history["char_accuracy"],
            "train whole": history["whole_accuracy"],
            "validation char": history["val_char_accuracy"],
            "validation whole": history["val_whole_accuracy"],
        },
        measures_label="accuracy",
        measures_top=1.0,
    )
