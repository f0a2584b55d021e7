"""The gateway names no task in code: only its configuration's defaults may (issue 17).

Everything the gateway knows about a task comes from the task's catalogue or from configuration;
a task name anywhere else in gateway/gateway (code, comments, docstrings) is a sign that knowledge
crept back in. In config.py, names are allowed only inside the module-level `DEFAULT_*`
assignments.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

SOURCES = Path(__file__).resolve().parents[2] / "gateway" / "gateway"
TASK_NAMES = re.compile(r"\b(digit|captcha|meter)", re.IGNORECASE)  # not "isdigit", "parameter"


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


def test_task_names_appear_only_in_configuration_defaults() -> None:
    found = []
    for path in sorted(SOURCES.rglob("*.py")):
        allowed = _default_lines(path) if path.name == "config.py" else set()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if TASK_NAMES.search(line) and number not in allowed:
                found.append(f"{path.relative_to(SOURCES.parent)}:{number}: {line.strip()}")
    assert not found, "task names outside configuration defaults:\n" + "\n".join(found)


def test_the_check_sees_task_names() -> None:
    assert TASK_NAMES.search("the meter service") and TASK_NAMES.search("CaptchaBatch")
    assert not TASK_NAMES.search("value.isdigit() and TASK_PARAMETER")
