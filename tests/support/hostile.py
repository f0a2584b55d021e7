"""A corpus of hostile and odd inputs for every endpoint that takes one image.

Each `Case` is a name, how to send it (`Send`: httpx arguments, built fresh for every request)
and what a client must get back (`Expect`): the status, and the error code from the README's
error table, or for a valid image the text read and whether it is rejected.

`corpus(task)` builds the cases for one task. Most are about the request, not the picture, and are
the same for every task. The valid-but-odd images (animated GIF, 16-bit, palette, CMYK, EXIF
rotation, ...) are made from the task's `SAMPLES` entry, a clean image whose text the task's
model reads, so each must come back as that text; images with nothing to read (1x1, a blank
20000x20 strip) get the task's `blank` answer. A task without a sample gets only the first kind.

Used by tests/integration/test_hostile_input.py against the gateway and each recognizer service.
"""

from __future__ import annotations

import base64
import functools
import json
import random
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from tests.support.images import encode, png_bomb, png_chunk

MB = 1024 * 1024


@dataclass(frozen=True)
class Send:
    """One request body: a multipart form, raw bytes with headers, or raw bytes streamed in chunks
    (no Content-Length, as `Transfer-Encoding: chunked`)."""

    files: tuple[tuple[str, Any], ...] | None = None
    content: bytes | Callable[[], bytes] | None = None  # a callable: big bodies made when sent
    headers: tuple[tuple[str, str], ...] = ()
    params: tuple[tuple[str, str], ...] = ()
    chunked: bool = False

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `httpx.Client.post`, new for each call (a stream is used up)."""
        args: dict[str, Any] = {"headers": dict(self.headers), "params": list(self.params)}
        if self.files is not None:
            args["files"] = list(self.files)
        if self.content is not None:
            content = self.content() if callable(self.content) else self.content
            args["content"] = _chunks(content) if self.chunked else content
        return args


def _chunks(data: bytes, size: int = MB) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def multipart(
    data: bytes, filename: str = "image.png", content_type: str = "image/png", field: str = "file"
) -> Send:
    return Send(files=((field, (filename, data, content_type)),))


def raw(
    content: bytes | Callable[[], bytes], content_type: str | None = None, *, chunked: bool = False
) -> Send:
    headers = (("content-type", content_type),) if content_type else ()
    return Send(content=content, headers=headers, chunked=chunked)


def json_text(text: bytes | str | Callable[[], bytes]) -> Send:
    """A JSON body exactly as given (it may be invalid, or nested too deep for `json.dumps`)."""
    return raw(text.encode() if isinstance(text, str) else text, "application/json")


def json_body(value: Any) -> Send:
    return json_text(json.dumps(value))


@dataclass(frozen=True)
class Expect:
    status: int
    code: str | None = None  # the error code (4xx); None for 200
    text: str | None = None  # 200: `result.text`
    rejected: bool | None = None  # 200: `result.rejected`


@dataclass(frozen=True)
class Case:
    name: str
    send: Send
    expect: Expect


@dataclass(frozen=True)
class TaskSample:
    """A clean image of `text` that the task's default model reads, and the answer to an image
    with nothing to read in it."""

    text: str
    image: Callable[[], Image.Image]
    blank: Expect
    specks: Expect | None = None  # random specks, when the task tells them from a blank picture


def _digit_sample() -> Image.Image:
    from digit_service.synth import draw_number

    return draw_number("7")


def _captcha_sample() -> Image.Image:
    from captcha_service.synth import render

    return render("k3x9", 100, 60, random.Random(5))


def _meter_sample() -> Image.Image:
    from meter_service.synth import generate_meter

    # A clear, level photo of a meter showing 02573 with no wheel mid-roll.
    positions = [0.0, 2.0, 5.0, 7.0, 3.0]
    return generate_meter(np.random.default_rng(7), wheels=5, size=(640, 480), positions=positions).image


SAMPLES: dict[str, TaskSample] = {
    # Nothing drawn: the digit service says so (README: 422 empty_image).
    "digit": TaskSample("7", _digit_sample, Expect(422, "empty_image")),
    # A captcha always has characters, so the captcha model always reads something; with nothing
    # there it is unsure or reads too few characters and flags the answer `rejected: true`.
    "captcha": TaskSample("k3x9", _captcha_sample, Expect(200, rejected=True)),
    # A blank picture holds no meter (422 empty_image); specks are something, but no counter
    # window can be found in them (422 unreadable_image).
    "meter": TaskSample(
        "02573", _meter_sample, Expect(422, "empty_image"), specks=Expect(422, "unreadable_image")
    ),
}

BAD = Expect(400, "bad_request")
UNSUPPORTED = Expect(415, "unsupported_media_type")
UNREADABLE = Expect(422, "unreadable_image")
TOO_BIG_BODY = Expect(413, "payload_too_large")
TOO_MANY_PIXELS = Expect(413, "image_too_large")


# --- image bytes --------------------------------------------------------------------------------


def png_header(width: int, height: int) -> bytes:
    """A PNG signature and a valid IHDR (8-bit grey): what a decoder reads before any pixel."""
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))


def gif_claiming(width: int, height: int) -> bytes:
    """A GIF whose screen and only frame claim width x height, with one byte of pixel data."""
    screen = struct.pack("<HH", width, height) + b"\x00\x00\x00"
    frame = b"," + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x02\x44\x01\x00"
    return b"GIF89a" + screen + frame + b";"


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small real JPEG with its frame header (SOF0) edited to claim width x height."""
    data = bytearray(encode(Image.new("L", (8, 8)), "JPEG"))
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def bmp_claiming(width: int, height: int) -> bytes:
    data = bytearray(encode(Image.new("L", (8, 8)), "BMP"))
    data[18:26] = struct.pack("<ii", width, height)
    return bytes(data)


