"""Train and evaluate the window locator: a small U-Net that paints the wheel row.

    python -m meter_service.cli train-locator [--out meter-service/models] [--name default] \
        --samples 4000 --epochs 11 --seed 42 \
        --data ../shared/data/meter-digits/meterdigits.tar.gz  # writes <out>/<name>/locator/
    python -m meter_service.cli train-locator --evaluate --model-dir meter-service/models/default/locator

Training data are generated photos (`synth.generate_meter`, 4 to 8 wheels), each seen the ways
the service sees a photo (see `locate`): letterboxed whole (plus a random turned crop, as
another photo of the same meter would be), as refining views around a deliberately
imperfect estimate of the row (shifted, scaled, turned, or too short, as earlier passes err),
and as a crop of the row sent in mode=window (a loose crop, black beyond it, `window_view`).
The photos carry what real meter faces and photos do around the counter: serial-number plates,
printed codes, dials, dirt and haze on the cover, a hand's shadow, a timestamp in a corner, small
and oblique windows; and some meter faces have only a plate where the counter would be, which
must not be painted. With `--data` (as `train` and `make train-meter` run it), a share of the
windows (`--real-share`) show rows of real wheel crops from the reader's train split instead of
rendered wheels (`composed.strip_photo`): a locator that has only seen rendered wheels finds far
fewer windows whose wheels are real (see REAL_SHARE).
Targets are the row's quad rasterised with anti-aliased edges at the mask's resolution, so the
moments that turn a mask into corners are sub-pixel. A few photos without any meter teach the
network to paint nothing. Validation uses a separate seed; `evaluate_locator` runs the
whole locator (`locate.locate_window`: whole-photo pass, then refining passes) on fresh photos
(seed 2026 by default) and reports corner IoU. Writes::

    <out>/model.keras          image (160x160x3, 0..1) -> row mask (80x80x1, 0..1)
    <out>/card.json            what it is, data, recipe, evaluate figures
    <out>/history.json         per-epoch losses and mask IoU
    <out>/training_curve.png   the same, plotted
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
import time
from datetime import date
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from meter_service.card import LOCATOR
from meter_service.geometry import quad_iou, quad_size, transform_points
from meter_service.locate import (
    INPUT_SHAPE,
    OUTPUT_STRIDE,
    PAD_VALUE,
    REFINE_SPAN,
    LocatorFrame,
    locate_window,
    locator_input,
    refine_frame,
    view_frame,
    view_input,
    window_angle,
    window_from_output,
)
from meter_service.synth import background, generate_meter, sample_rng
from meter_service.training.composed import Pools, pools_of, random_strip, strip_photo
from meter_service.training.generate import parse_wheels, wheels_for
from meter_service.training.reader_data import Split, load_real, missing_data
from recognition_common.artifacts import Curve, TrainingRun, save_training_artifacts, servable_copy
from recognition_common.serving.model_card import check_model_name

NAME = "locator"
VERSION = "1.2.0"
WHEELS = (4, 8)  # trained and evaluated on every supported wheel count
SCENE_VIEWS = 1  # extra first-pass views per training photo: a random turned crop of it
REFINE_VIEWS = 2  # refining views per training photo
# Views as the service sees an upload in mode=window: the photo cropped loosely round the row
# (black beyond the crop, as `view_input` pads), seen round the whole crop or round a jittered
# estimate inside it. Without them the refining views only ever showed the face round the row.
WINDOW_VIEWS = 1
DATA_VERSION = 3  # part of the cache's file names: bump when the views change
NEGATIVE_RATE = 0.03  # photos replaced by a bare background (target: empty mask)
# Photos of a meter face whose only number is a serial plate where the counter would be (target:
# empty mask), seen whole and zoomed onto the plate as a refining pass would: numbers that are not
# a counter are not painted.
DECOY_RATE = 0.05
# With --data: the share of photos whose window shows a row of real wheel crops (the reader's
# train split, never its validation or test split) instead of rendered wheels. Locator 1.2.0
# against 1.1.0 (rendered wheels only, no mode=window views), on the validation split's composed
# photos: windows found (IoU >= 0.8) 76.3% -> 86.0%, read exactly 73.0% -> 78.0%; its composed
# strips in mode=window 97.7% -> 99.0%. Tried without the mode=window views: real wheels in
# every view broke window crops (the CC BY strips 12 -> 8 of 12 clean); real wheels in the
# whole-photo views only (no real refining views) found 81.7% and read the strips 94.7%.
REAL_SHARE = 0.3
VALIDATION_SEED_OFFSET = 1  # validation photos: seed + 1
EVALUATION_SEED = 2026
CHUNK = 100  # photos per worker task
IOU_TARGET = 0.8

DESCRIPTION = (
    "U-Net on 160x160 RGB: patch embedding conv 4x4/4 (24), conv 3x3 stages at 1/4, 1/8, 1/16 "
    "(24, 40, 64; two dilated convs for context), batch-norm + relu; decoder upsamples x2 with "
    "skip concatenations (40, 24), then a 2x2/2 transposed conv to a sigmoid row mask at 80x80; "
    "loss binary cross-entropy + 0.5 soft Dice; corners from the mask's moments; a whole-photo pass "
    "(letterboxed), then refining passes on turned, zoomed views of the estimate"
)


# --- Architecture ----------------------------------------------------------------------------


def build_locator(input_shape: tuple[int, ...] = INPUT_SHAPE) -> Any:
    """(H, W, 3) float in [0, 1] -> (H/2, W/2, 1) probability that a pixel is wheel row.

    All the work happens at 1/4 resolution and below (a 4x4/4 patch embedding first, a 2x2/2
    transposed convolution last), which on a CPU costs a fraction of a full-resolution U-Net,
    while the mask keeps half the input's resolution for its anti-aliased edges.
    """
    import keras
    from keras import layers

    def conv(x: Any, filters: int, stride: int = 1, dilation: int = 1, kernel: int = 3) -> Any:
        x = layers.Conv2D(
            filters, kernel, strides=stride, dilation_rate=dilation, padding="same", use_bias=False
        )(x)
        x = layers.BatchNormalization()(x)
        return layers.ReLU()(x)

    image = keras.Input(input_shape, name="image")
    quarter = conv(conv(image, 24, stride=4, kernel=4), 24)  # 1/4
    eighth = conv(conv(quarter, 40, stride=2), 40)  # 1/8
    x = conv(eighth, 64, stride=2)  # 1/16
    x = conv(x, 64, dilation=2)  # context: the face round the window
    x = conv(x, 64, dilation=2)
    for skip, filters in ((eighth, 40), (quarter, 24)):
        x = layers.UpSampling2D(2, interpolation="bilinear")(x)
        x = conv(layers.Concatenate()([x, skip]), filters)
    mask = layers.Conv2DTranspose(1, 2, strides=2, activation="sigmoid", name="mask")(x)  # 1/2
    return keras.Model(image, mask, name="window_locator")


# --- Data ------------------------------------------------------------------------------------


def target_mask(corners: np.ndarray, frame: LocatorFrame, stride: int = OUTPUT_STRIDE) -> np.ndarray:
    """The row quad (photo pixels) drawn into the mask of the view `frame`: uint8 coverage 0..255.

    Drawn 4x larger and box-averaged down, so an edge pixel holds how much of it the row covers.
    """
    width, height = frame.input_size[0] // stride, frame.input_size[1] // stride
    points = transform_points(np.linalg.inv(frame.to_image), corners) / stride
    big = Image.new("L", (width * 4, height * 4), 0)
    ImageDraw.Draw(big).polygon([(float(x) * 4, float(y) * 4) for x, y in points], fill=255)
    return np.asarray(big.resize((width, height), Image.Resampling.BOX), dtype=np.uint8)


def jittered_frame(corners: np.ndarray, rng: np.random.Generator) -> LocatorFrame:
    """A refining view around an imperfect first estimate of `corners` (as a first pass errs)."""
    row_w, row_h = quad_size(corners)
    angle = window_angle(corners)
    along = np.array([math.cos(angle), math.sin(angle)])
    across = np.array([-along[1], along[0]])
    kind = rng.random()
    wide = kind < 0.3  # sometimes a poor first estimate
    centre = np.asarray(corners, dtype=np.float64).mean(axis=0)
    centre = centre + along * row_w * rng.normal(0, 0.1 if wide else 0.04)
    centre = centre + across * row_h * rng.normal(0, 0.5 if wide else 0.2)
    span = row_w / REFINE_SPAN * math.exp(rng.normal(0, 0.25 if wide else 0.08))
    if kind > 0.88:  # the first pass saw part of the row: it runs off the view
        span = row_w * rng.uniform(0.5, 1.05)
    turn = math.radians(rng.normal(0, 5 if wide else 2))
    return view_frame((centre[0], centre[1]), angle + turn, span)


def crop_quad(corners: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A loose crop round the row `corners` as people send in mode=window: a margin of up to 8%
    of the row's width at each end and up to 35% of its height above and below, turned by up to
    2 degrees against the row."""
    corners = np.asarray(corners, dtype=np.float64)
    row_w, row_h = quad_size(corners)
    angle = window_angle(corners) + math.radians(rng.uniform(-2, 2))
    along = np.array([math.cos(angle), math.sin(angle)])
    across = np.array([-along[1], along[0]])
    centre = corners.mean(axis=0)
    left, right = row_w * (0.5 + rng.uniform(0, 0.08, size=2))
    top, bottom = row_h * (0.5 + rng.uniform(0, 0.35, size=2))
    return np.array(
        [
            centre - along * left - across * top,
            centre + along * right - across * top,
            centre + along * right + across * bottom,
            centre - along * left + across * bottom,
        ]
    )


