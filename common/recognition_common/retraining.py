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
   dropping a request (`recognition_common.reloading`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recognition_common.model_card import CARD_FILE

HISTORY = ".history"
MANIFEST = "manifest.csv"


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
