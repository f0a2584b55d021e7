"""`make run` (scripts/run_local.py) with a setting that points at no model: it says which, at
once, in one line, and leaves nothing running."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.deploy.helpers import REPO_ROOT, TASK, TASKS
from tests.support.processes import free_port


def test_a_model_folder_without_models_is_named_and_nothing_is_left_running(tmp_path: Path) -> None:
    # Every port moved off the table's (<TASK>_PORT), so that a running stack does not interfere.
    ports = {name: free_port() for name in ("GATEWAY_PORT", *(task.port_variable for task in TASKS))}
    digit = TASK["digit"]
    env = {
        **os.environ,
        **{name: str(port) for name, port in ports.items()},
        digit.model_dir_variable: str(tmp_path),
        "REDIS_URL": "redis://127.0.0.1:1/0",  # no redis-server started for this
    }
    result = subprocess.run(
        [sys.executable, "scripts/run_local.py"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert f"no model directories with model.keras + card.json in {tmp_path}" in result.stderr
    assert "Traceback" not in output
    # The digit service it started was stopped again: its port is free.
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", ports[digit.port_variable])) != 0
