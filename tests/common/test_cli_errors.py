"""Command-line mistakes: one line on stderr naming what is wrong, exit code 2, no traceback
(`recognition_common.cli.run_main`), run as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from recognition_common.cli import describe

REPO_ROOT = Path(__file__).resolve().parents[2]


def command(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("RECOGNITION_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def one_error_line(result: subprocess.CompletedProcess[str], prog: str) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith(f"python -m {prog}: error: ")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def one_class_folder(root: Path) -> Path:
    (root / "3").mkdir(parents=True)
    for name in ("a.png", "b.png"):
        (root / "3" / name).write_bytes((REPO_ROOT / "docs/examples/digit.png").read_bytes())
    return root


DIGIT, CAPTCHA = "digit_service.cli", "captcha_service.cli"
MISTAKES = [
    (
        [DIGIT, "train", "--model", "lenet5", "--data", "/no/such/mnist.npz"],
        "/no/such/mnist.npz not found: the MNIST data set",
    ),
    (
        [CAPTCHA, "evaluate", "--model-dir", "/no/such/model", "--generate", "5"],
        "/no/such/model/card.json: not found",
    ),
    (
        [CAPTCHA, "generate", "--min-length", "6", "--max-length", "4", "--out", "{tmp}/g"],
        "bad length range 6-4",
    ),
    (
        ["meter_service.cli", "train-reader", "--data", "/no/such/crops.tar.gz", "--out", "{tmp}/r"],
        "/no/such/crops.tar.gz not found: the real meter-wheel crops",
    ),
    (
        ["meter_service.cli", "train-locator", "--name", "../elsewhere", "--out", "{tmp}/r"],
        "--name '../elsewhere': letters, digits",
    ),
    # The retrain commands: a saved export that is not there, a served model that is not there.
    (
        [DIGIT, "retrain", "--feedback", "/no/such/export.zip"],
        "/no/such/export.zip: not found",
    ),
    (
        ["meter_service.cli", "retrain", "--feedback", "x.zip", "--models-dir", "{tmp}", "--model", "gone"],
        "{tmp}/gone/card.json: not found",
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize(("args", "says"), MISTAKES)
def test_user_mistakes_are_one_line(args: list[str], says: str, tmp_path: Path) -> None:
    result = command(*(arg.replace("{tmp}", str(tmp_path)) for arg in args))
    assert says.replace("{tmp}", str(tmp_path)) in one_error_line(result, args[0])


@pytest.mark.slow
def test_training_on_an_empty_or_one_class_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    empty = command(
        DIGIT, "train", "--model", "lenet5", "--data", str(tmp_path / "empty"), "--out", str(tmp_path)
    )
    assert "no images found under" in one_error_line(empty, DIGIT)
    folder = one_class_folder(tmp_path / "threes")
    one = command(DIGIT, "train", "--model", "lenet5", "--data", str(folder), "--out", str(tmp_path / "m"))
    assert "images of one digit only (3)" in one_error_line(one, DIGIT)
    assert not (tmp_path / "m").exists()  # nothing written


def test_describe_names_a_missing_file_and_flattens_messages() -> None:
    assert (
        describe(FileNotFoundError(2, "No such file or directory", "/x/card.json"))
        == "/x/card.json: not found"
    )
    assert describe(ValueError("bad\n  range")) == "bad range"


def test_missing_training_data_says_where_it_comes_from_and_how_to_get_it() -> None:
    """Which file, its public source, how to name it (--data, make's variable) and the make
    target that downloads it: the one line a user sees without the data set."""
    from digit_service.training.data import load_dataset
    from meter_service.training.reader_data import load_real

    with pytest.raises(ValueError) as digits:
        load_dataset(Path("/no/such/mnist.npz"))
    with pytest.raises(ValueError) as meter:
        load_real(Path("/no/such/meterdigits.tar.gz"))
    for error, parts in (
        (digits, ("mnist.npz", "https://storage.googleapis.com/", "DATA=PATH", "`make download-mnist`")),
        (
            meter,
            (
                "meterdigits.tar.gz",
                "github.com/haverland/",
                "METER_DATA=PATH",
                "`make download-meter-digits`",
            ),
        ),
    ):
        message = describe(error.value)
        assert message == str(error.value)  # already one line
        assert all(part in message for part in parts), message


@pytest.mark.slow
def test_an_option_out_of_range_is_one_line_from_its_subcommand(tmp_path: Path) -> None:
    result = command("meter_service.cli", "train-reader", "--members", "0", "--out", str(tmp_path))
    line = one_error_line(result, "meter_service.cli train-reader")
    assert line.endswith("--members must be at least 1, got 0")
    assert not any(tmp_path.iterdir())  # refused before anything was loaded or written
