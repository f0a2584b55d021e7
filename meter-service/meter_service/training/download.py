"""`download`: fetch the public meter-digit crops and install them as `meterdigits.tar.gz`, on request.

    python -m meter_service.cli download [--out ../shared/data/meter-digits/meterdigits.tar.gz]
        [--url URL] [--force] [--quiet]

The reader's real crops are the public data set "Tenth-of-step-of-a-meter-digit" (haverland,
github.com/haverland/Tenth-of-step-of-a-meter-digit): 20x32 JPEGs of single meter wheels in
`datasets/meterdigits/<d.t>/<file>` of that repository. GitHub serves the whole repository as one
.tar.gz (notebooks and models included), so the crops are taken out of it and packed alone as
`datasets/meterdigits/<label>/<file>`, the layout `reader_data.unpack` reads and the shared copy
has. An archive already in that layout (a mirror of meterdigits.tar.gz) passes through the same way.

Only this command downloads: training and evaluation never do (machines without internet must
get the same answer every time). The download goes to a hidden file beside `--out` and replaces
it in one rename once it has been checked, so a failure (network, HTTP status, not an archive, no
crops) is one line, exit code 2, and leaves `--out` as it was; an existing `--out` is replaced
only with `--force`.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import os
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from PIL import Image

from meter_service.training.reader_data import IMAGE_SUFFIXES, REAL_DATA_SOURCE, parse_label

UPSTREAM_REPOSITORY = "https://github.com/haverland/Tenth-of-step-of-a-meter-digit"
# The default branch: which commit gave the shared copy's 18,239 crops is not recorded, so none is
# pinned here. Pin one with --url .../archive/<commit>.tar.gz to reproduce a download.
UPSTREAM_REF = "master"
DEFAULT_URL = f"{UPSTREAM_REPOSITORY}/archive/refs/heads/{UPSTREAM_REF}.tar.gz"
CROPS_FOLDER = ("datasets", "meterdigits")  # where the labelled crops sit, in upstream and in ours
SERVICE_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = SERVICE_ROOT.parent.parent / "shared" / "data" / "meter-digits" / "meterdigits.tar.gz"
TIMEOUT_S = 30.0  # to connect and between two reads, not for the whole download
CHUNK = 1 << 16
SHOWN_SKIPPED = 5  # unreadable files named on the console


class DownloadError(ValueError):
    """The download or its content is unusable: one line for `run_main`, exit code 2."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="the archive to write (default: %(default)s)"
    )
    parser.add_argument("--url", default=DEFAULT_URL, help="the .tar.gz to fetch (default: %(default)s)")
    parser.add_argument("--force", action="store_true", help="replace --out if it exists")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def fetch(url: str, target: Path, progress: bool = True) -> int:
    """Stream `url` into `target` (which is created or truncated); return the bytes written.

    Redirects are followed (GitHub answers an archive URL with one to codeload). Anything but a
    200, or a connection that fails or stops early, is a DownloadError naming the URL.
    """
    import httpx
    from tqdm import tqdm

    written = 0
    try:
        with (
            httpx.stream("GET", url, follow_redirects=True, timeout=TIMEOUT_S) as reply,
            target.open("wb") as stream,
        ):
            if reply.status_code != 200:
                raise DownloadError(f"{url} answered HTTP {reply.status_code} {reply.reason_phrase}")
            size = reply.headers.get("content-length")
            with tqdm(
                total=int(size) if size and size.isdigit() else None,
                desc="download",
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                disable=not progress,
            ) as bar:
                for block in reply.iter_bytes(CHUNK):
                    stream.write(block)
                    written += len(block)
                    bar.update(len(block))
    except (httpx.HTTPError, httpx.InvalidURL) as error:
        raise DownloadError(f"cannot download {url}: {error or type(error).__name__}") from None
    return written


def crop_name(member: tarfile.TarInfo) -> str | None:
    """`datasets/meterdigits/<label>/<file>` for a labelled crop anywhere in the archive, else None.

    Upstream's paths start with GitHub's `<repository>-<ref>/`; ours start at `datasets/`. Only the
    last four parts count, and the new name is built from them, so no member can land outside the
    folder the trainer unpacks into.
    """
    if not member.isfile():
        return None
    parts = PurePosixPath(member.name).parts
    if len(parts) < 4 or parts[-4:-2] != CROPS_FOLDER:
        return None
    label, file_name = parts[-2], parts[-1]
    if parse_label(label) is None or PurePosixPath(file_name).suffix.lower() not in IMAGE_SUFFIXES:
        return None
    return "/".join((*CROPS_FOLDER, label, file_name))


