"""The retrain commands' shared steps (`recognition_common.retraining`), on an export made by the
gateway's own code."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest

from gateway.feedback import DirectoryStore, write_export
from recognition_common.retraining import (
    HISTORY,
    Score,
    Verdict,
    add_retrain_arguments,
    fetch_corrections,
    install,
    next_version,
    retrain,
    split_corrections,
    standard_error,
)


def export_zip(tmp_path: Path) -> Path:
    store = DirectoryStore(tmp_path / "store")
    for i in range(40):
        store.add("captcha", f"image-{i}".encode(), "PNG", f"ab{i:02d}", model="default")
    store.add("captcha", b"image-0", "PNG", "zz00", model="default")  # a conflict with ab00
    buffer = io.BytesIO()
    write_export(store, store.corrections("captcha"), buffer)
    path = tmp_path / "captcha-feedback.zip"
    path.write_bytes(buffer.getvalue())
    return path


def test_an_export_unpacks_into_the_training_layout_and_splits_stably(tmp_path: Path) -> None:
    corrections = fetch_corrections(str(export_zip(tmp_path)), "captcha", tmp_path / "out")
    assert len(corrections) == 41
    assert all(c.path.is_file() and c.path.name.startswith(c.label + "_") for c in corrections)
    train, held = split_corrections(corrections, share=0.25)
    assert not {c.id for c in train} & {c.id for c in held}
    assert len(train) + len(held) == 39  # the two conflicting ones in neither
    assert 2 <= len(held) <= 20
    again, _ = split_corrections(corrections, share=0.25)
    assert [c.id for c in again] == [c.id for c in train]


def test_what_is_not_an_export_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.zip").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a corrections export"):
        fetch_corrections(str(tmp_path / "x.zip"), "captcha", tmp_path / "out")
    with pytest.raises(FileNotFoundError):
        fetch_corrections(str(tmp_path / "missing.zip"), "captcha", tmp_path / "out")


def test_only_a_model_no_worse_and_better_on_the_corrections_is_installed() -> None:
    assert Verdict(0.98, 0.98, 0.10, 0.60).install
    assert not Verdict(0.98, 0.90, 0.10, 0.90).install  # worse at its own task
    assert not Verdict(0.98, 0.99, 0.60, 0.60).install  # no better on the corrections
    assert Verdict(0.98, 0.975, 0.1, 0.5, tolerance=0.01).install
    assert "worse" in Verdict(0.98, 0.90, 0.10, 0.90).reason()


def test_install_keeps_the_replaced_model_and_deletes_nothing(tmp_path: Path) -> None:
    models = tmp_path / "models"
    for version, where in (("1.0.0", models / "default"), ("1.1.0", tmp_path / "new")):
        where.mkdir(parents=True)
        (where / "card.json").write_text(json.dumps({"name": "default", "version": version}))
        (where / "model.keras").write_text(version)
    target, kept = install(tmp_path / "new", models, "default")
    assert json.loads((target / "card.json").read_text())["version"] == "1.1.0"
    assert kept == models / HISTORY / "default-1.0.0"
    assert (kept / "model.keras").read_text() == "1.0.0"
    assert next_version("1.0.0") == "1.1.0" and next_version("2.3.4") == "2.4.0"


def test_the_tolerance_is_the_evaluations_noise() -> None:
    assert standard_error(0.986, 500) == pytest.approx(0.00525, abs=1e-4)
    assert standard_error(0.986, 300) > standard_error(0.986, 3000)
    assert standard_error(1.0, 100) == 0.0


class FakeRetrainer:
    """A task whose fine-tuning copies the served model with the next version and whose two
    measures are set by the test: what `retrain` decides from them is what is under test."""

    task = "captcha"

    def __init__(
        self, work_root: Path, old: tuple[dict[str, float], float], new: tuple[dict[str, float], float]
    ) -> None:
        self.work_root = work_root
        self.scores = {"1.0.0": old, "1.1.0": new}
        self.prepared: tuple[int, int] | None = None

    def prepare(self, train: list, held: list, work: Path) -> dict:
        self.prepared = (len(train), len(held))
        return {"corrections": len(train)}

    def fine_tune(self, model_dir: Path, work: Path) -> Path:
        out = work / "out" / model_dir.name
        out.mkdir(parents=True)
        card = json.loads((model_dir / "card.json").read_text())
        (out / "card.json").write_text(json.dumps({**card, "version": next_version(card["version"])}))
        return out

    def _version(self, model_dir: Path) -> str:
        return json.loads((model_dir / "card.json").read_text())["version"]

    def task_scores(self, model_dir: Path) -> dict[str, Score]:
        return {name: Score(value, 1000) for name, value in self.scores[self._version(model_dir)][0].items()}

    def corrections_accuracy(self, model_dir: Path, held: list) -> float:
        return self.scores[self._version(model_dir)][1]


def retrain_args(tmp_path: Path, feedback: Path, **overrides: object) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_retrain_arguments(parser, "captcha", tmp_path / "models", "NO_SUCH_TOKEN_VARIABLE")
    args = parser.parse_args(["--feedback", str(feedback), "--work", str(tmp_path / "work"), "--quiet"])
    for key, value in overrides.items():
        setattr(args, key, value)
    return args


def served_model(tmp_path: Path) -> Path:
    model = tmp_path / "models" / "default"
    model.mkdir(parents=True)
    (model / "card.json").write_text(
        json.dumps(
            {
                "name": "default",
                "version": "1.0.0",
                "task": "captcha",
                "classes": [],
                "input_shape": [1],
                "created": "2026-01-01",
            }
        )
    )
    return model


def test_retrain_installs_a_better_model_and_records_both_models_figures(tmp_path: Path) -> None:
    served_model(tmp_path)
    fake = FakeRetrainer(
        tmp_path, old=({"own": 0.95, "other": 0.80}, 0.10), new=({"own": 0.95, "other": 0.79}, 0.70)
    )
    figures = retrain(fake, retrain_args(tmp_path, export_zip(tmp_path)), ["retrain"])
    assert fake.prepared is not None and fake.prepared[0] + fake.prepared[1] == 39
    assert figures["installed"] is True  # 0.79: within the noise of 1,000 samples (0.0126)
    assert figures["before"] == {
        "task": {"own": 0.95, "other": 0.80},
        "corrections": 0.10,
        "version": "1.0.0",
    }
    assert figures["after"]["version"] == "1.1.0"
    assert figures["tolerance"]["own"] == pytest.approx(standard_error(0.95, 1000), abs=1e-4)
    assert figures["tolerance"]["other"] == pytest.approx(standard_error(0.80, 1000), abs=1e-4)
    card = json.loads((tmp_path / "models" / "default" / "card.json").read_text())
    assert card["version"] == "1.1.0" and card["metrics"]["retrained_from_corrections"]["installed"]
    assert (tmp_path / "models" / HISTORY / "default-1.0.0" / "card.json").is_file()


def test_retrain_refuses_a_model_worse_at_its_task_and_leaves_the_served_one(tmp_path: Path) -> None:
    served_model(tmp_path)
    fake = FakeRetrainer(tmp_path, old=({"own": 0.95}, 0.10), new=({"own": 0.90}, 0.90))
    with pytest.raises(SystemExit) as exit_info:
        retrain(fake, retrain_args(tmp_path, export_zip(tmp_path)), ["retrain"])
    assert exit_info.value.code == 1
    card = json.loads((tmp_path / "models" / "default" / "card.json").read_text())
    assert card["version"] == "1.0.0" and not (tmp_path / "models" / HISTORY).exists()
    (new_card,) = (tmp_path / "work").glob("out/default/card.json")
    assert json.loads(new_card.read_text())["metrics"]["retrained_from_corrections"]["installed"] is False


def test_retrain_refuses_a_model_worse_on_any_measure_of_the_task(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    served_model(tmp_path)
    old = ({"single wheels": 0.98, "whole strips": 0.85}, 0.50)
    fake = FakeRetrainer(tmp_path, old=old, new=({"single wheels": 0.99, "whole strips": 0.80}, 0.95))
    with pytest.raises(SystemExit):
        retrain(fake, retrain_args(tmp_path, export_zip(tmp_path)), ["retrain"])
    assert (
        "worse than the served model on the task's own evaluation (whole strips)" in capsys.readouterr().out
    )
    assert json.loads((tmp_path / "models" / "default" / "card.json").read_text())["version"] == "1.0.0"


def test_retrain_with_too_few_corrections_says_so_before_training(tmp_path: Path) -> None:
    served_model(tmp_path)
    store = DirectoryStore(tmp_path / "store")
    for i in range(5):
        store.add("captcha", f"image-{i}".encode(), "PNG", f"ab{i:02d}", model="default")
    buffer = io.BytesIO()
    write_export(store, store.corrections("captcha"), buffer)
    (tmp_path / "few.zip").write_bytes(buffer.getvalue())
    fake = FakeRetrainer(tmp_path, old=({"own": 0.95}, 0.1), new=({"own": 0.95}, 0.9))
    with pytest.raises(ValueError, match="too few corrections of default"):
        retrain(fake, retrain_args(tmp_path, tmp_path / "few.zip"), ["retrain"])
    assert fake.prepared is None
