"""The digit command line: the listing, each command's help, and the names the services share."""

from __future__ import annotations

from pathlib import Path

import pytest

from captcha_service.cli import COMMANDS as CAPTCHA_COMMANDS
from digit_service.cli import COMMANDS
from digit_service.cli import main as cli
from meter_service.cli import COMMANDS as METER_COMMANDS


def test_listing_names_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m digit_service.cli")
    assert all(name in out for name in COMMANDS)


@pytest.mark.parametrize("argv", [[], ["nonsense"], ["--nonsense"]])
def test_no_or_an_unknown_command_is_a_usage_error(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli(argv)
    assert exit_info.value.code == 2
    assert "usage: python -m digit_service.cli" in capsys.readouterr().err


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_command_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli([command, "--help"])
    assert exit_info.value.code == 0
    assert f"usage: python -m digit_service.cli {command}" in capsys.readouterr().out


def test_the_same_job_has_the_same_name_in_every_service() -> None:
    # Training, evaluating and retraining are every task's (the meter also trains its two models
    # one by one).
    for commands in (COMMANDS, CAPTCHA_COMMANDS, METER_COMMANDS):
        assert {"train", "evaluate", "retrain"} <= set(commands)
    assert "download" in COMMANDS and "download" in METER_COMMANDS
    assert "generate" in CAPTCHA_COMMANDS and "generate" in METER_COMMANDS


def test_train_pairs_needs_a_trained_model_and_mnist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli(["train-pairs", "--model-dir", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "no card.json there (train the digit model first)" in capsys.readouterr().err
    (tmp_path / "card.json").write_text("{}")
    with pytest.raises(SystemExit) as exit_info:
        cli(["train-pairs", "--model-dir", str(tmp_path), "--data", str(tmp_path / "missing.npz")])
    assert exit_info.value.code == 2
    assert "needs MNIST as an .npz file" in capsys.readouterr().err
