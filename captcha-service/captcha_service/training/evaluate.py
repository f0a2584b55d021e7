"""`evaluate`: how well a model directory reads a folder of labelled images (or fresh captchas).

Reports whole-captcha and character accuracy, the most confused characters, accuracy by length,
and inference time per image (batched, and one image at a time as the API runs it), and with
`--write-card` merges the figures into the model's card.
"""

from __future__ import annotations

import argparse
import shlex
import time
from collections import defaultdict
from datetime import date
from typing import Any

import numpy as np

from captcha_service.ctc import decode_batch
from captcha_service.preprocess import to_model_input
from captcha_service.recognizer import card_charset
from captcha_service.scoring import confusions, score
from captcha_service.synth import CaptchaSpec, generate_arrays
from captcha_service.training.data import load_folder
from recognition_common.model_card import read_card, update_card_metrics
from recognition_common.models import configure_tensorflow, load_compiled

SINGLE_TIMING_SAMPLES = 200


def run(args: argparse.Namespace, argv: list[str] | None = None) -> dict[str, Any]:
    configure_tensorflow()
    card = read_card(args.model_dir)
    charset = card_charset(card)
    height, width = card.input_shape[0], card.input_shape[1]
    progress = not args.quiet
    if args.generate:
        spec = CaptchaSpec(charset, card.min_length, card.max_length, width, height)
        labels, pixels = generate_arrays(spec, args.generate, args.seed, args.workers, progress)
        source = f"{args.generate} freshly generated captchas (seed {args.seed})"
    else:
        data = load_folder(args.data, width, height, progress)
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

    predictions = decode_batch(outputs, charset)
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
        "inference_ms_per_image_batched": round(batched_ms, 3),
        "inference_ms_per_image_single": round(single_ms, 3),
        "evaluated_with": shlex.join(["python", "-m", "captcha_service.cli", "evaluate", *(argv or [])]),
        "evaluated_at": date.today().isoformat(),
    }
    if args.write_card:
        update_card_metrics(args.model_dir, metrics)
        print(f"  wrote the figures into {args.model_dir / 'card.json'}")
    return metrics
