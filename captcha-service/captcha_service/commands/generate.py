"""`generate`: write N labelled captcha images as `<label>_<id>.png`, reproducibly.

The same seed, spec and count give byte-identical files, whatever the number of workers.
"""

from __future__ import annotations

import argparse
import sys
from multiprocessing import get_context
from pathlib import Path

from captcha_service.labels import resolve_charset
from captcha_service.synth import CaptchaSpec, chunk_tasks, render_chunk

# The drawn styles of training/styles.py, named here so `--help` need not import PIL's fonts.
STYLE_NAMES = ("blue-heights", "outline", "ruled", "stamp")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="folder to write into (created)")
    parser.add_argument("-n", "--count", type=int, default=1000)
    parser.add_argument(
        "--charset",
        default="digits+lower",
        help="characters or a name: digits, "
        "lower, upper, digits+lower, digits+upper, digits+letters (default: %(default)s)",
    )
    parser.add_argument("--min-length", type=int, default=4)
    parser.add_argument("--max-length", type=int, help="default: --min-length")
    parser.add_argument("--width", type=int, default=100)
    parser.add_argument("--height", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--style",
        choices=STYLE_NAMES,
        help="draw captchas in a style the shipped models never saw (training/styles.py: its own "
        "size, charset and lengths; --charset, the lengths, the size and --workers do not apply)",
    )


def _write_chunk(args: tuple[CaptchaSpec, int, int, int, str, int]) -> int:
    spec, seed, chunk, count, out, first_id = args
    for offset, (text, image) in enumerate(render_chunk(spec, seed, chunk, count)):
        image.save(Path(out) / f"{text}_{first_id + offset:06d}.png")
    return count


def generate(
    spec: CaptchaSpec, count: int, out: Path, seed: int, workers: int = 2, progress: bool = True
) -> int:
    """Write `count` images into `out`; return how many were written."""
    from tqdm import tqdm

    out.mkdir(parents=True, exist_ok=True)
    numbered = []
    first_id = 0  # ids run on across chunks, so every file name is unique
    for spec_, seed_, chunk, size in chunk_tasks(spec, count, seed):
        numbered.append((spec_, seed_, chunk, size, str(out), first_id))
        first_id += size
    written = 0
    with tqdm(total=count, desc="generate", unit="img", disable=not progress) as bar:
        if workers <= 1 or len(numbered) == 1:
            for task in numbered:
                written += _write_chunk(task)
                bar.update(task[3])
        else:
            with get_context("spawn").Pool(workers) as pool:
                for size in pool.imap(_write_chunk, numbered):
                    written += size
                    bar.update(size)
    return written


def run(args: argparse.Namespace, argv: list[str] | None = None) -> None:
    if args.style:  # one command writes every kind of labelled folder, generated or drawn
        from captcha_service.training.styles import write_style

        write_style(args.style, args.count, args.out, args.seed)
        print(f"wrote {args.count} {args.style} captchas to {args.out}")
        return
    spec = CaptchaSpec(
        resolve_charset(args.charset),
        args.min_length,
        args.max_length or args.min_length,
        args.width,
        args.height,
    )
    written = generate(spec, args.count, args.out, args.seed, args.workers, not args.quiet)
    print(
        f"wrote {written} captchas ({spec.min_length}-{spec.max_length} of {spec.charset!r}, "
        f"{spec.width}x{spec.height}, seed {args.seed}) to {args.out}"
    )


def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    """The command line: its options (`add_arguments`), then `run` with the words it was given."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    run(parser.parse_args(argv), argv)
