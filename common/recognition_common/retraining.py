"""What every task's `retrain` command shares: users' corrections in, a better model out, or none.

1. `fetch_corrections`: the gateway's export (`GET /api/v1/{task}/feedback/export`, or a zip
   saved from it) unpacked into a folder, with its `manifest.csv` read.
2. `split_corrections`: a stable part held out to judge the new model on (by the id's hash, so
   a correction stays on its side however many arrive later); images stored with two labels
   (conflicts) are left out of both.
3. `Verdict`: install only when the new model is no worse on the task's own evaluation and better
   on the held-out corrections.
4. `install`: the new model directory takes the served one's place under the same name with the
   next version; the one it replaces is kept in `<models>/.history/<name>-<version>/` (a folder
   the services do not load from), and nothing is deleted.
5. `request_reload`: `POST /v1/admin/reload` on the recognizer, which swaps models without
   dropping a request (`recognition_common.serving.reloading`).

`retrain` runs them in that order for any task: the task supplies a `Retrainer` (its training
data, its fine-tuning, its two measures), and every task's command reports, judges and installs
the same way. `add_retrain_arguments` gives every task's command the same options.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import math
import os
import shlex
import shutil
import sys
import time
import zipfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from recognition_common.serving.model_card import CARD_FILE, read_card, update_card_metrics

HISTORY = ".history"
MANIFEST = "manifest.csv"
MIN_CORRECTIONS = 10  # fewer to train on than this teaches nothing and proves nothing


@dataclass(frozen=True)
class CorrectionFile:
    """One exported correction: its image in the unpacked folder and its manifest row."""

    id: str
    label: str
    path: Path
    model: str
    conflict: bool


def fetch_corrections(
    source: str, task: str, folder: Path, api_key: str | None = None
) -> list[CorrectionFile]:
    """Unpack the corrections of `source` (a gateway's base URL, or an export zip) into `folder`."""
    if source.startswith(("http://", "https://")):
        headers = {"X-API-Key": api_key} if api_key else {}
        url = f"{source.rstrip('/')}/api/v1/{task}/feedback/export"
        data = _http("GET", url, headers, timeout=120, doing="fetch the corrections from").content
    else:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(2, "No such file or directory", str(path))
        data = path.read_bytes()
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise ValueError(f"{source}: not a corrections export (a zip with {MANIFEST})") from None
    with archive:
        if MANIFEST not in archive.namelist():
            raise ValueError(f"{source}: not a corrections export (no {MANIFEST})")
        rows = list(csv.DictReader(io.StringIO(archive.read(MANIFEST).decode("utf-8"))))
        folder.mkdir(parents=True, exist_ok=True)
        corrections = []
        for row in rows:
            name = row["file"]
            if name.startswith("/") or ".." in Path(name).parts:
                raise ValueError(f"{source}: unsafe file name {name!r} in {MANIFEST}")
            target = folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(name))
            corrections.append(
                CorrectionFile(
                    row["id"], row["label"], target, row.get("model", ""), row.get("conflict") == "yes"
                )
            )
    return corrections


