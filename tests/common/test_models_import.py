"""TensorFlow is imported without its C++ start-up lines (`models.import_tensorflow`), which
no log setting removes and which read like errors on a user's terminal."""

from __future__ import annotations

import os
import subprocess
import sys

QUIET_IMPORT = (
    "import sys; from recognition_common.serving.models import import_tensorflow; "
    "tf = import_tensorflow(); print('after the import', file=sys.stderr); "
    "print(tf.constant(2).numpy() * 21)"
)


def run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "RECOGNITION_DEBUG")}
    return subprocess.run(
        [sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True, timeout=120
    )


def test_tensorflow_imports_silently_and_stderr_works_after() -> None:
    # A plain `import tensorflow` prints several lines here (oneDNN, absl's warning).
    result = run(QUIET_IMPORT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "42"
    # Only what the program itself wrote after the import: descriptor 2 is back.
    assert result.stderr.strip().splitlines() == ["after the import"], result.stderr
