"""The captcha workflow on one command line: `python -m captcha_service.cli <command> --help`.

    generate      write N labelled captcha images (<label>_<id>.png), seeded
    verify-split  check a folder of labelled images, move bad ones to rejected/, split train/test
    train         train a CRNN-CTC model and write models/<name>/
    retrain       fine-tune a served model on users' corrections (the gateway's feedback export)
    evaluate      accuracy, confusions and speed of a model on a folder; --write-card
    stress        drive the running API with concurrent clients; CSV + box plot

Each command imports its heavy dependencies (TensorFlow, httpx) only when it runs, so `--help`
is instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from recognition_common.cli import run_main
from recognition_common.serving.models import import_tensorflow

# command -> (module with run(args, argv), options function "module:function", help).
# Options live apart from the work so `--help` never imports TensorFlow.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "generate": (
        "captcha_service.commands.generate",
        "captcha_service.commands.generate:add_arguments",
        "write N labelled captcha images (<label>_<id>.png), seeded",
    ),
    "verify-split": (
        "captcha_service.commands.verify_split",
        "captcha_service.commands.verify_split:add_arguments",
        "check labelled images, move bad ones to rejected/, split the rest into train/ and test/",
    ),
    "train": (
        "captcha_service.training.train",
        "captcha_service.training.options:add_train_arguments",
        "train a CRNN-CTC model and write models/<name>/",
    ),
    "evaluate": (
        "captcha_service.training.evaluate",
        "captcha_service.training.options:add_evaluate_arguments",
        "accuracy, confusions and speed of a model on a folder of labelled images",
    ),
    "retrain": (
        "captcha_service.training.retrain",
        "captcha_service.training.retrain:add_arguments",
        "fine-tune a served model on users' corrections; install it only if it is better",
    ),
    "stress": (
        "captcha_service.commands.stress",
        "captcha_service.commands.stress:add_arguments",
        "drive the running API with concurrent clients; CSV and box plot",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m captcha_service.cli",
        description="Captcha workflow: " + ", ".join(COMMANDS) + ".",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, options, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.set_defaults(module=module)
        options_module, function = options.split(":")
        getattr(importlib.import_module(options_module), function)(command)
    return parser


# Commands whose modules import TensorFlow: imported first, without its start-up lines.
USES_TENSORFLOW = {"train", "evaluate", "retrain"}


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    if args.command in USES_TENSORFLOW:
        import_tensorflow()
    importlib.import_module(args.module).run(args, argv[1:])


if __name__ == "__main__":
    run_main(main, "python -m captcha_service.cli")
