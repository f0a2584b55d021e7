"""The wheel reader's data: real crops (unpacked, de-duplicated, split by meter), user folders, synthetic.

Real crops come from `meterdigits.tar.gz`: 20x32 RGB JPEGs at `datasets/meterdigits/<d.t>/<name>`,
collected from many users' meter cameras. Three things about them shape this module:

* Some files are byte-identical copies (the same image saved under two names, sometimes in two
  neighbouring label folders). They are collapsed by SHA-256 before anything else, so a copy can
  never sit on both sides of the split; copies whose labels disagree by more than 0.2 are dropped.
* Crops of one wheel at nearly the same time are near-duplicates, so a random split would
  measure memory, not reading. The split is by *prefix*: the ROI name the camera gave the wheel
  (`dig7`, `main_dig6`, `ROI3`, `ziffer5`), found by removing from the file name the label, the
  camera's own earlier readings (`10`, `4.8`, `NaN`), timestamps, counters and copy marks. Whole
  prefixes go to train, validation or test. Files without a name (hash-named, `0-1.jpg`) cannot
  be tied to a wheel by name; many are the same cameras' pictures, so one that nearly duplicates
  a named crop joins that crop's prefix (`attach_lookalikes`), and the rest only ever train.
* Labels are positions in tenths; older files are labelled with a plain digit (`3` = 3.0).

User folders (`--extra`) use the same `<label>/<file>` layout (label `d.t` or `d`) and only train.
Synthetic crops come from `meter_service.wheels.render_wheel` (white-on-black, red, fonts the
real data lacks); they are a minority of the training set, never validated or tested on.
"""

from __future__ import annotations

import hashlib
import math
import re
import tarfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from meter_service.reader import CROP_HEIGHT, CROP_WIDTH, NUM_CLASSES, class_of

DEFAULT_CACHE = Path.home() / ".cache" / "recognition" / "meterdigits"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}
SPLITS = ("train", "validation", "test")
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)
UNNAMED = ""  # the prefix of files whose names say nothing about their wheel
MAX_COPY_DISAGREEMENT = 2  # tenths; copies labelled further apart than this are dropped
SEGMENT_SHARE = 0.1  # rendered wheels with segment digits (wheels.SEVEN_SEGMENT), as LCDs show
LOOKALIKE_RMS = 18.0  # grey levels; an unnamed crop this close to a named one is its twin

_LABEL = re.compile(r"(\d)(?:\.(\d))?")
# Name tokens that are not part of a wheel's name: numbers (labels, earlier readings, counters,
# dates, times, optionally with a letter suffix like `132714a`), NaN, hashes and copy marks.
_NOISE_TOKEN = re.compile(r"[\d.]+[a-z]?|nan|ex|kopie|copy|neu|wrong|v\d+|(?=[a-f]*\d)[0-9a-f]{4,32}", re.I)


@dataclass(frozen=True)
class Crop:
    """One labelled crop on disk."""

    path: Path
    label: int  # class index 0..99 (tenths)
    prefix: str  # the wheel's ROI name, UNNAMED when the file name carries none
    sha256: str


def parse_label(text: str) -> int | None:
    """A label folder's name -> class index: "3.5" -> 35, "7" -> 70; None when not a label."""
    match = _LABEL.fullmatch(text.strip())
    if not match:
        return None
    return int(match.group(1)) * 10 + int(match.group(2) or 0)


