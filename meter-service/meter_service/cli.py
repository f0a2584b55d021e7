"""The meter workflow on one command line: `python -m meter_service.cli <command> [--help]`.

    generate       write N synthetic meter photos (JPEG) + labels.jsonl, seeded
    train-locator  train the window locator -> models/default/locator/ (or --evaluate it alone)
    train-reader   train the wheel reader on real crops (+ yours, + synthetic) -> models/default/
                   (or --evaluate it alone)
    evaluate       the whole reader as the service runs it: window IoU and exact readings on
                   held-out synthetic photos, per-wheel accuracy on held-out real crops
    retrain        fine-tune the served reader on users' corrections (the gateway's feedback export)
    demo           write the demo images served by GET /v1/demo, with their true readings
    baseline       a general-purpose OCR (RapidOCR, installed by hand) on the same real strips
    download       fetch the public meter-digit crops (needs internet) -> meterdigits.tar.gz; only
                   this command downloads, never training or evaluation

Each command is its module's own command line (its `main(argv)`), imported only when it runs,
so this listing needs no TensorFlow.
"""

from __future__ import annotations

import importlib
import sys

from recognition_common.cli import run_main
from recognition_common.serving.models import import_tensorflow

# command -> (module with main(argv), help)
COMMANDS: dict[str, tuple[str, str]] = {
    "generate": (
        "meter_service.training.generate",
        "write N synthetic meter photos (JPEG) + labels.jsonl, seeded",
    ),
    "train-locator": (
        "meter_service.training.locator",
        "train the window locator (--evaluate: measure it alone)",
    ),
    "train-reader": (
        "meter_service.training.reader",
        "train the wheel reader on real + synthetic crops (--evaluate: measure it alone)",
    ),
    "evaluate": (
        "meter_service.training.evaluate",
        "window IoU, exact readings, real-crop wheel accuracy; --write-card",
    ),
    "retrain": (
        "meter_service.training.retrain",
        "fine-tune the served reader on users' corrections; installed only if better",
    ),
    "demo": ("meter_service.training.demo", "write the demo images of GET /v1/demo"),
    "baseline": (
        "meter_service.training.baseline",
        "a generic OCR (RapidOCR, if installed) on the same real strips, for comparison",
    ),
    "download": (
        "meter_service.training.download",
        "fetch the public meter-digit crops (needs internet) into meterdigits.tar.gz",
    ),
}

# Commands whose modules import TensorFlow: imported first, without its start-up lines.
USES_TENSORFLOW = {"train-locator", "train-reader", "evaluate", "retrain"}

USAGE = "usage: python -m meter_service.cli {" + ",".join(COMMANDS) + "} [options | --help]"


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        lines = [USAGE, "", "Meter workflow: " + ", ".join(COMMANDS) + ".", ""]
        lines += [f"  {name:14s} {help_text}" for name, (_, help_text) in COMMANDS.items()]
        known = not argv or argv[0] in ("-h", "--help")
        print("\n".join(lines), file=sys.stdout if known else sys.stderr)
        if not known:
            print(f"\nunknown command {argv[0]!r}", file=sys.stderr)
        raise SystemExit(0 if known else 2)
    module, _ = COMMANDS[argv[0]]
    if argv[0] in USES_TENSORFLOW:
        import_tensorflow()
    saved, sys.argv = sys.argv, [f"python -m meter_service.cli {argv[0]}", *argv[1:]]  # its usage line
    try:
        importlib.import_module(module).main(argv[1:])
    finally:
        sys.argv = saved


if __name__ == "__main__":
    run_main(main, "python -m meter_service.cli")
