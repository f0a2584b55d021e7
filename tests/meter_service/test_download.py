"""`meter_service.cli download`: the public meter-digit crops fetched on request, checked, and
installed as the trainer's meterdigits.tar.gz, or one line and exit code 2 with nothing left behind.

There is no internet here: a real HTTP server on 127.0.0.1 serves archives built in the test in
the upstream repository's layout (GitHub's `<repository>-<ref>/` folder around everything)."""

from __future__ import annotations

import contextlib
import io
import os
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from meter_service.cli import main as cli
from meter_service.training.download import DEFAULT_URL, crop_name
from meter_service.training.reader_data import load_real, scan_folder, unpack
from recognition_common.cli import run_main

TOP = "Tenth-of-step-of-a-meter-digit-master"
PREFIXES = 12  # wheels (ROI names); each has one crop of every digit


def jpeg(seed: int) -> bytes:
    """A 20x32 crop of noise: distinct bytes per seed, so none are de-duplicated away."""
    pixels = np.random.default_rng(seed).integers(0, 256, (32, 20, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def upstream_files(digits: range = range(10)) -> dict[str, bytes]:
    """The repository as GitHub packs it: crops under datasets/meterdigits/<label>/, plus what the
    download must leave out (notebooks, another dataset, a note in a label folder, a broken JPEG)."""
    files = {
        f"{TOP}/Readme.md": b"# Project goal\n",
        f"{TOP}/dig-class100-s2.ipynb": b"{}",
        f"{TOP}/datasets/font-blacklist.txt": b"Arial\n",
        f"{TOP}/images/3.0/3.0_elsewhere.jpg": jpeg(999),  # labelled, but not the crops folder
        f"{TOP}/datasets/meterdigits/3.0/notes.txt": b"not a crop",
        f"{TOP}/datasets/meterdigits/5.0/5.0_broken_dig1_20220101-000000.jpg": jpeg(998)[:40],
    }
    for prefix in range(PREFIXES):
        for digit in digits:
            label = f"{digit}.{(prefix + digit) % 10}"
            name = f"{label}_{digit}_main_dig{prefix}_20220{prefix + 1}01-12000{digit}.jpg"
            files[f"{TOP}/datasets/meterdigits/{label}/{name}"] = jpeg(prefix * 10 + digit)
    return files


CROPS = PREFIXES * 10


def tar_gz(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1_656_000_000
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@contextlib.contextmanager
def serving(routes: dict[str, bytes]) -> Iterator[str]:
    """An HTTP server on a free port: each route's bytes with status 200, `/archive/...`
    redirected there as GitHub redirects to codeload, `/cut` a body that stops half-way, else 404."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if self.path.startswith("/archive/"):
                self.send_response(302)
                self.send_header("Location", self.path.removeprefix("/archive"))
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif self.path == "/cut":
                body = routes["/upstream.tar.gz"]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.close_connection = True
            elif self.path in routes:
                self.send_response(200)
                self.send_header("Content-Length", str(len(routes[self.path])))
                self.end_headers()
                self.wfile.write(routes[self.path])
            else:
                self.send_error(404)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    routes = {
        "/upstream.tar.gz": tar_gz(upstream_files()),
        "/no-sevens.tar.gz": tar_gz(upstream_files(range(7))),
        "/page.html": b"<!doctype html><title>Not Found</title>",
    }
    with serving(routes) as url:
        yield url


def download(url: str, out: Path, *flags: str) -> None:
    """The command as `python -m meter_service.cli download` runs it (user errors: one line, exit 2)."""
    run_main(
        cli, "python -m meter_service.cli", ["download", "--url", url, "--out", str(out), "--quiet", *flags]
    )


def one_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("python -m meter_service.cli: error: "), err
    return lines[0]


def test_downloads_keeps_only_the_crops_and_the_trainer_reads_them(
    base_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "data" / "meter-digits" / "meterdigits.tar.gz"  # folders made on the way
    download(f"{base_url}/archive/upstream.tar.gz", out)  # through a redirect, as on GitHub
    printed = capsys.readouterr().out
    assert f"wrote {out}: {CROPS} crops in 100 labels" in printed  # every tenth
    assert "skipped 1 unreadable image file(s): datasets/meterdigits/5.0/5.0_broken" in printed

    with tarfile.open(out) as tar:
        names = tar.getnames()
    assert len(names) == CROPS and names == sorted(names)
    assert all(name.startswith("datasets/meterdigits/") and name.endswith(".jpg") for name in names)
    assert not any("broken" in name or "elsewhere" in name for name in names)
    assert sorted(path.name for path in out.parent.iterdir()) == ["meterdigits.tar.gz"]  # no leftovers
    umask = os.umask(0o022)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # readable like any file the user writes

    root = unpack(out, tmp_path / "cache")
    assert root.relative_to(tmp_path / "cache").parts[1:] == ("datasets", "meterdigits")
    crops = scan_folder(root)
    assert len(crops) == CROPS and {crop.label // 10 for crop in crops} == set(range(10))
    assert {crop.prefix for crop in crops} == {f"dig{p}" for p in range(PREFIXES)}
    real = load_real(out, tmp_path / "cache")
    assert sum(len(split) for split in real.splits.values()) == CROPS
    assert len(real.splits["train"]) and len(real.splits["test"])


def test_the_same_upstream_gives_the_same_bytes(base_url: str, tmp_path: Path) -> None:
    download(f"{base_url}/upstream.tar.gz", tmp_path / "a.tar.gz")
    download(f"{base_url}/upstream.tar.gz", tmp_path / "b.tar.gz")
    assert (tmp_path / "a.tar.gz").read_bytes() == (tmp_path / "b.tar.gz").read_bytes()


def test_our_own_layout_passes_through(base_url: str, tmp_path: Path) -> None:
    first = tmp_path / "first.tar.gz"
    download(f"{base_url}/upstream.tar.gz", first)
    with serving({"/meterdigits.tar.gz": first.read_bytes()}) as mirror:
        download(f"{mirror}/meterdigits.tar.gz", tmp_path / "again.tar.gz")
    assert (tmp_path / "again.tar.gz").read_bytes() == first.read_bytes()


def test_an_existing_file_is_replaced_only_with_force(
    base_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "meterdigits.tar.gz"
    out.write_bytes(b"mine")
    with pytest.raises(SystemExit) as exit_info:
        download(f"{base_url}/upstream.tar.gz", out)
    assert exit_info.value.code == 2
    assert f"{out} already exists; --force replaces it" in one_error(capsys)
    assert out.read_bytes() == b"mine"
    download(f"{base_url}/upstream.tar.gz", out, "--force")
    with tarfile.open(out) as tar:
        assert len(tar.getnames()) == CROPS
    assert sorted(path.name for path in tmp_path.iterdir()) == ["meterdigits.tar.gz"]


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("/missing.tar.gz", "answered HTTP 404 Not Found"),
        ("/page.html", "is not a readable .tar.gz archive"),
        ("/cut", "cannot download"),
        ("/no-sevens.tar.gz", "but none of digit(s) 7, 8, 9: not the meter-digit data set"),
    ],
)
def test_a_bad_download_is_one_line_and_leaves_nothing(
    base_url: str, path: str, says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "data" / "meterdigits.tar.gz"
    with pytest.raises(SystemExit) as exit_info:
        download(f"{base_url}{path}", out)
    assert exit_info.value.code == 2
    line = one_error(capsys)
    assert says in line and f"{base_url}{path}" in line
    assert not out.exists()
    assert list(out.parent.iterdir()) == []  # no hidden download or half-packed archive either


def test_no_server_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with serving({}) as gone:
        pass  # the port is closed again: nothing listens there
    with pytest.raises(SystemExit) as exit_info:
        download(f"{gone}/upstream.tar.gz", tmp_path / "meterdigits.tar.gz")
    assert exit_info.value.code == 2
    assert "cannot download" in one_error(capsys)
    assert list(tmp_path.iterdir()) == []


def test_a_target_that_cannot_be_written_is_one_line(
    base_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a-file").write_bytes(b"")
    with pytest.raises(SystemExit) as exit_info:
        download(f"{base_url}/upstream.tar.gz", tmp_path / "a-file" / "meterdigits.tar.gz")
    assert exit_info.value.code == 2
    assert f"cannot write {tmp_path / 'a-file' / 'meterdigits.tar.gz'}: " in one_error(capsys)


def test_only_datasets_meterdigits_label_images_are_crops() -> None:
    def member(name: str) -> tarfile.TarInfo:
        return tarfile.TarInfo(name)

    assert crop_name(member(f"{TOP}/datasets/meterdigits/3.5/a.JPG")) == "datasets/meterdigits/3.5/a.JPG"
    assert crop_name(member("datasets/meterdigits/7/b.jpg")) == "datasets/meterdigits/7/b.jpg"
    assert crop_name(member(f"{TOP}/images/3.5/a.jpg")) is None
    assert crop_name(member(f"{TOP}/datasets/meterdigits/x/a.jpg")) is None
    assert crop_name(member(f"{TOP}/datasets/meterdigits/3.5/a.txt")) is None
    folder = member(f"{TOP}/datasets/meterdigits/3.5/a.jpg")
    folder.type = tarfile.DIRTYPE
    assert crop_name(folder) is None
    assert DEFAULT_URL.startswith("https://github.com/haverland/Tenth-of-step-of-a-meter-digit/archive/")
