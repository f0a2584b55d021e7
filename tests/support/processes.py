"""Real processes for integration tests: redis-server and uvicorn apps on free ports."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]
LOG_DIR = REPO_ROOT / ".run" / "test-logs"


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
            self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT
        )
        log.close()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: a crash, not a shutdown."""
        if self.running:
            assert self.process is not None
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.running:
            assert self.process is not None
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

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
    settings = {
        "GATEWAY_DIGIT_URL": digit_url,
        "GATEWAY_CAPTCHA_URL": captcha_url or "",
        "GATEWAY_METER_URL": meter_url or "",
        **(env or {}),
    }
    if redis_url:
        settings["REDIS_URL"] = redis_url
    # /healthz: the gateway is up even when a test has deliberately broken its backends.
    return UvicornApp("gateway", "gateway.main:app", env=settings, ready_path="/healthz")