def prefix_of(file_name: str) -> str:
    """The wheel (ROI) name in a crop's file name, lower case; UNNAMED when there is none.

    `3.5_10_dig7_20220608-014548.jpg` -> `dig7`; `4.9_4.8_main_dig5_20220519-1.jpg` -> `main_dig5`;
    `0.4_NaN_ziffer5_2020-05-19_19-40-14.jpg` -> `ziffer5`; `3.3_<md5>.jpg` -> UNNAMED.
    """
    stem = Path(file_name).stem
    stem = re.sub(r"\(\d+\)$", "", stem)  # "(1)" copy marks
    stem = re.sub(r"^[\d.]+(?=[a-z])", "", stem, flags=re.I)  # a label glued to the name: 3.9dig6
    tokens = [token for token in re.split(r"[_\s\-]+", stem) if token]
    kept = [token.lower() for token in tokens if not _NOISE_TOKEN.fullmatch(token)]
    if len(kept) > 1 and kept[0] == "main":  # newer firmware prefixes the counter's name
        kept = kept[1:]
    return "_".join(kept)


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- Real crops: unpack, scan, de-duplicate, split -----------------------------------------------


def unpack(archive: Path, cache: Path = DEFAULT_CACHE) -> Path:
    """Unpack the archive once into `cache/<archive digest>/`; return the folder of label folders.

    The cache lives outside the repository; a marker file makes a half-finished unpack redo itself.
    """
    if archive.is_dir():
        return find_label_root(archive)
    digest = hashlib.sha256()
    with archive.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    target = cache / digest.hexdigest()[:16]
    marker = target / ".unpacked"
    if not marker.is_file():
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(archive) as tar:
            tar.extractall(target, filter="data")
        marker.write_text(str(archive) + "\n", encoding="utf-8")
    return find_label_root(target)


def find_label_root(folder: Path) -> Path:
    """The folder whose sub-folders are labels ("0.0".."9.9" or "0".."9"), searched top down."""
    candidates = [folder, *sorted(path for path in folder.rglob("*") if path.is_dir())]
    for candidate in candidates:
        if any(parse_label(child.name) is not None for child in candidate.iterdir() if child.is_dir()):
            return candidate
    raise SystemExit(f"no <label>/<file> folders under {folder}")


def scan_folder(root: Path) -> list[Crop]:
    """Every image in `<root>/<label>/`, with its label, prefix and digest (sorted by path)."""
    crops = []
    for folder in sorted(path for path in root.iterdir() if path.is_dir()):
        label = parse_label(folder.name)
        if label is None:
            continue
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
                crops.append(Crop(path, label, prefix_of(path.name), sha256_file(path)))
    return crops


@dataclass
class DedupeReport:
    files: int
    unique: int
    copies_removed: int
    copy_groups: int
    label_conflicts_kept: int  # copies labelled a tenth or two apart: kept once, labels averaged
    label_conflicts_dropped: int  # copies labelled further apart: all dropped

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


def dedupe(crops: Sequence[Crop]) -> tuple[list[Crop], DedupeReport]:
    """One crop per distinct file content (SHA-256).

    Copies keep the first path in sorted order and the circular mean of their labels (copies in
    3.4/ and 3.5/ are the same picture labelled by two people); copies labelled more than
    MAX_COPY_DISAGREEMENT tenths apart are dropped altogether: one of the labels is wrong.
    """
    groups: dict[str, list[Crop]] = defaultdict(list)
    for crop in crops:
        groups[crop.sha256].append(crop)
    kept: list[Crop] = []
    conflicts_kept = conflicts_dropped = copy_groups = 0
    for group in groups.values():
        group.sort(key=lambda crop: str(crop.path))
        first = group[0]
        if len(group) > 1:
            copy_groups += 1
        labels = {crop.label for crop in group}
        if len(labels) > 1:
            spread = max(_class_distance(a, b) for a in labels for b in labels)
            if spread > MAX_COPY_DISAGREEMENT:
                conflicts_dropped += 1
                continue
            conflicts_kept += 1
            first = Crop(
                first.path, _circular_mean_class([c.label for c in group]), first.prefix, first.sha256
            )
        # A copy that has a name beats a hash-named copy: it can then be held out with its wheel.
        named = [crop.prefix for crop in group if crop.prefix != UNNAMED]
        if first.prefix == UNNAMED and named:
            first = Crop(first.path, first.label, named[0], first.sha256)
        kept.append(first)
    kept.sort(key=lambda crop: str(crop.path))
    report = DedupeReport(
        files=len(crops),
        unique=len(groups),
        copies_removed=len(crops) - len(groups),
        copy_groups=copy_groups,
        label_conflicts_kept=conflicts_kept,
        label_conflicts_dropped=conflicts_dropped,
    )
    return kept, report


