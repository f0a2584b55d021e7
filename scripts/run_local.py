"""`make run`: the whole stack as native processes on 127.0.0.1, no Docker needed.

Starts redis-server when a binary is found (otherwise the gateway's in-process cache stands in),
one recognizer per entry of tasks.toml (RECOGNITION_TASKS_FILE names another table) on the table's
port, then the gateway on port 8000 with GATEWAY_BACKENDS built from the same table, and prints the
URL. Ctrl-C stops everything.
Ports and settings come from the environment with the documented defaults (see README): GATEWAY_PORT,
and <TASK>_PORT (DIGIT_PORT, ...) to move a recognizer off the table's port.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from task_table import Task, TaskTableError, backends, load_tasks

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
GATEWAY_APP = "gateway.main:app"
REDIS_PORT = int(os.environ.get("RUN_REDIS_PORT", "6390"))  # not 6379: leave a system Redis alone


@dataclass(frozen=True)
class Process:
    """One uvicorn `make run` starts: what it is called, its command line and when it is ready."""

    name: str
    argv: list[str]
    port: int
    ready_url: str


@dataclass(frozen=True)
class Plan:
    """Everything `make run` will start, worked out before anything starts (and what tests read):
    the recognizers in table order, then the gateway with `gateway_env` added to its environment."""

    recognizers: list[Process]
    gateway: Process
    gateway_env: dict[str, str]

    @property
    def processes(self) -> list[Process]:
        return [*self.recognizers, self.gateway]


def plan(tasks: list[Task], environ: Mapping[str, str]) -> Plan:
    """The processes for these tasks: each on its table port unless <TASK>_PORT says otherwise, the
    gateway on GATEWAY_PORT (8000) told where each one is through GATEWAY_BACKENDS."""
    ports = {task.name: int(environ.get(task.port_variable, task.port)) for task in tasks}
    recognizers = [_process(task.name, task.app, ports[task.name], task.directory) for task in tasks]
    gateway = _process("gateway", GATEWAY_APP, int(environ.get("GATEWAY_PORT", "8000")))
    return Plan(recognizers, gateway, {"GATEWAY_BACKENDS": json.dumps(backends(tasks, HOST, ports))})


def _process(name: str, app: str, port: int, app_dir: Path | None = None) -> Process:
    return Process(name, uvicorn(app, port, app_dir), port, f"http://{HOST}:{port}/readyz")


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((HOST, port)) != 0


def wait_http(url: str, process: subprocess.Popen[bytes], timeout_s: float = 180) -> None:
    """Until `url` answers 200; a service whose /readyz says its models failed to load ends the
    wait at once, naming what it could not load (a missing model, a wrong model folder)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"process for {url} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                if reply.status == 200:
                    return
        except urllib.error.HTTPError as exc:
            failure = _load_failure(exc)
            if failure:
                raise SystemExit(f"{url}: the models did not load: {failure}") from None
            time.sleep(0.3)
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"{url} not ready after {timeout_s:.0f}s")


def _load_failure(reply: urllib.error.HTTPError) -> str | None:
    """The error a /readyz answer reports when its models failed to load, else None."""
    try:
        body = json.loads(reply.read())
    except (OSError, ValueError):
        return None
    if isinstance(body, dict) and body.get("status") == "failed":
        return str(body.get("error") or "unknown error")
    return None


def descendants(pid: int) -> list[int]:
    """Every live process below `pid` (Linux; elsewhere none are found)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
    found, frontier = [], [pid]
    while frontier:
        above = frontier.pop()
        below = [child for child, parent in parents.items() if parent == above]
        found += below
        frontier += below
    return found


def uvicorn(app: str, port: int, app_dir: Path | None = None) -> list[str]:
    """The command line of one service: this interpreter's uvicorn, loopback only; a task's app
    is imported from its folder (`--app-dir`), so a new task runs before it is pip-installed."""
    argv = [sys.executable, "-m", "uvicorn", app, "--host", HOST, "--port", str(port), "--no-access-log"]
    return [*argv, "--app-dir", str(app_dir)] if app_dir is not None else argv


def main() -> None:
    try:
        tasks = load_tasks()
    except TaskTableError as exc:
        raise SystemExit(str(exc)) from None
    stack = plan(tasks, os.environ)
    for service in stack.processes:
        if not port_free(service.port):
            variables = "/".join(["GATEWAY_PORT", *(task.port_variable for task in tasks)])
            raise SystemExit(
                f"port {service.port} ({service.name}) is in use; stop what runs there or set {variables}"
            )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    children: list[subprocess.Popen[bytes]] = []

    def stop_all(*_: object) -> None:
        stop_children()
        print("stopped")
        raise SystemExit(0)

    def stop_children() -> None:
        # Whatever the children forked (uvicorn workers, e.g. with WEB_CONCURRENCY set) is noted
        # first and killed last, so that nothing outlives `make run`.
        below = [pid for child in children if child.poll() is None for pid in descendants(child.pid)]
        for child in reversed(children):
            if child.poll() is None:
                child.terminate()
        for child in reversed(children):
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                child.kill()
        for pid in below:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    signal.signal(signal.SIGINT, stop_all)
    signal.signal(signal.SIGTERM, stop_all)

    redis_binary = shutil.which("redis-server")
    if "REDIS_URL" in env:
        print(f"cache: Redis at {env['REDIS_URL']}")
    elif redis_binary and port_free(REDIS_PORT):
        redis_argv = [redis_binary, "--port", str(REDIS_PORT), "--bind", HOST, "--save", ""]
        redis_argv += ["--appendonly", "no", "--maxmemory", "256mb", "--maxmemory-policy", "allkeys-lru"]
        log_dir = REPO_ROOT / ".run"
        log_dir.mkdir(exist_ok=True)
        with (log_dir / "redis.log").open("ab") as log:
            children.append(subprocess.Popen(redis_argv, stdout=log, stderr=subprocess.STDOUT))
        env["REDIS_URL"] = f"redis://{HOST}:{REDIS_PORT}/0"
        print(f"cache: redis-server on port {REDIS_PORT} (log: .run/redis.log)")
    else:
        print("cache: in-process LRU (no redis-server found)")

    try:
        start_stack(stack, env, children)
    except SystemExit as failed:  # a service that cannot start: say why, leave nothing running
        stop_children()
        raise SystemExit(failed.code) from None
    print(f"\nRecognition Services is running: http://{HOST}:{stack.gateway.port}/  (API docs: /docs)")
    print("Press Ctrl-C to stop.\n")
    while all(child.poll() is None for child in children):
        time.sleep(0.5)
    print("a process exited; stopping the rest")
    stop_all()


def start_stack(stack: Plan, env: dict[str, str], children: list[subprocess.Popen[bytes]]) -> None:
    """The recognizers one after the other, then the gateway, each waited for."""
    for service in stack.recognizers:
        print(f"starting the {service.name} service (loading models)...")
        child = subprocess.Popen(service.argv, env=env, cwd=REPO_ROOT)
        children.append(child)
        wait_http(service.ready_url, child)
    env.update(stack.gateway_env)
    gateway = subprocess.Popen(stack.gateway.argv, env=env, cwd=REPO_ROOT)
    children.append(gateway)
    wait_http(stack.gateway.ready_url, gateway)


if __name__ == "__main__":
    main()
