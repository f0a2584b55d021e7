"""Shared by the deployment checks: the tools, the rendered configurations, the services' settings.

Everything here is static: no Docker engine, no cluster, no cloud. The tools come from PyPI through
requirements/dev.txt (shellcheck from apt), and a missing one fails the test, naming `make test`.
The recognizers are the entries of tasks.toml (scripts/task_table.py), not a list kept here.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest
import yaml
from pydantic_settings import BaseSettings

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILES = ("docker-compose.yml", "docker-compose.gpu.yml")
OVERLAYS = ("cpu", "gpu")
GATEWAY = "gateway"
GATEWAY_PORT = 8000
# The one Dockerfile of every recognizer; tasks.toml's entries are its build arguments.
RECOGNIZER_DOCKERFILE = "deploy/recognizer.Dockerfile"


def script(name: str) -> ModuleType:
    """A module of scripts/ (task_table, render_deploy, run_local), imported as those scripts import
    each other: with scripts/ on sys.path. Importing runs nothing: each has a __main__ guard."""
    folder = str(REPO_ROOT / "scripts")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module(name)


task_table = script("task_table")
# The platform's port plan: one port per service, the same natively, in compose and in k8s.
TASKS = task_table.load_tasks()
TASK = {task.name: task for task in TASKS}


def tool(name: str) -> str:
    """Path of a command-line tool: the virtualenv's (pinned) first, then PATH. Never skips."""
    venv_tool = Path(sys.executable).parent / name
    found = str(venv_tool) if venv_tool.exists() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed; `make test` installs it (requirements/dev.txt, bootstrap.sh)")
    return found


def run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, **kwargs)


def compose_config(*files: str, dotenv: str | None = None) -> dict:
    """`docker-compose config` of these files, as JSON (interpolated, merged, schema-checked).

    Run on copies in a temporary project directory and with a bare environment, so that neither a
    developer's own .env (read by compose for interpolation and handed to the services) nor exported
    variables change what is checked; `dotenv` is the .env to use there.
    """
    with tempfile.TemporaryDirectory() as project:
        for name in files:
            shutil.copy(REPO_ROOT / name, project)
        if dotenv is not None:
            Path(project, ".env").write_text(dotenv)
        argv = [tool("docker-compose"), "--project-directory", project]
        for name in files:
            argv += ["-f", str(Path(project, name))]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": project}
        result = run([*argv, "config", "--format", "json"], env=env)
    assert result.returncode == 0, f"docker-compose config {files} failed:\n{result.stderr}"
    return json.loads(result.stdout)


@cache
def kustomize(overlay: str) -> tuple[dict, ...]:
    result = run([tool("kubectl"), "kustomize", f"k8s/overlays/{overlay}"])
    assert result.returncode == 0, f"kubectl kustomize k8s/overlays/{overlay} failed:\n{result.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def k8s_objects(overlay: str, kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in kustomize(overlay) if doc["kind"] == kind}


def recognizer_dirs() -> list[Path]:
    """Every recognizer service in the repository: `<task>-service/` with a pyproject.toml."""
    return sorted(path.parent for path in REPO_ROOT.glob("*-service/pyproject.toml"))


