"""The recognizer table (tasks.toml) as typed records: the one place deployment learns its tasks.

Compose, Kubernetes (scripts/render_deploy.py), `make run` (scripts/run_local.py) and the deployment
tests all read the table through `load_tasks`, so that a task is described once instead of once per
way of running it. Standard library only: the renderer and `make run` must work before (and
without) the project's virtualenv packages, and this module is imported by path from both.

A bad table fails here, naming the task and the field, rather than surfacing later as a broken
manifest or a service that never starts.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TABLE = REPO_ROOT / "tasks.toml"
# Environment variable that points `make run` (and anything else calling `load_tasks(None)`) at
# another table, e.g. a test's table with one more task.
TABLE_ENV = "RECOGNITION_TASKS_FILE"

# Ports the table must not hand to a recognizer: the gateway's, and Redis' (compose, Kubernetes).
RESERVED_PORTS = {8000: "the gateway", 6379: "Redis"}
# Kubernetes object names (DNS-1035 labels), compose service names and URL hosts all at once.
_TASK_NAME = re.compile(r"[a-z][a-z0-9]{0,30}")
_PACKAGE = re.compile(r"[a-z_][a-z0-9_]*")
_FOLDER = re.compile(r"[a-z][a-z0-9_-]*")
_ENV_PREFIX = re.compile(r"[A-Z][A-Z0-9_]*_")
_QUANTITY = re.compile(r"[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi)?")
_SETTING = re.compile(r"[A-Z][A-Z0-9_]*")


class TaskTableError(ValueError):
    """The table cannot be used as written; the message names the file, the task and the field."""


@dataclass(frozen=True)
class Resources:
    """A Kubernetes container's requests and limits (quantities as Kubernetes writes them)."""

    cpu_request: str
    cpu_limit: str
    memory_request: str
    memory_limit: str


@dataclass(frozen=True)
class Task:
    """One recognizer: what every way of deploying it needs, and nothing a service reads itself.

    Health paths are not here on purpose: every recognizer serves `/healthz` (alive) and `/readyz`
    (models loaded) through recognition_common, and the tests check that contract per service.
    """

    name: str
    folder: str
    package: str
    port: int
    env_prefix: str
    models: str = "models"
    gpu: bool = True
    replicas: int = 2
    max_replicas: int = 8
    gpu_min_replicas: int = 1
    gpu_max_replicas: int = 4
    resources: Resources = field(default_factory=lambda: Resources("1", "2", "1Gi", "2Gi"))
    gpu_resources: Resources = field(default_factory=lambda: Resources("1", "2", "2Gi", "4Gi"))
    # Settings the Kubernetes ConfigMap sets, without the prefix. TensorFlow sizes its thread pool
    # by the node's cores, not the container's CPU limit, hence the explicit thread counts.
    k8s_settings: Mapping[str, str] = field(
        default_factory=lambda: {"INFERENCE_THREADS": "2", "PREPROCESS_THREADS": "2"}
    )
    # What `folder` is relative to: the directory of the table that names it (the repository for
    # tasks.toml), so a table elsewhere can describe task folders beside it.
    root: Path = REPO_ROOT

    @property
    def directory(self) -> Path:
        """The task's folder on disk: `make run` serves its package from there."""
        return self.root / self.folder

    @property
    def app(self) -> str:
        """The ASGI app uvicorn serves."""
        return f"{self.package}.main:app"

    @property
    def image(self) -> str:
        """Image name without registry or tag: `recognition/<folder>` in Kubernetes, compose adds
        `${IMAGE_REGISTRY}`."""
        return self.folder

    @property
    def model_dir_variable(self) -> str:
        return f"{self.env_prefix}MODEL_DIR"

    @property
    def port_variable(self) -> str:
        """What `make run` reads to move this recognizer to another port (DIGIT_PORT, ...)."""
        return f"{self.env_prefix}PORT"

    def build_args(self) -> dict[str, str]:
        """The recognizer Dockerfile's build arguments for this task (deploy/recognizer.Dockerfile)."""
        return {
            "SERVICE_DIR": self.folder,
            "PACKAGE": self.package,
            "ENV_PREFIX": self.env_prefix,
            "MODELS": self.models,
            "PORT": str(self.port),
        }


_OPTIONAL_SCALARS: dict[str, type] = {
    "env_prefix": str,
    "models": str,
    "gpu": bool,
    "replicas": int,
    "max_replicas": int,
    "gpu_min_replicas": int,
    "gpu_max_replicas": int,
}
_RESOURCE_KEYS = ("cpu_request", "cpu_limit", "memory_request", "memory_limit")
_KNOWN = {"folder", "package", "port", "resources", "gpu_resources", "k8s_settings", *_OPTIONAL_SCALARS}


def table_path(path: Path | str | None = None) -> Path:
    """`path`, else $RECOGNITION_TASKS_FILE, else the repository's tasks.toml."""
    if path is not None:
        return Path(path)
    return Path(os.environ.get(TABLE_ENV) or DEFAULT_TABLE)


