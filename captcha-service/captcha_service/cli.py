"""The captcha workflow on one command line: `python -m captcha_service.cli <command> [--help]`.

    generate      write N labelled captcha images (<label>_<id>.png), seeded
    verify-split  check a folder of labelled images, move bad ones to rejected/, split train/test
    train         train a CRNN-CTC model and write models/<name>/
    evaluate      accuracy, confusions and speed of a model on a folder; --write-card
    retrain       fine-tune a served model on users' corrections (the gateway's feedback export)
    stress        drive the running API with concurrent clients; CSV + box plot

The digit and meter services read the same way (`recognition_common.cli.dispatch`): each command
is its module's `main(argv, prog)`, imported only when it runs, so this listing needs no
TensorFlow.
"""

from __future__ import annotations

from recognition_common.cli import Command, dispatch, run_main

PROG = "python -m captcha_service.cli"
COMMANDS: dict[str, Command] = {
    "generate": Command(
        "captcha_service.commands.generate", "write N labelled captcha images (<label>_<id>.png), seeded"
    ),
    "verify-split": Command(
        "captcha_service.commands.verify_split",
        "check labelled images, move bad ones to rejected/, split the rest into train/ and test/",
    ),
    "train": Command(
        "captcha_service.training.train",
        "train a CRNN-CTC model and write models/<name>/",
        uses_tensorflow=True,
    ),
    "evaluate": Command(
        "captcha_service.training.evaluate",
        "accuracy, confusions and speed of a model on a folder of labelled images; --write-card",
        uses_tensorflow=True,
    ),
    "retrain": Command(
        "captcha_service.training.retrain",
        "fine-tune a served model on users' corrections; install it only if it is better",
        uses_tensorflow=True,
    ),
    "stress": Command(
        "captcha_service.commands.stress", "drive the running API with concurrent clients; CSV and box plot"
    ),
}


def main(argv: list[str] | None = None) -> None:
    dispatch(PROG, "Captcha workflow: " + ", ".join(COMMANDS) + ".", COMMANDS, argv)


if __name__ == "__main__":
    run_main(main, PROG)
