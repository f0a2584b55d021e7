"""verify-split: bad files are moved to rejected/ with a reason, nothing is ever lost."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

from captcha_service.cli import main as cli
from captcha_service.commands.verify_split import Rules, split_of, verify_split
from captcha_service.synth import render


def all_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name != "report.csv")


def write_dataset(folder: Path, count: int, seed: int) -> None:
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        text = "".join(rng.choice("0123456789abc") for _ in range(4))
        render(text, 100, 60, rng).save(folder / f"{text}_{seed}_{index}.png")


def test_bad_files_are_moved_with_reasons_and_none_lost(tmp_path: Path) -> None:
    incoming = tmp_path / "incoming"
    write_dataset(incoming, 40, seed=1)
    good = sorted(incoming.iterdir())
    (incoming / "trnc_1.png").write_bytes(good[0].read_bytes()[:200])  # truncated image
    (incoming / "copy_1.png").write_bytes(good[1].read_bytes())  # duplicate content
    (incoming / "ab!d_1.png").write_bytes(good[2].read_bytes()[:-1] + b"\x00")  # bad label char
    (incoming / "_1.png").write_bytes(good[3].read_bytes())  # empty label
    render("abcd", 120, 60, random.Random(5)).save(incoming / "abcd_big.png")  # wrong size
    before = len(all_files(tmp_path))

    rules = Rules(
        charset="0123456789abcdefghijklmnopqrstuvwxyz", min_length=4, max_length=4, width=100, height=60
    )
    outcome = verify_split(tmp_path, None, rules, (19, 1), progress=False)

    assert len(all_files(tmp_path)) == before  # moved, never deleted
    assert outcome.rejected == 5 and outcome.train + outcome.test == 40
    rejected = {p.name for p in (tmp_path / "rejected").iterdir()}
    assert {"trnc_1.png", "ab!d_1.png", "_1.png", "abcd_big.png"} <= rejected
    report = (tmp_path / "rejected" / "report.csv").read_text()
    for reason in ("unreadable image", "duplicate of", "not in charset", "empty label", "size 120x60"):
        assert reason in report
    assert not any(incoming.iterdir())


def test_rerun_adds_new_images_without_reshuffling(tmp_path: Path) -> None:
    write_dataset(tmp_path / "incoming", 30, seed=2)
    cli(["verify-split", str(tmp_path), "--quiet"])
    first = {split: {p.name for p in (tmp_path / split).iterdir()} for split in ("train", "test")}
    write_dataset(tmp_path / "incoming", 20, seed=3)
    before = len(all_files(tmp_path))
    cli(["verify-split", str(tmp_path), "--quiet", "--ratio", "19:1"])
    after = {split: {p.name for p in (tmp_path / split).iterdir()} for split in ("train", "test")}
    assert len(all_files(tmp_path)) == before
    assert first["train"] <= after["train"] and first["test"] <= after["test"]
    assert len(after["train"]) + len(after["test"]) == 50


def test_split_follows_the_content_hash() -> None:
    digests = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(2000)]
    tests = sum(split_of(d, (19, 1)) == "test" for d in digests)
    assert 50 <= tests <= 150  # about 1 in 20
    assert split_of(digests[7], (19, 1)) == split_of(digests[7], (19, 1))