def readable_image(data: bytes) -> bool:
    """Whether PIL decodes the whole image: the trainer reads every crop and would stop at a bad one."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
    except (OSError, SyntaxError, ValueError):
        return False
    return True


def collect_crops(archive: Path, url: str) -> tuple[dict[str, tuple[bytes, int]], list[str]]:
    """The labelled crops in `archive`: name -> (bytes, mtime), and the names of unreadable ones.

    The first member of a name wins. A file that is not a tar archive (an HTML page, a zip, a
    truncated download) is a DownloadError naming `url`.
    """
    crops: dict[str, tuple[bytes, int]] = {}
    unreadable: list[str] = []
    try:
        with tarfile.open(archive, mode="r|*") as tar:  # one pass, as it was downloaded
            for member in tar:
                name = crop_name(member)
                if name is None or name in crops:
                    continue
                stream = tar.extractfile(member)
                data = stream.read() if stream else b""
                if readable_image(data):
                    crops[name] = (data, int(member.mtime))
                else:
                    unreadable.append(name)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise DownloadError(f"{url} is not a readable .tar.gz archive: {error}") from None
    return crops, unreadable


def check_crops(crops: dict[str, tuple[bytes, int]], url: str) -> None:
    """A DownloadError unless there are crops of every digit (0-9).

    An archive without them is the wrong file or a layout this command does not know: the
    trainer needs all ten digits, and installing it would only fail later, in training.
    """
    digits = {(parse_label(name.split("/")[-2]) or 0) // 10 for name in crops}
    if not crops:
        raise DownloadError(
            f"{url} holds no labelled crops at {'/'.join(CROPS_FOLDER)}/<label>/<file> "
            "(label d.t or d, a .jpg/.png/.bmp image)"
        )
    missing = sorted(set(range(10)) - digits)
    if missing:
        raise DownloadError(
            f"{url} holds {len(crops)} labelled crops but none of digit(s) "
            f"{', '.join(map(str, missing))}: not the meter-digit data set"
        )


def write_archive(crops: dict[str, tuple[bytes, int]], target: Path) -> None:
    """The crops as a .tar.gz in name order, with no owner and the upstream time of each file.

    The same upstream commit gives the same bytes, so its SHA-256 can be recorded and compared.
    """
    with (
        target.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as packed,
        tarfile.open(fileobj=packed, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for name in sorted(crops):
            data, mtime = crops[name]
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), mtime, 0o644
            tar.addfile(info, io.BytesIO(data))


@contextmanager
def scratch_file(folder: Path, suffix: str) -> Iterator[Path]:
    """A hidden file in `folder`, removed on the way out whatever happens (unless renamed away)."""
    handle, name = tempfile.mkstemp(prefix=".meterdigits-", suffix=suffix, dir=folder)
    os.close(handle)
    path = Path(name)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check_target(out: Path, force: bool) -> None:
    if out.is_dir():
        raise DownloadError(f"{out} is a folder; --out names the archive file to write")
    if out.exists() and not force:
        raise DownloadError(f"{out} already exists; --force replaces it (make: FORCE=1)")


@dataclass
class Installed:
    """What `download` wrote, for the console."""

    out: Path
    downloaded_bytes: int
    crops: int
    labels: int
    unreadable: list[str]
    sha256: str


def download(url: str, out: Path, force: bool = False, progress: bool = True) -> Installed:
    """Fetch `url`, keep its labelled crops, write them to `out` atomically.

    A folder that cannot be written (the shared data folder is often read-only), or a full disk,
    is a DownloadError naming `out`, as a network or archive problem is.
    """
    check_target(out, force)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with (
            scratch_file(out.parent, ".download") as fetched,
            scratch_file(out.parent, ".tar.gz") as packed,
        ):
            size = fetch(url, fetched, progress)
            crops, unreadable = collect_crops(fetched, url)
            check_crops(crops, url)
            fetched.unlink()  # the whole repository: no longer needed, and it may be large
            write_archive(crops, packed)
            packed.chmod(0o666 & ~current_umask())  # as a file the user made, not mkstemp's 0600
            check_target(out, force)  # nothing appeared meanwhile
            os.replace(packed, out)
    except OSError as error:
        raise DownloadError(f"cannot write {out}: {error.strerror or error}") from None
    return Installed(
        out=out,
        downloaded_bytes=size,
        crops=len(crops),
        labels=len({name.split("/")[-2] for name in crops}),
        unreadable=unreadable,
        sha256=hashlib.sha256(out.read_bytes()).hexdigest(),
    )


def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    check_target(args.out, args.force)  # before a line that says it is fetching
    print(f"fetching {args.url}: the public data set {REAL_DATA_SOURCE}")
    done = download(args.url, args.out, args.force, progress=not args.quiet)
    if done.unreadable:
        shown = ", ".join(done.unreadable[:SHOWN_SKIPPED])
        more = ", ..." if len(done.unreadable) > SHOWN_SKIPPED else ""
        print(f"skipped {len(done.unreadable)} unreadable image file(s): {shown}{more}")
    print(
        f"wrote {done.out}: {done.crops} crops in {done.labels} labels "
        f"({done.out.stat().st_size / 1e6:.1f} MB of the {done.downloaded_bytes / 1e6:.1f} MB "
        f"downloaded; sha256 {done.sha256})"
    )
    print(f"train with: make train-meter METER_DATA={done.out}")
