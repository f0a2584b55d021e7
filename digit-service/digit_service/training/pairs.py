"""Train the pair detector of digit models: one wide digit, or two digits that touch?

    python -m digit_service.cli train-pairs --model-dir digit-service/models/cnn [more model dirs]

A stroke group wider than most digits may be one wide digit (MNIST has 0s, 2s and 5s twice as
wide as tall) or two digits written into each other. Width cannot decide (touching pairs are
1.19 times as wide as tall at the median, 1% of MNIST's digits wider than 1.43), and the digit
model cannot either: asked about a pair squeezed into one 28x28 box, it names one digit with
confidence. Trained to read pairs as junk it splits them, but refuses more real digits. So a
separate small model is asked only about such groups, shown the group whole as the digit model
sees it (`preprocess.splittable_groups`).

1. **Data.** MNIST training digits, without the validation tail the digit models select on,
   rendered as the evaluation renders them: each digit as uploaded (28x28), each in a random
   style on a canvas (`styles.STYLES`), pairs of them touching (`styles.touching`), and junk
   (`styles.junk`); every image through the service's own pre-processing, and the whole reading
   of each splittable group kept: 1 for the pairs, 0 for single digits and junk.
2. **Model.** Four 3x3 convolutions, a dense layer, one sigmoid; light shifts and zooms.
3. **Offset.** Its log-odds count for the split readings less an offset
   (`preprocess.pair_evidence`). Each candidate offset is tried through the whole pipeline with
   the digit model on the validation tail: the 5,000 digits as uploaded and 500 touching pairs.
   The chosen one reads the pairs best among those that read the single digits no worse, and the
   pairs better, than the digit model alone does; it is written into the digit model's card
   (`pairs.offset`), the detector into `<model-dir>/pairs/` with its own card, and `pairs` into
   the card's components. When no offset qualifies for a model, nothing is written for that
   model and the command exits 1.

The detector does not depend on the digit model, only its offset does: given several model
directories, it is trained once and each model gets its own offset and copy.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import layers
from PIL import Image
from tqdm import tqdm

from digit_service import styles
from digit_service.preprocess import prepare_readings, splittable_groups
from digit_service.recognizer import PAIRS
from digit_service.training import pipeline_eval
from digit_service.training.data import VALIDATION_SAMPLES
from digit_service.training.train import DEFAULT_DATA
from recognition_common.artifacts import Curve, TrainingRun, save_training_artifacts, servable_copy
from recognition_common.edge.errors import ApiError
from recognition_common.edge.imaging import ImageLimits, decode_image
from recognition_common.serving.model_card import ModelCard, read_card, write_card
from recognition_common.serving.models import load_compiled

VERSION = "1.0.0"
# The styles its single digits are drawn in. Not the 8x8 thumbnails (styles.coarse8): with them
# among its singles (a trial, detector "1.1.0") it took pen-drawn touching "00" and "35"
# (tests/digit_service/test_reading.py) for one digit each, where 1.0.0 splits them; the digit
# model learns the thumbnails, the detector is left as it was.
SINGLE_STYLES = ("clean", "binary", "postal16", "blocky", "bitmap32", "stretched", "thick", "thin", "slanted")
INPUT_SHAPE = (28, 28, 1)
OFFSETS = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0)
CURVE = Curve(
    loss_label="binary cross-entropy",
    measures=lambda history: {
        "train": history["accuracy"],
        "validation": history["val_accuracy"],
    },
    measures_label="accuracy",
    measures_top=1.0,
)


def parse_args(argv: list[str] | None, prog: str | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model-dir",
        type=Path,
        nargs="+",
        required=True,
        dest="model_dirs",
        help="the digit models to give the detector (trained once; each model gets its own offset)",
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="MNIST .npz (default: %(default)s)")
    parser.add_argument(
        "--images", type=int, default=20000, help="rendered images of each kind (default 20000)"
    )
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    for model_dir in args.model_dirs:
        if not (model_dir / "card.json").is_file():
            parser.error(f"--model-dir {model_dir}: no card.json there (train the digit model first)")
    if not args.data.is_file() or args.data.suffix != ".npz":
        parser.error(f"--data {args.data}: needs MNIST as an .npz file (make download-mnist)")
    if args.images < 100 or args.epochs < 1:
        parser.error("--images must be at least 100 and --epochs at least 1")
    return args


# --- Data -----------------------------------------------------------------------------------


def whole_groups(image: Image.Image) -> list[np.ndarray]:
    """The whole reading (28x28) of each splittable stroke group of an image, as served."""
    try:
        samples = prepare_readings(decode_image(pipeline_eval.png(image), ImageLimits()))
    except ApiError:
        return []
    return [samples[index].pixels for index in splittable_groups(samples).values()]


def render(x: np.ndarray, count: int, rng: np.random.Generator, quiet: bool) -> tuple[np.ndarray, np.ndarray]:
    """`count` images of each kind (as uploaded, styled, touching pair, junk) -> (inputs, 0/1
    labels)."""
    names = list(SINGLE_STYLES)
    inputs: list[np.ndarray] = []
    labels: list[int] = []
    for _ in tqdm(range(count), desc="render", unit="set", disable=quiet):
        single, styled, first, second = (x[i] for i in rng.integers(len(x), size=4))
        style = styles.STYLES[names[int(rng.integers(len(names)))]]
        dark = bool(rng.random() < 0.7)
        junk = styles.JUNK_KINDS[int(rng.integers(len(styles.JUNK_KINDS)))]
        kinds = (
            (Image.fromarray(single), 0),
            (styles.on_canvas(style(styled, rng), rng, pipeline_eval.CANVAS, dark_on_light=dark), 0),
            (styles.touching([first, second], rng, dark_on_light=dark), 1),
            # Junk is no pair either: read whole, it is refused as junk, not read as two digits.
            (styles.junk(junk, rng, pipeline_eval.CANVAS, dark_on_light=dark), 0),
        )
        for image, label in kinds:
            wholes = whole_groups(image)
            inputs += wholes
            labels += [label] * len(wholes)
    return np.stack(inputs)[..., np.newaxis].astype(np.float32), np.array(labels, dtype=np.float32)


# --- Model ----------------------------------------------------------------------------------


def build_detector() -> keras.Model:
    """(28, 28, 1) in [0, 1] -> P(touching digits)."""
    image = keras.Input(INPUT_SHAPE, name="group")
    x = image
    for width in (16, 32):
        x = layers.Conv2D(width, 3, padding="same", activation="relu")(x)
        x = layers.Conv2D(width, 3, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.3)(x)
    x = layers.Dense(64, activation="relu")(x)
    pair = layers.Dense(1, activation="sigmoid", name="pair")(x)
    return keras.Model(image, pair, name="pair_detector")


def train_detector(
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    args: argparse.Namespace,
    work: Path,
) -> tuple[keras.Model, TrainingRun]:
    """Fit with light shifts and zooms; keep the epoch with the best validation accuracy."""
    import tensorflow as tf

    keras.utils.set_random_seed(args.seed)
    model = build_detector()
    model.compile(keras.optimizers.Adam(5e-4), "binary_crossentropy", metrics=["accuracy"])
    jitter = keras.Sequential(
        [
            layers.RandomTranslation(0.06, 0.06, fill_mode="constant", seed=args.seed),
            layers.RandomZoom(0.06, fill_mode="constant", seed=args.seed + 1),
        ]
    )

    def jittered(x: Any, y: Any) -> tuple[Any, Any]:
        return jitter(x, training=True), y

    dataset = (
        tf.data.Dataset.from_tensor_slices(train)
        .shuffle(len(train[1]), seed=args.seed)
        .batch(128)
        .map(jittered)
        .prefetch(tf.data.AUTOTUNE)
    )
    best = keras.callbacks.ModelCheckpoint(
        str(work / "best.weights.h5"), monitor="val_accuracy", save_best_only=True, save_weights_only=True
    )
    started = time.perf_counter()
    history = model.fit(
        dataset,
        validation_data=validation,
        epochs=args.epochs,
        callbacks=[best],
        shuffle=False,  # the dataset shuffles
        verbose=0 if args.quiet else (1 if sys.stdout.isatty() else 2),
    ).history
    model.load_weights(best.filepath)
    best_epoch = int(np.argmax(history["val_accuracy"])) + 1
    return model, TrainingRun(history, best_epoch, time.perf_counter() - started)


def detector_figures(model: keras.Model, inputs: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Accuracy, and how often singles are taken for pairs and pairs found, at 0.5 and 0.9."""
    scores = model(inputs, training=False).numpy().reshape(-1)
    singles, pairs = labels == 0, labels == 1
    figures: dict[str, Any] = {"accuracy": round(float(np.mean((scores > 0.5) == pairs)), 4)}
    for level in (0.5, 0.9):
        figures[f"singles_called_pairs_at_{level}"] = round(float(np.mean(scores[singles] > level)), 4)
        figures[f"pairs_found_at_{level}"] = round(float(np.mean(scores[pairs] > level)), 4)
    figures.update(singles=int(singles.sum()), pairs=int(pairs.sum()))
    return figures


