"""The meter workflow on one command line: `python -m meter_service.cli <command> [--help]`.

    generate       write N synthetic meter photos (JPEG) + labels.jsonl, seeded
    train          train the whole model: train-locator, then train-reader, with their shared options
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

The meter is two models: `train` trains both, as every task's `train` trains its model, and
train-locator and train-reader train one with all of its options. The three services read the same way
(`recognition_common.cli.dispatch`): each command is its module's `main(argv, prog)`, imported
only when it runs, so this listing needs no TensorFlow.
"""

from __future__ import annotations

from recognition_common.cli import Command, dispatch, run_main

PROG = "python -m meter_service.cli"
COMMANDS: dict[str, Command] = {
    "generate": Command(
        "meter_service.training.generate", "write N synthetic meter photos (JPEG) + labels.jsonl, seeded"
    ),
    "train": Command(
        "meter_service.training.train",
        "train the whole model: the window locator, then the wheel reader (their shared options)",
        uses_tensorflow=True,
    ),
    "train-locator": Command(
        "meter_service.training.locator",
        "train the window locator (--evaluate: measure it alone)",
        uses_tensorflow=True,
    ),
    "train-reader": Command(
        "meter_service.training.reader",
        "train the wheel reader on real + synthetic crops (--evaluate: measure it alone)",
        uses_tensorflow=True,
    ),
    "evaluate": Command(
        "meter_service.training.evaluate",
        "window IoU, exact readings, real-crop wheel accuracy; --write-card",
        uses_tensorflow=True,
    ),
    "retrain": Command(
        "meter_service.training.retrain",
        "fine-tune the served reader on users' corrections; installed only if better",
        uses_tensorflow=True,
    ),
    "demo": Command("meter_service.training.demo", "write the demo images of GET /v1/demo"),
    "baseline": Command(
        "meter_service.training.baseline",
        "a generic OCR (RapidOCR, if installed) on the same real strips, for comparison",
    ),
    "download": Command(
        "meter_service.training.download",
        "fetch the public meter-digit crops (needs internet) into meterdigits.tar.gz",
    ),
}


def main(argv: list[str] | None = None) -> None:
    dispatch(PROG, "Meter workflow: " + ", ".join(COMMANDS) + ".", COMMANDS, argv)


if __name__ == "__main__":
    run_main(main, PROG)
