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


def test_a_training_run_leaves_model_card_history_and_curve(tmp_path: Path) -> None:
    import json

    import keras

    from recognition_common.artifacts import (
        ARTIFACT_FILES,
        Curve,
        TrainingRun,
        save_training_artifacts,
        servable_copy,
    )
    from recognition_common.serving.model_card import ModelCard, read_card

    def build() -> keras.Model:
        return keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])

    weights = build().get_weights()
    card = ModelCard(
        name="m",
        version="1.0.0",
        task="digit",
        description="d",
        classes=["0"],
        input_shape=[2],
        created="2026-01-01",
    )
    history = {"loss": [0.9, 0.5], "val_loss": [1.0, 0.6], "accuracy": [0.5, 0.8]}
    curve = Curve(loss_label="loss", measures=lambda h: {"train": h["accuracy"]}, measures_label="accuracy")
    run = TrainingRun(history, best_epoch=2, seconds=3.14159, extra={"best_val_accuracy": 0.8})
    files = save_training_artifacts(tmp_path / "m", servable_copy(build, weights), card, run, curve, "m")

    assert files == f"{tmp_path / 'm'}/{{{','.join(ARTIFACT_FILES)}}}"
    assert sorted(path.name for path in (tmp_path / "m").iterdir()) == sorted(ARTIFACT_FILES)
    record = json.loads((tmp_path / "m" / "history.json").read_text())
    assert list(record)[-3:] == ["best_epoch", "best_val_accuracy", "training_seconds"]
    assert record["training_seconds"] == 3.1 and record["loss"] == [0.9, 0.5]
    assert read_card(tmp_path / "m").name == "m"