# --- Offset ---------------------------------------------------------------------------------


def choose_offset(
    model_dir: Path, detector: keras.Model, x: np.ndarray, y: np.ndarray, seed: int
) -> tuple[float | None, list[dict[str, Any]]]:
    """The offset that reads validation pairs best without reading validation digits worse than
    the digit model alone (see the module docstring), None when no offset reads the pairs better
    without reading the digits worse, and the figures of every candidate."""
    card, predict = load_compiled(model_dir, pipeline_eval.CHUNK)
    if PAIRS not in card.components:  # so that pre-processing asks for the detector's pass
        card = card.model_copy(update={"components": [*card.components, PAIRS]})
    sets = pipeline_eval.build_cases(x, y, seed=seed, per_style=500)
    cases = {"mnist": sets["mnist"], pipeline_eval.TOUCHING: sets[pipeline_eval.TOUCHING]}

    def detect(batch: np.ndarray) -> np.ndarray:
        return detector(batch, training=False).numpy()

    def right(offset: float | None) -> dict[str, float]:
        """Share read right per set: with the detector at `offset`, or without it (None)."""
        trial = card.model_copy(update={PAIRS: {"offset": offset}})
        pairs = None if offset is None else detect
        shares = {}
        for name, group in cases.items():
            outcomes = pipeline_eval.read_all(group, trial, predict, 0.0, pairs)
            shares[name] = float(np.mean([outcome.right for outcome in outcomes]))
        return shares

    alone = right(None)
    trials = [{"offset": offset, **right(offset)} for offset in OFFSETS]
    print(
        f"validation tail, digit model alone: digits {alone['mnist']:.4f}, "
        f"touching pairs {alone[pipeline_eval.TOUCHING]:.4f}"
    )
    for trial in trials:
        print(
            f"  offset {trial['offset']:g}: digits {trial['mnist']:.4f}, "
            f"touching pairs {trial[pipeline_eval.TOUCHING]:.4f}"
        )
    return pick_offset(alone, trials), [{"offset": None, **alone}, *trials]


