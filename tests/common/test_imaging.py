import numpy as np
import pytest
from PIL import Image

from recognition_common.edge.errors import ApiError
from recognition_common.edge.imaging import ImageLimits, decode_image, inspect_image, sniff_format
from tests.support.images import encode, png_bomb

LIMITS = ImageLimits(max_bytes=1_000_000, max_pixels=4_000_000)


def status_of(data: bytes, limits: ImageLimits = LIMITS) -> tuple[int, str]:
    with pytest.raises(ApiError) as caught:
        decode_image(data, limits)
    return caught.value.status, caught.value.code


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF"])
def test_every_supported_format_decodes(fmt: str) -> None:
    data = encode(Image.new("RGB", (40, 30), "white"), fmt)
    assert sniff_format(data) == fmt
    image = decode_image(data, LIMITS)
    assert image.size == (40, 30)
    assert image.mode in ("L", "LA", "RGB", "RGBA")


@pytest.mark.parametrize(
    "image",
    [
        Image.new("I;16", (8, 8), 40000),
        Image.new("P", (8, 8)),
        Image.new("CMYK", (8, 8), (0, 0, 0, 255)),
        Image.new("1", (8, 8), 1),
        Image.new("LA", (8, 8), (0, 0)),
    ],
    ids=["16-bit", "palette", "cmyk", "bilevel", "gray-alpha"],
)
def test_unusual_modes_become_plain_modes(image: Image.Image) -> None:
    fmt = "JPEG" if image.mode == "CMYK" else ("TIFF" if image.mode == "I;16" else "PNG")
    decoded = decode_image(encode(image, fmt), LIMITS)
    assert decoded.mode in ("L", "LA", "RGB", "RGBA")


@pytest.mark.parametrize(
    ("values", "mode"),
    [
        (np.array([[0, 65535], [30000, 100]], dtype=np.uint16), "I;16"),  # full 16-bit range
        (np.array([[0, 4095], [2000, 100]], dtype=np.uint16), "I;16"),  # 12-bit scanner data
        (np.array([[0, 255], [128, 7]], dtype=np.uint16), "I;16"),  # 8-bit values in 16 bits
        (np.array([[0.0, 1.0], [0.5, 0.25]], dtype=np.float32), "F"),  # float 0..1
    ],
    ids=["16-bit", "12-bit", "8-bit-in-16", "float"],
)
def test_wide_greyscale_keeps_its_contrast(values: np.ndarray, mode: str) -> None:
    image = Image.fromarray(values)
    assert image.mode == mode
    decoded = decode_image(encode(image, "PNG" if mode == "I;16" else "TIFF"), LIMITS)
    assert decoded.mode == "L"
    assert decoded.getextrema() == (0, 255)  # black stays black, white becomes white


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF"])
def test_exif_rotation_is_applied(fmt: str) -> None:
    image = Image.new("L", (40, 20), 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    decoded = decode_image(encode(image, fmt, exif=exif), LIMITS)
    assert decoded.size == (20, 40)


def test_png_without_exif_is_left_as_drawn() -> None:
    image = Image.new("L", (40, 20), 255)
    decoded = decode_image(encode(image, "PNG"), LIMITS)
    assert decoded.size == (40, 20)


def test_content_decides_not_the_name() -> None:
    assert status_of(b"%PDF-1.7 definitely a document") == (415, "unsupported_media_type")
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>'
    assert status_of(svg) == (415, "unsupported_media_type")


def test_empty_data_is_a_bad_request() -> None:
    assert status_of(b"") == (400, "bad_request")


def test_truncated_png_is_unreadable() -> None:
    data = encode(Image.effect_noise((200, 200), 60), "PNG")
    assert status_of(data[: len(data) // 2])[0] == 422


def test_garbage_after_a_valid_header_is_unreadable() -> None:
    data = encode(Image.new("L", (100, 100)), "PNG")
    assert status_of(data[:33] + b"\x00garbage" * 50)[0] == 422


def test_decompression_bomb_is_refused_without_decoding() -> None:
    bomb = png_bomb()
    assert len(bomb) < 200
    with pytest.raises(ApiError) as caught:
        inspect_image(bomb, LIMITS)
    assert caught.value.status == 413
    assert caught.value.code == "image_too_large"


def test_pixel_limit_applies_below_pillows_own() -> None:
    data = encode(Image.new("L", (2100, 2000)), "PNG")  # 4.2 MP > 4 MP limit
    assert status_of(data) == (413, "image_too_large")


def test_byte_limit() -> None:
    data = encode(Image.effect_noise((700, 700), 100), "PNG")
    assert len(data) > 100_000
    assert status_of(data, ImageLimits(max_bytes=100_000)) == (413, "payload_too_large")


def test_inspect_reports_dimensions_without_decoding() -> None:
    info = inspect_image(encode(Image.new("RGB", (123, 45)), "JPEG"), LIMITS)
    assert (info.format, info.width, info.height) == ("JPEG", 123, 45)