def _class_distance(a: int, b: int) -> int:
    difference = abs(a - b) % NUM_CLASSES
    return min(difference, NUM_CLASSES - difference)


def _circular_mean_class(labels: Sequence[int]) -> int:
    angles = np.asarray(labels) * (2 * math.pi / NUM_CLASSES)
    mean = math.atan2(float(np.sin(angles).mean()), float(np.cos(angles).mean()))
    return round(mean / (2 * math.pi) * NUM_CLASSES) % NUM_CLASSES


def _stable_order(prefix: str) -> str:
    return hashlib.sha256(f"meter-reader-split:{prefix}".encode()).hexdigest()


def split_by_prefix(
    crops: Sequence[Crop], fractions: Sequence[float] = SPLIT_FRACTIONS
) -> dict[str, list[Crop]]:
    """Train / validation / test with every prefix wholly in one split; deterministic.

    Unnamed crops train. Named prefixes are visited in the order of a fixed hash of their name
    and each goes to the split furthest below its share of the crops placed so far (shares
    `fractions` of all crops), so the splits come out near 80/10/10 in crops even though a
    few prefixes are large, and the assignment depends on nothing but the names and counts.
    """
    by_prefix: dict[str, list[Crop]] = defaultdict(list)
    for crop in crops:
        by_prefix[crop.prefix].append(crop)
    splits: dict[str, list[Crop]] = {name: [] for name in SPLITS}
    splits["train"].extend(by_prefix.pop(UNNAMED, []))
    placed = len(splits["train"])
    for prefix in sorted(by_prefix, key=_stable_order):
        group = by_prefix[prefix]
        placed += len(group)
        deficits = [share * placed - len(splits[name]) for name, share in zip(SPLITS, fractions, strict=True)]
        splits[SPLITS[int(np.argmax(deficits))]].extend(group)
    for name in SPLITS:
        splits[name].sort(key=lambda crop: str(crop.path))
    return splits


def describe_split(splits: dict[str, list[Crop]]) -> dict[str, Any]:
    """Counts for the card and the console: crops, prefixes and whole-digit crops per split."""
    summary: dict[str, Any] = {}
    for name, crops in splits.items():
        prefixes = sorted({crop.prefix for crop in crops})
        summary[name] = {
            "crops": len(crops),
            "whole_digit_crops": sum(crop.label % 10 == 0 for crop in crops),
            "prefixes": len(prefixes),
            "unnamed_crops": sum(crop.prefix == UNNAMED for crop in crops),
        }
        if name != "train":
            summary[name]["prefix_names"] = [prefix for prefix in prefixes if prefix != UNNAMED]
    return summary


def attach_lookalikes(
    crops: Sequence[Crop], pixels: np.ndarray, threshold: float = LOOKALIKE_RMS
) -> tuple[list[Crop], int]:
    """Give each unnamed crop the prefix of the named crop it nearly duplicates, if any.

    The hash-named files are mostly the same cameras' pictures under another name: some are
    within a few grey levels of a named crop. Left unnamed they would train while their twins
    are tested. Distance is the RMS difference of the crops averaged over 2x2 blocks (0..255);
    below `threshold` counts as the same wheel. Between different meters' crops the nearest
    distance is rarely under ~16, within one wheel's near-identical pictures it is ~5-15.
    Returns the crops (same order) and how many were attached.
    """
    named = np.array([crop.prefix != UNNAMED for crop in crops], dtype=bool)
    if named.all() or not named.any():
        return list(crops), 0
    features = _block_features(pixels)
    named_rows, unnamed_rows = np.flatnonzero(named), np.flatnonzero(~named)
    nearest, distance = _nearest(features[unnamed_rows], features[named_rows])
    out = list(crops)
    attached = 0
    for row, match, gap in zip(unnamed_rows, nearest, distance, strict=True):
        if gap < threshold:
            crop = crops[int(row)]
            out[row] = Crop(crop.path, crop.label, crops[int(named_rows[match])].prefix, crop.sha256)
            attached += 1
    return out, attached


