"""Command lines: a user's mistake is one line on stderr and exit code 2, never a traceback.

The training, evaluation and generation commands check what they are given where it is used
(a data path, a model folder, a length range) and raise FileNotFoundError or ValueError with a
message that names it. `run_main` turns those into `prog: error: message` and exit code 2, as
argparse does for a bad flag. Set RECOGNITION_DEBUG=1 to see the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Mapping
from typing import NamedTuple, Protocol

USER_ERRORS: tuple[type[Exception], ...] = (
    FileNotFoundError,
    NotADirectoryError,
    IsADirectoryError,
    ValueError,
)
DEBUG_VARIABLE = "RECOGNITION_DEBUG"


def describe(error: Exception) -> str:
    """One line for a user error: a missing file by its name, anything else by its message."""
    if isinstance(error, OSError) and error.filename:
        reason = "not found" if isinstance(error, FileNotFoundError) else (error.strerror or "unusable")
        return f"{error.filename}: {reason}"
    return " ".join(str(error).split()) or type(error).__name__


def run_main(main: Callable[[list[str] | None], None], prog: str, argv: list[str] | None = None) -> None:
    """`main(argv)`, with a user error reported as one line and exit code 2."""
    try:
        main(argv)
    except USER_ERRORS as error:
        if os.environ.get(DEBUG_VARIABLE):
            raise
        print(f"{prog}: error: {describe(error)}", file=sys.stderr)
        raise SystemExit(2) from None


# --- One command line per service ------------------------------------------------------------
#
# Every service reads `python -m <task>_service.cli <command> [options]`: its cli.py declares
# which module runs each command, and `dispatch` does the rest, so the three command lines list,
# name and fail alike. A command's module keeps its own parser (`main(argv, prog)`) and is
# imported only when that command runs, so the listing itself needs no TensorFlow.


class Command(NamedTuple):
    """One subcommand: the module whose `main(argv, prog)` runs it, and its line in the listing."""

    module: str
    help: str
    uses_tensorflow: bool = False  # imported through `import_tensorflow`, without its start-up lines


class CommandMain(Protocol):
    """A command module's `main`: its own parser, with `prog` for its usage line."""

    def __call__(self, argv: list[str] | None = None, prog: str | None = None) -> None: ...


def _listing_parser(prog: str, description: str, commands: Mapping[str, Command]) -> argparse.ArgumentParser:
    """A parser that only picks the command: its --help is the listing, a bad name exits 2."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog=f"'{prog} COMMAND --help' shows a command's options.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, command in commands.items():
        # add_help=False: the command's own parser answers its --help, not this one
        sub.add_parser(name, help=command.help, add_help=False)
    return parser


def dispatch(
    prog: str, description: str, commands: Mapping[str, Command], argv: list[str] | None = None
) -> None:
    """Run `argv[0]`'s module's `main(argv[1:], prog="<prog> <command>")`.

    The command's usage line then reads as the user typed it; nothing swaps `sys.argv`. No
    command, `--help`, or an unknown command is answered by argparse (listing, exit 0 or 2).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _listing_parser(prog, description, commands)
    if not argv or argv[0] not in commands:
        parser.parse_args(argv[:1])  # exits: the listing, or `invalid choice` with exit code 2
        raise SystemExit(2)  # not reached: a command name that parses is in `commands`
    name, rest = argv[0], argv[1:]
    command = commands[name]
    if command.uses_tensorflow:
        from recognition_common.serving.models import import_tensorflow  # TensorFlow only when it is used

        import_tensorflow()
    module_main: CommandMain = importlib.import_module(command.module).main
    module_main(rest, prog=f"{prog} {name}")
