"""The CRNN: convolutions read the image, a bidirectional GRU reads the columns left to right.

Image in, per-timestep softmax out (blank + charset); one timestep per 4 pixel columns. This is
the served model: plain Keras layers only, so `keras.saving.load_model(path, compile=False)`
works in a fresh process without custom objects. The CTC loss lives in `training.ctc_loss`, used
only while training.
"""

from __future__ import annotations

import keras
from keras import layers

DESCRIPTION = (
    "3x [conv 3x3 (16, 32, 64) + relu, maxpool (2x2, 2x2, 2x1)], column features -> dense 64 + "
    "dropout 0.2, bidirectional GRU {units} (return sequences, dropout 0.25), dense softmax "
    "(blank + charset) per timestep; CTC loss"
)


def build_crnn(height: int, width: int, num_chars: int, gru_units: int = 128) -> keras.Model:
    """(height, width, 1) float in [0, 1] -> (width // 4, num_chars + 1) probabilities."""
    image = keras.Input((height, width, 1), name="image")
    x = image
    for filters, pool in ((16, (2, 2)), (32, (2, 2)), (64, (2, 1))):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", kernel_initializer="he_normal")(x)
        x = layers.MaxPooling2D(pool)(x)
    # (h, w, c) -> (w, h * c): one feature vector per image column, columns as timesteps.
    x = layers.Permute((2, 1, 3))(x)
    x = layers.Reshape((width // 4, (height // 8) * 64))(x)
    x = layers.Dense(64, activation="relu")(x)
    x = layers.Dropout(0.2)(x)
    x = layers.Bidirectional(layers.GRU(gru_units, return_sequences=True, dropout=0.25))(x)
    outputs = layers.Dense(num_chars + 1, activation="softmax", name="characters")(x)
    return keras.Model(image, outputs, name="crnn_ctc")


def describe(gru_units: int) -> str:
    return DESCRIPTION.format(units=gru_units)