def _block_features(pixels: np.ndarray) -> np.ndarray:
    """(N, 32, 20, 3) uint8 -> (N, 480) float32: 2x2 block means, to forgive a pixel of shift."""
    n, height, width, channels = pixels.shape
    blocks = pixels[:, : height // 2 * 2, : width // 2 * 2].astype(np.float32)
    blocks = blocks.reshape(n, height // 2, 2, width // 2, 2, channels).mean(axis=(2, 4))
    return blocks.reshape(n, -1)


def _nearest(queries: np.ndarray, references: np.ndarray, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Index of and RMS distance to each query's nearest reference row."""
    reference_norms = (references**2).sum(axis=1)
    indices, distances = [], []
    for start in range(0, len(queries), chunk):
        block = queries[start : start + chunk]
        squared = (block**2).sum(axis=1)[:, None] + reference_norms[None] - 2 * block @ references.T
        indices.append(squared.argmin(axis=1))
        distances.append(np.sqrt(np.maximum(squared.min(axis=1), 0) / queries.shape[1]))
    return np.concatenate(indices), np.concatenate(distances)


@dataclass
class Split:
    """One split's crops with their pixels and labels, rows aligned."""

    crops: list[Crop]
    pixels: np.ndarray  # uint8 (N, 32, 20, 3)
    labels: np.ndarray  # int32 (N,) class indices

    def __len__(self) -> int:
        return len(self.crops)


@dataclass
class RealCrops:
    """The real data after de-duplication and splitting, plus what the card says about it."""

    root: Path
    splits: dict[str, Split]
    dedupe: DedupeReport
    lookalikes_attached: int
    archive_sha256: str = ""
    summary: dict[str, Any] = field(default_factory=dict)


REAL_DATA_SOURCE = (
    '"Tenth-of-step-of-a-meter-digit" by haverland (github.com/haverland/Tenth-of-step-of-a-meter-digit)'
)


def missing_data(data: Path) -> str:
    """One line for a missing `--data`: which file, where it comes from, how to get or name it."""
    return (
        f"{data} not found: the real meter-wheel crops (meterdigits.tar.gz, the public data set "
        f"{REAL_DATA_SOURCE}, Apache-2.0) or a folder <label>/<file>; point the command at it "
        "with --data PATH (make: METER_DATA=PATH; `make download-meter-digits` fetches it where "
        "there is internet)"
    )


def load_real(data: Path, cache: Path = DEFAULT_CACHE, progress: bool = False) -> RealCrops:
    """Unpack (or use a folder), de-duplicate, attach look-alikes and split the real crops."""
    if not data.exists():
        raise ValueError(missing_data(data))
    root = unpack(data, cache)
    crops, report = dedupe(scan_folder(root))
    pixels = read_pixels(crops, progress, desc="read real crops")
    crops, attached = attach_lookalikes(crops, pixels)
    row_of = {crop.sha256: row for row, crop in enumerate(crops)}
    splits = {}
    for name, members in split_by_prefix(crops).items():
        rows = np.array([row_of[crop.sha256] for crop in members], dtype=np.int64)
        splits[name] = Split(members, pixels[rows], labels_of(members))
    archive_sha = sha256_file(data) if data.is_file() else ""
    summary = describe_split({name: split.crops for name, split in splits.items()})
    if len(splits["train"]) and len(splits["test"]):
        # How far the held-out crops are from anything trained on: a near-copy would show here.
        _, gaps = _nearest(_block_features(splits["test"].pixels), _block_features(splits["train"].pixels))
        summary["test"]["nearest_train_rms_min"] = round(float(gaps.min()), 1)
        summary["test"]["nearest_train_rms_median"] = round(float(np.median(gaps)), 1)
    return RealCrops(root, splits, report, attached, archive_sha, summary)


def read_pixels(crops: Sequence[Crop], progress: bool = False, desc: str = "read") -> np.ndarray:
    """uint8 (N, 32, 20, 3) of the crops, resized to 20x32 where needed."""
    from tqdm import tqdm

    pixels = np.empty((len(crops), CROP_HEIGHT, CROP_WIDTH, 3), dtype=np.uint8)
    for row, crop in enumerate(tqdm(crops, desc=desc, unit="img", disable=not progress, leave=False)):
        with Image.open(crop.path) as source:
            image = source.convert("RGB")
            if image.size != (CROP_WIDTH, CROP_HEIGHT):
                image = image.resize((CROP_WIDTH, CROP_HEIGHT), Image.Resampling.BILINEAR)
            pixels[row] = np.asarray(image, dtype=np.uint8)
    return pixels


def labels_of(crops: Iterable[Crop]) -> np.ndarray:
    return np.fromiter((crop.label for crop in crops), dtype=np.int32)


def load_extra(folders: Sequence[Path]) -> list[Crop]:
    """A user's own labelled crops (`<label>/<file>`), de-duplicated against each other."""
    crops: list[Crop] = []
    for folder in folders:
        found = scan_folder(find_label_root(folder))
        if not found:
            raise SystemExit(f"no labelled crops in {folder} (expected <label>/<file>, label d.t or d)")
        crops.extend(found)
    return dedupe(crops)[0]


# --- Synthetic crops ---------------------------------------------------------------------------


def synthetic_crops(count: int, seed: int, whole_share: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """`count` wheel crops rendered by `meter_service.wheels`: uint8 (N, 32, 20, 3), int32 labels.

    `whole_share` of them stand at a whole digit (give or take two hundredths, as a resting
    wheel does), the rest anywhere, so the renderer's styles teach both digits and rolls. A
    quarter are red decimal wheels, the rest white on black or black on white; SEGMENT_SHARE of
    them have segment digits. Each is labelled
    with where it appears to stand in its cell (`wheels.shown_position`), which is all a crop
    shows: labelling a drum drawn off centre with its true position would teach the reader to
    pull every reading towards the commoner whole digits.
    """
    from meter_service.wheels import random_style, render_wheel, shown_position, wobbled

    rng = np.random.default_rng(seed)
    pixels = np.empty((count, CROP_HEIGHT, CROP_WIDTH, 3), dtype=np.uint8)
    labels = np.empty(count, dtype=np.int32)
    for row in range(count):
        if rng.random() < whole_share:
            position = (int(rng.integers(10)) + rng.uniform(-0.02, 0.02)) % 10
        else:
            position = float(rng.uniform(0, 10))
        style = wobbled(random_style(rng, "red" if rng.random() < 0.25 else None, SEGMENT_SHARE), rng)
        image = render_wheel(position, style, CROP_WIDTH, CROP_HEIGHT).convert("RGB")
        if image.size != (CROP_WIDTH, CROP_HEIGHT):
            image = image.resize((CROP_WIDTH, CROP_HEIGHT), Image.Resampling.BILINEAR)
        pixels[row] = np.asarray(image, dtype=np.uint8)
        labels[row] = class_of(shown_position(position, style))
    return pixels, labels


def synthetic_available() -> bool:
    """Whether `meter_service.wheels` (the renderer) can be imported."""
    try:
        from meter_service.wheels import random_style, render_wheel  # noqa: F401
    except ImportError:
        return False
    return True


def prefix_counts(crops: Iterable[Crop]) -> Counter[str]:
    return Counter(crop.prefix for crop in crops)