def pick_offset(alone: dict[str, float], trials: list[dict[str, Any]]) -> float | None:
    """Of `trials` (each an offset and its shares read right, as `choose_offset` measures them),
    the offset that reads touching pairs best among those that read the digits no worse and the
    pairs better than the digit model `alone`; the larger offset on a tie; None if none does."""
    touching = pipeline_eval.TOUCHING
    allowed = [t for t in trials if t["mnist"] >= alone["mnist"] and t[touching] > alone[touching]]
    if not allowed:
        return None
    return float(max(allowed, key=lambda trial: (trial[touching], trial["offset"]))["offset"])


# --- Command --------------------------------------------------------------------------------


@dataclass
class TrainedDetector:
    """The detector as trained once, and its card without the offset, which is each model's own."""

    model: keras.Model
    servable: keras.Model
    run: TrainingRun
    card: ModelCard


def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    args = parse_args(argv, prog)
    with np.load(args.data) as arrays:
        x_train, y_train = arrays["x_train"], arrays["y_train"]
    cut = len(y_train) - VALIDATION_SAMPLES  # the tail the digit models select on: never trained on
    rng = np.random.default_rng(args.seed)
    train = render(x_train[:cut], args.images, rng, args.quiet)
    validation = render(x_train[cut:], max(100, args.images // 10), rng, args.quiet)
    print(
        f"rendered {len(train[1])} training groups ({int(train[1].sum())} pairs), "
        f"{len(validation[1])} validation"
    )
    with tempfile.TemporaryDirectory() as work:
        model, run = train_detector(train, validation, args, Path(work))
    figures = detector_figures(model, *validation)
    print("detector on validation groups: " + ", ".join(f"{k} {v}" for k, v in figures.items()))
    card = ModelCard(
        name=PAIRS,
        version=VERSION,
        task="digit",
        description="Tells two touching digits from one wide digit: a splittable stroke group's whole "
        "reading (28x28, as the digit model sees it) -> P(pair).",
        classes=["pair"],
        input_shape=list(INPUT_SHAPE),
        training_data={
            "source": f"{args.data.name}: the first {cut} training digits, rendered as uploaded, in "
            "the served styles and as touching pairs, and junk marks, through the service's "
            "pre-processing",
            "groups": len(train[1]),
            "pairs": int(train[1].sum()),
            "images_per_kind": args.images,
            "epochs": args.epochs,
            "seed": args.seed,
        },
        metrics={"validation": figures},
        created=date.today().isoformat(),
        trained_with=shlex.join(["python", "-m", "digit_service.cli", "train-pairs", *(argv or [])]),
    )
    detector = TrainedDetector(model, servable_copy(build_detector, model.get_weights()), run, card)
    installed = [
        install(model_dir, detector, x_train[cut:], y_train[cut:], args.seed) for model_dir in args.model_dirs
    ]
    if not all(installed):
        raise SystemExit(1)


def install(model_dir: Path, detector: TrainedDetector, x: np.ndarray, y: np.ndarray, seed: int) -> bool:
    """Choose `model_dir`'s offset on the validation digits `x`, `y` and install the detector
    there; False, with nothing written, when no offset qualifies (`choose_offset`)."""
    print(f"{model_dir}:")
    offset, trials = choose_offset(model_dir, detector.model, x, y, seed)
    if offset is None:
        print(
            "not installed: at no offset does the detector read the validation pairs better without "
            f"reading the validation digits worse than the digit model alone; {model_dir} is unchanged "
            "(more --images or --epochs may help)"
        )
        return False
    print(f"chosen offset {offset:g}")
    metrics = {**detector.card.metrics, "offset_trials": trials, "chosen_offset": offset}
    files = save_training_artifacts(
        model_dir / PAIRS,
        detector.servable,
        detector.card.model_copy(update={"metrics": metrics}),
        detector.run,
        CURVE,
        "pair detector",
    )
    card = read_card(model_dir)
    components = card.components if PAIRS in card.components else [*card.components, PAIRS]
    write_card(model_dir, card.model_copy(update={"components": components, PAIRS: {"offset": offset}}))
    print(
        f"wrote {files}; {model_dir / 'card.json'}: components {json.dumps(components)}, "
        f"pairs.offset {offset:g}"
    )
    return True
