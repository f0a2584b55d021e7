"""`stress`: concurrent clients against the running captcha API, directly or through the gateway.

Every request sends a different image (fresh captchas, one pixel salted per request), so the
gateway's cache never answers and each figure is a real recognition. Three times per request:

* total        what the client waited, send to last byte
* recognition  what the server says it spent: `speed_time(ms)` of the service's `/b`, or the
               gateway's `elapsed_ms` (which includes its call to the service)
* request      total - recognition: HTTP, queueing in the client and the network

Writes one CSV row per request and a box plot of the three, and prints mean/p50/p99.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import random
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from captcha_service.labels import DIGITS_LOWER
from captcha_service.synth import render

DEFAULT_OUT = Path(__file__).resolve().parents[3] / "bench" / "results" / "captcha-stress"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url", default="http://127.0.0.1:8000", help="gateway or service (default: %(default)s)"
    )
    parser.add_argument(
        "--via",
        choices=("gateway", "service"),
        default="gateway",
        help="gateway: POST /api/v1/captcha/recognize; service: POST /b (default: %(default)s)",
    )
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--requests", type=int, default=400, help="requests in all")
    parser.add_argument("--model", help="model name (default: the service's default)")
    parser.add_argument("--width", type=int, default=100)
    parser.add_argument("--height", type=int, default=60)
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="CSV + PNG prefix (default: %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


@dataclass(frozen=True)
class Sample:
    total_ms: float
    recognition_ms: float
    status: int
    text: str
    truth: str

    @property
    def request_ms(self) -> float:
        return self.total_ms - self.recognition_ms


def make_payloads(count: int, width: int, height: int, seed: int) -> list[tuple[str, bytes]]:
    """`count` distinct PNGs: a few hundred captchas, each reused with different salted pixels.

    The captchas follow `seed`; the salt is fresh per run (48 random bits), so a second run
    with the same seed sends images the gateway's cache has never seen either.
    """
    salt = secrets.token_bytes(6)
    rng = random.Random(seed)
    bases = []
    for _ in range(min(count, 200)):
        text = "".join(rng.choice(DIGITS_LOWER) for _ in range(4))
        bases.append((text, render(text, width, height, rng).convert("RGB")))
    payloads = []
    for index in range(count):
        text, image = bases[index % len(bases)]
        salted = image.copy()
        salted.putpixel(
            (index % width, (index // width) % height), (index % 256, index // 256 % 256, salt[0])
        )
        salted.putpixel((width - 1, height - 1), (salt[1], salt[2], salt[3]))
        salted.putpixel((width - 2, height - 1), (salt[4], salt[5], 0))
        buffer = io.BytesIO()
        salted.save(buffer, "PNG")
        payloads.append((text, buffer.getvalue()))
    return payloads


async def _drive(args: argparse.Namespace, payloads: list[tuple[str, bytes]]) -> tuple[list[Sample], float]:
    import httpx
    from tqdm import tqdm

    queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
    for payload in payloads:
        queue.put_nowait(payload)
    samples: list[Sample] = []
    bar = tqdm(total=len(payloads), desc="stress", unit="req", disable=args.quiet)
    params = {"model": args.model} if args.model else {}
    if args.via == "gateway":
        path, field = "/api/v1/captcha/recognize", "file"
    else:
        path, field = "/b", "image_file"

    async def client(session: httpx.AsyncClient) -> None:
        while not queue.empty():
            truth, data = queue.get_nowait()
            started = time.perf_counter()
            reply = await session.post(path, files={field: ("c.png", data, "image/png")}, params=params)
            total = (time.perf_counter() - started) * 1000
            body = reply.json() if reply.status_code == 200 else {}
            if args.via == "gateway":
                recognition, text = body.get("elapsed_ms", 0.0), body.get("result", {}).get("text", "")
            else:
                recognition, text = body.get("speed_time(ms)", 0.0), body.get("value", "")
            samples.append(Sample(total, float(recognition), reply.status_code, text, truth))
            bar.update()

    limits = httpx.Limits(max_connections=args.clients)
    async with httpx.AsyncClient(base_url=args.url, timeout=30, limits=limits) as session:
        started = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(args.clients)))
        wall = time.perf_counter() - started
    bar.close()
    return samples, wall


def summarise(samples: list[Sample]) -> dict[str, dict[str, float]]:
    """mean, p50 and p99 in milliseconds of the three times, over the successful requests."""
    ok = [s for s in samples if s.status == 200]
    series = {
        "total": [s.total_ms for s in ok],
        "recognition": [s.recognition_ms for s in ok],
        "request": [s.request_ms for s in ok],
    }
    return {
        name: {
            "mean": float(np.mean(values)) if values else float("nan"),
            "p50": float(np.percentile(values, 50)) if values else float("nan"),
            "p99": float(np.percentile(values, 99)) if values else float("nan"),
        }
        for name, values in series.items()
    }


def write_outputs(samples: list[Sample], out: Path, title: str) -> tuple[Path, Path]:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    out.parent.mkdir(parents=True, exist_ok=True)
    csv_path, png_path = out.with_suffix(".csv"), out.with_suffix(".png")
    with csv_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["status", "total_ms", "recognition_ms", "request_ms", "truth", "read"])
        for s in samples:
            writer.writerow(
                [
                    s.status,
                    f"{s.total_ms:.3f}",
                    f"{s.recognition_ms:.3f}",
                    f"{s.request_ms:.3f}",
                    s.truth,
                    s.text,
                ]
            )
    ok = [s for s in samples if s.status == 200]
    figure, axis = plt.subplots(figsize=(7, 4))
    axis.boxplot(
        [[s.total_ms for s in ok], [s.recognition_ms for s in ok], [s.request_ms for s in ok]],
        tick_labels=["total", "recognition", "request"],
        showfliers=True,
    )
    axis.set_ylabel("milliseconds")
    axis.set_title(title)
    axis.grid(alpha=0.3, axis="y")
    figure.tight_layout()
    figure.savefig(png_path, dpi=100)
    plt.close(figure)
    return csv_path, png_path


def run(args: argparse.Namespace, argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    payloads = make_payloads(args.requests, args.width, args.height, args.seed)
    samples, wall = asyncio.run(_drive(args, payloads))
    figures = summarise(samples)
    ok = [s for s in samples if s.status == 200]
    title = f"{args.via} {args.url}: {args.clients} clients, {len(samples)} requests"
    print(title)
    print(
        f"  {len(ok)} ok, {len(samples) - len(ok)} failed; {len(samples) / wall:.1f} requests/s; "
        f"read right: {sum(s.text == s.truth for s in ok)}/{len(ok)}"
    )
    for name, values in figures.items():
        mean, p50, p99 = values["mean"], values["p50"], values["p99"]
        print(f"  {name:12s} mean {mean:7.2f} ms  p50 {p50:7.2f} ms  p99 {p99:7.2f} ms")
    csv_path, png_path = write_outputs(samples, args.out, title)
    print(f"  wrote {csv_path} and {png_path}")
    return figures


def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    """The command line: its options (`add_arguments`), then `run` with the words it was given."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    run(parser.parse_args(argv), argv)
