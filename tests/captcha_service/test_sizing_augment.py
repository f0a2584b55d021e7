"""The input size chosen from the images, augmentation that keeps labels readable, weight transfer."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import keras
import numpy as np

from captcha_service.training.architectures import build_crnn, transfer_weights
from captcha_service.training.augment import Augmentation, augment_batch
from captcha_service.training.sizing import choose_input_size

MODELS = Path(__file__).resolve().parents[2] / "captcha-service" / "models"


def size(sizes: dict[tuple[int, int], int], longest: int, height: int | None = None) -> tuple[int, int, str]:
    chosen = choose_input_size(Counter(sizes), longest, height)
    return chosen.width, chosen.height, chosen.resize


def test_the_commonest_size_sets_the_input_keeping_its_aspect_ratio() -> None:
    assert size({(198, 41): 240, (200, 40): 10}, 6)[:3] == (198, 41, "pad")
    assert size({(200, 80): 1398}, 6)[:2] == (160, 64)  # tall: scaled down
    assert size({(60, 20): 9}, 4)[:2] == (96, 32)  # tiny: scaled up
    # Too narrow for 8 characters' CTC timesteps (17, 4 columns each): widened with padding.
    assert size({(50, 40): 5}, 8)[:2] == (68, 40)
    assert size({(160, 50): 5}, 6, height=60)[:2] == (192, 60)  # fine-tuning


def test_augmentation_varies_images_and_keeps_them_in_range() -> None:
    rng = np.random.default_rng(0)
    pixels = np.full((8, 37, 123), 230, dtype=np.uint8)
    pixels[:, 10:27, 20:100] = 30
    out = augment_batch(pixels, rng, Augmentation())
    assert out.shape == (8, 37, 123) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert not np.allclose(out[0], out[1])  # each image drawn afresh
    # Crops that keep every character: the dark block is still inside every image.
    assert all((image[:, 15:105] < 0.4).mean() > 0.2 for image in out)


def test_fine_tuning_reuses_features_and_the_shared_characters() -> None:
    source = keras.saving.load_model(MODELS / "default" / "model.keras", compile=False)
    target = build_crnn(60, 192, len("0123XYZ"), 128)
    reused = transfer_weights(source, target, "0123456789abcdefghijklmnopqrstuvwxyz", "0123XYZ")
    assert any(name.startswith("characters (4 of 7") for name in reused)
    source_out, target_out = source.get_layer("characters"), target.get_layer("characters")
    assert np.array_equal(target_out.get_weights()[0][:, :5], source_out.get_weights()[0][:, :5])
    for old, new in zip(source.layers[:3], target.layers[:3], strict=True):
        for a, b in zip(old.get_weights(), new.get_weights(), strict=True):
            assert np.array_equal(a, b)