def window_view(
    image: Image.Image, corners: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A mode=window view of the photo's row: the view round a loose crop of it (or, a third of
    the time, round a jittered estimate, as the second window pass), black outside the crop;
    the input (160, 160, 3) uint8 and the row's mask (80, 80) uint8."""
    crop = crop_quad(corners, rng)
    frame = refine_frame(crop) if rng.random() < 2 / 3 else jittered_frame(corners, rng)
    return cropped_view(image, crop, frame), target_mask(corners, frame)


def cropped_view(image: Image.Image, crop: np.ndarray, frame: LocatorFrame) -> np.ndarray:
    """The view `frame` of what the quad `crop` of `image` holds, black outside it: what the
    locator sees of that crop sent alone (uint8)."""
    view = Image.fromarray(_to_uint8(view_input(image, frame)))
    outline = [(float(x), float(y)) for x, y in transform_points(np.linalg.inv(frame.to_image), crop)]
    keep = Image.new("L", view.size, 0)
    ImageDraw.Draw(keep).polygon(outline, fill=255)
    black = Image.new("RGB", view.size, (PAD_VALUE,) * 3)
    return np.asarray(Image.composite(view, black, keep))


def scene_frame(image_size: tuple[int, int], corners: np.ndarray, rng: np.random.Generator) -> LocatorFrame:
    """A first-pass view that is another photo of the same meter: a random crop of the photo,
    turned by up to 12 degrees more, that still holds the whole row."""
    angle = math.radians(rng.uniform(-12, 12))
    turn = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    local = np.asarray(corners, dtype=np.float64) @ turn  # row in the turned view's axes
    low, high = local.min(axis=0), local.max(axis=0)
    extent = float((high - low).max())
    span = max(max(image_size) * rng.uniform(0.45, 1.1), extent / 0.85)
    room = span / 2 - 0.05 * span  # the row stays 5% inside the view
    centre_local = np.array(
        [rng.uniform(high[0] - room, low[0] + room), rng.uniform(high[1] - room, low[1] + room)]
    )
    centre = turn @ centre_local
    return view_frame((centre[0], centre[1]), angle, span)