def tiff_claiming(width: int, height: int) -> bytes:
    """A little-endian TIFF with one directory claiming width x height 8-bit grey, no pixels."""
    entries = [
        (256, 4, 1, width),
        (257, 4, 1, height),
        (258, 3, 1, 8),  # bits per sample
        (259, 3, 1, 1),  # no compression
        (262, 3, 1, 1),  # black is zero
        (273, 4, 1, 8),  # strip offset
        (278, 4, 1, height),  # rows per strip
        (279, 4, 1, (width * height) & 0xFFFFFFFF),  # strip byte count
    ]
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", *e) for e in entries)
    return b"II*\x00" + struct.pack("<I", 24) + b"\x00" * 16 + ifd + struct.pack("<I", 0)


def webp_claiming(width: int, height: int) -> bytes:
    """A lossless WebP (VP8L) header claiming width x height (at most 16384 a side)."""
    payload = b"\x2f" + struct.pack("<I", (width - 1) | ((height - 1) << 14)) + b"\x00" * 16
    chunk = b"VP8L" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def blank_png(width: int, height: int, mode: str = "L") -> bytes:
    """A white image; large ones compress to a few KB (1-bit: 6000x6000 is 16 KB)."""
    return encode(Image.new(mode, (width, height), 1 if mode == "1" else 255), "PNG")


def noise_specks() -> bytes:
    """White with a dark pixel every 7th row and column: enough 'ink' to pass a contrast check,
    but no stroke anywhere."""
    pixels = np.full((280, 280), 255, dtype=np.uint8)
    pixels[::7, ::7] = 0
    return encode(Image.fromarray(pixels))


def animated_gif(first: Image.Image) -> bytes:
    """`first` as frame 1 of 3; the other frames are black and noise (only frame 1 counts)."""
    others = [Image.new("P", first.size, 0), Image.effect_noise(first.size, 80).convert("P")]
    return encode(first.convert("P"), "GIF", save_all=True, append_images=others, duration=100, loop=0)


def sixteen_bit_png(image: Image.Image, scale: int) -> bytes:
    """16-bit grey PNG of `image` with values 0..255*scale (257: full range; 16: 12-bit data; 1:
    8-bit values stored in 16 bits)."""
    grey = np.asarray(image.convert("L")).astype(np.uint16) * scale
    return encode(Image.fromarray(grey))


