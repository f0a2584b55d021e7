"""Real processes for integration tests: redis-server and uvicorn apps on free ports.

Each process runs in a process group of its own, and stopping or killing it stops the whole group:
whatever it forked (`uvicorn --workers N` children) goes with it, and nothing is left behind
even when a test fails half-way or the test run itself is interrupted (an atexit hook).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]
LOG_DIR = REPO_ROOT / ".run" / "test-logs"


_STARTED: list[ManagedProcess] = []


@atexit.register
def _kill_leftovers() -> None:
    for process in list(_STARTED):
        process.kill()


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes in process group `pgid`."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def wait_until(
    predicate: Callable[[], object],
    timeout_s: float,
    message: str | Callable[[], str] | None = None,
    interval_s: float = 0.1,
) -> None:
    """Poll `predicate` every `interval_s` until it is true; an AssertionError with `message` (a
    callable: called then, for the state at the time) once `timeout_s` have passed without."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if message is None:
            assert time.monotonic() < deadline
        else:
            assert time.monotonic() < deadline, message() if callable(message) else message
        time.sleep(interval_s)


def rss_mb(pids: Iterable[int]) -> float:
    """Resident memory (VmRSS) of the processes `pids`, summed, in MB; a process gone is skipped."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_server_binary() -> str:
    found = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if not found:
        raise RuntimeError("redis-server not found; `make test` installs it (scripts/bootstrap.sh)")
    return found


class ManagedProcess:
    """A child process with a log file, stopped for sure at the end."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.name = name
        self.argv = argv
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.log_path = LOG_DIR / f"{name}.log"

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.argv,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
            process_group=0,  # its own group, led by it: see group_pids()
        )
        log.close()
        _STARTED.append(self)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def group_pids(self) -> list[int]:
        """The process and everything it forked that is still alive (its process group)."""
        return group_members(self.pid) if self.process is not None else []

    def kill(self) -> None:
        """SIGKILL to the whole process group: a crash, not a shutdown."""
        if self.process is None:
            return
        self._signal_group(signal.SIGKILL)
        if self.running:
            self.process.wait(10)
        self._wait_group_gone(5)

    def stop(self, timeout_s: float = 15) -> None:
        """SIGTERM, as an orchestrator stops a service; SIGKILL to the whole group after `timeout_s`,
        and to any process of the group still alive once the process itself has exited."""
        if self.process is None:
            return
        if self.running:
            self.process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout_s)
        if not self._wait_group_gone(2):
            self._signal_group(signal.SIGKILL)
            self._wait_group_gone(5)
        if self.running:
            self.process.wait(10)

    def _signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signum)

    def _wait_group_gone(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while self.group_pids():
            if self.running:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(0.05)  # type: ignore[union-attr]
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        if not self.running and self in _STARTED:
            _STARTED.remove(self)  # all gone: its group id may now be reused by someone else
        return True

    def wait_http(self, url: str, timeout_s: float = 180) -> None:
        """Poll `url` until it answers 200; fail early with the log if the process dies."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"{self.name} exited:\n{self.log_tail()}")
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout_s}s:\n{self.log_tail()}")

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


class RedisServer(ManagedProcess):
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        super().__init__(
            f"redis-{self.port}",
            [
                redis_server_binary(),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ],
        )

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        super().start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start:\n{self.log_tail()}")


class UvicornApp(ManagedProcess):
    """`python -m uvicorn <app>` on a free port, started and waited for until ready."""

    def __init__(
        self,
        name: str,
        app: str,
        env: dict[str, str] | None = None,
        port: int | None = None,
        ready_path: str = "/readyz",
        args: list[str] | None = None,
    ) -> None:
        self.port = port or free_port()
        self.ready_path = ready_path
        super().__init__(
            f"{name}-{self.port}",
            [
                sys.executable,
                "-m",
                "uvicorn",
                app,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                "--no-access-log",
                *(args or []),
            ],
            env={"TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})},
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 180) -> None:
        super().start()
        self.wait_ready(timeout_s)

    def wait_ready(self, timeout_s: float = 180) -> None:
        self.wait_http(self.url + self.ready_path, timeout_s)


def digit_service(env: dict[str, str] | None = None) -> UvicornApp:
    return UvicornApp("digit-service", "digit_service.main:app", env=env)


def captcha_service(env: dict[str, str] | None = None) -> UvicornApp:
    return UvicornApp("captcha-service", "captcha_service.main:app", env=env)


def meter_service(env: dict[str, str] | None = None) -> UvicornApp:
    return UvicornApp("meter-service", "meter_service.main:app", env=env)


# The recognizer services (tasks), each run behind the gateway and directly by the test fixtures
# (`<task>_backend`). A new recognizer is one more name here (and, for the hostile-input tests, a
# `TaskSample` in tests/support/hostile.py for its images).
SERVICES = ["digit", "captcha", "meter"]


def gateway(
    digit_url: str,
    redis_url: str | None,
    env: dict[str, str] | None = None,
    captcha_url: str | None = None,
    meter_url: str | None = None,
) -> UvicornApp:
    """A gateway in front of `digit_url` and, when given, `captcha_url` and `meter_url`.

    A task without a URL is switched off (an empty URL), so a gateway started for a digit-only
    test never reaches for a captcha or meter service on the default port.
    """
    backends = {"digit": digit_url, "captcha": captcha_url or "", "meter": meter_url or ""}
    settings = {
        "GATEWAY_BACKENDS": json.dumps(backends),
        # Corrections sent by a test (or the fuzzer) go to a folder of the test's, never the
        # repository's .data/feedback.
        "GATEWAY_FEEDBACK_DIR": tempfile.mkdtemp(prefix="feedback-"),
        **(env or {}),
    }
    if redis_url:
        settings["REDIS_URL"] = redis_url
    # /healthz: the gateway is up even when a test has deliberately broken its backends.
    return UvicornApp("gateway", "gateway.main:app", env=settings, ready_path="/healthz")
