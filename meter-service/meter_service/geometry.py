"""Corner conventions and the plane geometry every part of the meter service agrees on.

A counter window is four corners, a float32 (4, 2) array of (x, y) ordered TL, TR, BR, BL, in
*continuous* image pixels: (0, 0) is the top-left edge of the top-left pixel and (W, H) the
bottom-right edge of the image, which is the convention PIL's `Image.transform` uses. So a
window's corners are the outer edges of the wheel row, and `rectify` maps them exactly onto the
edges of the output crop (N wheels -> N equal cells).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

Corners = np.ndarray  # float32 (4, 2): TL, TR, BR, BL


def as_corners(points: np.ndarray | Sequence[Sequence[float]]) -> Corners:
    """`points` as a float32 (4, 2) array (no reordering)."""
    array = np.asarray(points, dtype=np.float32).reshape(-1, 2)
    if array.shape != (4, 2):
        raise ValueError(f"expected 4 points, got {array.shape[0]}")
    return array


def order_corners(points: np.ndarray | Sequence[Sequence[float]]) -> Corners:
    """Four points of a convex quad in any order -> TL, TR, BR, BL.

    Sorting by angle round the centroid gives the clockwise cycle (y points down); the cycle
    starts at the corner whose next edge points most nearly to the right. That edge is the top
    edge of any quad turned by less than 45 degrees, whatever its aspect ratio, where the usual
    "smallest x + y is top-left" rule breaks for long thin turned rows.
    """
    array = as_corners(points)
    centre = array.mean(axis=0)
    angles = np.arctan2(array[:, 1] - centre[1], array[:, 0] - centre[0])
    cycle = array[np.argsort(angles, kind="stable")]
    edges = np.roll(cycle, -1, axis=0) - cycle
    directions = edges / np.maximum(np.linalg.norm(edges, axis=1, keepdims=True), 1e-9)
    start = int(np.argmax(directions[:, 0]))  # cos of the edge's angle to +x
    return np.roll(cycle, -start, axis=0).astype(np.float32)


def polygon_area(polygon: np.ndarray) -> float:
    """Signed shoelace area (positive when clockwise in image coordinates, y down)."""
    if len(polygon) < 3:
        return 0.0
    x, y = polygon[:, 0], polygon[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


def _clip(subject: list[np.ndarray], a: np.ndarray, b: np.ndarray, sign: float) -> list[np.ndarray]:
    """Sutherland-Hodgman: the part of `subject` on the inner side of the line a->b."""

    def side(p: np.ndarray) -> float:
        return sign * float((b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0]))

    result: list[np.ndarray] = []
    for index, current in enumerate(subject):
        previous = subject[index - 1]
        s_cur, s_prev = side(current), side(previous)
        if s_cur >= 0:
            if s_prev < 0:
                result.append(previous + (current - previous) * (s_prev / (s_prev - s_cur)))
            result.append(current)
        elif s_prev >= 0:
            result.append(previous + (current - previous) * (s_prev / (s_prev - s_cur)))
    return result


def quad_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two convex quads (any vertex order round the outline)."""
    pa, pb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    area_a, area_b = abs(polygon_area(pa)), abs(polygon_area(pb))
    if area_a <= 0 or area_b <= 0:
        return 0.0
    sign = 1.0 if polygon_area(pb) > 0 else -1.0  # which side of b's edges is inside
    inside: list[np.ndarray] = list(pa)
    for index in range(len(pb)):
        if not inside:
            break
        inside = _clip(inside, pb[index], pb[(index + 1) % len(pb)], sign)
    overlap = abs(polygon_area(np.array(inside))) if len(inside) >= 3 else 0.0
    return overlap / (area_a + area_b - overlap)


# A quad's own coordinates: TL, TR, BR, BL of the unit square. homography(UNIT_SQUARE, corners)
# maps (u along the row, v across it) to image pixels.
UNIT_SQUARE = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=np.float64)
UNIT_SQUARE.flags.writeable = False


def homography(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 3x3 projective map taking the four `source` points to the four `target` points."""
    src, dst = np.asarray(source, dtype=np.float64), np.asarray(target, dtype=np.float64)
    rows, values = [], []
    for (x, y), (u, v) in zip(src, dst, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        values.extend([u, v])
    solution = np.linalg.solve(np.array(rows), np.array(values))
    return np.append(solution, 1.0).reshape(3, 3)


def transform_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 3x3 projective map to (N, 2) points."""
    array = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    mapped = np.c_[array, np.ones(len(array))] @ np.asarray(matrix, dtype=np.float64).T
    return mapped[:, :2] / mapped[:, 2:3]


def warp(
    image: Image.Image,
    matrix: np.ndarray,
    size: tuple[int, int],
    resample: Image.Resampling = Image.Resampling.BICUBIC,
    fill: tuple[int, ...] | int = 0,
) -> Image.Image:
    """`image` moved by the projective map `matrix` (source -> output pixels) onto a `size` canvas."""
    inverse = np.linalg.inv(matrix)
    inverse = inverse / inverse[2, 2]
    return image.transform(
        size, Image.Transform.PERSPECTIVE, tuple(inverse.ravel()[:8]), resample=resample, fillcolor=fill
    )


def rectify(
    image: Image.Image,
    corners: np.ndarray,
    width: int,
    height: int,
    resample: Image.Resampling = Image.Resampling.BICUBIC,
) -> Image.Image:
    """The quad `corners` (TL, TR, BR, BL) of `image` warped flat onto a `width` x `height` image."""
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float64)
    matrix = homography(target, as_corners(corners))  # output pixels -> source pixels
    return image.transform(
        (width, height), Image.Transform.PERSPECTIVE, tuple(matrix.ravel()[:8]), resample=resample
    )


def quad_size(corners: np.ndarray) -> tuple[float, float]:
    """Mean (width, height) of a TL, TR, BR, BL quad: top and bottom edges, left and right edges."""
    c = as_corners(corners).astype(np.float64)
    width = (np.linalg.norm(c[1] - c[0]) + np.linalg.norm(c[2] - c[3])) / 2
    height = (np.linalg.norm(c[3] - c[0]) + np.linalg.norm(c[2] - c[1])) / 2
    return float(width), float(height)


def rectangle(centre: tuple[float, float], size: tuple[float, float], angle_degrees: float = 0.0) -> Corners:
    """Corners TL, TR, BR, BL of a `size` (w, h) rectangle about `centre`, turned clockwise on screen."""
    w, h = size
    box = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]])
    theta = np.radians(angle_degrees)
    turn = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    return (box @ turn.T + np.asarray(centre)).astype(np.float32)