def held_out(correction_id: str, share: float) -> bool:
    """Whether a correction is held out: the same answer for the same id, every time."""
    bucket = int(hashlib.sha256(correction_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return bucket < share


def split_corrections(
    corrections: list[CorrectionFile], share: float = 0.2
) -> tuple[list[CorrectionFile], list[CorrectionFile]]:
    """(to train on, held out); conflicting corrections in neither."""
    usable = [c for c in corrections if not c.conflict]
    return [c for c in usable if not held_out(c.id, share)], [c for c in usable if held_out(c.id, share)]


@dataclass(frozen=True)
class Verdict:
    """Old and new model on the task's own evaluation and on the held-out corrections."""

    old_task: float
    new_task: float
    old_corrections: float
    new_corrections: float
    tolerance: float = 0.0  # how much worse on the task's evaluation still counts as no worse

    @property
    def install(self) -> bool:
        return self.new_task >= self.old_task - self.tolerance and self.new_corrections > self.old_corrections

    def reason(self) -> str:
        if self.install:
            return "installed: no worse on the task's evaluation and better on the held-out corrections"
        if self.new_task < self.old_task - self.tolerance:
            return "not installed: worse than the served model on the task's own evaluation"
        return "not installed: no better than the served model on the held-out corrections"


def standard_error(accuracy: float, samples: int) -> float:
    """The standard error of an accuracy measured on `samples` items: how far a model no better
    and no worse can land from it by the luck of the draw."""
    return math.sqrt(max(accuracy * (1 - accuracy), 0.0) / max(samples, 1))


def next_version(version: str) -> str:
    """1.0.0 -> 1.1.0: a retrained model is a minor version of the one it came from."""
    parts = [*version.split("."), "0", "0"][:3]
    try:
        major, minor = int(parts[0]), int(parts[1])
    except ValueError:
        return f"{version}.1"
    return f"{major}.{minor + 1}.0"


def install(new_dir: Path, models_dir: Path, name: str) -> tuple[Path, Path | None]:
    """`new_dir` becomes `<models_dir>/<name>` (its card already names it and its version); the
    directory it replaces moves to `<models_dir>/.history/<name>-<version>`. Returns both paths."""
    target = models_dir / name
    kept: Path | None = None
    if target.exists():
        old_version = json.loads((target / CARD_FILE).read_text(encoding="utf-8")).get("version", "unknown")
        kept = models_dir / HISTORY / f"{name}-{old_version}"
        suffix = 1
        while kept.exists():
            suffix += 1
            kept = models_dir / HISTORY / f"{name}-{old_version}-{suffix}"
        kept.parent.mkdir(parents=True, exist_ok=True)
        target.rename(kept)
    shutil.move(str(new_dir), str(target))
    return target, kept


def request_reload(service_url: str, token: str | None = None) -> dict:
    """Ask the recognizer at `service_url` to load the changed models (its `POST /v1/admin/reload`)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = f"{service_url.rstrip('/')}/v1/admin/reload"
    return _http("POST", url, headers, timeout=300, doing="ask for a reload at").json()


def _http(method: str, url: str, headers: dict[str, str], timeout: float, doing: str) -> Any:
    """One request that must answer 200; anything else is a ValueError naming the URL (a user's
    mistake on the command line: a wrong address, key or token)."""
    import httpx

    try:
        reply = httpx.request(method, url, headers=headers, timeout=timeout)
    except httpx.HTTPError as error:
        raise ValueError(f"cannot {doing} {url}: {error}") from None
    if reply.status_code != 200:
        raise ValueError(f"{url} answered {reply.status_code}: {reply.text[:200]}")
    return reply


# --- The command every task runs -----------------------------------------------------------------


@dataclass(frozen=True)
class Score:
    """One measure of the task's own evaluation: the share right, and of how many (its noise)."""

    value: float
    samples: int


class Retrainer(Protocol):
    """What one task supplies to `retrain`; the order of the steps and the verdict are shared."""

    task: str  # the gateway's task name (the table's and the spec's)
    work_root: Path  # where work folders go by default (the task's training-runs/<task>/)

    def prepare(self, train: list[CorrectionFile], held: list[CorrectionFile], work: Path) -> dict[str, Any]:
        """Write the training data (corrections mixed with the original data) under `work`;
        returns what went into it, for the report."""
        ...

    def fine_tune(self, model_dir: Path, work: Path) -> Path:
        """The served model fine-tuned on `prepare`'s data: a new model directory under `work`,
        its card naming it and the next version."""
        ...

    def task_scores(self, model_dir: Path) -> dict[str, Score]:
        """The model on the task's own evaluation: each measure, named in words (the new model
        must be no worse on every one)."""
        ...

    def corrections_accuracy(self, model_dir: Path, held: list[CorrectionFile]) -> float:
        """The share of the held-out corrections the model reads exactly as corrected."""
        ...


def add_retrain_arguments(
    parser: argparse.ArgumentParser, task: str, models_dir: Path, admin_env: str, model: str = "default"
) -> None:
    """The options every task's `retrain` takes (each adds its own after them)."""
    parser.add_argument(
        "--feedback",
        required=True,
        help="the gateway's base URL, or a corrections export (.zip) saved from it",
    )
    parser.add_argument(
        "--api-key", default=os.environ.get("RECOGNITION_API_KEY"), help="X-API-Key for the gateway"
    )
    parser.add_argument("--model", default=model, help="the served model to improve (default: %(default)s)")
    parser.add_argument("--models-dir", type=Path, default=models_dir, help="default: %(default)s")
    parser.add_argument(
        "--work", type=Path, help=f"work folder (default: training-runs/{task}/retrain-<model>)"
    )
    parser.add_argument(
        "--held-out", type=float, default=0.2, help="share of corrections held out (default 0.2)"
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        help="how much worse on the task's evaluation still counts as no worse (default: one "
        "standard error of the served model's score there, the evaluation's own noise)",
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--service", help=f"the {task} service's URL, asked to reload once installed")
    parser.add_argument(
        "--admin-token", default=os.environ.get(admin_env), help=f"its admin token ({admin_env})"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def retrain(retrainer: Retrainer, args: argparse.Namespace, command: list[str]) -> dict[str, Any]:
    """Corrections in, the served model fine-tuned, judged, and installed and reloaded when
    better (see the module docstring). Exits with status 1 when the new model is not installed.
    `command`: the command line, recorded in the new model's card."""
    task = retrainer.task
    model_dir = args.models_dir / args.model
    if not (model_dir / CARD_FILE).is_file():
        raise FileNotFoundError(2, "No such file or directory", str(model_dir / CARD_FILE))
    card = read_card(model_dir)
    work = args.work or retrainer.work_root / f"retrain-{args.model}"
    if work.exists():
        work = work.with_name(f"{work.name}-{time.strftime('%Y%m%d-%H%M%S')}")
    started = time.perf_counter()

    everything = fetch_corrections(args.feedback, task, work / "export", args.api_key)
    mine = [c for c in everything if c.model in ("", args.model)]
    train, held = split_corrections(mine, args.held_out)
    print(
        f"{len(mine)} corrections of {args.model} ({len(everything)} in the export): "
        f"{len(train)} to train on, {len(held)} held out, "
        f"{len(mine) - len(train) - len(held)} left out (one image, two labels)"
    )
    if len(train) < MIN_CORRECTIONS or not held:
        raise ValueError(
            f"too few corrections of {args.model} to retrain on: {len(train)} to train on and "
            f"{len(held)} held out (at least {MIN_CORRECTIONS} and 1); collect more with the pages' "
            f"'Wrong? Correct it' or POST /api/v1/{task}/feedback"
        )
    mixture = retrainer.prepare(train, held, work)
    new_dir = retrainer.fine_tune(model_dir, work)

    old_scores, new_scores = retrainer.task_scores(model_dir), retrainer.task_scores(new_dir)
    old_corrections = retrainer.corrections_accuracy(model_dir, held)
    new_corrections = retrainer.corrections_accuracy(new_dir, held)
    verdicts = {
        name: Verdict(
            old.value,
            new_scores[name].value,
            old_corrections,
            new_corrections,
            args.tolerance if args.tolerance is not None else standard_error(old.value, old.samples),
        )
        for name, old in old_scores.items()
    }
    installed = all(verdict.install for verdict in verdicts.values())
    new_card = read_card(new_dir)
    figures = {
        "task_evaluation": {name: score.samples for name, score in old_scores.items()},
        "tolerance": {name: round(verdict.tolerance, 4) for name, verdict in verdicts.items()},
        "held_out_corrections": len(held),
        "before": {
            "task": {name: verdict.old_task for name, verdict in verdicts.items()},
            "corrections": old_corrections,
            "version": card.version,
        },
        "after": {
            "task": {name: verdict.new_task for name, verdict in verdicts.items()},
            "corrections": new_corrections,
            "version": new_card.version,
        },
        "training": mixture,
        "installed": installed,
        "retrained_with": shlex.join(command),
        "retrained_at": date.today().isoformat(),
    }
    update_card_metrics(new_dir, {"retrained_from_corrections": figures})
    print(f"\n{args.model}: {card.version} (served) -> {new_card.version} (fine-tuned on corrections)")
    for name, verdict in verdicts.items():
        print(f"  task's evaluation, {name}: {verdict.old_task:.4f} -> {verdict.new_task:.4f}")
    print(f"  {len(held)} held-out corrections: {old_corrections:.4f} -> {new_corrections:.4f}")
    worse = [
        name for name, verdict in verdicts.items() if verdict.new_task < verdict.old_task - verdict.tolerance
    ]
    reason = verdicts[worse[0] if worse else next(iter(verdicts))].reason()
    if worse:
        reason += f" ({', '.join(worse)})"
    print(f"  {reason} ({time.perf_counter() - started:.0f} s in all)")
    if not installed:
        print(f"  the served model is unchanged; the new one is in {new_dir}", file=sys.stderr)
        raise SystemExit(1)
    target, kept = install(new_dir, args.models_dir, args.model)
    print(f"  installed {target} ({new_card.version}); the previous model is kept in {kept}")
    if args.service:
        reloaded = request_reload(args.service, args.admin_token)
        print(f"  {args.service} reloaded: {reloaded}")
    else:
        print("  reload the service to serve it: POST /v1/admin/reload, SIGHUP, or a restart")
    return figures
