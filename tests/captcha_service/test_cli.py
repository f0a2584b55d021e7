"""The command line: every subcommand has --help, and generate is reproducible."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from captcha_service.cli import COMMANDS
from captcha_service.cli import main as cli
from captcha_service.labels import label_of


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: python -m captcha_service.cli " + command in capsys.readouterr().out


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def test_generate_is_seeded_and_labels_its_files(tmp_path: Path) -> None:
    args = ["generate", "-n", "12", "--charset", "digits+upper", "--min-length", "4", "--max-length", "6"]
    cli([*args, "--out", str(tmp_path / "a"), "--seed", "3", "--quiet", "--workers", "1"])
    cli([*args, "--out", str(tmp_path / "b"), "--seed", "3", "--quiet", "--workers", "1"])
    cli([*args, "--out", str(tmp_path / "c"), "--seed", "4", "--quiet", "--workers", "1"])
    first = digests(tmp_path / "a")
    assert len(first) == 12 and first == digests(tmp_path / "b")
    assert first != digests(tmp_path / "c")
    for name in first:
        label = label_of(name)
        assert 4 <= len(label) <= 6
        assert set(label) <= set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def test_generate_offers_every_drawn_style() -> None:
    from captcha_service.commands.generate import STYLE_NAMES
    from captcha_service.training.styles import STYLES

    assert tuple(sorted(STYLES)) == STYLE_NAMES


def test_generate_draws_a_style(tmp_path: Path) -> None:
    cli(["generate", "--style", "stamp", "-n", "3", "--out", str(tmp_path), "--seed", "1"])
    assert len(list(tmp_path.glob("*.png"))) == 3
