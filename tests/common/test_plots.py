"""The shared training artefacts: the training-curve figure."""

from pathlib import Path

from PIL import Image

from recognition_common.artifacts import plot_training_curve, train_and_validation


def test_the_figure_is_a_png_with_both_panels(tmp_path: Path) -> None:
    history = {"loss": [0.9, 0.5, 0.3], "val_loss": [1.0, 0.6, 0.4], "accuracy": [0.5, 0.8, 0.9]}
    path = tmp_path / "training_curve.png"
    plot_training_curve(
        path,
        "model: best epoch 3",
        loss=train_and_validation(history, "loss"),
        loss_label="loss",
        measures=train_and_validation(history, "accuracy"),
        measures_label="accuracy",
        measures_top=1.0,
    )
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.width > 2 * image.height  # two panels side by side


def test_validation_series_only_when_recorded() -> None:
    assert list(train_and_validation({"loss": [1.0], "val_loss": [2.0]}, "loss")) == ["train", "validation"]
    assert list(train_and_validation({"accuracy": [0.5]}, "accuracy")) == ["train"]
