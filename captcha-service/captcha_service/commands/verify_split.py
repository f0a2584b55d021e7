"""`verify-split`: check a folder of labelled captcha images and split the good ones train/test.

    <folder>/incoming/   new images (and any images lying loose in <folder>) are checked
    <folder>/train/      good images, about ratio[0] parts
    <folder>/test/       good images, about ratio[1] parts
    <folder>/rejected/   bad images, with rejected/report.csv saying why

Files are only ever moved, never deleted or rewritten, so every image is accounted for. Whether
a good image goes to train or test follows from its content hash, so re-running with new images
in incoming/ adds them without reshuffling the ones already split (a test image never leaks into
train). Checks: the file opens and decodes fully, its size (when --width/--height are given), its
label (non-empty, characters in --charset, length within --min-length/--max-length), and that no
other image has the same content (SHA-256 of the bytes).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import shutil
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from captcha_service.labels import label_of, list_images, resolve_charset

SPLITS = ("train", "test")
REJECTED = "rejected"
REPORT = "report.csv"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", type=Path, help="dataset folder (train/, test/, rejected/ are made in it)")
    parser.add_argument("--incoming", type=Path, help="folder of new images (default: <folder>/incoming)")
    parser.add_argument("--charset", help="allowed label characters or a name (default: any)")
    parser.add_argument("--min-length", type=int, default=1)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--width", type=int, help="required image width (default: any)")
    parser.add_argument("--height", type=int, help="required image height (default: any)")
    parser.add_argument("--ratio", default="19:1", help="train:test parts (default: %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


@dataclass(frozen=True)
class Rules:
    charset: str | None
    min_length: int
    max_length: int
    width: int | None
    height: int | None


@dataclass
class Outcome:
    train: int = 0
    test: int = 0
    rejected: int = 0
    reasons: Counter[str] | None = None


def problem_with(path: Path, data: bytes, rules: Rules) -> str | None:
    """Why `path` is not a usable labelled image, or None when it is."""
    label = label_of(path)
    if not label:
        return "empty label"
    if not rules.min_length <= len(label) <= rules.max_length:
        return f"label length {len(label)} outside {rules.min_length}-{rules.max_length}"
    if rules.charset is not None:
        unknown = sorted(set(label) - set(rules.charset))
        if unknown:
            return f"label characters not in charset: {''.join(unknown)}"
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()  # decodes everything: truncated files fail here
            size = image.size
    except Exception as exc:  # PIL raises many types for bad files
        return f"unreadable image: {type(exc).__name__}"
    if (rules.width is not None and size[0] != rules.width) or (
        rules.height is not None and size[1] != rules.height
    ):
        return f"size {size[0]}x{size[1]}, expected {rules.width or '*'}x{rules.height or '*'}"
    return None


def split_of(digest: str, ratio: tuple[int, int]) -> str:
    """train or test, fixed by the content hash: stable across re-runs."""
    return "test" if int(digest[:12], 16) % sum(ratio) < ratio[1] else "train"


def _move(path: Path, folder: Path) -> Path:
    """Move without overwriting: a clashing name gets a numeric suffix."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    counter = 1
    while target.exists():
        target = folder / f"{path.stem}.{counter}{path.suffix}"
        counter += 1
    shutil.move(str(path), target)
    return target


def verify_split(
    folder: Path, incoming: Path | None, rules: Rules, ratio: tuple[int, int], progress: bool = True
) -> Outcome:
    from tqdm import tqdm

    incoming = incoming or folder / "incoming"
    for split in SPLITS:
        (folder / split).mkdir(parents=True, exist_ok=True)
    candidates = list_images(folder) + (list_images(incoming) if incoming.is_dir() else [])
    known = {
        hashlib.sha256(path.read_bytes()).hexdigest(): path
        for split in SPLITS
        if (folder / split).is_dir()
        for path in list_images(folder / split)
    }
    outcome = Outcome(reasons=Counter())
    rejected_dir = folder / REJECTED
    rejections: list[tuple[str, str, str]] = []
    for path in tqdm(candidates, desc="verify", unit="img", disable=not progress):
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        reason = problem_with(path, data, rules)
        if reason is None and digest in known:
            reason = f"duplicate of {known[digest].relative_to(folder)}"
        if reason is not None:
            moved = _move(path, rejected_dir)
            rejections.append((moved.name, str(path), reason))
            outcome.rejected += 1
            assert outcome.reasons is not None
            outcome.reasons[reason.split(":")[0].split(" of ")[0]] += 1
            continue
        split = split_of(digest, ratio)
        known[digest] = _move(path, folder / split)
        setattr(outcome, split, getattr(outcome, split) + 1)
    if rejections:
        report = rejected_dir / REPORT
        new_report = not report.exists()
        with report.open("a", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            if new_report:
                writer.writerow(["file", "came_from", "reason"])
            writer.writerows(rejections)
    return outcome


def parse_ratio(text: str) -> tuple[int, int]:
    try:
        train, test = (int(part) for part in text.split(":"))
    except ValueError as exc:
        raise ValueError(f"--ratio must look like 19:1, not {text!r}") from exc
    if train < 0 or test < 0 or train + test == 0:
        raise ValueError(f"--ratio must have non-negative parts, not {text!r}")
    return train, test


def check_folders(folder: Path, incoming: Path | None) -> None:
    """A user's mistake in the folders is a one-line error before anything is made or moved."""
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{folder}: no such folder (verify-split checks a folder that exists; put new images "
            "in <folder>/incoming/ or give --incoming)"
        )
    if incoming is not None:
        if not incoming.is_dir():
            raise FileNotFoundError(f"--incoming {incoming}: no such folder")
        if incoming.resolve() == folder.resolve():
            raise ValueError(
                f"--incoming {incoming} is the dataset folder itself; images lying loose in it are "
                "checked anyway, so leave --incoming out (or name a folder of new images)"
            )
        inside = [split for split in (*SPLITS, REJECTED) if incoming.resolve() == (folder / split).resolve()]
        if inside:
            raise ValueError(f"--incoming {incoming} is the dataset's own {inside[0]}/ folder")


def run(args: argparse.Namespace, argv: list[str] | None = None) -> None:
    check_folders(args.folder, args.incoming)
    if args.min_length > args.max_length:
        raise ValueError(f"--min-length {args.min_length} is above --max-length {args.max_length}")
    rules = Rules(
        resolve_charset(args.charset) if args.charset else None,
        args.min_length,
        args.max_length,
        args.width,
        args.height,
    )
    outcome = verify_split(args.folder, args.incoming, rules, parse_ratio(args.ratio), not args.quiet)
    totals = {
        split: len(list_images(args.folder / split)) if (args.folder / split).is_dir() else 0
        for split in (*SPLITS, REJECTED)
    }
    print(f"this run: {outcome.train} to train/, {outcome.test} to test/, {outcome.rejected} to rejected/")
    assert outcome.reasons is not None
    for reason, count in outcome.reasons.most_common():
        print(f"  rejected {count:5d}  {reason}")
    if outcome.rejected:
        print(f"  reasons per file: {args.folder / REJECTED / REPORT}")
    print(f"folder now: train {totals['train']}, test {totals['test']}, rejected {totals['rejected']}")


def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    """The command line: its options (`add_arguments`), then `run` with the words it was given."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    run(parser.parse_args(argv), argv)
