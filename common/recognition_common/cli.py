"""Command lines: a user's mistake is one line on stderr and exit code 2, never a traceback.

The training, evaluation and generation commands check what they are given where it is used
(a data path, a model folder, a length range) and raise FileNotFoundError or ValueError with a
message that names it. `run_main` turns those into `prog: error: message` and exit code 2, as
argparse does for a bad flag. Set RECOGNITION_DEBUG=1 to see the traceback instead.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

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
