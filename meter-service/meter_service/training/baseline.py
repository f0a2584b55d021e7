"""`baseline`: a general-purpose OCR read on the same real strips, the bar a specialist must clear.

    pip install rapidocr_onnxruntime   # once; not a dependency of the service
    python -m meter_service.cli baseline [--strips ../shared/data/meter-windows-ccby] [--composed 60]

RapidOCR runs the PP-OCRv4 detector and recogniser that ship inside its wheel, used as they come
(no training): the digits of every text line it finds, left to right, are the reading. Judged as
`evaluate` judges the service (`training/strips.py`: clean strips exactly, a rolling last wheel
either digit in view), on the CC BY test strips and on strips composed from the real crops'
held-out test split (`training/composed.py`, the same seed as `evaluate`), so both tables compare.
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from meter_service.training.evaluate import DEFAULT_REAL, DEFAULT_STRIPS, STRIP_WHEELS

_NOT_DIGIT = re.compile(r"\D")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--strips", type=Path, default=DEFAULT_STRIPS, help="default: %(default)s")
    parser.add_argument("--data", type=Path, default=DEFAULT_REAL, help="real crops (default: %(default)s)")
    parser.add_argument(
        "--composed", type=int, default=60, help="composed real strips to read (default 60; 0: none)"
    )
    parser.add_argument("--seed", type=int, default=2026, help="as evaluate's (default 2026)")


def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    run(parser.parse_args(argv))


def load_ocr() -> Any:
    try:
        from rapidocr_onnxruntime import RapidOCR
    except ImportError:
        raise ValueError(
            "the baseline needs RapidOCR, which the service does not install: "
            "pip install rapidocr_onnxruntime (it ships its models; nothing is downloaded at run time)"
        ) from None
    return RapidOCR()


def ocr_digits(ocr: Any, image: np.ndarray) -> str:
    """Every digit RapidOCR reads in `image` (RGB uint8), text lines left to right."""
    lines, _ = ocr(image[..., ::-1].copy())  # RapidOCR takes OpenCV's BGR order
    ordered = sorted(lines or [], key=lambda line: min(point[0] for point in line[0]))
    return "".join(_NOT_DIGIT.sub("", line[1]) for line in ordered)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from PIL import Image

    from meter_service import odometer
    from meter_service.reading import snap
    from meter_service.training.strips import load_strips

    ocr = load_ocr()
    figures: dict[str, Any] = {}
    strips = load_strips(args.strips, STRIP_WHEELS)
    started = time.perf_counter()
    judged = [strip for strip in strips if strip.accepted]
    reads = {
        strip.file.name: ocr_digits(ocr, np.asarray(Image.open(strip.file).convert("RGB")))
        for strip in strips
    }
    clean = [strip for strip in judged if strip.clean]
    figures["real_strips"] = {
        "clean_right": sum(reads[s.file.name] in s.accepted for s in clean),
        "clean_strips": len(clean),
        "exact_reading_judged": round(float(np.mean([reads[s.file.name] in s.accepted for s in judged])), 4),
        "judged_strips": len(judged),
        "ms_per_strip": round((time.perf_counter() - started) * 1000 / max(len(strips), 1)),
    }
    real = figures["real_strips"]
    print(
        f"RapidOCR (PP-OCRv4, as shipped) on {len(strips)} real strips ({args.strips.name}): "
        f"clean strips read exactly {real['clean_right']}/{real['clean_strips']}, "
        f"judged {real['exact_reading_judged']:.4f} of {real['judged_strips']}; "
        f"{real['ms_per_strip']} ms a strip"
    )
    print(
        "   read (file: true -> read): "
        + ", ".join(f"{s.file.name}: {s.reading}->{reads[s.file.name] or '-'}" for s in clean)
    )
    if args.composed and args.data.exists():
        from meter_service.training.composed import composed_strips
        from meter_service.training.reader_data import load_real

        samples = composed_strips(load_real(args.data).splits["test"], args.composed, args.seed)
        right = []
        for sample in samples:
            accepted = odometer.acceptable_texts([snap(p) for p in sample.positions])
            right.append(ocr_digits(ocr, np.asarray(sample.image)) in accepted)
        figures["composed_real_strips"] = {
            "strips": len(samples),
            "exact_reading": round(float(np.mean(right)), 4),
        }
        print(
            f"   {len(samples)} strips composed from the real crops' test split (seed {args.seed}): "
            f"exact {figures['composed_real_strips']['exact_reading']:.4f}"
        )
    return figures
