"""`make bench`: start the stack, load it, print req/s and p50/p99 latency.

Scenarios, all in one run on the same machine:

* reference   the seed projects' Flask + `model.predict` server, same model and pre-processing
* miss@16/64  distinct images through the gateway (cache misses), 16 and 64 clients
* direct@16   distinct images straight to the digit service (no gateway)
* hit@16      repeated images through the gateway (Redis cache hits)
* bare@16     a FastAPI endpoint that only reads the upload: the ceiling for cache hits

Results are printed as a table with the three target ratios and written to bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
from datetime import UTC, datetime
from typing import TypeVar

import redis

from bench.loadgen import LoadResult, build_multipart, run_load
from digit_service.config import DigitSettings
from digit_service.synth import draw_number
from tests.support import processes
from tests.support.images import encode
from tests.support.processes import REPO_ROOT, ManagedProcess, RedisServer, UvicornApp, free_port

ProcessT = TypeVar("ProcessT", bound=ManagedProcess)

HOST = "127.0.0.1"
RESULTS_DIR = REPO_ROOT / "bench" / "results"


def distinct_images(count: int, seed: int) -> list[bytes]:
    """What the digit page sends: a 280x280 canvas PNG with one hand-drawn digit, all different."""
    images = []
    for index in range(count):
        image = draw_number(
            str(index % 10), width=12 + index % 10, jitter=0.04, seed=seed * 1_000_000 + index, mode="L"
        )
        images.append(encode(image))
    return images


def report(results: list[LoadResult]) -> str:
    header = ("scenario", "clients", "requests", "req/s", "p50 ms", "p99 ms", "errors", "hits")
    lines = [f"{header[0]:<26}" + "".join(f"{title:>9}" for title in header[1:])]
    for r in results:
        lines.append(
            f"{r.name:<26}{r.concurrency:>9}{r.requests:>9}{r.rps:>9.1f}{r.percentile(50):>9.2f}"
            f"{r.percentile(99):>9.2f}{r.errors:>9}{r.cache_hits:>9}"
        )
    return "\n".join(lines)


async def measure(args: argparse.Namespace) -> dict:
    model_path = DigitSettings().model_dir / args.model / "model.keras"  # honours DIGIT_MODEL_DIR
    started: list[ManagedProcess] = []

    def start(process: ProcessT) -> ProcessT:
        started.append(process)
        process.start()
        return process

    try:
        redis_server = start(RedisServer())
        digit_env = {"DIGIT_DEFAULT_MODEL": args.model}
        if args.inference_threads:
            digit_env["DIGIT_INFERENCE_THREADS"] = str(args.inference_threads)
        digit = start(processes.digit_service(env=digit_env))
        gateway = start(processes.gateway(digit.url, redis_server.url))
        bare = start(UvicornApp("bare-upload", "bench.bare_upload:app", ready_path="/healthz"))
        flask_port = free_port()
        flask = start(
            ManagedProcess(
                "reference-flask",
                [
                    sys.executable,
                    "-m",
                    "bench.reference_flask",
                    "--port",
                    str(flask_port),
                    "--model",
                    str(model_path),
                ],
                env={"TF_CPP_MIN_LOG_LEVEL": "2"},
            )
        )
        flask.wait_http(f"http://{HOST}:{flask_port}/health")
        print("stack up; generating distinct images...", flush=True)

        pool = args.duration * 900  # more distinct images than any scenario can send
        miss16 = distinct_images(pool, seed=1)
        miss64 = distinct_images(pool, seed=2)
        direct = distinct_images(pool, seed=3)
        hits = distinct_images(64, seed=4)
        ref = distinct_images(args.duration * 60, seed=5)
        gw_path = "/api/v1/digit/recognize"
        host_of = {gateway.port: f"{HOST}:{gateway.port}"}

        def requests_for(port: int, path: str, images: list[bytes]) -> list[bytes]:
            return [build_multipart(path, host_of.get(port, f"{HOST}:{port}"), image) for image in images]

        flush = redis.Redis.from_url(redis_server.url).flushall
        results: list[LoadResult] = []

        async def scenario(name: str, port: int, reqs: list[bytes], clients: int, once: bool = True) -> None:
            print(f"  {name} ...", flush=True)
            result = await run_load(
                name,
                HOST,
                port,
                reqs,
                concurrency=clients,
                duration_s=args.duration,
                max_requests=len(reqs) if once else None,
            )
            results.append(result)

        await scenario("reference flask+predict", flask_port, requests_for(flask_port, "/predict", ref), 16)
        flush()
        await scenario("gateway miss", gateway.port, requests_for(gateway.port, gw_path, miss16), 16)
        flush()
        await scenario("gateway miss", gateway.port, requests_for(gateway.port, gw_path, miss64), 64)
        await scenario(
            "service direct miss", digit.port, requests_for(digit.port, "/v1/recognize", direct), 16
        )
        hit_requests = requests_for(gateway.port, gw_path, hits)
        await run_load("prime", HOST, gateway.port, hit_requests, concurrency=1, duration_s=30, warmup_s=0)
        await scenario("gateway hit", gateway.port, hit_requests, 16, once=False)
        await scenario(
            "bare fastapi upload", bare.port, requests_for(bare.port, "/upload", hits), 16, once=False
        )
    finally:
        for process in reversed(started):
            process.stop()

    by_key = {(r.name, r.concurrency): r for r in results}
    reference = by_key[("reference flask+predict", 16)]
    miss16r = by_key[("gateway miss", 16)]
    miss64r = by_key[("gateway miss", 64)]
    hit = by_key[("gateway hit", 16)]
    bare_r = by_key[("bare fastapi upload", 16)]
    targets = {
        "miss_vs_reference": {"value": round(miss16r.rps / reference.rps, 1), "target": ">= 15"},
        "p99_over_p50_at_64": {
            "value": round(miss64r.percentile(99) / miss64r.percentile(50), 2),
            "target": "<= 4",
        },
        "hit_vs_bare_upload": {"value": round(hit.rps / bare_r.rps, 2), "target": ">= 0.6"},
    }
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, {_cpu_count()} cores",
        "model": args.model,
        "duration_s": args.duration,
        "results": [r.as_dict() for r in results],
        "targets": targets,
        "table": report(results),
    }


def _cpu_count() -> int:
    import os

    return os.cpu_count() or 0


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark the stack; prints req/s and p50/p99.")
    parser.add_argument("--duration", type=int, default=10, help="measured seconds per scenario")
    parser.add_argument("--model", default="cnn", help="digit model to serve (both servers)")
    parser.add_argument("--inference-threads", type=int, default=0, help="TensorFlow threads (0: auto)")
    args = parser.parse_args()
    summary = asyncio.run(measure(args))
    print()
    print(summary["table"])
    print()
    for name, figure in summary["targets"].items():
        print(f"{name:<22} {figure['value']:>8}   target {figure['target']}")
    write_results(summary, "bench")


def write_results(summary: dict, prefix: str) -> None:
    """`summary` as bench/results/<prefix>-<UTC time>.json, and say where."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"{prefix}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\nwritten to {out.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
