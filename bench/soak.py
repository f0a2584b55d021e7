"""`make soak`: the whole stack under steady, mixed traffic for a bounded time.

Starts Redis, every recognizer that has models, and the gateway (as `make bench` does), finds
the tasks in the gateway's `GET /api/v1/models`, then sends requests at a fixed rate, spread
evenly over the tasks, half of them repeats of a few images (cache hits), half new images (cache
misses: the same pictures with other bytes, so each one reaches its model). Open loop: requests
go out on schedule whether or not earlier ones were answered, and latency counts from the
scheduled moment, so a stall shows up as latency instead of as fewer requests.

Reports errors (any answer other than 200, or none), latency percentiles per time bucket
(a minute by default) and per task, and the resident memory (RSS) of every process at start-up,
after the warm-up and at the end. Fails (exit 1) on any error, or when a process grew by more than
`--max-growth-mb` between the warm-up and the end (for Redis: beyond the growth of the data it was
asked to keep, its `used_memory`). Every run is written to bench/results/soak-*.json.

    make soak                       # 10 minutes
    make soak SOAK_SECONDS=120      # or: .venv/bin/python -m bench.soak --seconds 120 --rate 40
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import redis

from bench.loadgen import _read_response, build_multipart
from bench.run_bench import distinct_images
from recognition_common.serving.models import find_model_dirs
from tests.support import processes
from tests.support.images import captcha_png
from tests.support.load import with_nonce
from tests.support.processes import REPO_ROOT, ManagedProcess, RedisServer, UvicornApp

HOST = "127.0.0.1"
RESULTS_DIR = REPO_ROOT / "bench" / "results"
HOT_IMAGES = 16  # per task: the repeated ones
CONNECTIONS = 32  # most requests in flight at once


def task_images(task: str, catalogue: dict) -> list[bytes] | None:
    """Pictures a task's default model can read; None for a task this script knows nothing of."""
    if task == "digit":
        return distinct_images(20, seed=7)
    if task == "captcha":
        card: dict[str, Any] = next(
            (c for c in catalogue["models"] if c["name"] == catalogue["default_model"]), {}
        )
        width, height = card.get("width", 100), card.get("height", 60)
        rng = random.Random(11)
        images = []
        for _ in range(20):
            text = "".join(rng.choice("0123456789abcdefghijklmnopqrstuvwxyz") for _ in range(4))
            images.append(captcha_png(text, rng.random(), width, height))
        return images
    if task == "meter":
        import meter_service

        demo = Path(meter_service.__file__).parent / "demo"
        return [path.read_bytes() for path in sorted(demo.glob("meter-*.jpg"))] or None
    return None


@dataclass
class TaskTraffic:
    task: str
    path: str
    images: list[bytes]
    hot: list[bytes] = field(default_factory=list)  # pre-built requests, repeated

    def request(self, index: int, hit: bool, host: str) -> bytes:
        if hit:
            return self.hot[index % len(self.hot)]
        image = with_nonce(self.images[index % len(self.images)], f"soak-{os.getpid()}-{index}")
        return build_multipart(self.path, host, image)


@dataclass
class Record:
    at: float  # seconds since the measured window began (negative: warm-up)
    task: str
    status: int  # 0: no answer (connection failed or 60 s passed)
    hit: bool
    ms: float


def rss_mb(process: ManagedProcess) -> float:
    """Resident memory of the process and everything it forked."""
    return processes.rss_mb(process.group_pids())


