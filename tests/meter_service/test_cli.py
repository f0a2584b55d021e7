"""The meter command line: the listing, each command's help, and the demo images it writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from meter_service.cli import COMMANDS
from meter_service.cli import main as cli
from meter_service.config import MeterSettings


def test_listing_names_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert all(name in out for name in COMMANDS)
    with pytest.raises(SystemExit) as exit_info:
        cli(["nonsense"])
    assert exit_info.value.code == 2


# The others import TensorFlow.
@pytest.mark.parametrize("command", ["generate", "evaluate", "demo", "download"])
def test_command_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli([command, "--help"])
    assert exit_info.value.code == 0
    assert f"python -m meter_service.cli {command}" in capsys.readouterr().out


def test_demo_rewrites_the_shipped_demo_images(tmp_path: Path) -> None:
    cli(["demo", "--out", str(tmp_path)])
    shipped = MeterSettings().demo_dir
    written = sorted(path.name for path in tmp_path.iterdir())
    assert written == sorted(path.name for path in shipped.iterdir())
    assert "README.txt" in written and len(written) >= 7
    for name in written:
        assert (tmp_path / name).read_bytes() == (shipped / name).read_bytes(), name
        assert (tmp_path / name).stat().st_size < 60_000


def test_train_trains_the_locator_then_the_reader_with_the_shared_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from meter_service.training import locator, reader

    calls: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(locator, "main", lambda argv, prog=None: calls.append(("locator", argv)))
    monkeypatch.setattr(reader, "main", lambda argv, prog=None: calls.append(("reader", argv)))
    data = tmp_path / "meterdigits.tar.gz"
    data.write_bytes(b"")
    cli(["train", "--data", str(data), "--out", str(tmp_path), "--name", "mine", "--seed", "7"])
    shared = ["--out", str(tmp_path), "--name", "mine", "--seed", "7"]
    # The locator sees real wheel rows from the crops' train split; the reader shipped is trained
    # on the validation split too, once its recipe is chosen.
    assert calls == [
        ("locator", [*shared, "--data", str(data)]),
        ("reader", [*shared, "--data", str(data), "--fit-validation"]),
    ]


def test_train_names_missing_data_before_training_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from recognition_common.cli import run_main

    with pytest.raises(SystemExit) as exit_info:
        run_main(cli, "python -m meter_service.cli", ["train", "--data", str(tmp_path / "none.tar.gz")])
    assert exit_info.value.code == 2
    assert (
        capsys.readouterr().err.strip()
        == f"python -m meter_service.cli: error: {tmp_path}/none.tar.gz: not found"
    )


@pytest.mark.parametrize(
    ("options", "says"),
    [(["--real-share", "1.5"], "between 0 and 1"), (["--data", "no-such-crops.tar.gz"], "not found")],
)
def test_train_locator_names_a_bad_real_share_or_missing_crops(
    options: list[str], says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli(["train-locator", "--out", str(tmp_path), *options])
    assert exit_info.value.code == 2
    assert says in capsys.readouterr().err and not list(tmp_path.iterdir())  # nothing trained