def exif_rotated(image: Image.Image, orientation: int, fmt: str) -> bytes:
    """`image` stored turned, with the EXIF orientation that tells a viewer to turn it upright
    (6: turn 90 degrees clockwise to display; 8: counter-clockwise)."""
    stored = image.rotate(90 if orientation == 6 else -90, expand=True)
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(stored, fmt, exif=exif, **({"quality": 95} if fmt == "JPEG" else {}))


def multipart_raw(filename: bytes, data: bytes | Callable[[], bytes]) -> Send:
    """A multipart body written by hand: for a file name httpx would not send (raw non-UTF-8
    bytes), or for a file made only when it is sent."""
    boundary = b"hostile-boundary-7d3f"

    def body() -> bytes:
        return (
            b"--" + boundary + b"\r\n"
            b'Content-Disposition: form-data; name="file"; filename="' + filename + b'"\r\n'
            b"Content-Type: image/png\r\n\r\n"
            + (data() if callable(data) else data)
            + b"\r\n--"
            + boundary
            + b"--\r\n"
        )

    return raw(body, "multipart/form-data; boundary=" + boundary.decode())


def fifty_mb() -> bytes:
    return b"\x89PNG\r\n\x1a\n" + b"\x00" * (50 * MB)


def eleven_mb() -> bytes:
    """Over the 10 MB image limit, under the request-body limit (a third more, for base64)."""
    return b"\x89PNG\r\n\x1a\n" + b"\x00" * (11 * MB)


@functools.cache
def _sample_png() -> bytes:
    """A valid PNG of no task in particular, for cases about the request around the image."""
    return encode(Image.new("L", (40, 40), 255))


def _nested(depth: int, leaf: str = "1") -> str:
    return '{"a":' * depth + leaf + "}" * depth


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --- the corpus ---------------------------------------------------------------------------------


