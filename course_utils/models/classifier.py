"""The course classifier: a small CNN whose penultimate layer feeds classifier-FID."""

from __future__ import annotations

from course_utils._tensorflow import keras
from course_utils.geometry import IMAGE_SHAPE, NUM_CLASSES

FEATURES_LAYER = "features"


def build_classifier(*, num_classes: int = NUM_CLASSES, feature_dim: int = 128,
                     learning_rate: float = 1e-3, steps_per_execution: int = 32) -> keras.Model:
    """Build and compile the course's MNIST classifier.

    Input ``(batch, 28, 28, 1)`` float32 in [0, 1]; output ``(batch, num_classes)`` logits.
    Layers: 3x3 convolutions with 32 then 64 channels, each followed by 2x2 max-pooling,
    a ``feature_dim`` ReLU layer named ``"features"`` (the embedding used by
    classifier-FID), dropout, and a linear layer of logits. Compiled without XLA, which
    makes convolutions several times slower on CPUs.
    """
    layers = keras.layers
    inputs = keras.Input(IMAGE_SHAPE, name="images")
    x = inputs
    for filters in (32, 64):
        x = layers.Conv2D(filters, 3, activation="relu")(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    features = layers.Dense(feature_dim, activation="relu", name=FEATURES_LAYER)(x)
    logits = layers.Dense(num_classes, name="logits")(layers.Dropout(0.3)(features))
    model = keras.Model(inputs, logits, name="course_classifier")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        jit_compile=False,
        steps_per_execution=steps_per_execution,
    )
    return model
