"""The platform names no task: the gateway and the shared package know tasks only through
configuration (issue 17).

Everything the gateway knows about a task comes from the task's catalogue or from configuration,
and the shared package serves whatever TaskSpec it is given; a task name anywhere else in
gateway/gateway or common/recognition_common (code, comments, docstrings) is a sign that a task's
knowledge crept out of its folder. Only the gateway's config.py may name tasks, and only inside
its module-level `DEFAULT_*` assignments. The plural "digits" is the ordinary word (hex digits).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PLATFORM = [REPO_ROOT / "gateway" / "gateway", REPO_ROOT / "common" / "recognition_common"]
GATEWAY_CONFIG = REPO_ROOT / "gateway" / "gateway" / "config.py"
# Not "isdigit", "parameter" or "hex digits".
TASK_NAMES = re.compile(r"\b(digit|captcha|meter)(?!s\b)", re.IGNORECASE)


def _default_lines(path: Path) -> set[int]:
    """The lines of config.py's module-level `DEFAULT_* = ...` assignments."""
    lines: set[int] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        if any(isinstance(t, ast.Name) and t.id.startswith("DEFAULT_") for t in targets):
            lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return lines


@pytest.mark.parametrize("sources", PLATFORM, ids=lambda path: path.parent.name)
def test_task_names_appear_only_in_configuration_defaults(sources: Path) -> None:
    found = []
    for path in sorted(sources.rglob("*.py")):
        allowed = (
            _default_lines(path)
            if path.relative_to(REPO_ROOT).as_posix() == "gateway/gateway/config.py"
            else set()
        )
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if TASK_NAMES.search(line) and number not in allowed:
                found.append(f"{path.relative_to(REPO_ROOT)}:{number}: {line.strip()}")
    assert not found, "task names outside configuration defaults:\n" + "\n".join(found)


def test_the_check_sees_task_names() -> None:
    assert TASK_NAMES.search("the meter service") and TASK_NAMES.search("CaptchaBatch")
    assert not TASK_NAMES.search("value.isdigit() and TASK_PARAMETER, 12 hex digits")
