"""The digit workflow on one command line: `python -m digit_service.cli <command> [--help]`.

    train      train a classifier on MNIST (or a folder of labelled images) -> models/<name>/
    train-pairs  train its pair detector (touching digits or one wide digit) -> models/<name>/pairs/
    evaluate   accuracy and the whole pipeline on MNIST's test split or a folder; --write-card
    retrain    fine-tune a served model on users' corrections (the gateway's feedback export)
    download   fetch MNIST with Keras' loader (needs internet) -> ../shared/data/mnist.npz; only
               this command downloads, never training or evaluation

The captcha and meter services read the same way (`recognition_common.cli.dispatch`): each
command is its module's `main(argv, prog)`, imported only when it runs, so this listing needs no
TensorFlow.
"""

from __future__ import annotations

from recognition_common.cli import Command, dispatch, run_main

PROG = "python -m digit_service.cli"
COMMANDS: dict[str, Command] = {
    "train": Command(
        "digit_service.training.train",
        "train a classifier on MNIST (or a folder of labelled images) and write models/<name>/",
        uses_tensorflow=True,
    ),
    "train-pairs": Command(
        "digit_service.training.pairs",
        "train a model's pair detector (touching digits or one wide digit) into models/<name>/pairs/",
        uses_tensorflow=True,
    ),
    "evaluate": Command(
        "digit_service.training.evaluate",
        "accuracy and the whole pipeline on MNIST's test split or a folder; --write-card",
        uses_tensorflow=True,
    ),
    "retrain": Command(
        "digit_service.training.retrain",
        "fine-tune a served model on users' corrections; install it only if it is better",
        uses_tensorflow=True,
    ),
    "download": Command(
        "digit_service.training.download",
        "fetch MNIST with Keras' loader (needs internet) into ../shared/data/mnist.npz",
        uses_tensorflow=True,
    ),
}


def main(argv: list[str] | None = None) -> None:
    dispatch(PROG, "Digit workflow: " + ", ".join(COMMANDS) + ".", COMMANDS, argv)


if __name__ == "__main__":
    run_main(main, PROG)
