"""`evaluate`: the whole meter reader measured the way the service runs it.

    python -m meter_service.cli evaluate [--model-dir meter-service/models/default] [--write-card]

1. Window corners: held-out synthetic photos (seed 2026, never used in training) through
   `pipeline.start` -> locator -> `pipeline.cut`; IoU of the found window with the true one
   (share with IoU >= 0.8, mean).
2. Whole readings: the same photos on through the reader and `pipeline.finish`, exactly the
   service's code, the wheels counted (`wheels=auto`, the service's default; `--given-wheels`
   tells the reader); plus already-cropped windows in window mode. A reading is right when its
   text is what a person reads at the reader's resolution (positions rounded to tenths, see
   `reading.snap` and `odometer.shown`; both digits of a half-rolled last wheel accepted); the
   raw exact match is printed beside it. With each: wheels counted right, accepted readings and
   right among them, the overall confidence's calibration (ECE) and the rejection curve that
   METER_MIN_READING_CONFIDENCE is chosen from.
3. Wheels: per-wheel accuracy on held-out real crops (the reader's test split), by the reader's
   own `evaluate_reader`, and the calibration of the wheel confidence on them.
4. Real counter strips (`--strips`, the CC BY test set in shared/data/meter-windows-ccby): exact
   readings, per-wheel accuracy, wheels counted, refused share, right among accepted and ECE
   (`training/strips.py`), wheels counted and given. A test set: never trained on.
5. Composed real strips (`--composed`, `training/composed.py`): rows of 4 to 8 real wheel crops
   of one wheel name, framed, scaled, turned and compressed like a photographed strip, read in
   window mode with the wheels counted. From the held-out test split (meters never trained on):
   the same figures as section 2 over hundreds of real windows; from the validation split: the
   rejection curve that METER_MIN_READING_CONFIDENCE is checked against on real wheels (left
   out for a reader trained on that split). Then rows of the test split's crops shown in the
   windows of generated meter photos (`composed_photos`), read as photos: the window found and
   the reading, on real wheels among everything the generator puts round them.

Also a breakdown of the photo readings by condition (turn, window size, colours, red wheels,
wheels caught mid-roll), so a weakness shows where it is. `--write-card` records the figures
in the reader's and the locator's cards, under `metrics.meter_evaluate`.
"""

from __future__ import annotations

import argparse
import math
import shlex
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from meter_service import odometer, pipeline
from meter_service.card import LOCATOR
from meter_service.geometry import quad_iou, quad_size
from meter_service.pipeline import MeterOptions, Thresholds
from meter_service.reading import ROLLING_MARGIN, snap
from meter_service.synth import MeterSample, generate_meter, random_positions, render_window, sample_rng
from recognition_common.calibration import expected_calibration_error
from recognition_common.edge.errors import ApiError
from recognition_common.serving.model_card import ModelCard, update_card_metrics

SERVICE_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MODEL_DIR = SERVICE_ROOT / "models" / "default"
DEFAULT_REAL = SERVICE_ROOT.parent.parent / "shared" / "data" / "meter-digits" / "meterdigits.tar.gz"
DEFAULT_STRIPS = SERVICE_ROOT.parent.parent / "shared" / "data" / "meter-windows-ccby"
STRIP_WHEELS = 8  # the CC BY strips' counters: 5 black and 3 red wheels
IOU_GOOD = 0.8
CARD_KEY = "meter_evaluate"  # where --write-card puts the figures in each card's metrics
CHUNK = 32  # photos generated and read at a time: bounds memory, feeds the models in batches
_WINDOW_STREAM = 1  # window crops use their own random stream beside the photos'

