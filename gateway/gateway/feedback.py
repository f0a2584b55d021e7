"""Corrections users send for wrong answers, kept as a labelled data set.

A correction is an image and the text it should have read as. `FeedbackStore` is the interface
the routes use; `DirectoryStore` keeps each task's corrections in a folder of its own, one
image file and one JSON sidecar per correction:

    <root>/<task>/<id>.png    the image as uploaded (its extension from its content)
    <root>/<task>/<id>.json   task, text, model, request id, sha256, time, ...

Every replica of the gateway can write to one shared folder (a Docker volume, a Kubernetes
ReadWriteMany claim) without locks:

* The id is made from the image's SHA-256 and the label's, never from user text, so the same
  image with the same label is the same correction wherever it arrives: stored once, and the
  second sender is told `duplicate`. The same image with another label is another correction;
  both are kept and reported as a conflict.
* Files are written to a temporary name and then moved or linked into place. The sidecar is
  linked last with `os.link`, which fails if the name exists: whichever writer links first has
  stored the correction, and a correction exists exactly when its sidecar does. A crash leaves
  at most a temporary file or an image without a sidecar, never half a correction.
* Nothing is ever deleted.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import secrets
import zipfile
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Protocol

SIDECAR = ".json"
# The image's extension from its format (`recognition_common.edge.imaging.inspect_image`).
EXTENSIONS = {"PNG": ".png", "JPEG": ".jpg", "GIF": ".gif", "BMP": ".bmp", "WEBP": ".webp", "TIFF": ".tif"}
MANIFEST_FIELDS = ("id", "label", "file", "model", "model_version", "time", "sha256", "wheels", "request_id")


@dataclass(frozen=True)
class Correction:
    """One stored correction: everything but the image."""

    id: str
    task: str
    text: str
    sha256: str
    extension: str
    created: str  # ISO 8601, UTC
    model: str | None = None
    model_version: str | None = None
    request_id: str | None = None
    # The label's length as its sender stated it, for a task whose LabelRule has a length_field
    # (kept under this name: stored sidecars and export manifests use it).
    wheels: int | None = None

    @property
    def image_name(self) -> str:
        return self.id + self.extension

    def export_name(self, folder_per_label: bool = False) -> str:
        """Its file in an export, in the training commands' layout: the label before the first
        `_` (`<label>_<anything>.png`), or with `folder_per_label` (the task's LabelRule) a
        one-character label's image in a folder named after it (`<label>/<file>.png`), the
        layout of trainers that classify single characters."""
        if folder_per_label and len(self.text) == 1:
            return f"{self.text}/{self.image_name}"
        return f"{self.text}_{self.image_name}"


@dataclass(frozen=True)
class Summary:
    """Counts over a task's corrections."""

    total: int
    by_label: dict[str, int]
    by_model: dict[str, int]
    conflicts: int  # images stored with more than one label
    newest: list[Correction]
    conflicting: set[str]  # ids of the corrections of those images


def correction_id(image_sha256: str, text: str) -> str:
    """The same image with the same label always gets the same id (hex only: safe in a path)."""
    return f"{image_sha256[:24]}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


class FeedbackStore(Protocol):
    def add(
        self,
        task: str,
        image: bytes,
        image_format: str,
        text: str,
        *,
        model: str | None = None,
        model_version: str | None = None,
        request_id: str | None = None,
        wheels: int | None = None,
    ) -> tuple[Correction, bool]:
        """Store a correction; returns it and whether it was already there (a duplicate)."""
        ...

    def corrections(self, task: str) -> list[Correction]:
        """Every stored correction of `task`, oldest first."""
        ...

    def image(self, correction: Correction) -> bytes: ...


class DirectoryStore:
    """A `FeedbackStore` in a folder (see the module's docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def add(
        self,
        task: str,
        image: bytes,
        image_format: str,
        text: str,
        *,
        model: str | None = None,
        model_version: str | None = None,
        request_id: str | None = None,
        wheels: int | None = None,
    ) -> tuple[Correction, bool]:
        folder = self.root / task
        folder.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256(image).hexdigest()
        correction = Correction(
            id=correction_id(digest, text),
            task=task,
            text=text,
            sha256=digest,
            extension=EXTENSIONS.get(image_format.upper(), ".img"),
            created=datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            model=model,
            model_version=model_version,
            request_id=request_id,
            wheels=wheels,
        )
        sidecar = folder / (correction.id + SIDECAR)
        if sidecar.exists():
            return self._read(sidecar), True
        # The image first (the same bytes under the same name, whoever wins the move), then the
        # sidecar, which makes the correction exist.
        _write_then_move(folder / correction.image_name, image)
        stored = json.dumps(asdict(correction), indent=1).encode()
        temporary = _write_temporary(folder, stored)
        try:
            os.link(temporary, sidecar)
        except FileExistsError:
            return self._read(sidecar), True
        finally:
            temporary.unlink()
        return correction, False

    def corrections(self, task: str) -> list[Correction]:
        folder = self.root / task
        if not folder.is_dir():
            return []
        found = [self._read(path) for path in folder.glob("*" + SIDECAR) if not path.name.startswith(".")]
        return sorted(found, key=lambda correction: (correction.created, correction.id))

    def image(self, correction: Correction) -> bytes:
        return (self.root / correction.task / correction.image_name).read_bytes()

    @staticmethod
    def _read(sidecar: Path) -> Correction:
        return Correction(**json.loads(sidecar.read_text(encoding="utf-8")))


def _write_temporary(folder: Path, data: bytes) -> Path:
    """`data` in a new hidden file of `folder`, flushed to disk."""
    path = folder / f".{secrets.token_hex(8)}.tmp"
    with path.open("xb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return path


def _write_then_move(path: Path, data: bytes) -> None:
    temporary = _write_temporary(path.parent, data)
    try:
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


def _labels_by_image(corrections: list[Correction]) -> dict[str, set[str]]:
    labels: dict[str, set[str]] = {}
    for correction in corrections:
        labels.setdefault(correction.sha256, set()).add(correction.text)
    return labels


def summarize(corrections: list[Correction], newest: int) -> Summary:
    labels = _labels_by_image(corrections)
    return Summary(
        total=len(corrections),
        by_label=dict(Counter(c.text for c in corrections).most_common()),
        by_model=dict(Counter(c.model or "" for c in corrections).most_common()),
        conflicts=sum(len(texts) > 1 for texts in labels.values()),
        newest=list(reversed(corrections[-newest:])) if newest else [],
        conflicting=_conflicting(corrections, labels),
    )


def conflicting(corrections: list[Correction]) -> set[str]:
    """The ids of corrections whose image was also stored with another label."""
    return _conflicting(corrections, _labels_by_image(corrections))


def _conflicting(corrections: list[Correction], labels: dict[str, set[str]]) -> set[str]:
    return {c.id for c in corrections if len(labels[c.sha256]) > 1}


def write_export(
    store: FeedbackStore, corrections: list[Correction], out: IO[bytes], *, folder_per_label: bool = False
) -> None:
    """A zip of `corrections` in the training commands' layout plus `manifest.csv`."""
    manifest = io.StringIO()
    writer = csv.DictWriter(manifest, fieldnames=[*MANIFEST_FIELDS, "conflict"], lineterminator="\n")
    writer.writeheader()
    conflicts = conflicting(corrections)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        for correction in corrections:
            name = correction.export_name(folder_per_label)
            archive.writestr(name, store.image(correction))
            writer.writerow(
                {
                    "id": correction.id,
                    "label": correction.text,
                    "file": name,
                    "model": correction.model or "",
                    "model_version": correction.model_version or "",
                    "time": correction.created,
                    "sha256": correction.sha256,
                    "wheels": "" if correction.wheels is None else correction.wheels,
                    "request_id": correction.request_id or "",
                    "conflict": "yes" if correction.id in conflicts else "",
                }
            )
        archive.writestr("manifest.csv", manifest.getvalue())