def load_tasks(path: Path | str | None = None, *, check_folders: bool = True) -> list[Task]:
    """Every task of the table, in table order (the order compose, Kubernetes and `make run` use).

    `check_folders`: each task's package and models folder must exist beside the table (for
    tasks.toml: in the repository, where images are built and `make run` starts them); a test that
    renders a table with an imaginary task turns it off.
    """
    source = table_path(path)
    try:
        data = tomllib.loads(source.read_text())
    except FileNotFoundError:
        raise TaskTableError(f"{source}: no such task table") from None
    except tomllib.TOMLDecodeError as exc:
        raise TaskTableError(f"{source}: not valid TOML: {exc}") from None
    unknown_top = set(data) - {"tasks"}
    if unknown_top:
        raise TaskTableError(f"{source}: unknown top-level keys {sorted(unknown_top)}; only [tasks.<name>]")
    entries = data.get("tasks")
    if not isinstance(entries, dict) or not entries:
        raise TaskTableError(f"{source}: no [tasks.<name>] entries")
    root = source.resolve().parent
    tasks = [replace(_task(source, name, entry), root=root) for name, entry in entries.items()]
    _check_unique(source, tasks)
    if check_folders:
        for task in tasks:
            package_dir = task.directory / task.package
            if not (package_dir / "main.py").is_file():
                raise TaskTableError(
                    f"{source}: [tasks.{task.name}]: no {task.folder}/{task.package}/main.py"
                )
            if not (task.directory / task.models).is_dir():
                raise TaskTableError(
                    f"{source}: [tasks.{task.name}]: no models folder {task.folder}/{task.models}"
                )
    return tasks


def _task(source: Path, name: str, entry: Any) -> Task:
    where = f"{source}: [tasks.{name}]"
    if not _TASK_NAME.fullmatch(name):
        raise TaskTableError(f"{where}: a task name is lower-case letters and digits, starting with a letter")
    if not isinstance(entry, dict):
        raise TaskTableError(f"{where}: expected a table of fields")
    unknown = set(entry) - _KNOWN
    if unknown:
        raise TaskTableError(f"{where}: unknown fields {sorted(unknown)}; known: {sorted(_KNOWN)}")
    for required in ("folder", "package", "port"):
        if required not in entry:
            raise TaskTableError(f"{where}: `{required}` is required")
    folder, package, port = entry["folder"], entry["package"], entry["port"]
    if not isinstance(folder, str) or not _FOLDER.fullmatch(folder):
        raise TaskTableError(
            f"{where}: folder must be a directory name like `{name}-service`, got {folder!r}"
        )
    if not isinstance(package, str) or not _PACKAGE.fullmatch(package):
        raise TaskTableError(f"{where}: package must be a Python package name, got {package!r}")
    if not isinstance(port, int) or isinstance(port, bool) or not 1024 <= port <= 65535:
        raise TaskTableError(f"{where}: port must be an integer in 1024..65535, got {port!r}")
    if port in RESERVED_PORTS:
        raise TaskTableError(f"{where}: port {port} belongs to {RESERVED_PORTS[port]}")
    options: dict[str, Any] = {}
    for key, kind in _OPTIONAL_SCALARS.items():
        if key in entry:
            value = entry[key]
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise TaskTableError(f"{where}: {key} must be {kind.__name__}, got {value!r}")
            options[key] = value
    prefix = options.setdefault("env_prefix", f"{name.upper()}_")
    if not _ENV_PREFIX.fullmatch(prefix):
        raise TaskTableError(f"{where}: env_prefix must be upper case and end with `_`, got {prefix!r}")
    for key in ("replicas", "max_replicas", "gpu_min_replicas", "gpu_max_replicas"):
        if key in options and options[key] < 1:
            raise TaskTableError(f"{where}: {key} must be at least 1")
    task = Task(name=name, folder=folder, package=package, port=port, **options)
    if task.replicas > task.max_replicas or task.gpu_min_replicas > task.gpu_max_replicas:
        raise TaskTableError(f"{where}: the minimum replica count is above the maximum")
    if "resources" in entry:
        task = replace(task, resources=_resources(where, "resources", entry["resources"], task.resources))
    if "gpu_resources" in entry:
        resources = _resources(where, "gpu_resources", entry["gpu_resources"], task.gpu_resources)
        task = replace(task, gpu_resources=resources)
    if "k8s_settings" in entry:
        settings = entry["k8s_settings"]
        if not isinstance(settings, dict) or not all(
            isinstance(k, str) and _SETTING.fullmatch(k) and isinstance(v, str | int | float)
            and not isinstance(v, bool)
            for k, v in settings.items()
        ):  # fmt: skip
            raise TaskTableError(f"{where}: k8s_settings maps NAME (no prefix) to a string or number")
        task = replace(task, k8s_settings={k: str(v) for k, v in settings.items()})
    return task


def _resources(where: str, key: str, value: Any, default: Resources) -> Resources:
    if not isinstance(value, dict) or set(value) - set(_RESOURCE_KEYS):
        raise TaskTableError(f"{where}: {key} takes {', '.join(_RESOURCE_KEYS)}")
    merged = {name: str(value.get(name, getattr(default, name))) for name in _RESOURCE_KEYS}
    for name, quantity in merged.items():
        if not _QUANTITY.fullmatch(quantity):
            raise TaskTableError(f"{where}: {key}.{name} is not a Kubernetes quantity: {quantity!r}")
    return Resources(**merged)


def _check_unique(source: Path, tasks: list[Task]) -> None:
    for attribute in ("port", "folder", "package", "env_prefix"):
        seen: dict[object, str] = {}
        for task in tasks:
            value = getattr(task, attribute)
            if value in seen:
                raise TaskTableError(
                    f"{source}: tasks {seen[value]} and {task.name} share the {attribute} {value!r}"
                )
            seen[value] = task.name


def backends(
    tasks: list[Task], host: str | None = None, ports: Mapping[str, int] | None = None
) -> dict[str, str]:
    """GATEWAY_BACKENDS for these tasks: task -> base URL. `host` None: each task's own service
    name (compose and Kubernetes DNS); `ports` overrides the table's ports (`make run`)."""
    ports = ports or {}
    return {task.name: f"http://{host or task.name}:{ports.get(task.name, task.port)}" for task in tasks}
