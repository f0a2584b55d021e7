"""The wheel reader: decoding tenths, its input, the real-crop split, a short training run, the model."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from meter_service.pipeline import Thresholds
from meter_service.reader import (
    CONFIDENCE_WINDOW,
    NUM_CLASSES,
    circular_distance,
    class_of,
    classes_tenths,
    decode_wheel,
    reader_input,
)
from meter_service.training.reader import MODEL_VERSION
from meter_service.training.reader_data import (
    UNNAMED,
    dedupe,
    prefix_of,
    scan_folder,
    split_by_prefix,
)
from meter_service.wheels import random_style, render_wheel

MODEL_DIR = Path(__file__).resolve().parents[2] / "meter-service" / "models" / "default"


def one_hot(*mass: tuple[float, float]) -> np.ndarray:
    """Probabilities with `p` at the class of each (position, p)."""
    probabilities = np.zeros(NUM_CLASSES, dtype=np.float32)
    for position, p in mass:
        probabilities[round(position * 10) % NUM_CLASSES] += p
    return probabilities


# --- Decoding ----------------------------------------------------------------------------------


def test_classes_are_the_tenths_in_order() -> None:
    classes = classes_tenths()
    assert len(classes) == 100 and classes[:3] == ["0.0", "0.1", "0.2"] and classes[-1] == "9.9"
    assert classes[35] == "3.5"


def test_a_one_hot_decodes_to_its_class() -> None:
    reading = decode_wheel(one_hot((3.5, 1.0)))
    assert reading.position == pytest.approx(3.5)
    assert reading.confidence == pytest.approx(1.0)
    assert reading.digit == 4  # half-way rounds up
    assert decode_wheel(one_hot((7.0, 1.0))).digit == 7


def test_mass_split_across_the_seam_averages_on_the_circle() -> None:
    even = decode_wheel(one_hot((9.9, 0.5), (0.0, 0.5)))
    assert even.position == pytest.approx(9.95)
    assert even.confidence == pytest.approx(1.0)
    leaning_to_zero = decode_wheel(one_hot((9.9, 0.4), (0.0, 0.6)))
    assert leaning_to_zero.position == pytest.approx(9.96)
    assert leaning_to_zero.digit == 0
    past_zero = decode_wheel(one_hot((9.9, 0.3), (0.1, 0.7)))
    assert 0 <= past_zero.position < 10
    assert circular_distance(past_zero.position, 0.04) < 1e-6


def test_position_interpolates_between_neighbouring_tenths() -> None:
    reading = decode_wheel(one_hot((4.2, 0.25), (4.3, 0.75)))
    assert reading.position == pytest.approx(4.275)


def test_confidence_is_the_mass_within_half_a_digit() -> None:
    rival = decode_wheel(one_hot((3.0, 0.6), (7.0, 0.4)))  # a distant rival does not move it
    assert rival.position == pytest.approx(3.0)
    assert rival.confidence == pytest.approx(0.6)
    edges = decode_wheel(one_hot((5.0, 0.5), (5.5, 0.25), (4.5, 0.25)))
    assert edges.confidence == pytest.approx(1.0)  # +/-0.5 is inside
    outside = decode_wheel(one_hot((5.0, 0.5), (5.0 + (CONFIDENCE_WINDOW + 1) / 10, 0.5)))
    assert outside.confidence == pytest.approx(0.5)
    flat = decode_wheel(np.full(NUM_CLASSES, 1 / NUM_CLASSES))
    assert flat.confidence == pytest.approx(11 / NUM_CLASSES)
    assert flat.spread > decode_wheel(one_hot((5.0, 1.0))).spread


def test_decode_rejects_the_wrong_number_of_classes() -> None:
    with pytest.raises(ValueError):
        decode_wheel(np.ones(10) / 10)


def test_reader_input_resizes_and_scales() -> None:
    big = Image.new("RGB", (40, 64), (255, 0, 0))
    grey = Image.new("L", (20, 32), 128)
    batch = reader_input([big, grey])
    assert batch.shape == (2, 32, 20, 3) and batch.dtype == np.float32
    assert batch[0, ..., 0].min() == pytest.approx(1.0) and batch[0, ..., 1].max() == 0.0
    assert batch[1].mean() == pytest.approx(128 / 255)
    array = np.full((3, 32, 20, 3), 255, dtype=np.uint8)
    assert reader_input(array).shape == (3, 32, 20, 3) and reader_input(array).max() == 1.0
    assert reader_input(np.zeros((64, 40, 3), dtype=np.uint8)).shape == (1, 32, 20, 3)
    assert reader_input([]).shape == (0, 32, 20, 3)


# --- The real-crop split -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "prefix"),
    [
        ("3.5_10_dig7_20220608-014548.jpg", "dig7"),
        ("4.9_4.8_main_dig5_20220519-114222.jpg", "dig5"),
        ("2_dig6_20220516-143615.jpg", "dig6"),
        ("0.4_NaN_ziffer5_2020-05-19_19-40-14.jpg", "ziffer5"),
        ("0.0_0_ziffer1_2020-02-11_14-51-25 - Kopie.jpg", "ziffer1"),
        ("2.0_2_digit4_20210413-094554(1).jpg", "digit4"),
        ("0_1619417105741-digit4.jpg", "digit4"),
        ("3.9dig6_20220425-075822.jpg", "dig6"),
        ("2_2_ROI3_20210422-092016.jpg", "roi3"),
        ("3.3_74f3d07f7035c63166890f0d39628d33.jpg", UNNAMED),
        ("0-1.jpg", UNNAMED),
    ],
)
def test_prefix_is_the_wheel_name(name: str, prefix: str) -> None:
    assert prefix_of(name) == prefix


def _crop_image(position: float, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return render_wheel(position, random_style(rng), 20, 32, rng)


def make_fake_folder(root: Path, prefixes: int = 12, per_prefix: int = 8, whole: bool = False) -> Path:
    """`<label>/<label>_<prefix>_<timestamp>.jpg` crops of `prefixes` wheels, plus hash-named ones;
    `whole`: every named crop a whole digit (enough of them to compose strips from)."""
    rng = np.random.default_rng(7)
    for p in range(prefixes):
        for k in range(per_prefix):
            label = int(rng.integers(10)) * 10 if whole else int(rng.integers(100))
            folder = root / f"{label // 10}.{label % 10}"
            folder.mkdir(parents=True, exist_ok=True)
            name = f"{label / 10:.1f}_main_dig{p}_202206{k + 10:02d}-1200{k:02d}.jpg"
            _crop_image(label / 10, seed=p * 100 + k).save(folder / name, quality=90)
    for k in range(6):
        folder = root / f"{k}.0"
        folder.mkdir(parents=True, exist_ok=True)
        _crop_image(k, seed=9000 + k).save(folder / f"{k}.0_{k:032x}.jpg", quality=90)
    return root


def test_split_dedupes_and_keeps_prefixes_disjoint(tmp_path: Path) -> None:
    root = make_fake_folder(tmp_path / "crops")
    first = sorted((root / "3.0").glob("*.jpg"))[0]
    shutil.copy(first, root / "3.0" / "3_copy_of_a_named_crop.jpg")  # byte-identical copy
    (root / "3.1").mkdir(exist_ok=True)
    shutil.copy(first, root / "3.1" / "3.1_dig0_20220101-000000.jpg")  # the same crop, labelled 3.1
    crops = scan_folder(root)
    kept, report = dedupe(crops)
    assert report.files == len(crops) and report.copies_removed == 2 and len(kept) == len(crops) - 2
    assert report.label_conflicts_kept == 1
    assert len({crop.sha256 for crop in kept}) == len(kept)

    splits = split_by_prefix(kept)
    assert sum(len(split) for split in splits.values()) == len(kept)
    prefixes = {name: {crop.prefix for crop in split} for name, split in splits.items()}
    assert not prefixes["train"] & prefixes["validation"]
    assert not prefixes["train"] & prefixes["test"]
    assert not prefixes["validation"] & prefixes["test"]
    assert splits["validation"] and splits["test"]
    assert UNNAMED in prefixes["train"] and UNNAMED not in prefixes["validation"] | prefixes["test"]
    again = split_by_prefix(list(reversed(kept)))
    assert {name: [c.path for c in split] for name, split in again.items()} == {
        name: [c.path for c in split] for name, split in splits.items()
    }


# --- Training, evaluation, the committed model -------------------------------------------------


@pytest.mark.parametrize("members", [1, 2])
def test_a_short_training_run_writes_a_servable_model(tmp_path: Path, members: int) -> None:
    import keras

    from meter_service.cli import main as cli
    from meter_service.training.reader import ensemble_members, evaluate_reader
    from recognition_common.serving.models import load_compiled

    data = make_fake_folder(tmp_path / "crops")
    extra = tmp_path / "mine" / "7"
    extra.mkdir(parents=True)
    _crop_image(7.0, seed=1).save(extra / "seven.png")
    out = tmp_path / "models" / "default"
    (out / "locator").mkdir(parents=True)
    (out / "locator" / "card.json").write_text("{}")  # another model's files: left alone
    cache = str(tmp_path / "cache")
    cli(["train-reader", "--data", str(data), "--cache", cache, "--out", str(out.parent), "--name", "default",
          "--epochs", "1", "--batch-size", "32",
          "--synthetic", "16", "--extra", str(tmp_path / "mine"), "--window-photos", "2",
          "--window-crops", "1", "--window-seed", "7", "--members", str(members), "--quiet"])  # fmt: skip

    assert {"model.keras", "card.json", "history.json", "training_curve.png", "locator"} == {
        path.name for path in out.iterdir()
    }
    assert (out / "locator" / "card.json").read_text() == "{}"
    card = json.loads((out / "card.json").read_text())
    assert card["task"] == "meter" and card["name"] == "default" and card["version"] == MODEL_VERSION
    assert card["classes"] == classes_tenths() and card["input_shape"] == [32, 20, 3]
    assert card["components"] == ["locator"] and card["wheels"] == 5
    counts = card["training_data"]
    assert counts["extra_samples"] == 1 and counts["synthetic_samples"] == 16
    cells = counts["window_cell_samples"]
    assert 3 * 4 <= cells <= 3 * 8 and counts["window_cells"]["photos"] == 2
    assert counts["train_samples"] == counts["real_train_samples"] + 1 + 16 + cells
    assert counts["split"]["validation"]["crops"] == counts["validation_samples"] > 0
    history = json.loads((out / "history.json").read_text())
    assert len(history["loss"]) == 1 and card["members"] == members
    model = keras.saving.load_model(out / "model.keras", compile=False)
    assert ensemble_members(model) == members
    if members > 1:  # the mean curve, and each member's own from its own seed
        assert [member["seed"] for member in history["members"]] == [42, 43]
        assert history["loss"][0] == pytest.approx(np.mean([m["loss"][0] for m in history["members"]]))
        first, second = (layer.get_weights()[0] for layer in model.layers if isinstance(layer, keras.Model))
        assert not np.allclose(first, second)  # two trainings, not one copied

    _, predict = load_compiled(out)
    probabilities = predict(reader_input([_crop_image(2.0, seed=3)]))
    assert probabilities.shape == (1, 100) and probabilities.sum() == pytest.approx(1.0, abs=1e-4)
    metrics = evaluate_reader(out, data, Path(cache), synthetic=10)
    assert metrics["test_crops"] > 0 and 0 <= metrics["test_within_0_5"] <= 1
    assert "synthetic_whole_digit_accuracy" in metrics
    cli(["train-reader", "--evaluate", "--model-dir", str(out), "--data", str(data), "--cache", cache,
          "--synthetic-eval", "0", "--write-card", "--quiet"])  # fmt: skip
    recorded = json.loads((out / "card.json").read_text())["metrics"]
    assert recorded["test_crops"] == metrics["test_crops"] and "validation_within_0_5" in recorded


def test_fit_validation_trains_on_the_validation_crops_and_keeps_the_last_epoch(tmp_path: Path) -> None:
    from meter_service.cli import main as cli
    from meter_service.training.evaluate import _composed_strips
    from meter_service.training.reader_data import load_real
    from recognition_common.serving.model_card import read_card
    from recognition_common.serving.models import load_compiled

    data = make_fake_folder(tmp_path / "crops", whole=True)
    cache = tmp_path / "cache"
    out = tmp_path / "models"
    cli(["train-reader", "--data", str(data), "--cache", str(cache), "--out", str(out), "--name", "final",
          "--epochs", "2", "--batch-size", "32", "--synthetic", "0", "--window-photos", "0",
          "--window-crops", "0", "--members", "1", "--fit-validation", "--quiet"])  # fmt: skip

    card = json.loads((out / "final" / "card.json").read_text())
    counts = card["training_data"]
    real = load_real(data, cache)
    assert counts["validation_trained_on"] is True
    assert counts["real_train_samples"] == len(real.splits["train"]) + len(real.splits["validation"])
    assert counts["train_samples"] == counts["real_train_samples"]
    assert card["best_epoch"] == 2  # the last, whatever the validation figures say
    assert not [key for key in card["metrics"] if key.startswith("validation_")]  # trained on: no figures

    # The evaluation leaves out the strips composed from the split the reader was trained on.
    _, read_wheels = load_compiled(MODEL_DIR)
    locator_card, locate = load_compiled(MODEL_DIR / "locator")
    args = argparse.Namespace(composed=2, data=data, quiet=True, wheels=5, given_wheels=False, seed=3, show=0)
    shape = tuple(locator_card.input_shape)
    thresholds = Thresholds(0.5, 0.5, 0.9)
    fitted = read_card(out / "final")
    trained_on = _composed_strips(args, fitted, locate, read_wheels, shape, thresholds)
    assert "test" in trained_on and "validation" not in trained_on
    assert trained_on["test"]["strips"] == 2
    unseen = {**fitted.training_data, "validation_trained_on": False}
    held_out = _composed_strips(
        args, fitted.model_copy(update={"training_data": unseen}), locate, read_wheels, shape, thresholds
    )
    assert {"test", "validation"} <= held_out.keys()


def _rendered_digits_read_right(count: int, seed: int, segments: float = 0.0) -> int:
    """Of `count` whole digits rendered by `wheels` (never these ones trained on), how many the
    committed model reads right; `segments`: the share drawn as seven segments."""
    from recognition_common.serving.models import load_compiled

    card, predict = load_compiled(MODEL_DIR)
    assert card.classes == classes_tenths() and card.input_shape == [32, 20, 3]
    rng = np.random.default_rng(seed)
    digits = rng.integers(0, 10, size=count)
    crops = [render_wheel(float(d), random_style(rng, segments=segments), 20, 32, rng) for d in digits]
    readings = [decode_wheel(row) for row in predict(reader_input(crops))]
    return sum(reading.digit == d for reading, d in zip(readings, digits, strict=True))


def test_an_ensemble_is_the_mean_of_its_readers_and_loads_as_plain_keras(tmp_path: Path) -> None:
    import keras

    from meter_service.training.reader import build_ensemble, build_reader, ensemble_members
    from recognition_common.artifacts import servable_copy

    ensemble = build_ensemble(3)
    readers = [layer for layer in ensemble.layers if isinstance(layer, keras.Model)]
    crops = reader_input([_crop_image(float(d), seed=d) for d in range(4)])
    mean = np.mean([reader(crops, training=False).numpy() for reader in readers], axis=0)
    assert np.allclose(ensemble(crops, training=False).numpy(), mean, atol=1e-6)
    assert ensemble_members(ensemble) == 3 and ensemble_members(build_reader()) == 1
    assert ensemble_members(build_ensemble(1)) == 1
    # As retrain rebuilds it: the weights in a fresh copy, saved, loaded without custom objects.
    copy = servable_copy(lambda: build_ensemble(3), ensemble.get_weights())
    keras.saving.save_model(copy, tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras", compile=False)
    assert ensemble_members(loaded) == 3
    assert np.allclose(loaded(crops, training=False).numpy(), mean, atol=1e-6)
    with pytest.raises(ValueError, match="at least 1"):
        build_ensemble(0)


def test_the_committed_model_reads_rendered_whole_digits() -> None:
    right = _rendered_digits_read_right(50, seed=2026)
    assert right >= 45, f"{right} of 50 rendered whole digits read right"


def test_the_committed_model_reads_segment_digits() -> None:
    # The LCD look of some real counters (`wheels.SEVEN_SEGMENT`).
    right = _rendered_digits_read_right(100, seed=2027, segments=1.0)
    assert right >= 98, f"{right} of 100 rendered segment digits read right"


def test_window_cells_are_cut_like_the_service_and_labelled_with_what_they_show(tmp_path: Path) -> None:
    from meter_service.synth import generate_meter, sample_rng
    from meter_service.training import window_cells as wc

    pixels, labels = wc.window_cells(2, 1, seed=11, cache=tmp_path, workers=1)
    assert pixels.dtype == np.uint8 and pixels.shape[1:] == (32, 20, 3) and len(pixels) == len(labels)
    assert labels.min() >= 0 and labels.max() < 100
    # The first photo's cells, left first: each near its wheel's true tenth, off by what the
    # drum's offset and the jittered cut show (a few tenths at most).
    jitter = np.random.default_rng([11, 2, 0])
    wheels = int(jitter.choice(wc.WHEEL_CHOICES))
    sample = generate_meter(sample_rng(11, 0), wheels=wheels, segments=wc.SEGMENT_SHARE)
    true = np.array([class_of(p) for p in sample.positions])
    assert (np.abs((labels[:wheels] - true + 50) % 100 - 50) <= 3).all()
    assert labels[:wheels].tolist() == wc.cell_labels(sample, wc.jittered(sample.corners, jitter))
    # Cached: the second call reads the .npz back.
    assert len(list(tmp_path.glob("*.npz"))) == 1
    again, again_labels = wc.window_cells(2, 1, seed=11, cache=tmp_path, workers=1)
    assert np.array_equal(again, pixels) and np.array_equal(again_labels, labels)


def test_a_cell_cut_low_shows_its_wheel_further_round() -> None:
    from meter_service.geometry import UNIT_SQUARE, homography, transform_points
    from meter_service.synth import render_window
    from meter_service.training.window_cells import cell_labels

    sample = render_window([1.0, 3.0, 5.0, 7.0, 2.4], rng=np.random.default_rng(8))
    assert sample.window_style is not None
    pitches = np.array([style.pitch for style in sample.window_style.wheel_styles])
    # Cut exactly: each cell shows its wheel where it appears in its slot.
    assert cell_labels(sample, sample.corners) == [class_of(p) for p in sample.shown]
    # Cut 0.1 of the row lower: the digits sit higher in every cell, as if turned 0.1 / pitch on.
    to_image = homography(UNIT_SQUARE, sample.corners.astype(np.float64))
    low = transform_points(to_image, UNIT_SQUARE + np.array([0.0, 0.1]))
    expected = [class_of(p + 0.1 / pitch) for p, pitch in zip(sample.shown, pitches, strict=True)]
    assert cell_labels(sample, low) == expected
    assert expected != [class_of(p) for p in sample.shown]
