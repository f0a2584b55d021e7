"""A user's mistake on the captcha command line: one line saying what is wrong, exit code 2.

Run through `recognition_common.cli.run_main` as `python -m captcha_service.cli` runs them, in
this process (each would cost a TensorFlow start-up as a subprocess); one goes through a real
process to hold the whole path to account.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from captcha_service.cli import main
from captcha_service.labels import resolve_charset
from captcha_service.training.styles import write_style
from recognition_common.cli import run_main

PROG = "python -m captcha_service.cli"
REPO_ROOT = Path(__file__).resolve().parents[2]


def error_of(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        run_main(main, PROG, argv)
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{PROG}: error: "), lines
    return lines[0]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("labelled") / "digits"
    write_style("stamp", 30, root, seed=5)
    return root


def train(folder: Path, tmp_path: Path, *extra: str) -> list[str]:
    return [
        "train",
        "--data",
        str(folder),
        "--out",
        str(tmp_path / "m"),
        "--checkpoints",
        str(tmp_path / "c"),
        "--quiet",
        *extra,
    ]


def test_training_on_a_missing_or_empty_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "no such folder" in error_of(train(tmp_path / "nope", tmp_path), capsys)
    (tmp_path / "empty").mkdir()
    assert "no images" in error_of(train(tmp_path / "empty", tmp_path), capsys)
    assert not (tmp_path / "m").exists()


def test_labels_outside_the_charset(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = error_of(train(folder, tmp_path, "--charset", "0123"), capsys)
    assert "labels use characters outside --charset '0123'" in line


def test_unknown_charset_names(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = error_of(train(folder, tmp_path, "--charset", "klingon"), capsys)
    assert "--charset 'klingon' is not a charset name" in line
    line = error_of(["verify-split", str(folder), "--charset", "digits+klingon"], capsys)
    assert "--charset 'digits+klingon' is not a charset name" in line
    line = error_of(["generate", "-n", "1", "--out", str(tmp_path / "g"), "--charset", "lowercase"], capsys)
    assert "is not a charset name" in line


def test_names_and_literal_charsets_still_work() -> None:
    assert resolve_charset("digits+upper") == "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    assert resolve_charset("digits+lower") == resolve_charset("digits") + resolve_charset("lower")
    assert resolve_charset("23456789ABCDEFGHJKMNPQRSTVWXYZ") == "23456789ABCDEFGHJKMNPQRSTVWXYZ"
    assert resolve_charset("abc") == "abc"


def test_an_unknown_model_to_start_from(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "--from nope: no model folder" in error_of(train(folder, tmp_path, "--from", "nope"), capsys)


def test_min_length_above_max_length(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    says = "--min-length 6 is above --max-length 4"
    assert says in error_of(train(folder, tmp_path, "--min-length", "6", "--max-length", "4"), capsys)
    assert says in error_of(["verify-split", str(folder), "--min-length", "6", "--max-length", "4"], capsys)


def test_verify_split_on_a_missing_folder_makes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "no such folder" in error_of(["verify-split", str(tmp_path / "nope")], capsys)
    assert not (tmp_path / "nope").exists()


def test_verify_split_with_incoming_equal_to_the_folder(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = sorted(p.name for p in folder.iterdir())
    line = error_of(["verify-split", str(folder), "--incoming", str(folder)], capsys)
    assert "is the dataset folder itself" in line
    assert sorted(p.name for p in folder.iterdir()) == before  # nothing moved


@pytest.mark.slow
def test_a_real_process_says_it_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("RECOGNITION_DEBUG", None)
    result = subprocess.run(
        [sys.executable, "-m", "captcha_service.cli", *train(tmp_path / "nope", tmp_path)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{PROG}: error: --data {tmp_path / 'nope'}: no such folder" in result.stderr
