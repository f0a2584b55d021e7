"""`evaluate`: how well a model directory reads a folder of labelled images (or fresh captchas).

Reports whole-captcha and character accuracy, the most confused characters, accuracy by length,
inference time per image (batched, and one image at a time as the API runs it), and how far the
answers' confidence can be trusted: its calibration (ECE, and accuracy per confidence bin) and,
for rejection thresholds, how many answers would be kept and how many of those are right, which is
where `CAPTCHA_MIN_ANSWER_CONFIDENCE` comes from. `--write-card` merges the figures into the card.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections import defaultdict
from datetime import date
from typing import Any

import numpy as np

from captcha_service.card import CaptchaCard
from captcha_service.ctc import greedy_decode
from captcha_service.preprocess import to_model_input
from captcha_service.recognizer import card_charset
from captcha_service.scoring import confusions, score
from captcha_service.synth import CaptchaSpec, generate_arrays
from captcha_service.training.data import load_folder
from captcha_service.training.options import add_evaluate_arguments
from recognition_common.calibration import expected_calibration_error, reliability
from recognition_common.serving.model_card import read_card, update_card_metrics
from recognition_common.serving.models import configure_tensorflow, load_compiled

SINGLE_TIMING_SAMPLES = 200
REJECTION_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def rejection_curve(confidences: np.ndarray, correct: np.ndarray) -> list[dict[str, float]]:
    """Per answer-confidence threshold: the share of answers kept and the accuracy of those kept."""
    rows = []
    for threshold in REJECTION_THRESHOLDS:
        kept = confidences >= threshold
        rows.append(
            {
                "threshold": threshold,
                "kept": round(float(kept.mean()), 4),
                "kept_accuracy": round(float(correct[kept].mean()), 4) if kept.any() else 1.0,
                "rejected_right": int((~kept & correct).sum()),
                "rejected_wrong": int((~kept & ~correct).sum()),
            }
        )
    return rows


def run(args: argparse.Namespace, argv: list[str] | None = None) -> dict[str, Any]:
    configure_tensorflow()
    card = read_card(args.model_dir, CaptchaCard)
    charset = card_charset(card)
    height, width = card.input_shape[0], card.input_shape[1]
    progress = not args.quiet
    if args.generate:
        spec = CaptchaSpec(charset, card.min_length, card.longest, width, height)
        labels, pixels = generate_arrays(spec, args.generate, args.seed, args.workers, progress)
        source = f"{args.generate} freshly generated captchas (seed {args.seed})"
    else:
        data = load_folder(args.data, width, height, progress, card.resize)
        labels, pixels = data.labels, data.pixels
        source = f"{len(labels)} images in {args.data}"
    _, predict = load_compiled(args.model_dir, args.batch_size)

    inputs = to_model_input(pixels)
    started = time.perf_counter()
    outputs = np.concatenate(
        [predict(inputs[i : i + args.batch_size]) for i in range(0, len(inputs), args.batch_size)]
    )
    batched_ms = (time.perf_counter() - started) * 1000 / len(inputs)
    singles = inputs[:SINGLE_TIMING_SAMPLES]
    started = time.perf_counter()
    for sample in singles:
        predict(sample[np.newaxis])
    single_ms = (time.perf_counter() - started) * 1000 / len(singles)

    decoded = [greedy_decode(sample, charset) for sample in outputs]
    predictions = [answer.text for answer in decoded]
    # The answer's confidence as the service reports it: the product of its characters'.
    confidences = np.array([float(np.prod(a.confidences)) if a.text else 0.0 for a in decoded])
    correct = np.array([t == p for t, p in zip(labels, predictions, strict=True)])
    overall = score(labels, predictions)
    by_length: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for truth, prediction in zip(labels, predictions, strict=True):
        by_length[len(truth)][0] += truth == prediction
        by_length[len(truth)][1] += 1
    confused = confusions(labels, predictions).most_common(args.top_confusions)

    print(f"{card.name} {card.version} on {source}")
    print(f"  whole-captcha accuracy  {overall.whole_accuracy:.4f}")
    print(f"  character accuracy      {overall.char_accuracy:.4f}")
    for length in sorted(by_length):
        right, total = by_length[length]
        print(f"  length {length}: {right / total:.4f} of {total}")
    print(
        f"  inference: {batched_ms:.3f} ms/image in batches of {args.batch_size}, "
        f"{single_ms:.2f} ms/image one at a time"
    )
    if confused:
        print(
            "  most confused (true -> read: times): " + ", ".join(f"{t}->{p}: {n}" for (t, p), n in confused)
        )
    ece = expected_calibration_error(confidences, correct)
    curve = rejection_curve(confidences, correct)
    print(
        f"  answer confidence: ECE {ece:.4f}; by bin (confidence -> accuracy, answers): "
        + ", ".join(
            f"{row['from']:.1f}-{row['to']:.1f}: {row['confidence']:.2f}->{row['accuracy']:.2f} "
            f"({row['answers']})"
            for row in reliability(confidences, correct)
        )
    )
    print(
        "  reject below (kept, accuracy of kept, rejected right/wrong): "
        + ", ".join(
            f"{row['threshold']:g}: {row['kept']:.1%}, {row['kept_accuracy']:.1%}, "
            f"{row['rejected_right']}/{row['rejected_wrong']}"
            for row in curve
        )
    )
    wrong = [(t, p) for t, p in zip(labels, predictions, strict=True) if t != p][:10]
    if wrong:
        print("  some misreadings: " + ", ".join(f"{t}->{p or '(nothing)'}" for t, p in wrong))

    metrics = {
        "test_whole_accuracy": round(overall.whole_accuracy, 4),
        "test_char_accuracy": round(overall.char_accuracy, 4),
        "test_samples": overall.samples,
        "test_data": source,
        "accuracy_by_length": {str(k): round(v[0] / v[1], 4) for k, v in sorted(by_length.items())},
        "most_confused": [f"{t}->{p}: {n}" for (t, p), n in confused],
        "answer_confidence_ece": round(ece, 4),
        "rejection_curve": curve,
        "inference_ms_per_image_batched": round(batched_ms, 3),
        "inference_ms_per_image_single": round(single_ms, 3),
        "evaluated_with": shlex.join(["python", "-m", "captcha_service.cli", "evaluate", *(argv or [])]),
        "evaluated_at": date.today().isoformat(),
    }
    if args.write_card:
        update_card_metrics(args.model_dir, metrics)
        print(f"  wrote the figures into {args.model_dir / 'card.json'}")
    return metrics


def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    """The command line: its options (`add_evaluate_arguments`), then `run` with the words it was given."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    add_evaluate_arguments(parser)
    run(parser.parse_args(argv), argv)
