"""The digit classifiers the service can serve, by name.

Both take float32 (N, 28, 28, 1) images in [0, 1] and end in a softmax over the ten digits. They
hold no augmentation or rescaling layers: the service does its own pre-processing and feeds the
model exactly what MNIST looks like, and a plain graph loads anywhere with
`keras.saving.load_model` (no custom objects).
"""

from __future__ import annotations

from collections.abc import Callable

import keras
from keras import layers

from digit_service.training.data import IMAGE_SIZE, NUM_CLASSES

INPUT_SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 1)


def build_lenet5() -> keras.Model:
    """LeNet-5 (LeCun et al., 1998) with today's ReLU and max-pooling.

    The first convolution pads to 32x32-equivalent ("same"), as the original fed 32x32 images,
    so the second one still sees 14x14 maps. About 62k parameters: the small, fast baseline.
    """
    return keras.Sequential(
        [
            keras.Input(shape=INPUT_SHAPE, name="image"),
            layers.Conv2D(6, 5, padding="same", activation="relu", name="conv1"),
            layers.MaxPooling2D(2, name="pool1"),
            layers.Conv2D(16, 5, activation="relu", name="conv2"),
            layers.MaxPooling2D(2, name="pool2"),
            layers.Flatten(name="flatten"),
            layers.Dense(120, activation="relu", name="fc1"),
            layers.Dense(84, activation="relu", name="fc2"),
            layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities"),
        ],
        name="lenet5",
    )


def build_cnn(dropout: float = 0.4) -> keras.Model:
    """A VGG-style CNN with batch normalisation: the accurate model.

    Two blocks of two 3x3 convolutions (32 then 64 filters), each convolution followed by batch
    normalisation (so no bias) and ReLU, each block by 2x2 max-pooling and light dropout; then a
    256-unit dense layer with batch normalisation and dropout. Batch normalisation lets it train
    quickly at a high learning rate; dropout and the pipeline's augmentation keep it from
    overfitting 55k images. About 0.9M parameters (3.5 MB of float32 weights).
    """
    inputs = keras.Input(shape=INPUT_SHAPE, name="image")
    x = inputs
    for block, filters in enumerate((32, 64), start=1):
        for conv in (1, 2):
            name = f"block{block}_conv{conv}"
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=name)(x)
            x = layers.BatchNormalization(name=f"{name}_bn")(x)
            x = layers.Activation("relu", name=f"{name}_relu")(x)
        x = layers.MaxPooling2D(2, name=f"block{block}_pool")(x)
        x = layers.Dropout(0.25, name=f"block{block}_dropout")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(256, use_bias=False, name="fc")(x)
    x = layers.BatchNormalization(name="fc_bn")(x)
    x = layers.Activation("relu", name="fc_relu")(x)
    x = layers.Dropout(dropout, name="fc_dropout")(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="cnn")


ARCHITECTURES: dict[str, Callable[[], keras.Model]] = {
    "lenet5": build_lenet5,
    "cnn": build_cnn,
}

DESCRIPTIONS: dict[str, str] = {
    "lenet5": (
        "conv 6@5x5 same + relu, maxpool 2, conv 16@5x5 + relu, maxpool 2, "
        "dense 120 relu, dense 84 relu, dense 10 softmax"
    ),
    "cnn": (
        "2x [conv 32@3x3 + BN + relu], maxpool 2, dropout 0.25, "
        "2x [conv 64@3x3 + BN + relu], maxpool 2, dropout 0.25, "
        "dense 256 + BN + relu, dropout 0.4, dense 10 softmax"
    ),
}
