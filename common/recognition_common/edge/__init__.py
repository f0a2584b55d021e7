"""The edge layer: what sits between a client and any recognition code.

Used by the gateway and by every recognizer service alike: the platform's error format
(`errors`), reading uploads (`intake`), checking and decoding images (`imaging`), the bound on
slow request bodies (`timeouts`) and Prometheus plumbing (`metrics`). Nothing here knows about
models or serving, so the gateway installs it without TensorFlow; the serving layer
(`recognition_common.serving`) builds on it, never the other way round.
"""

from __future__ import annotations

from recognition_common.edge import errors
from recognition_common.edge.errors import ApiError, error_body, install_error_handlers
from recognition_common.edge.imaging import ImageLimits, decode_image, inspect_image, load_image, open_image
from recognition_common.edge.intake import BodyLimitMiddleware, ImageUpload, read_image_upload
from recognition_common.edge.metrics import RecognizerMetrics, metrics_response
from recognition_common.edge.timeouts import BodyTimeoutMiddleware

__all__ = [
    "ApiError",
    "BodyLimitMiddleware",
    "BodyTimeoutMiddleware",
    "ImageLimits",
    "ImageUpload",
    "RecognizerMetrics",
    "decode_image",
    "error_body",
    "errors",
    "inspect_image",
    "install_error_handlers",
    "load_image",
    "metrics_response",
    "open_image",
    "read_image_upload",
]
