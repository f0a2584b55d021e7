"""Image validation and decoding, judged by content, never by file name or declared type.

Two steps, so the gateway can refuse bad input without decoding pixels:

* `inspect_image` reads only the header: size limits, the format sniffed from magic bytes and the
  pixel count a decoder would allocate (a 50000x50000 PNG of a few KB is refused here).
* `decode_image` does that, then decodes the first frame, applies EXIF rotation and hands back a
  Pillow image in a plain mode (L, LA, RGB or RGBA) that pre-processing can rely on.

The services use the two halves of `decode_image` separately (`open_image`, then `load_image`),
so the header is parsed once while the size decides where the decoding runs.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import cast

from PIL import Image, ImageOps, UnidentifiedImageError

from recognition_common.edge import errors
from recognition_common.edge.errors import ApiError

# Formats a browser, phone, scanner or webcam produces. SVG is deliberately absent: it is a
# program, not pixels.
SUPPORTED_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF")

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)


@dataclass(frozen=True)
class ImageLimits:
    """What an upload may cost. Defaults are the documented public limits."""

    max_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 40_000_000  # a 7000x5700 photo; decompression bombs claim far more
    max_side: int = 20_000


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int


def sniff_format(data: bytes) -> str | None:
    """The image format from the first bytes, or None when the bytes are not a known image."""
    for magic, name in _MAGIC:
        if data.startswith(magic):
            return name
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def _check_size(data: bytes, limits: ImageLimits) -> str:
    if not data:
        raise ApiError(400, errors.BAD_REQUEST, "the request carries no image data")
    if len(data) > limits.max_bytes:
        raise ApiError(
            413,
            errors.PAYLOAD_TOO_LARGE,
            f"image is {len(data)} bytes; the limit is {limits.max_bytes} bytes",
        )
    fmt = sniff_format(data)
    if fmt is None:
        raise ApiError(
            415,
            errors.UNSUPPORTED_MEDIA_TYPE,
            f"the data is not an image in a supported format ({', '.join(SUPPORTED_FORMATS)})",
        )
    return fmt


def _open(data: bytes, limits: ImageLimits) -> Image.Image:
    """Open lazily (header only) and refuse dimensions a decoder must never allocate."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=SUPPORTED_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ApiError(
            413, errors.IMAGE_TOO_LARGE, f"image dimensions refused before decoding: {exc}"
        ) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ApiError(422, errors.UNREADABLE_IMAGE, "the image header cannot be read") from exc
    width, height = image.size
    if width < 1 or height < 1:
        raise ApiError(422, errors.UNREADABLE_IMAGE, "the image has no pixels")
    if width * height > limits.max_pixels or max(width, height) > limits.max_side:
        raise ApiError(
            413,
            errors.IMAGE_TOO_LARGE,
            f"image is {width}x{height} pixels; the limit is {limits.max_pixels} pixels "
            f"and {limits.max_side} per side",
        )
    return image


def open_image(data: bytes, limits: ImageLimits) -> Image.Image:
    """Validate an upload and open it lazily: header read, pixels not decoded yet."""
    _check_size(data, limits)
    return _open(data, limits)


def inspect_image(data: bytes, limits: ImageLimits) -> ImageInfo:
    """Validate an upload without decoding its pixels (cheap enough for the gateway)."""
    image = open_image(data, limits)
    return ImageInfo(format=image.format or "?", width=image.width, height=image.height)


def load_image(image: Image.Image) -> Image.Image:
    """Decode an image from `open_image`: first frame, upright, as L, LA, RGB or RGBA."""
    try:
        image.seek(0)
        image.load()
        if _may_have_exif(image):
            image = ImageOps.exif_transpose(image) or image
        return _plain_mode(image)
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
        raise ApiError(422, errors.UNREADABLE_IMAGE, "the image data is truncated or corrupt") from exc


def _may_have_exif(image: Image.Image) -> bool:
    """Whether a loaded image can carry an EXIF orientation at all.

    Looking (`exif_transpose` parses the EXIF block) costs about as much as decoding a canvas-sized
    PNG, so the common case of a PNG, GIF or BMP without EXIF data skips it: those formats keep
    EXIF only in what Pillow puts in `info` while loading (PNG's eXIf chunk or its "Raw profile"
    text). JPEG, WebP and TIFF are always looked at.
    """
    if image.format not in ("PNG", "GIF", "BMP"):
        return True
    return "exif" in image.info or "Raw profile type exif" in image.info


def decode_image(data: bytes, limits: ImageLimits) -> Image.Image:
    """Validate and decode the first frame, upright, as L, LA, RGB or RGBA."""
    return load_image(open_image(data, limits))


def _plain_mode(image: Image.Image) -> Image.Image:
    """Collapse palette, 16-bit, CMYK and friends into the four modes pre-processing handles."""
    if image.mode in ("L", "LA", "RGB", "RGBA"):
        return image
    if image.mode == "P":
        return image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16/32-bit integer or float greyscale: stretch the data's own range to 8 bits, so an image
        # that uses only part of it (12-bit scanner data, 8-bit values stored in 16 bits, floats
        # in 0..1) keeps its contrast instead of collapsing to black.
        wide = image if image.mode == "F" else image.convert("I")
        low, high = _band_extrema(wide)
        scale = 255 / (high - low) if high > low else 0.0
        return wide.point(lambda v: v * scale - low * scale).convert("L")
    if image.mode == "1":
        return image.convert("L")
    if image.mode in ("PA", "La"):
        return image.convert("LA" if image.mode == "La" else "RGBA")
    if image.mode == "RGBa":
        return image.convert("RGBA")
    return image.convert("RGB")


def _band_extrema(image: Image.Image) -> tuple[float, float]:
    """(lowest, highest) value of a one-band image (PIL types getextrema for every mode)."""
    low, high = cast(tuple[float, float], image.getextrema())
    return float(low), float(high)
