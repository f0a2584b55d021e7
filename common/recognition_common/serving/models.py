"""Loading `.keras` models from model directories and compiling them for serving.

`model.predict` costs ~44 ms per call on this class of machine against ~0.7 ms for a compiled
`tf.function`, so models are served through a `tf.function` with a fixed input signature (traced
once, any batch size) and warmed up before the service reports ready.
TensorFlow is imported here only, so the gateway can use the rest of the package without it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import overload

import numpy as np

from recognition_common.serving.model_card import CARD_FILE, MODEL_FILE, CardT, ModelCard, read_card

logger = logging.getLogger("recognition.models")

PredictFn = Callable[[np.ndarray], np.ndarray]


@dataclass
class DeviceInfo:
    kind: str  # "cpu" or "gpu"
    name: str


def import_tensorflow() -> ModuleType:
    """TensorFlow, imported without the lines its C++ side prints while loading.

    Importing it writes "oneDNN custom operations are on ..." and "All log messages before
    absl::InitializeLog() is called are written to STDERR" straight to file descriptor 2, before
    TF_CPP_MIN_LOG_LEVEL or absl's level take effect, so no setting removes them; to a user they
    read like errors. For the import alone, descriptor 2 points at /dev/null (a Python error in
    the import still raises as usual). TF_CPP_MIN_LOG_LEVEL=0 or RECOGNITION_DEBUG=1 keep them.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    loud = os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0" or os.environ.get("RECOGNITION_DEBUG")
    if "tensorflow" in sys.modules or loud:
        import tensorflow

        return tensorflow
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
            import tensorflow
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    return tensorflow


def configure_tensorflow(inference_threads: int = 0) -> DeviceInfo:
    """Quiet logs, GPU memory growth on (several models share a card), threads as configured."""
    tf = import_tensorflow()

    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        with contextlib.suppress(RuntimeError):  # already initialised; harmless
            tf.config.experimental.set_memory_growth(gpu, True)
    if inference_threads > 0:
        with contextlib.suppress(RuntimeError):
            tf.config.threading.set_intra_op_parallelism_threads(inference_threads)
    if gpus:
        return DeviceInfo(kind="gpu", name=gpus[0].name)
    return DeviceInfo(kind="cpu", name="/physical_device:CPU:0")


def find_model_dirs(root: Path) -> list[Path]:
    """Every sub-directory of `root` holding both a model file and a card, sorted by name."""
    if not root.is_dir():
        return []
    return sorted(
        path for path in root.iterdir() if (path / MODEL_FILE).is_file() and (path / CARD_FILE).is_file()
    )


FINGERPRINT_CHARS = 12


def fingerprint(model_dir: Path) -> str:
    """What the served model is made of: a SHA-256 of `model.keras`, `card.json` and, recursively,
    the components its card lists, first 12 hex digits.

    Reported beside the card's version (`GET /v1/models`, every answer's `model`) and part of the
    gateway's cache key, so a model file replaced without bumping the card's version still never
    answers from another model's cache entries. Read without validating anything: a broken card
    still has a fingerprint, and loading it is what refuses it.
    """
    digest = hashlib.sha256()
    for name in (MODEL_FILE, CARD_FILE):
        digest.update(name.encode() + b"\0" + hashlib.sha256((model_dir / name).read_bytes()).digest())
    for component in _components(model_dir):
        digest.update(f"component:{component}:{fingerprint(model_dir / component)}".encode())
    return digest.hexdigest()[:FINGERPRINT_CHARS]


def _components(model_dir: Path) -> list[str]:
    try:
        listed = json.loads((model_dir / CARD_FILE).read_bytes()).get("components") or []
    except (ValueError, AttributeError):
        return []
    return [str(name) for name in listed] if isinstance(listed, list) else []


@overload
def load_compiled(model_dir: Path, warmup_batch: int = 1) -> tuple[ModelCard, PredictFn]: ...
@overload
def load_compiled(model_dir: Path, warmup_batch: int, card_class: type[CardT]) -> tuple[CardT, PredictFn]: ...
def load_compiled(
    model_dir: Path,
    warmup_batch: int = 1,
    card_class: type[ModelCard] = ModelCard,
) -> tuple[ModelCard, PredictFn]:
    """Load a model directory; return its card (as `card_class`) and a compiled batch ->
    probabilities function."""
    import keras
    import tensorflow as tf

    card = read_card(model_dir, card_class)
    model = keras.saving.load_model(model_dir / MODEL_FILE, compile=False)
    signature = [tf.TensorSpec([None, *card.input_shape], tf.float32)]

    @tf.function(input_signature=signature)
    def forward(batch: tf.Tensor) -> tf.Tensor:
        return model(batch, training=False)

    def predict(batch: np.ndarray) -> np.ndarray:
        outputs = forward(tf.convert_to_tensor(batch, dtype=tf.float32))
        return tf.nest.map_structure(lambda tensor: tensor.numpy(), outputs)

    # Trace and warm both the single-sample and the full-batch paths before serving.
    for size in sorted({1, max(1, warmup_batch)}):
        predict(np.zeros((size, *card.input_shape), dtype=np.float32))
    logger.info("loaded model %s %s from %s", card.name, card.version, model_dir)
    return card, predict