_REAL_TRAIN: dict[Path, tuple[Split, Pools]] = {}  # per process: the train split and its wheel names


def _real_train(data: Path) -> tuple[Split, Pools]:
    """The reader's train split of the real crops in `data` and its wheel names, loaded once per
    process (the photo workers each load their own)."""
    if data not in _REAL_TRAIN:
        split = load_real(data).splits["train"]
        _REAL_TRAIN[data] = (split, pools_of(split))
    return _REAL_TRAIN[data]


def photo_views(
    seed: int, index: int, data: Path | None = None, real_share: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (k, 160, 160, 3) uint8 and masks (k, 80, 80) uint8 made from photo `index`; with
    `data`, `real_share` of the photos show real wheel crops in their window."""
    rng = sample_rng(seed, index)
    empty = np.zeros((INPUT_SHAPE[0] // OUTPUT_STRIDE, INPUT_SHAPE[1] // OUTPUT_STRIDE), np.uint8)
    if rng.random() < NEGATIVE_RATE:
        size = (int(rng.integers(320, 721)), int(rng.integers(240, 721)))
        array, _ = locator_input(background(rng, size))
        return _to_uint8(array)[np.newaxis], empty[np.newaxis]
    if rng.random() < DECOY_RATE:
        decoy = generate_meter(rng, wheels=wheels_for(seed, index, WHEELS), counter=False)
        array, _ = locator_input(decoy.image)
        zoomed = view_input(decoy.image, jittered_frame(decoy.corners, rng))
        return np.stack([_to_uint8(array), _to_uint8(zoomed)]), np.stack([empty, empty])
    if data is not None and real_share > 0 and rng.random() < real_share:
        split, pools = _real_train(data)
        sample = strip_photo(split, random_strip(split, pools, rng), rng)
    else:
        sample = generate_meter(rng, wheels=wheels_for(seed, index, WHEELS))
    array, frame = locator_input(sample.image)
    inputs, masks = [_to_uint8(array)], [target_mask(sample.corners, frame)]
    frames = [scene_frame(sample.image.size, sample.corners, rng) for _ in range(SCENE_VIEWS)]
    frames += [jittered_frame(sample.corners, rng) for _ in range(REFINE_VIEWS)]
    for frame in frames:
        inputs.append(_to_uint8(view_input(sample.image, frame)))
        masks.append(target_mask(sample.corners, frame))
    for _ in range(WINDOW_VIEWS):
        window_input, window_mask = window_view(sample.image, sample.corners, rng)
        inputs.append(window_input)
        masks.append(window_mask)
    return np.stack(inputs), np.stack(masks)


def _to_uint8(array: np.ndarray) -> np.ndarray:
    return np.clip(np.round(array * 255), 0, 255).astype(np.uint8)


ViewsTask = tuple[int, int, int, Path | None, float]  # seed, start, stop, data, real share


def _views_chunk(task: ViewsTask) -> tuple[np.ndarray, np.ndarray]:
    seed, start, stop, data, real_share = task
    parts = [photo_views(seed, index, data, real_share) for index in range(start, stop)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def build_views(
    count: int,
    seed: int,
    workers: int = 2,
    progress: bool = True,
    data: Path | None = None,
    real_share: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """All views of photos 0..count-1 of `seed`, identical whatever the number of workers."""
    from tqdm import tqdm

    tasks: list[ViewsTask] = [
        (seed, start, min(start + CHUNK, count), data, real_share) for start in range(0, count, CHUNK)
    ]
    results = []
    with tqdm(total=count, desc=f"photos (seed {seed})", unit="photo", disable=not progress) as bar:
        if workers <= 1:
            for task in tasks:
                results.append(_views_chunk(task))
                bar.update(task[2] - task[1])
        else:
            with get_context("spawn").Pool(workers) as pool:
                for task, result in zip(tasks, pool.imap(_views_chunk, tasks), strict=True):
                    results.append(result)
                    bar.update(task[2] - task[1])
    return np.concatenate([r[0] for r in results]), np.concatenate([r[1] for r in results])


def cached_views(
    count: int,
    seed: int,
    cache: Path | None,
    workers: int,
    progress: bool,
    data: Path | None = None,
    real_share: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """`build_views`, kept in `cache` (an .npz per count, seed and real share) when a cache
    folder is given."""
    real = f"_real{real_share:g}" if data is not None and real_share > 0 else ""
    path = cache / f"locator_views_v{DATA_VERSION}_{count}_{seed}{real}.npz" if cache else None
    if path is not None and path.is_file():
        with np.load(path) as stored:
            return stored["inputs"], stored["masks"]
    inputs, masks = build_views(count, seed, workers, progress, data, real_share)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, inputs=inputs, masks=masks)
    return inputs, masks


# --- Training --------------------------------------------------------------------------------


def _loss() -> Any:
    import keras
    from keras import ops

    @keras.saving.register_keras_serializable(package="meter_service")
    def bce_dice(y_true: Any, y_pred: Any) -> Any:
        """Per-pixel cross-entropy (edges, background) + soft Dice (small rows count as much as
        large ones)."""
        bce = ops.mean(keras.losses.binary_crossentropy(y_true, y_pred), axis=(1, 2))
        overlap = ops.sum(y_true * y_pred, axis=(1, 2, 3))
        total = ops.sum(y_true, axis=(1, 2, 3)) + ops.sum(y_pred, axis=(1, 2, 3))
        dice = 1 - (2 * overlap + 1) / (total + 1)
        return bce + 0.5 * dice

    return bce_dice


def _dataset(inputs: np.ndarray, masks: np.ndarray, batch: int, shuffle: bool, seed: int) -> Any:
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices((inputs, masks))
    if shuffle:
        data = data.shuffle(len(inputs), seed=seed, reshuffle_each_iteration=True)

    @tf.autograph.experimental.do_not_convert
    def scale(x: Any, y: Any) -> Any:
        return tf.cast(x, tf.float32) / 255.0, tf.cast(y, tf.float32)[..., tf.newaxis] / 255.0

    return data.batch(batch).map(scale, num_parallel_calls=2).prefetch(2)


def _mask_iou(model: Any, inputs: np.ndarray, masks: np.ndarray) -> float:
    """Mean IoU of thresholded masks against the targets (a cheap per-epoch progress figure)."""
    predicted = model.predict(inputs.astype(np.float32) / 255.0, batch_size=64, verbose=0)[..., 0] >= 0.5
    truth = masks >= 128
    union = (predicted | truth).sum(axis=(1, 2))
    inter = (predicted & truth).sum(axis=(1, 2))
    return float(np.mean(np.where(union > 0, inter / np.maximum(union, 1), 1.0)))


def train(args: argparse.Namespace, argv: list[str] | None = None) -> Path:
    import keras
    import tensorflow as tf

    from recognition_common.serving.model_card import ModelCard

    check_model_name(args.name)
    keras.utils.set_random_seed(args.seed)
    progress = not args.quiet
    started = time.perf_counter()
    data, real_share = args.data, args.real_share
    train_x, train_y = cached_views(
        args.samples, args.seed, args.cache, args.workers, progress, data, real_share
    )
    val_seed = args.seed + VALIDATION_SEED_OFFSET
    val_x, val_y = cached_views(
        args.validation, val_seed, args.cache, args.workers, progress, data, real_share
    )
    data_seconds = time.perf_counter() - started
    print(f"{len(train_x)} training views, {len(val_x)} validation views in {data_seconds:.0f} s", flush=True)

    model = build_locator()
    steps = math.ceil(len(train_x) / args.batch_size) * args.epochs
    schedule = keras.optimizers.schedules.CosineDecay(args.learning_rate, steps, alpha=0.02)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=_loss())
    history: dict[str, list[float]] = {"loss": [], "val_loss": [], "val_mask_iou": [], "seconds": []}
    best: dict[str, Any] = {"loss": math.inf}

    class Track(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            logs = logs or {}
            iou = _mask_iou(self.model, val_x, val_y)
            seconds = time.perf_counter() - self.started
            for key, value in (("loss", logs["loss"]), ("val_loss", logs["val_loss"])):
                history[key].append(float(value))
            history["val_mask_iou"].append(iou)
            history["seconds"].append(seconds)
            print(
                f"epoch {epoch + 1}: loss {logs['loss']:.4f} val_loss {logs['val_loss']:.4f} "
                f"val mask IoU {iou:.4f} | {seconds:.0f} s",
                flush=True,
            )
            if logs["val_loss"] < best["loss"]:
                best.update(loss=logs["val_loss"], epoch=epoch + 1, weights=self.model.get_weights())

    fit_started = time.perf_counter()
    model.fit(
        _dataset(train_x, train_y, args.batch_size, True, args.seed),
        validation_data=_dataset(val_x, val_y, 128, False, args.seed),
        epochs=args.epochs,
        callbacks=[Track()],
        shuffle=False,  # the dataset shuffles
        verbose=1 if progress and sys.stdout.isatty() else 0,
    )
    fit_seconds = time.perf_counter() - fit_started
    model.set_weights(best["weights"])

    out: Path = args.out / args.name / LOCATOR
    servable = servable_copy(build_locator, best["weights"])  # no optimizer state or custom loss
    training_seconds = time.perf_counter() - started
    card = ModelCard(
        name=NAME,
        version=VERSION,
        task="meter",
        description=(
            "Finds the counter window (the row of wheels) of a water meter in a photo: a row mask, "
            "turned into corners by moments; a whole-photo pass, then refining passes close up."
        ),
        classes=["window"],
        input_shape=list(INPUT_SHAPE),
        training_data={
            "source": "synthetic meter photos generated in memory (meter_service.synth.generate_meter)",
            "wheels": f"{WHEELS[0]}-{WHEELS[1]}",
            "train_photos": args.samples,
            "train_seed": args.seed,
            "train_views": len(train_x),
            "views_per_photo": f"1 letterboxed + {SCENE_VIEWS} turned crop + {REFINE_VIEWS} refining "
            f"(jittered first estimates) + {WINDOW_VIEWS} as sent in mode=window (a loose crop round "
            "the row, black beyond it); "
            f"{NEGATIVE_RATE:.0%} photos without a meter, {DECOY_RATE:.0%} of a meter face with a "
            "serial plate and no counter (whole and zoomed onto the plate)",
            "validation_photos": args.validation,
            "validation_seed": val_seed,
            "real_windows": (
                {
                    "share": real_share,
                    "archive": str(data),
                    "method": "rows of 4-8 crops of one wheel name from the reader's train split "
                    "(reader_data.load_real), drawn in the window of a generated face in place of "
                    "rendered wheels (training.composed.strip_photo)",
                }
                if data is not None and real_share > 0
                else None
            ),
        },
        metrics={},
        created=date.today().isoformat(),
        output_shape=[INPUT_SHAPE[0] // OUTPUT_STRIDE, INPUT_SHAPE[1] // OUTPUT_STRIDE, 1],
        architecture=DESCRIPTION,
        params=int(model.count_params()),
        epochs=args.epochs,
        best_epoch=best["epoch"],
        batch_size=args.batch_size,
        optimizer=f"Adam {args.learning_rate:g}, cosine decay to 2%; loss BCE + 0.5 soft Dice",
        seed=args.seed,
        data_seconds=round(data_seconds),
        fit_seconds=round(fit_seconds),
        training_seconds=round(training_seconds),
        training_machine="2 CPU cores (shared), no GPU",
        framework={"keras": keras.__version__, "tensorflow": tf.__version__},
        trained_with=shlex.join(["python", "-m", "meter_service.cli", "train-locator", *(argv or [])]),
    )
    outcome = TrainingRun(history, best["epoch"], training_seconds)
    files = save_training_artifacts(out, servable, card, outcome, CURVE, "locator")
    print(f"wrote {files} in {training_seconds:.0f} s")
    if args.evaluate_count:
        evaluate_locator(out, args.evaluate_count, EVALUATION_SEED, write_card=True, progress=progress)
    return out


# The training curve: loss (log scale) and validation mask IoU per epoch.
CURVE = Curve(
    loss_label="BCE + 0.5 Dice",
    measures=lambda history: {"validation mask IoU": history["val_mask_iou"]},
    measures_label="IoU",
)


# --- Evaluation ------------------------------------------------------------------------------


def _wheels_text(wheels: int | tuple[int, int]) -> str:
    return str(wheels) if isinstance(wheels, int) else f"{wheels[0]}-{wheels[1]}"


def evaluate_locator(
    model_dir: Path,
    count: int = 500,
    seed: int = EVALUATION_SEED,
    wheels: int | tuple[int, int] = WHEELS,
    write_card: bool = False,
    progress: bool = False,
) -> dict[str, Any]:
    """Corner IoU of the whole locator on `count` fresh photos (the first pass alone too)."""
    from tqdm import tqdm

    from recognition_common.serving.model_card import update_card_metrics
    from recognition_common.serving.models import configure_tensorflow, load_compiled

    configure_tensorflow()
    _, predict = load_compiled(model_dir)
    first, final, seconds = [], [], []
    by_wheels: dict[int, list[float]] = {}
    for index in tqdm(range(count), desc="evaluate", unit="photo", disable=not progress):
        sample = generate_meter(sample_rng(seed, index), wheels=wheels_for(seed, index, wheels))
        array, frame = locator_input(sample.image)
        one = window_from_output(predict(array[np.newaxis])[0], frame)
        first.append(quad_iou(one.corners, sample.corners) if one else 0.0)
        started = time.perf_counter()
        window = locate_window(predict, sample.image)
        seconds.append(time.perf_counter() - started)
        iou = quad_iou(window.corners, sample.corners) if window else 0.0
        final.append(iou)
        by_wheels.setdefault(sample.wheels, []).append(iou)
    ious, singles = np.array(final), np.array(first)
    failures = [{"photo": int(i), "iou": round(float(ious[i]), 3)} for i in np.flatnonzero(ious < IOU_TARGET)]
    metrics = {
        "iou_mean": round(float(ious.mean()), 4),
        "iou_median": round(float(np.median(ious)), 4),
        "iou_at_0_8": round(float((ious >= IOU_TARGET).mean()), 4),
        "iou_at_0_5": round(float((ious >= 0.5).mean()), 4),
        "failures": len(failures),
        "failed_photos": failures[:20],
        "single_pass_iou_mean": round(float(singles.mean()), 4),
        "single_pass_iou_at_0_8": round(float((singles >= IOU_TARGET).mean()), 4),
        "iou_at_0_8_by_wheels": {
            str(k): round(float(np.mean(np.array(v) >= IOU_TARGET)), 4) for k, v in sorted(by_wheels.items())
        },
        "ms_per_photo": round(1000 * float(np.median(seconds)), 1),
        "evaluation_photos": count,
        "evaluation_seed": seed,
        "evaluation_wheels": _wheels_text(wheels),
        "evaluated_with": f"python -m meter_service.cli train-locator --evaluate --model-dir {model_dir} "
        f"--count {count} --eval-seed {seed} --wheels {_wheels_text(wheels)}",
        "evaluated_at": date.today().isoformat(),
    }
    print(
        f"locator on {count} photos (seed {seed}): IoU mean {metrics['iou_mean']:.4f}, "
        f">= 0.8 on {metrics['iou_at_0_8']:.1%} ({metrics['failures']} failures); one pass: "
        f"mean {metrics['single_pass_iou_mean']:.4f}, >= 0.8 on {metrics['single_pass_iou_at_0_8']:.1%}; "
        f"{metrics['ms_per_photo']} ms per photo",
        flush=True,
    )
    if write_card:
        update_card_metrics(model_dir, metrics)
    return metrics


# --- Command line ----------------------------------------------------------------------------


def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, default=Path("meter-service/models"), help="models folder (default: %(default)s)"
    )
    parser.add_argument(
        "--name",
        default="default",
        help="the meter model whose locator this is: writes <out>/<name>/locator/ (default: %(default)s)",
    )
    parser.add_argument("--samples", type=int, default=4000, help="training photos (default %(default)s)")
    parser.add_argument("--validation", type=int, default=300, help="validation photos")
    parser.add_argument("--epochs", type=int, default=11)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workers", type=int, default=2, help="processes generating photos")
    parser.add_argument(
        "--data",
        type=Path,
        help="the real wheel crops (meterdigits.tar.gz or its folder): --real-share of the training "
        "windows show rows of its train split's crops (default: rendered wheels only)",
    )
    parser.add_argument(
        "--real-share", type=float, default=REAL_SHARE, help="with --data (default %(default)s)"
    )
    parser.add_argument("--cache", type=Path, help="keep generated views here (.npz) for reruns")
    parser.add_argument(
        "--evaluate-count", type=int, default=500, help="photos to evaluate on after training (0: skip)"
    )
    parser.add_argument("--evaluate", action="store_true", help="only evaluate --model-dir")
    parser.add_argument("--model-dir", type=Path, default=Path("meter-service/models/default/locator"))
    parser.add_argument("--count", type=int, default=500, help="photos to evaluate on")
    parser.add_argument("--eval-seed", type=int, default=EVALUATION_SEED)
    parser.add_argument(
        "--wheels",
        type=parse_wheels,
        default=WHEELS,
        help='wheels of the evaluation photos, "5" or "4-8" (default)',
    )
    parser.add_argument("--write-card", action="store_true", help="merge the evaluate figures into the card")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.data is not None and not args.data.exists():
        parser.error(missing_data(args.data))
    if not 0.0 <= args.real_share <= 1.0:
        parser.error(f"--real-share must be between 0 and 1, got {args.real_share:g}")
    if args.evaluate:
        low, high = args.wheels
        wheels = low if low == high else (low, high)
        evaluate_locator(
            args.model_dir,
            args.count,
            args.eval_seed,
            wheels,
            write_card=args.write_card,
            progress=not args.quiet,
        )
    else:
        train(args, argv)
