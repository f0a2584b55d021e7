"""The digit command line: the listing, each command's help, and the names the services share."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from captcha_service.cli import COMMANDS as CAPTCHA_COMMANDS
from digit_service.cli import COMMANDS
from digit_service.cli import main as cli
from digit_service.training import pipeline_eval
from digit_service.training.pairs import pick_offset
from meter_service.cli import COMMANDS as METER_COMMANDS
from tests.support.processes import REPO_ROOT


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


@pytest.mark.parametrize("option", ["--pair-share", "--handwriting-share"])
def test_a_share_outside_0_to_1_is_a_usage_error(option: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli(["train", "--model", "cnn", option, "1.5"])
    assert exit_info.value.code == 2
    assert f"{option} must be between 0 and 1, not 1.5" in capsys.readouterr().err


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


def test_train_pairs_checks_every_model_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trained, untrained = tmp_path / "cnn", tmp_path / "lenet5"
    trained.mkdir()
    (trained / "card.json").write_text("{}")
    with pytest.raises(SystemExit) as exit_info:
        cli(["train-pairs", "--model-dir", str(trained), str(untrained)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"--model-dir {untrained}: no card.json there" in err and "Traceback" not in err


def test_the_pair_offset_must_read_pairs_better_and_digits_no_worse() -> None:
    touching = pipeline_eval.TOUCHING
    alone = {"mnist": 0.990, touching: 0.25}

    def trial(offset: float, digits: float, pairs: float) -> dict[str, float]:
        return {"offset": offset, "mnist": digits, touching: pairs}

    # The best pairs among offsets that keep the digits: not offset 0, which loses digits.
    trials = [trial(0, 0.989, 0.70), trial(1, 0.990, 0.66), trial(2, 0.991, 0.60)]
    assert pick_offset(alone, trials) == 1.0
    assert pick_offset(alone, [trial(1, 0.99, 0.6), trial(3, 0.99, 0.6)]) == 3.0  # a tie: the larger
    # A detector that reads pairs no better than the model alone is not worth installing...
    assert pick_offset(alone, [trial(0, 0.995, 0.25), trial(1, 0.995, 0.10)]) is None
    # ...nor one that costs digits at every offset.
    assert pick_offset(alone, [trial(0, 0.985, 0.70), trial(1, 0.989, 0.60)]) is None


def test_uci_digits_become_two_folders_of_uploads(tmp_path: Path) -> None:
    """scripts/uci_digits_to_folder.py: optdigits' 8x8 rows (64 block counts 0-16, then the
    label) -> <out>/nearest|bilinear/<label>/<index>.png, dark on light, scaled up 4x."""
    import gzip
    import runpy

    from PIL import Image

    rows = np.zeros((2, 65), dtype=int)
    rows[0, 8 * 3 + 2 : 8 * 3 + 6], rows[0, 64] = 16, 7  # a bar on row 3, labelled 7
    rows[1, 64] = 0
    table = tmp_path / "digits.csv.gz"
    with gzip.open(table, "wt") as file:
        np.savetxt(file, rows, fmt="%d", delimiter=",")
    script = runpy.run_path(str(REPO_ROOT / "scripts" / "uci_digits_to_folder.py"))
    assert script["write_folders"](table, tmp_path / "out") == 2
    image = np.asarray(Image.open(tmp_path / "out" / "nearest" / "7" / "0000.png"))
    assert image.shape == (48, 48) and image[8 + 12 : 8 + 16, 8 + 8 : 8 + 24].max() == 0  # the bar, in ink
    assert image[:8].min() == 255  # the margin, paper
    assert sorted(p.name for p in (tmp_path / "out" / "bilinear").iterdir()) == ["0", "7"]
