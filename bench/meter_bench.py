"""`make bench-meter`: the meter reader's speed through the gateway, the way a utility calls it.

Starts Redis, the meter service and the gateway; sends distinct generated meter photos (JPEG,
320-720 px, 4 to 8 wheels, counted by the service: `wheels=auto`, the default), so every request
is a cache miss, from 1 client (the latency of one photo on an idle stack) and from 4 and 16
(throughput). Prints req/s and p50/p99 latency; written to bench/results/ like `make bench`.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime

from bench.loadgen import LoadResult, build_multipart, run_load
from bench.run_bench import HOST, report, write_results
from meter_service.synth import generate_meter, sample_rng
from tests.support import processes
from tests.support.images import encode
from tests.support.processes import ManagedProcess, RedisServer

SEED = 777_000  # not a training, validation or evaluation seed
PATH = "/api/v1/meter/recognize"


def meter_photos(count: int, seed: int) -> list[bytes]:
    """Distinct generated meter photos as JPEG, 4 to 8 wheels."""
    return [
        encode(generate_meter(sample_rng(seed, index), wheels=4 + index % 5).image, "JPEG", quality=90)
        for index in range(count)
    ]


async def measure(args: argparse.Namespace) -> dict:
    started: list[ManagedProcess] = []
    try:
        redis_server = RedisServer()
        started.append(redis_server)
        redis_server.start()
        meter = processes.meter_service()
        started.append(meter)
        meter.start()
        gateway = processes.gateway("", redis_server.url, meter_url=meter.url)
        started.append(gateway)
        gateway.start()
        print("stack up; generating distinct photos...", flush=True)
        host = f"{HOST}:{gateway.port}"
        results: list[LoadResult] = []
        for clients, seed in ((1, SEED), (4, SEED + 1), (16, SEED + 2)):
            photos = meter_photos(args.photos, seed)
            requests = [build_multipart(PATH, host, photo) for photo in photos]
            print(f"  gateway meter photo x{clients} ...", flush=True)
            results.append(
                await run_load(
                    "gateway meter photo",
                    HOST,
                    gateway.port,
                    requests,
                    concurrency=clients,
                    duration_s=args.duration,
                    max_requests=len(requests),
                )
            )
    finally:
        for process in reversed(started):
            process.stop()
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "scenario": "distinct generated meter photos (JPEG, 4-8 wheels, wheels=auto) through the gateway",
        "duration_s": args.duration,
        "results": [result.as_dict() for result in results],
        "table": report(results),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark the meter reader through the gateway.")
    parser.add_argument("--duration", type=int, default=20, help="most seconds per scenario")
    parser.add_argument("--photos", type=int, default=200, help="distinct photos per scenario")
    summary = asyncio.run(measure(parser.parse_args()))
    print()
    print(summary["table"])
    write_results(summary, "bench-meter")


if __name__ == "__main__":
    main()
