"""scripts/bootstrap.sh (what `make run` and `make test` call first): a wrong Python is named in
one line before pip or a .venv is touched."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.deploy.helpers import REPO_ROOT

BOOTSTRAP = REPO_ROOT / "scripts" / "bootstrap.sh"


def bootstrap(python: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHON": python}
    return subprocess.run([str(BOOTSTRAP)], env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def python310(tmp_path: Path) -> str:
    """An interpreter that says it is Python 3.10 (and fails the version check, as 3.10 would)."""
    fake = tmp_path / "python3.10"
    fake.write_text('#!/bin/sh\nif [ "$1" = "-V" ]; then echo "Python 3.10.12"; exit 0; fi\nexit 1\n')
    fake.chmod(0o755)
    return str(fake)


def test_an_old_python_is_named_with_how_to_choose_another(python310: str) -> None:
    venv = REPO_ROOT / ".venv"
    before = venv.stat().st_mtime_ns if venv.exists() else None
    result = bootstrap(python310)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"Python 3.11 or newer is needed; '{python310}' is Python 3.10.12. Choose the interpreter "
        "with PYTHON=..., for example: PYTHON=python3.12 make run"
    ]
    assert (venv.stat().st_mtime_ns if venv.exists() else None) == before  # nothing touched


def test_a_missing_python_is_named() -> None:
    result = bootstrap("no-such-python3.99")
    assert result.returncode == 1
    assert "'no-such-python3.99' was not found" in result.stderr
    assert "PYTHON=python3.12 make run" in result.stderr