@functools.cache
def request_cases() -> tuple[Case, ...]:
    """Cases about the request itself: the same answer from every task."""
    png = _sample_png()
    pdf = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    zip_file = b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + b"\x00" * 40
    html = b"<!DOCTYPE html><html><body><img src=x onerror=alert(1)></body></html>"
    elf = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 56
    svg = (
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="28" height="28">'
        b'<script>alert(1)</script><text x="5" y="20">7</text></svg>'
    )
    ico = encode(Image.new("RGB", (16, 16), "white"), "ICO")  # Pillow reads it; we do not
    truncated_png = encode(Image.effect_noise((300, 300), 50))
    truncated_jpeg = encode(Image.effect_noise((300, 300), 50).convert("RGB"), "JPEG")
    gif = encode(Image.effect_noise((64, 64), 50).convert("P"), "GIF")
    bmp = encode(Image.effect_noise((64, 64), 50), "BMP")
    tiff = encode(Image.effect_noise((64, 64), 50), "TIFF")
    garbage = bytes(random.Random(1).randrange(256) for _ in range(4096))
    idat = truncated_png.find(b"IDAT") + 4  # where the compressed pixels start
    sos = truncated_jpeg.find(b"\xff\xda") + 14  # where the entropy-coded pixels start
    return (
        # Empty bodies
        Case("empty-body-no-content-type", raw(b""), BAD),
        Case("empty-raw-image-body", raw(b"", "image/png"), BAD),
        Case("empty-octet-stream", raw(b"", "application/octet-stream"), BAD),
        Case("empty-multipart-body", raw(b"", "multipart/form-data; boundary=x"), BAD),
        Case("empty-json-body", json_text(b""), BAD),
        Case("empty-file-part", multipart(b""), BAD),
        Case("json-empty-object", json_body({}), BAD),
        Case("json-null", json_text("null"), BAD),
        Case("json-array", json_body([_b64(png)]), BAD),
        Case("text-plain-content-type", raw(png, "text/plain"), UNSUPPORTED),
        # Wrong field names and types
        Case("multipart-field-image", multipart(png, field="image"), BAD),
        Case("multipart-field-File", multipart(png, field="File"), BAD),
        Case("multipart-only-model", Send(files=(("model", (None, "cnn")),)), BAD),
        Case("json-key-image", json_body({"image": _b64(png)}), BAD),
        Case("json-key-imageBase64", json_body({"imageBase64": _b64(png)}), BAD),
        Case("json-image-base64-number", json_body({"image_base64": 7}), BAD),
        Case("json-image-base64-list", json_body({"image_base64": [_b64(png)]}), BAD),
        Case("json-model-not-a-string", json_body({"image_base64": _b64(png), "model": ["cnn"]}), BAD),
        Case("multipart-without-boundary", raw(b"--x\r\n\r\n", "multipart/form-data"), BAD),
        Case("multipart-garbage", raw(garbage, "multipart/form-data; boundary=x"), BAD),
        # Truncated images
        Case("png-signature-only", multipart(truncated_png[:8]), UNREADABLE),
        Case("png-cut-in-header", multipart(truncated_png[:30]), UNREADABLE),
        Case("png-cut-in-half", multipart(truncated_png[: len(truncated_png) // 2]), UNREADABLE),
        Case("jpeg-cut-in-header", multipart(truncated_jpeg[:120], "photo.jpg", "image/jpeg"), UNREADABLE),
        Case(
            "jpeg-cut-in-half",
            multipart(truncated_jpeg[: len(truncated_jpeg) // 2], "photo.jpg", "image/jpeg"),
            UNREADABLE,
        ),
        Case("gif-cut-in-half", multipart(gif[: len(gif) // 2], "a.gif", "image/gif"), UNREADABLE),
        Case("bmp-cut-in-half", multipart(bmp[: len(bmp) // 2], "a.bmp", "image/bmp"), UNREADABLE),
        Case("tiff-cut-in-half", multipart(tiff[: len(tiff) // 2], "a.tif", "image/tiff"), UNREADABLE),
        # A valid header, then garbage (in a BMP or an uncompressed TIFF any bytes are pixels)
        Case("png-headers-then-garbage-pixels", multipart(truncated_png[:idat] + garbage), UNREADABLE),
        Case("png-ihdr-then-garbage-chunks", multipart(png_header(300, 300) + garbage), UNREADABLE),
        Case(
            "jpeg-headers-then-garbage-pixels",
            multipart(truncated_jpeg[:sos] + garbage, "a.jpg", "image/jpeg"),
            UNREADABLE,
        ),
        Case(
            "jpeg-soi-then-garbage",
            multipart(b"\xff\xd8\xff\xe0" + garbage, "a.jpg", "image/jpeg"),
            UNREADABLE,
        ),
        Case("gif-header-zeros", multipart(b"GIF89a" + b"\x00" * 20, "a.gif", "image/gif"), UNREADABLE),
        Case("bmp-magic-then-garbage", multipart(b"BM" + garbage, "a.bmp", "image/bmp"), UNREADABLE),
        Case("tiff-magic-then-garbage", multipart(b"II*\x00" + garbage, "a.tif", "image/tiff"), UNREADABLE),
        Case(
            "webp-riff-then-garbage",
            multipart(b"RIFF\x00\x10\x00\x00WEBPVP8 " + garbage, "a.webp", "image/webp"),
            UNREADABLE,
        ),
        # Not an image, whatever the name and Content-Type say
        Case("pdf-named-png", multipart(pdf, "digit.png", "image/png"), UNSUPPORTED),
        Case("zip-named-jpg", multipart(zip_file, "photo.jpg", "image/jpeg"), UNSUPPORTED),
        Case("html-named-gif", multipart(html, "image.gif", "image/gif"), UNSUPPORTED),
        Case("elf-named-png", multipart(elf, "image.png", "image/png"), UNSUPPORTED),
        Case("text-as-raw-image-png", raw(b"hello, I am a picture", "image/png"), UNSUPPORTED),
        Case("garbage-as-octet-stream", raw(garbage, "application/octet-stream"), UNSUPPORTED),
        Case("ico-not-supported", multipart(ico, "favicon.png"), UNSUPPORTED),
        # SVG: a program, not pixels
        Case("svg-multipart", multipart(svg, "digit.svg", "image/svg+xml"), UNSUPPORTED),
        Case("svg-raw-body", raw(svg, "image/svg+xml"), UNSUPPORTED),
        Case("svg-base64", json_body({"image_base64": _b64(svg)}), UNSUPPORTED),
        # Decompression bombs: a few bytes claiming billions of pixels, refused before decoding
        Case("png-bomb-50000x50000", multipart(png_bomb()), TOO_MANY_PIXELS),
        Case(
            "gif-bomb-65535x65535",
            multipart(gif_claiming(65535, 65535), "a.gif", "image/gif"),
            TOO_MANY_PIXELS,
        ),
        Case(
            "jpeg-bomb-65000x65000",
            multipart(jpeg_claiming(65000, 65000), "a.jpg", "image/jpeg"),
            TOO_MANY_PIXELS,
        ),
        Case("bmp-bomb-100000x100000", multipart(bmp_claiming(100000, 100000), "a.bmp"), TOO_MANY_PIXELS),
        Case("tiff-bomb-100000x100000", multipart(tiff_claiming(100000, 100000), "a.tif"), TOO_MANY_PIXELS),
        Case("webp-bomb-16384x16384", multipart(webp_claiming(16384, 16384), "a.webp"), TOO_MANY_PIXELS),
        # Over our limits (40 MP, 20,000 px a side) though under Pillow's own bomb threshold
        Case("png-7000x7000-49-megapixels", multipart(blank_png(7000, 7000, "1")), TOO_MANY_PIXELS),
        Case("png-20001x20", multipart(blank_png(20001, 20)), TOO_MANY_PIXELS),
        Case("png-header-20x20001", multipart(png_bomb(20, 20001)), TOO_MANY_PIXELS),
        # Too many bytes
        Case("upload-50mb-multipart", multipart_raw(b"big.png", fifty_mb), TOO_BIG_BODY),
        Case("upload-50mb-raw-chunked", raw(fifty_mb, "image/png", chunked=True), TOO_BIG_BODY),
        Case(
            "upload-50mb-json-base64",
            json_text(lambda: b'{"image_base64":"' + base64.b64encode(fifty_mb()) + b'"}'),
            TOO_BIG_BODY,
        ),
        Case("image-11mb-raw", raw(eleven_mb, "image/png"), TOO_BIG_BODY),
        # Many parts
        Case("multipart-2000-fields", Send(files=tuple((f"f{i}", (None, "x")) for i in range(2000))), BAD),
        Case(
            "multipart-500-files",
            Send(files=tuple(("file", ("a.png", png, "image/png")) for _ in range(500))),
            BAD,
        ),
        Case("multipart-two-files", Send(files=(("file", ("a.png", png)), ("file", ("b.png", png)))), BAD),
        Case(
            "multipart-model-twice",
            Send(files=(("file", ("a.png", png)), ("model", (None, "a")), ("model", (None, "b")))),
            BAD,
        ),
        Case(
            "query-100-parameters",
            Send(files=(("file", ("a.png", png)),), params=tuple((f"p{i}", "1") for i in range(100))),
            BAD,
        ),
        # Deeply nested JSON
        Case("json-nested-arrays-100000", json_text("[" * 100_000 + "]" * 100_000), BAD),
        Case("json-nested-objects-50000", json_text(_nested(50_000)), BAD),
        Case("json-image-base64-nested", json_text('{"image_base64":' + _nested(50_000) + "}"), BAD),
        Case(
            "json-model-nested",
            json_text('{"image_base64":"' + _b64(png) + '","model":' + _nested(50_000) + "}"),
            BAD,
        ),
        Case("json-invalid-utf8", json_text(b'{"image_base64": "\xff\xfe"}'), BAD),
        Case("json-huge-integer", json_text('{"image_base64": "AAAA", "model": ' + "9" * 100_000 + "}"), BAD),
        # Invalid base64
        Case("base64-percent-signs", json_body({"image_base64": "%%%"}), BAD),
        Case("base64-padding-in-the-middle", json_body({"image_base64": "iVBO==Rw0K"}), BAD),
        Case("base64-one-char", json_body({"image_base64": "Q"}), BAD),
        Case("base64-non-ascii", json_body({"image_base64": "iVBORw0KGgo\u00e9\u00e9"}), BAD),
        Case("base64-empty", json_body({"image_base64": ""}), BAD),
        Case("base64-data-url-no-data", json_body({"image_base64": "data:image/png;base64,"}), BAD),
        Case("base64-of-a-pdf", json_body({"image_base64": _b64(pdf)}), UNSUPPORTED),
    )


def image_cases(task: str) -> list[Case]:
    """Valid images, some of them odd, made from the task's sample: read right, or refused as blank."""
    sample = SAMPLES[task]
    image = sample.image()
    read = Expect(200, text=sample.text, rejected=False)
    png = encode(image)
    names = [
        "数字.png",
        "🙂 emoji \U0001d7d5.png",
        "\u202egnp.exe",  # right-to-left override: shows as "exe.png"
        "../../etc/passwd",
        "nul\u0000byte.png",
        "a" * 1000 + ".png",
        'quote" ; name="model.png',
    ]
    return [
        Case("plain-png", multipart(png), read),
        Case("animated-gif", multipart(animated_gif(image), "anim.gif", "image/gif"), read),
        Case("png-16-bit", multipart(sixteen_bit_png(image, 257)), read),
        Case("png-16-bit-12-bit-data", multipart(sixteen_bit_png(image, 16)), read),
        Case("png-16-bit-8-bit-values", multipart(sixteen_bit_png(image, 1)), read),
        Case(
            "png-palette",
            multipart(encode(image.convert("P", palette=Image.Palette.ADAPTIVE, colors=16))),
            read,
        ),
        Case("png-palette-transparency", multipart(encode(image.convert("P"), transparency=0)), read),
        Case(
            "jpeg-cmyk",
            multipart(encode(image.convert("CMYK"), "JPEG", quality=95), "cmyk.jpg", "image/jpeg"),
            read,
        ),
        Case(
            "jpeg-exif-rotated-6", multipart(exif_rotated(image, 6, "JPEG"), "phone.jpg", "image/jpeg"), read
        ),
        Case("png-exif-rotated-8", multipart(exif_rotated(image, 8, "PNG")), read),
        Case("webp", multipart(encode(image, "WEBP", quality=90), "a.webp", "image/webp"), read),
        Case("tiff", multipart(encode(image, "TIFF"), "scan.tif", "image/tiff"), read),
        Case("bmp", multipart(encode(image, "BMP"), "a.bmp", "image/bmp"), read),
        Case("base64-data-url", json_body({"image_base64": "data:image/png;base64," + _b64(png)}), read),
        Case("base64-url-safe-wrapped", json_body({"image_base64": _wrapped_urlsafe(png)}), read),
        Case("png-sent-as-jpeg-named-gif", multipart(png, "photo.gif", "image/jpeg"), read),
        *(
            Case(f"unicode-file-name-{index}", multipart(png, filename=name), read)
            for index, name in enumerate(names)
        ),
        Case("file-name-latin1-bytes", multipart_raw(b"\xe9t\xe9 \xff.png", png), read),
        # Nothing to read
        Case("png-1x1-black", multipart(encode(Image.new("L", (1, 1), 0))), sample.blank),
        Case("png-1x1-transparent", multipart(encode(Image.new("RGBA", (1, 1), (0, 0, 0, 0)))), sample.blank),
        Case("png-20000x20-blank", multipart(blank_png(20000, 20)), sample.blank),
        Case("png-20x20000-blank", multipart(blank_png(20, 20000)), sample.blank),
        # 36 MP (under the 40 MP limit) in 16 KB: decoded, and must not leave memory behind
        Case("png-6000x6000-16kb-zlib-bomb", multipart(blank_png(6000, 6000, "1")), sample.blank),
        Case("png-noise-specks", multipart(noise_specks()), sample.specks or sample.blank),
    ]


def _wrapped_urlsafe(data: bytes) -> str:
    """URL-safe base64 without padding, wrapped at 76 columns, as some clients send it."""
    text = base64.urlsafe_b64encode(data).decode().rstrip("=")
    return "\n".join(text[i : i + 76] for i in range(0, len(text), 76))


def corpus(task: str) -> list[Case]:
    """Every case for `task`: the request cases, and the image cases when the task has a sample."""
    return [*request_cases(), *(image_cases(task) if task in SAMPLES else [])]


# Text that only a Python stack trace or an exception's repr puts in a body.
STACK_TRACE_MARKERS = (
    "Traceback (most recent call last)",
    'File "/',
    '.py", line',
    "site-packages",
    "<class '",
)