@dataclass(frozen=True)
class Dockerfile:
    """A Dockerfile as the build sees it: with `build_args` (and the ARG defaults) substituted into
    every instruction but RUN, whose `$NAME` the shell expands (its text stays as written)."""

    path: Path
    text: str
    build_args: tuple[tuple[str, str], ...] = ()

    @property
    def declared_args(self) -> dict[str, str | None]:
        """ARG name -> default (None: no default, the build must pass it)."""
        declared: dict[str, str | None] = {}
        for name, arg in self._raw_instructions:
            if name == "ARG":
                key, equals, default = arg.partition("=")
                declared.setdefault(key, default.strip('"') if equals else None)
        return declared

    @property
    def _raw_instructions(self) -> list[tuple[str, str]]:
        joined = re.sub(r"\\\n\s*", " ", self.text)
        lines = [line.strip() for line in joined.splitlines()]
        return [
            (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
            for line in lines
            if line and not line.startswith("#")
        ]

    @property
    def instructions(self) -> list[tuple[str, str]]:
        """(INSTRUCTION, arguments) with continuation lines joined, comments dropped, ARGs substituted."""
        values = {name: default for name, default in self.declared_args.items() if default is not None}
        values |= dict(self.build_args)

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1) or match.group(2)
            return values.get(name, match.group(0))

        return [
            (name, arg if name == "RUN" else re.sub(r"\$\{(\w+)\}|\$(\w+)", substitute, arg))
            for name, arg in self._raw_instructions
        ]

    def args(self, instruction: str) -> list[str]:
        return [arg for name, arg in self.instructions if name == instruction]

    @property
    def env(self) -> dict[str, str]:
        """ENV of the last stage (the runtime image)."""
        last_from = max(i for i, (name, _) in enumerate(self.instructions) if name == "FROM")
        found: dict[str, str] = {}
        for name, arg in self.instructions[last_from:]:
            if name == "ENV":
                found.update(re.findall(r"(\w+)=(\S+)", arg))
        return found

    @property
    def cmd(self) -> list[str]:
        return json.loads(self.args("CMD")[-1])

    @property
    def app(self) -> str:
        """The ASGI app uvicorn serves, e.g. `gateway.main:app`: CMD's argument, else UVICORN_APP
        (uvicorn's own variable, which the recognizer image sets from its build arguments)."""
        cmd = self.cmd
        assert cmd[0] == "uvicorn", f"{self.path}: CMD should run uvicorn, got {cmd}"
        positional = [arg for arg in cmd[1:2] if not arg.startswith("-")]
        return positional[0] if positional else self.env["UVICORN_APP"]

    @property
    def port(self) -> int:
        cmd = self.cmd
        return int(cmd[cmd.index("--port") + 1]) if "--port" in cmd else int(self.env["UVICORN_PORT"])

    def copy_destination(self, source: str) -> str:
        """Where `COPY <source> <dest>` puts a directory of the build context."""
        for arg in self.args("COPY"):
            parts = arg.split()
            if parts[0] == source:
                return parts[-1].rstrip("/")
        raise AssertionError(f"{self.path}: no COPY {source}")


def dockerfile(service_dir: str) -> Dockerfile:
    """The image of a service: the gateway's own Dockerfile, or the recognizer Dockerfile with the
    build arguments compose passes for that task (its tasks.toml entry)."""
    if service_dir == GATEWAY:
        path = REPO_ROOT / GATEWAY / "Dockerfile"
        return Dockerfile(path, path.read_text())
    (task,) = [task for task in TASKS if task.folder == service_dir]
    path = REPO_ROOT / RECOGNIZER_DOCKERFILE
    return Dockerfile(path, path.read_text(), tuple(task.build_args().items()))


def service_dirs() -> list[str]:
    """Every service that gets an image: the gateway and each recognizer of the table."""
    return [GATEWAY, *(task.folder for task in TASKS)]


def settings_class(service_dir: str) -> type[BaseSettings]:
    """The settings class a service reads its environment with (gateway or a recognizer)."""
    if service_dir == GATEWAY:
        from gateway.config import GatewaySettings

        return GatewaySettings
    from recognition_common.serving.settings import RecognizerSettings

    module = importlib.import_module(service_dir.replace("-", "_") + ".config")
    found = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, RecognizerSettings)
        and value.__module__ == module.__name__
    ]
    assert len(found) == 1, f"{module.__name__}: expected one RecognizerSettings subclass, found {found}"
    return found[0]


def env_names(settings: type[BaseSettings]) -> dict[str, str]:
    """Environment variable -> field name, as pydantic-settings reads them."""
    prefix = settings.model_config.get("env_prefix", "")
    names: dict[str, str] = {}
    for field_name, field in settings.model_fields.items():
        alias = field.validation_alias
        choices = getattr(alias, "choices", None) or ([alias] if isinstance(alias, str) else None)
        for choice in choices or [prefix + field_name]:
            names[str(choice).upper()] = field_name
    return names


def env_file(path: Path) -> dict[str, str]:
    """A KEY=value file (Kubernetes configMapGenerator `envs`), comments skipped."""
    pairs = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def env_example() -> dict[str, str]:
    """The `# NAME=value` lines of .env.example: every documented variable with its default."""
    text = (REPO_ROOT / ".env.example").read_text()
    return dict(re.findall(r"^# ([A-Z][A-Z0-9_]*)=(\S*)", text, flags=re.MULTILINE))