def start_stack(
    started: dict[str, ManagedProcess], skipped: dict[str, str]
) -> tuple[UvicornApp, RedisServer]:
    """Redis, every recognizer with models, the gateway; each noted in `started` before it starts.

    Digit and captcha must start; a recognizer still being built (meter) that does not become
    ready is left out and noted in `skipped`."""
    redis_server = RedisServer()
    redis_server.start()
    started["redis"] = redis_server
    urls: dict[str, str] = {}
    services = {"digit": processes.digit_service, "captcha": processes.captcha_service}
    if find_model_dirs(REPO_ROOT / "meter-service" / "models"):
        services["meter"] = processes.meter_service
    for task, factory in services.items():
        print(f"starting the {task} service...", flush=True)
        service = factory()
        started[task] = service  # stopped even if it fails to start
        try:
            service.start()
        except RuntimeError as exc:
            if task in ("digit", "captcha"):
                raise
            service.stop()
            del started[task]
            skipped[task] = f"did not start: {str(exc).splitlines()[-1][:200]}"
            continue
        urls[task] = service.url
    gateway = processes.gateway(
        urls["digit"], redis_server.url, captcha_url=urls.get("captcha"), meter_url=urls.get("meter")
    )
    started["gateway"] = gateway
    gateway.start()
    return gateway, redis_server


