"""Image bytes for tests: valid images in many encodings, and hostile ones."""

from __future__ import annotations

import functools
import io
import random
import struct
import zlib

from PIL import Image


def encode(image: Image.Image, fmt: str = "PNG", **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def salted(image: Image.Image, salt: int) -> Image.Image:
    """`image` (RGB) with bytes no other salt gives: two near-white pixels near its top-left
    corner, their places and their channels' levels (240-255) spelled by `salt` (distinct for
    every salt below 2**24; a random 128-bit salt collides about once in 6e8). Invisible to
    the recognizers, so the image reads as before but is new to the gateway's cache."""
    levels = [240 + (salt >> (4 * index)) % 16 for index in range(6)]
    image.putpixel((salt % 5, 0), (levels[0], levels[1], levels[2]))
    image.putpixel((5 + (salt >> 32) % 7, 1), (levels[3], levels[4], levels[5]))
    return image


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data and the CRC of type and data."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width: int = 50_000, height: int = 50_000) -> bytes:
    """A ~100-byte PNG whose header claims width x height pixels (a decompression bomb)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * (width + 1))  # one row; the rest is never sent
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", pixels)
        + png_chunk(b"IEND", b"")
    )


@functools.cache
def digit_png(digit: str) -> bytes:
    """`digit_service.synth.draw_number(digit)` as PNG bytes (made once; treat as read-only)."""
    from digit_service.synth import draw_number

    return encode(draw_number(digit))


def captcha_png(text: str, seed: int | float | str, width: int = 100, height: int = 60) -> bytes:
    """`captcha_service.synth.render` of `text`, seeded with `seed`, as PNG bytes."""
    from captcha_service.synth import render

    return encode(render(text, width, height, random.Random(seed)))
