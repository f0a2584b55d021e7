"""The CRNN: convolutions read the image, a bidirectional GRU reads the columns left to right.

Image in, per-timestep softmax out (blank + charset); one timestep per 4 pixel columns. This is
the served model: plain Keras layers only, so `keras.saving.load_model(path, compile=False)`
works in a fresh process without custom objects. The CTC loss lives in `training.ctc_loss`, used
only while training.
"""

from __future__ import annotations

import keras
import numpy as np
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


def transfer_weights(
    source: keras.Model, target: keras.Model, source_charset: str, target_charset: str
) -> list[str]:
    """Copy a trained CRNN's weights into a new one; the names of the layers that were reused.

    Layers are paired in order; a layer whose weights have the same shapes is copied whole (the
    convolutions always are; the column dense layer and the GRU when the input height matches).
    The output layer is rebuilt for the target's charset: the blank's and every shared
    character's weights are kept, a new character starts from fresh weights.
    """
    reused = []
    pairs = zip(
        [layer for layer in source.layers if layer.weights],
        [layer for layer in target.layers if layer.weights],
        strict=False,
    )
    for old, new in pairs:
        old_weights, new_weights = old.get_weights(), new.get_weights()
        if new.name == "characters":
            kernel, bias = (w.copy() for w in new_weights)
            if kernel.shape[0] != old_weights[0].shape[0]:
                continue
            source_index = {char: i + 1 for i, char in enumerate(source_charset)}
            columns = [(0, 0)] + [
                (source_index[char], i + 1) for i, char in enumerate(target_charset) if char in source_index
            ]
            for old_column, new_column in columns:
                kernel[:, new_column] = old_weights[0][:, old_column]
                bias[new_column] = old_weights[1][old_column]
            new.set_weights([kernel, bias])
            reused.append(f"characters ({len(columns) - 1} of {len(target_charset)} characters)")
        elif [w.shape for w in old_weights] == [w.shape for w in new_weights]:
            new.set_weights([np.asarray(w) for w in old_weights])
            reused.append(new.name)
    return reused