async def drive(
    args: argparse.Namespace,
    port: int,
    traffic: list[TaskTraffic],
    started: dict[str, ManagedProcess],
) -> tuple[list[Record], list[dict], int]:
    """Warm-up, then the measured window; RSS sampled at every bucket boundary."""
    loop = asyncio.get_running_loop()
    host = f"{HOST}:{port}"
    rng = random.Random(2026)
    queue: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()
    records: list[Record] = []
    samples: list[dict] = []
    begin = loop.time()
    measured_from = begin + args.warmup
    end = measured_from + args.seconds
    max_backlog = 0

    async def pacer() -> None:
        nonlocal max_backlog
        count = 0
        while (scheduled := begin + count / args.rate) < end:
            delay = scheduled - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            queue.put_nowait((count, scheduled))
            max_backlog = max(max_backlog, queue.qsize())
            count += 1
        for _ in range(CONNECTIONS):
            queue.put_nowait(None)

    async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(HOST, port)

    async def client() -> None:
        reader, writer = await connect()
        while (item := await queue.get()) is not None:
            count, scheduled = item
            chosen = traffic[count % len(traffic)]
            hit = rng.random() < args.hit_share
            try:
                writer.write(chosen.request(count // len(traffic), hit, host))
                status, was_hit, closes = await asyncio.wait_for(_read_response(reader), 60)
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError):
                status, was_hit, closes = 0, False, True
            records.append(
                Record(
                    scheduled - measured_from, chosen.task, status, was_hit, (loop.time() - scheduled) * 1000
                )
            )
            if closes:
                writer.close()
                reader, writer = await connect()
        writer.close()

    async def sampler() -> None:
        at = measured_from
        while at <= end + 0.5:
            await asyncio.sleep(max(0.0, at - loop.time()))
            samples.append({"at": round(at - measured_from), **{n: rss_mb(p) for n, p in started.items()}})
            at += args.bucket

    await asyncio.gather(pacer(), sampler(), *(client() for _ in range(CONNECTIONS)))
    return records, samples, max_backlog


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan"), "max": float("nan")}
    array = np.asarray(values)
    return {
        "p50": round(float(np.percentile(array, 50)), 1),
        "p95": round(float(np.percentile(array, 95)), 1),
        "p99": round(float(np.percentile(array, 99)), 1),
        "max": round(float(array.max()), 1),
    }


def summarise(records: list[Record], args: argparse.Namespace) -> tuple[list[dict], dict[str, dict]]:
    measured = [r for r in records if r.at >= 0]
    buckets = []
    for index in range(int(np.ceil(args.seconds / args.bucket))):
        inside = [r for r in measured if index * args.bucket <= r.at < (index + 1) * args.bucket]
        buckets.append(
            {
                "from_s": index * args.bucket,
                "requests": len(inside),
                "errors": sum(r.status != 200 for r in inside),
                "hit_share": round(sum(r.hit for r in inside) / len(inside), 2) if inside else 0,
                **percentiles([r.ms for r in inside]),
            }
        )
    tasks = {}
    for task in sorted({r.task for r in measured}):
        mine = [r for r in measured if r.task == task]
        statuses: dict[str, int] = {}
        for r in mine:
            statuses[str(r.status)] = statuses.get(str(r.status), 0) + 1
        tasks[task] = {
            "requests": len(mine),
            "errors": sum(r.status != 200 for r in mine),
            "statuses": statuses,
            "hits": sum(r.hit for r in mine),
            "miss": percentiles([r.ms for r in mine if not r.hit]),
            "hit": percentiles([r.ms for r in mine if r.hit]),
        }
    return buckets, tasks


def growth_per_minute(samples: list[dict], name: str) -> float:
    """Least-squares slope of a process's RSS over the measured window, MB a minute."""
    if len(samples) < 3:
        return float("nan")
    minutes = np.asarray([s["at"] / 60 for s in samples])
    values = np.asarray([s[name] for s in samples])
    return round(float(np.polyfit(minutes, values, 1)[0]), 2)


def report(result: dict) -> str:
    lines = [
        f"soak: {result['seconds']} s measured after {result['warmup_s']} s warm-up, "
        f"{result['rate']} req/s over {', '.join(result['tasks'])}, {result['hit_share']:.0%} repeats",
        "",
        f"{'from':>6} {'requests':>9} {'errors':>7} {'hits':>6}"
        + "".join(f"{title:>8}" for title in ("p50 ms", "p95 ms", "p99 ms", "max ms")),
    ]
    for b in result["buckets"]:
        lines.append(
            f"{b['from_s']:>5}s {b['requests']:>9} {b['errors']:>7} {b['hit_share']:>6.0%} "
            f"{b['p50']:>8} {b['p95']:>8} {b['p99']:>8} {b['max']:>8}"
        )
    lines += ["", f"{'task':<8} {'requests':>9} {'errors':>7} {'miss p50/p99 ms':>17} {'hit p50/p99 ms':>16}"]
    for task, t in result["per_task"].items():
        miss = f"{t['miss']['p50']}/{t['miss']['p99']}"
        hit = f"{t['hit']['p50']}/{t['hit']['p99']}"
        lines.append(f"{task:<8} {t['requests']:>9} {t['errors']:>7} {miss:>17} {hit:>16}")
    lines += [
        "",
        f"{'process':<9} {'idle MB':>8} {'warm MB':>8} {'end MB':>8}"
        + f" {'growth':>7} {'MB/min':>7} {'bound':>6}",
    ]
    for name, m in result["memory"].items():
        lines.append(
            f"{name:<9} {m['idle']:>8.0f} {m['start']:>8.0f} {m['end']:>8.0f} {m['growth']:>+7.1f} "
            f"{m['per_minute']:>+7.2f} {m['bound']:>6.0f}{'  EXCEEDED' if m['exceeded'] else ''}"
        )
    lines.append("")
    lines.append(
        f"errors: {result['errors']}   memory bounds exceeded: {result['exceeded']}   -> {result['verdict']}"
    )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> dict:
    started: dict[str, ManagedProcess] = {}
    try:
        skipped: dict[str, str] = {}
        gateway, redis_server = start_stack(started, skipped)
        catalogue = httpx.get(gateway.url + "/api/v1/models", timeout=30).json()["tasks"]
        traffic = []
        for task, listing in sorted(catalogue.items()):
            images = task_images(task, listing) if listing["status"] == "ok" else None
            if images is None:
                skipped[task] = listing["status"] if listing["status"] != "ok" else "no images for it"
                continue
            path = f"/api/v1/{task}/recognize"
            hot = [build_multipart(path, f"{HOST}:{gateway.port}", image) for image in images[:HOT_IMAGES]]
            traffic.append(TaskTraffic(task, path, images, hot))
        if "meter" not in catalogue and "meter" not in skipped and (REPO_ROOT / "meter-service").is_dir():
            skipped["meter"] = "not started: no models in meter-service/models"
        if not traffic:
            raise SystemExit(f"no task to send traffic to: {skipped}")
        print(
            f"tasks: {[t.task for t in traffic]}" + (f", skipped: {skipped}" if skipped else ""), flush=True
        )
        idle = {name: rss_mb(process) for name, process in started.items()}
        shared = redis.Redis.from_url(redis_server.url)
        used_before: list[int] = []

        async def measure() -> tuple[list[Record], list[dict], int]:
            async def note_redis_at_start() -> None:
                await asyncio.sleep(args.warmup)
                used_before.append(int(shared.info("memory")["used_memory"]))

            drive_task = asyncio.create_task(drive(args, gateway.port, traffic, started))
            await note_redis_at_start()
            return await drive_task

        print(f"warm-up {args.warmup} s, then {args.seconds} s at {args.rate} req/s...", flush=True)
        wall = time.monotonic()
        records, samples, backlog = asyncio.run(measure())
        wall = time.monotonic() - wall
        used_growth_mb = (int(shared.info("memory")["used_memory"]) - used_before[0]) / 2**20
        keys = shared.dbsize()
        alive = {name: process.running for name, process in started.items()}
    finally:
        for process in reversed(list(started.values())):
            process.stop()

    buckets, per_task = summarise(records, args)
    start, end = samples[0], samples[-1]
    memory = {}
    for name in started:
        growth = end[name] - start[name]
        bound = args.max_growth_mb + (max(0.0, used_growth_mb) if name == "redis" else 0.0)
        memory[name] = {
            "idle": round(idle[name], 1),
            "start": round(start[name], 1),
            "end": round(end[name], 1),
            "growth": round(growth, 1),
            "per_minute": growth_per_minute(samples, name),
            "bound": round(bound, 1),
            "exceeded": growth > bound,
        }
    errors = sum(t["errors"] for t in per_task.values())
    exceeded = [name for name, m in memory.items() if m["exceeded"]]
    died = [name for name, up in alive.items() if not up]
    verdict = "PASS" if not errors and not exceeded and not died else "FAIL"
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load average at the end "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}",
        "seconds": args.seconds,
        "warmup_s": args.warmup,
        "wall_s": round(wall, 1),
        "rate": args.rate,
        "hit_share": args.hit_share,
        "tasks": [t.task for t in traffic],
        "skipped": skipped,
        "requests": sum(t["requests"] for t in per_task.values()),
        "errors": errors,
        "max_backlog": backlog,
        "buckets": buckets,
        "per_task": per_task,
        "memory": memory,
        "memory_samples": samples,
        "redis": {"keys": keys, "used_memory_growth_mb": round(used_growth_mb, 1)},
        "exceeded": exceeded,
        "died": died,
        "verdict": verdict,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Steady mixed traffic on every task; errors, latency, memory."
    )
    parser.add_argument(
        "--seconds", type=int, default=int(os.environ.get("SOAK_SECONDS", 600)), help="measured time (600)"
    )
    parser.add_argument("--warmup", type=int, default=30, help="seconds of traffic before measuring (30)")
    parser.add_argument(
        "--rate", type=float, default=float(os.environ.get("SOAK_RATE", 40)), help="req/s (40)"
    )
    parser.add_argument("--hit-share", type=float, default=0.5, help="share of repeated images (0.5)")
    parser.add_argument("--bucket", type=int, default=60, help="seconds per latency row (60)")
    parser.add_argument(
        "--max-growth-mb",
        type=float,
        default=float(os.environ.get("SOAK_MAX_GROWTH_MB", 64)),
        help="most RSS a process may gain from the end of the warm-up to the end (64)",
    )
    args = parser.parse_args()
    result = run(args)
    text = report(result)
    result["table"] = text
    print()
    print(text)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"soak-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten to {out.relative_to(REPO_ROOT)}")
    sys.exit(0 if result["verdict"] == "PASS" else 1)


if __name__ == "__main__":
    main()