Predict = Callable[[np.ndarray], np.ndarray]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR, help="default: %(default)s")
    parser.add_argument("--photos", type=int, default=500, help="held-out synthetic photos (default 500)")
    parser.add_argument("--windows", type=int, default=200, help="held-out window crops (default 200)")
    parser.add_argument("--seed", type=int, default=2026, help="never a training seed (default 2026)")
    parser.add_argument("--wheels", type=int, default=5, help="wheels per generated meter (default 5)")
    parser.add_argument(
        "--given-wheels",
        action="store_true",
        help="tell the reader how many wheels there are (default: it counts them, as the service does)",
    )
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_REAL, help="real crops: the archive or a folder (%(default)s)"
    )
    parser.add_argument("--no-real", action="store_true", help="skip the real crops and strips")
    parser.add_argument(
        "--strips",
        type=Path,
        default=DEFAULT_STRIPS,
        help="real counter strips with labels.csv, a TEST set (default: %(default)s)",
    )
    parser.add_argument(
        "--composed",
        type=int,
        default=300,
        help="strips composed from real crops, per split (default 300; 0 skips them)",
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--write-card", action="store_true", help="merge the figures into the cards")
    parser.add_argument("--show", type=int, default=8, help="misreadings to list (default 8)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


@dataclass
class Outcome:
    """One evaluated image."""

    truth: str  # at the reader's resolution
    truth_raw: str  # odometer.reading_text of the exact positions
    read: str | None  # None: refused (no window)
    rejected: bool
    wheels: int = 0  # wheels in the image
    wheels_read: int | None = None  # wheels the reading has (counted with wheels=auto)
    confidence: float = 0.0  # the reading's overall confidence
    rejected_otherwise: bool = True  # rejected for a reason other than the overall confidence
    iou: float | None = None
    conditions: dict[str, str] = field(default_factory=dict)
    # Readings judged right: the truth, and with a last wheel about half-way between two digits
    # (both in view) the other one too (`odometer.acceptable_texts`).
    accepted: set[str] = field(default_factory=set)

    @property
    def right(self) -> bool:
        return self.read == self.truth or self.read in self.accepted


def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    argv = list(argv or [])
    run(parser.parse_args(argv), argv)


def run(args: argparse.Namespace, argv: list[str] | None = None) -> dict[str, Any]:
    from recognition_common.serving.models import configure_tensorflow, load_compiled

    configure_tensorflow()
    card, read_wheels = load_compiled(args.model_dir, args.batch_size)
    wheels = args.wheels
    given = wheels if args.given_wheels else None
    thresholds = service_thresholds()
    locator_card, locate_windows = load_compiled(args.model_dir / LOCATOR, args.batch_size)
    reader = _batched(read_wheels, args.batch_size)
    locator = _batched(locate_windows, args.batch_size)
    options = MeterOptions(mode="photo", wheels=given)
    shape = tuple(locator_card.input_shape)

    started = time.perf_counter()
    photos = [
        outcome
        for chunk in _chunks(args.photos)
        for outcome in _read(
            _photo_samples(chunk, args.seed, wheels), options, shape, locator, reader, thresholds
        )
    ]
    photo_seconds = time.perf_counter() - started
    window_options = MeterOptions(mode="window", wheels=given)
    windows = [
        outcome
        for chunk in _chunks(args.windows)
        for outcome in _read(
            _window_samples(chunk, args.seed, wheels), window_options, shape, locator, reader, thresholds
        )
    ]

    counted = "given" if given else "counted by the reader (wheels=auto)"
    print(f"{card.name} {card.version} + {LOCATOR} {locator_card.version}, {wheels} wheels, {counted}")
    ious = np.array([o.iou if o.iou is not None else 0.0 for o in photos])
    located = _share(ious >= IOU_GOOD)
    print(f"1. window corners on {len(photos)} held-out synthetic photos (seed {args.seed}):")
    print(f"   IoU >= {IOU_GOOD}: {located:.4f}   mean IoU {ious.mean():.4f}   no window: "
          f"{sum(o.read is None for o in photos)}")  # fmt: skip
    photo_metrics = _report_readings("2. whole readings on the same photos", photos, args.show)
    window_metrics = _report_readings(
        f"   ...and on {len(windows)} held-out window crops (mode=window)", windows, args.show
    )
    print(f"   {photo_seconds / max(len(photos), 1) * 1000:.0f} ms per photo (generation included)")
    conditions = _conditions(photos)
    _report_conditions(conditions)

    real: dict[str, Any] = {}
    strips: dict[str, Any] = {}
    composed: dict[str, Any] = {}
    if not args.no_real:
        real = _real_crops(args, read_wheels)
        strips = _real_strips(args, locator, reader, shape, thresholds)
        composed = _composed_strips(args, card, locator, reader, shape, thresholds)

    metrics: dict[str, Any] = {
        "synthetic_photos": {
            "photos": len(photos),
            "seed": args.seed,
            "wheels": wheels,
            "window_iou_at_0.8": round(located, 4),
            "window_iou_mean": round(float(ious.mean()), 4) if len(ious) else None,
            **photo_metrics,
            "by_condition": conditions,
        },
        "synthetic_windows": {"windows": len(windows), "seed": args.seed, **window_metrics},
        "thresholds": {
            "min_confidence": thresholds.min_confidence,
            "min_window_score": thresholds.min_window_score,
            "min_reading_confidence": thresholds.min_reading_confidence,
        },
        "evaluated_with": shlex.join(["python", "-m", "meter_service.cli", "evaluate", *(argv or [])]),
        "evaluated_at": date.today().isoformat(),
    }
    if real:
        metrics["real_crops"] = real
    if strips:
        metrics["real_strips"] = strips
    if composed:
        metrics["composed_real_strips"] = composed
    if args.write_card:
        # Under one key of their own: each model's own evaluation (its test_* or iou_* figures
        # and who measured them) stays as it was.
        update_card_metrics(args.model_dir, {CARD_KEY: metrics})
        update_card_metrics(
            args.model_dir / LOCATOR,
            {
                CARD_KEY: {
                    "window_iou_at_0.8": metrics["synthetic_photos"]["window_iou_at_0.8"],
                    "window_iou_mean": metrics["synthetic_photos"]["window_iou_mean"],
                    "test_data": f"{len(photos)} synthetic photos, seed {args.seed}, {wheels} wheels, "
                    f"through the service's pipeline",
                    "evaluated_with": metrics["evaluated_with"],
                    "evaluated_at": metrics["evaluated_at"],
                }
            },
        )
        print(
            f"wrote the figures into {args.model_dir / 'card.json'} "
            f"and {args.model_dir / LOCATOR / 'card.json'} (metrics.{CARD_KEY})"
        )
    return metrics


def service_thresholds() -> Thresholds:
    """The service's own thresholds (METER_MIN_CONFIDENCE, METER_MIN_WINDOW_SCORE,
    METER_MIN_READING_CONFIDENCE and their defaults)."""
    from meter_service.config import MeterSettings

    settings = MeterSettings()
    return Thresholds(settings.min_confidence, settings.min_window_score, settings.min_reading_confidence)


def _batched(predict: Predict, batch_size: int) -> Predict:
    def run(inputs: np.ndarray) -> np.ndarray:
        return np.concatenate(
            [predict(inputs[i : i + batch_size]) for i in range(0, len(inputs), batch_size)]
        )

    return run


def _chunks(count: int) -> Iterator[range]:
    for start in range(0, count, CHUNK):
        yield range(start, min(start + CHUNK, count))


def truth_text(positions: list[float]) -> str:
    """The true reading at the reader's resolution (tenths), as the service composes it."""
    return odometer.reading_text([snap(p) for p in positions])


def _photo_samples(indices: range, seed: int, wheels: int) -> list[MeterSample]:
    return [generate_meter(sample_rng(seed, index), wheels=wheels) for index in indices]


def _window_samples(indices: range, seed: int, wheels: int) -> list[MeterSample]:
    samples = []
    for index in indices:
        rng = np.random.default_rng([seed, _WINDOW_STREAM, index])
        samples.append(render_window(random_positions(rng, wheels), rng=rng))
    return samples


def _read(
    samples: list[MeterSample],
    options: MeterOptions,
    shape: tuple[int, ...],
    locator: Predict,
    reader: Predict,
    thresholds: Thresholds,
) -> list[Outcome]:
    """A chunk of samples through the service's steps, each model called once for the chunk.
    Photos (options.mode "photo") also get their window's IoU and their conditions; window mode
    never refuses (a crop is read whole when no row is found in it)."""
    photo = options.mode == "photo"
    jobs = [pipeline.start(sample.image, options, shape) for sample in samples]
    refused = locate_jobs(jobs, locator)
    outcomes: list[Outcome] = []
    cuts: list[pipeline.Cut | None] = []
    for i, (sample, job) in enumerate(zip(samples, jobs, strict=True)):
        snapped = [snap(p) for p in sample.positions]
        outcome = Outcome(truth_text(sample.positions), sample.text, None, True, sample.wheels)
        outcome.accepted = odometer.acceptable_texts(snapped)
        cut = None if i in refused else pipeline.cut(job)
        if photo:
            outcome.iou = 0.0 if cut is None or cut.corners is None else quad_iou(cut.corners, sample.corners)
            outcome.conditions = photo_conditions(sample)
        outcomes.append(outcome)
        cuts.append(cut)
    # Read without the overall-confidence threshold, then apply it here: the same answer as the
    # service's, and the rejection curve can be drawn from the same readings.
    other_reasons = replace(thresholds, min_reading_confidence=0.0)
    for outcome, result in zip(outcomes, read_cuts(jobs, cuts, reader, other_reasons), strict=True):
        if result is not None:
            outcome.read, outcome.confidence = result["text"], float(result["confidence"])
            outcome.rejected_otherwise = bool(result["rejected"])
            outcome.rejected = (
                outcome.rejected_otherwise or outcome.confidence < thresholds.min_reading_confidence
            )
            outcome.wheels_read = len(result["digits"])
    return outcomes


def read_samples(
    samples: list[MeterSample],
    options: MeterOptions,
    shape: tuple[int, ...],
    locator: Predict,
    reader: Predict,
    thresholds: Thresholds,
) -> list[Outcome]:
    """Samples already made, `CHUNK` at a time through `_read`."""
    return [
        outcome
        for start in range(0, len(samples), CHUNK)
        for outcome in _read(samples[start : start + CHUNK], options, shape, locator, reader, thresholds)
    ]


def locate_jobs(jobs: list[pipeline.Job], locator: Predict) -> set[int]:
    """Every locator pass of every job, the pending views of each pass in one batch, as the
    service's batcher would; returns the jobs refused (no window in a photo)."""
    refused: set[int] = set()
    pending = [i for i, job in enumerate(jobs) if job.view is not None]
    while pending:
        outputs = locator(np.concatenate([jobs[i].view for i in pending]))
        for i, output in zip(pending, outputs, strict=True):
            try:
                pipeline.located(jobs[i], output)
            except ApiError:  # no window found: refused, as the service would
                refused.add(i)
        pending = [i for i in pending if i not in refused and jobs[i].view is not None]
    return refused


def read_images(
    images: list[Image.Image],
    options: MeterOptions,
    shape: tuple[int, ...],
    locator: Predict,
    reader: Predict,
    thresholds: Thresholds,
) -> list[dict[str, Any] | None]:
    """Each image's `result` through the service's steps, each model called once a pass for all
    of them; None where the service would refuse the image (blank, or no window in a photo)."""
    jobs: list[pipeline.Job] = []
    started: list[int] = []
    for index, image in enumerate(images):
        try:
            jobs.append(pipeline.start(image, options, shape))
        except ApiError:
            continue
        started.append(index)
    refused = locate_jobs(jobs, locator)
    cuts = [None if i in refused else pipeline.cut(job) for i, job in enumerate(jobs)]
    results: list[dict[str, Any] | None] = [None] * len(images)
    for index, result in zip(started, read_cuts(jobs, cuts, reader, thresholds), strict=True):
        results[index] = result
    return results


def read_cuts(
    jobs: list[pipeline.Job],
    cuts: list[pipeline.Cut | None],
    reader: Predict,
    thresholds: Thresholds,
) -> list[dict[str, Any] | None]:
    """Each job's `result` (None where there was no cut), the reader called as the service
    would: every cut as located in one batch, then the alternatives of the unsure ones."""
    results: list[dict[str, Any] | None] = [None] * len(jobs)
    found = [(i, cut) for i, cut in enumerate(cuts) if cut is not None]
    if not found:
        return results
    # As the service reads: every cut as located, then the alternatives of the unsure ones.
    firsts = reader(np.concatenate([cut.cells for _, cut in found]))
    probabilities = np.split(firsts, np.cumsum([len(cut.cells) for _, cut in found])[:-1])
    for k, (i, cut) in enumerate(found):  # wheels=auto: the count that reads best
        chosen, probabilities[k] = pipeline.count_wheels(cut, probabilities[k])
        found[k] = (i, chosen)
    again = [k for k, (_, cut) in enumerate(found) if pipeline.unsure(cut, probabilities[k])]
    if again:
        inputs = [found[k][1].alternatives_input for k in again]
        seconds = np.split(reader(np.concatenate(inputs)), np.cumsum([len(x) for x in inputs])[:-1])
        for k, rows in zip(again, seconds, strict=True):
            probabilities[k] = np.concatenate([probabilities[k], rows])
    for k, (i, cut) in enumerate(found):
        results[i] = pipeline.finish(jobs[i], cut, probabilities[k], thresholds)
    return results


def photo_conditions(sample: MeterSample) -> dict[str, str]:
    """The conditions a photo was taken under, from its label: what the breakdown groups by."""
    corners = np.asarray(sample.corners, dtype=np.float64)
    top = corners[1] - corners[0]
    turn = abs(math.degrees(math.atan2(top[1], top[0])))
    _, height = quad_size(corners)
    ink, paper = sample.style.get("ink", [0, 0, 0]), sample.style.get("paper", [255, 255, 255])
    rolling = any(ROLLING_MARGIN < (p % 1) < 1 - ROLLING_MARGIN for p in sample.positions[:-1])
    return {
        "turn": "<5 deg" if turn < 5 else "5-15 deg" if turn < 15 else ">=15 deg",
        "wheel height": "<16 px" if height < 16 else "16-32 px" if height < 32 else ">=32 px",
        "colours": "dark on light" if sum(ink) < sum(paper) else "light on dark",
        "red wheels": "yes" if sample.style.get("red_wheels") else "no",
        "carry": "a wheel mid-roll" if rolling else "none",
    }


# The breakdown's groups in a readable order (small to large, plain to hard).
_ORDER = ("<5 deg", "5-15 deg", ">=15 deg", "<16 px", "16-32 px", ">=32 px", "no", "yes", "none")


def _order(value: str) -> tuple[int, str]:
    return (_ORDER.index(value) if value in _ORDER else len(_ORDER), value)


def _share(flags: Any) -> float:
    flags = np.asarray(flags, dtype=bool)
    return float(flags.mean()) if flags.size else 0.0


def _report_readings(title: str, outcomes: list[Outcome], show: int) -> dict[str, Any]:
    exact = _share([o.right for o in outcomes])
    raw = _share([o.read == o.truth_raw for o in outcomes])
    accepted = [o for o in outcomes if o.read is not None and not o.rejected]
    wrong = [o for o in outcomes if not o.right]
    caught = _share([o.rejected for o in wrong])
    print(f"{title}:")
    counted = [o for o in outcomes if o.wheels_read is not None]
    count_right = _share([o.wheels_read == o.wheels for o in counted])
    print(f"   exact reading: {exact:.4f}   (raw positions, no tenths rounding: {raw:.4f})")
    print(f"   wheels counted right: {count_right:.4f} of {len(counted)} read")
    print(
        f"   accepted {len(accepted)}/{len(outcomes)}, "
        f"right among accepted {_share([o.right for o in accepted]):.4f};"
        f" misreadings rejected: {caught:.2f} of {len(wrong)}"
    )
    if wrong and show:
        print("   misread (true -> read): " + ", ".join(f"{o.truth}->{o.read or '-'}" for o in wrong[:show]))
    read = [o for o in outcomes if o.read is not None]
    ece = expected_calibration_error([o.confidence for o in read], [o.right for o in read])
    curve = rejection_curve(outcomes)
    print(f"   overall confidence: ECE {ece:.4f}; rejection curve (METER_MIN_READING_CONFIDENCE):")
    print(
        "     "
        + "   ".join(
            f"{p['threshold']:g}: refused {p['refused']:.3f} right {p['right_among_accepted']:.4f}"
            for p in curve
        )
    )
    return {
        "confidence_ece": round(ece, 4),
        "rejection_curve": curve,
        "exact_reading": round(exact, 4),
        "exact_reading_raw": round(raw, 4),
        "wheel_count_right": round(count_right, 4),
        "accepted": round(len(accepted) / max(len(outcomes), 1), 4),
        "right_among_accepted": round(_share([o.right for o in accepted]), 4),
        "misreadings_rejected": round(caught, 4),
    }


CURVE_THRESHOLDS = (0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98)


def rejection_curve(outcomes: list[Outcome]) -> list[dict[str, float]]:
    """For each overall-confidence threshold: the share refused (no window, another reason, or
    below it) and the share right among the rest."""
    points = []
    for threshold in CURVE_THRESHOLDS:
        accepted = [
            o
            for o in outcomes
            if o.read is not None and not o.rejected_otherwise and o.confidence >= threshold
        ]
        points.append(
            {
                "threshold": threshold,
                "refused": round(1 - len(accepted) / max(len(outcomes), 1), 4),
                "right_among_accepted": round(_share([o.right for o in accepted]), 4),
            }
        )
    return points


def _conditions(outcomes: list[Outcome]) -> dict[str, dict[str, Any]]:
    groups: dict[str, dict[str, list[Outcome]]] = defaultdict(lambda: defaultdict(list))
    for outcome in outcomes:
        for name, value in outcome.conditions.items():
            groups[name][value].append(outcome)
    return {
        name: {
            value: {
                "photos": len(members),
                "exact_reading": round(_share([o.right for o in members]), 4),
                "window_iou_at_0.8": round(_share([(o.iou or 0) >= IOU_GOOD for o in members]), 4),
            }
            for value, members in sorted(values.items(), key=lambda item: _order(item[0]))
        }
        for name, values in groups.items()
    }


def _report_conditions(conditions: dict[str, dict[str, Any]]) -> None:
    print("   by condition (photos: exact reading / IoU >= 0.8):")
    for name, values in conditions.items():
        cells = ", ".join(
            f"{value} {v['photos']}: {v['exact_reading']:.3f} / {v['window_iou_at_0.8']:.3f}"
            for value, v in values.items()
        )
        print(f"     {name:13s} {cells}")


def _real_strips(
    args: argparse.Namespace,
    locator: Predict,
    reader: Predict,
    shape: tuple[int, ...],
    thresholds: Thresholds,
) -> dict[str, Any]:
    """The real counter strips (a test set), wheels counted and given."""
    from meter_service.training.strips import load_strips, read_strips, report_strips

    if not (args.strips / "labels.csv").is_file():
        print(f"4. real strips: {args.strips / 'labels.csv'} not found; skipped (--strips, or --no-real)")
        return {}
    strips = load_strips(args.strips, STRIP_WHEELS)
    name = args.strips.name
    counted = report_strips(
        f"4. {len(strips)} real counter strips ({name}, mode=window, wheels counted)",
        read_strips(strips, None, locator, reader, shape, thresholds),
        args.show,
    )
    given = report_strips(
        f"   ...the same with wheels={STRIP_WHEELS} given",
        read_strips(strips, STRIP_WHEELS, locator, reader, shape, thresholds),
        args.show,
    )
    return {
        "data": f"{name}: {len(strips)} real 8-wheel strips, a test set",
        "counted": counted,
        "given": given,
    }


def _real_crops(args: argparse.Namespace, read_wheels: Predict) -> dict[str, Any]:
    """Per-wheel accuracy on the reader's held-out real crops (the reader's own evaluation),
    read by `read_wheels`, the reader already loaded."""
    if not args.data.exists():
        from meter_service.training.reader_data import missing_data

        print(f"3. real crops: skipped, {missing_data(args.data)} (--no-real: skip them quietly)")
        return {}
    from meter_service.training.reader import evaluate_reader

    figures = evaluate_reader(args.model_dir, args.data, progress=not args.quiet, predict=read_wheels)
    print(f"3. wheels on {figures['test_data']}:")
    print(
        f"   whole-digit accuracy {figures['test_whole_digit_accuracy']:.4f} "
        f"({figures['test_whole_digit_errors']} wrong of {figures['test_whole_digit_crops']}); "
        f"all crops within +/-0.1 {figures['test_within_0_1']:.4f}, "
        f"within +/-0.5 {figures['test_within_0_5']:.4f}; wheel confidence ECE "
        f"{figures['test_confidence_ece']:.4f}"
    )
    if figures.get("test_whole_digit_misreadings"):
        print(
            "   whole digits misread (true->read: times): "
            + ", ".join(figures["test_whole_digit_misreadings"])
        )
    return figures


def _composed_strips(
    args: argparse.Namespace,
    card: ModelCard,
    locator: Predict,
    reader: Predict,
    shape: tuple[int, ...],
    thresholds: Thresholds,
) -> dict[str, Any]:
    """Strips composed from the real crops' held-out test and validation splits, read in window
    mode with the wheels counted (`training/composed.py`), then generated photos whose windows
    show the test split's rows, read as photos (`composed_photos`). The validation split's
    strips are left out when the reader was trained on that split (`train-reader
    --fit-validation`): they would measure only what it learnt by heart."""
    if not args.composed or not args.data.exists():
        return {}
    from meter_service.training.composed import composed_photos, composed_strips
    from meter_service.training.reader_data import load_real

    real = load_real(args.data, progress=not args.quiet)
    options = MeterOptions(mode="window", wheels=args.wheels if args.given_wheels else None)
    figures: dict[str, Any] = {}
    trained_on = bool(card.training_data.get("validation_trained_on"))
    splits = ["test"] if trained_on else ["test", "validation"]
    for number, split in zip(("5.", "  "), splits, strict=False):
        samples = composed_strips(real.splits[split], args.composed, args.seed)
        outcomes = read_samples(samples, options, shape, locator, reader, thresholds)
        held_out = ", meters never trained on" if split == "test" else ""
        title = (
            f"{number} {len(samples)} strips of 4-8 real wheels composed from the {split} split "
            f"({real.summary[split]['prefixes']} wheel names{held_out})"
        )
        figures[split] = {"strips": len(samples), **_report_readings(title, outcomes, args.show)}
    if trained_on:
        print(
            "   (none from the validation split: the reader was trained on it, train-reader --fit-validation)"
        )
    photos = composed_photos(real.splits["test"], args.composed, args.seed)
    photo_options = MeterOptions(mode="photo", wheels=options.wheels)
    outcomes = read_samples(photos, photo_options, shape, locator, reader, thresholds)
    ious = np.array([outcome.iou or 0.0 for outcome in outcomes])
    located = _share(ious >= IOU_GOOD)
    mean_iou = float(ious.mean()) if len(ious) else 0.0
    print(f"   {len(photos)} generated meter photos whose windows show such rows of the test split's wheels:")
    print(f"   window IoU >= {IOU_GOOD}: {located:.4f}   mean IoU {mean_iou:.4f}")
    figures["test_photos"] = {
        "photos": len(photos),
        "window_iou_at_0.8": round(located, 4),
        "window_iou_mean": round(mean_iou, 4),
        **_report_readings("   whole readings on them", outcomes, args.show),
    }
    figures["data"] = (
        f"rows of real crops of one wheel name from the held-out splits of {args.data.name} "
        f"(training/composed.py, seed {args.seed})"
    )
    return figures
