"""Running a model (or any callable on tensors) over a large array, batch by batch."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from course_utils._tensorflow import keras

#: Examples per eager call when a trained model is run over many inputs (sampling, encoding,
#: the classifier's features). A convolutional network's activations for 1,000 MNIST images
#: take hundreds of MB, and TensorFlow keeps much of that memory after the call; at 200 they
#: stay in tens of MB, and each call still does enough work to hide its overhead.
INFERENCE_BATCH = 200


def apply_in_batches(model: Callable, inputs, *, batch_size: int = INFERENCE_BATCH
                     ) -> np.ndarray:
    """Call a model (or any callable on tensors) on ``inputs`` in batches, eagerly.

    Unlike ``model.predict`` this compiles nothing, so calls on arrays of different sizes
    cost no re-tracing and no memory for compiled functions.

    Args:
        model: e.g. ``autoencoder.encoder``, called as ``model(batch, training=False)``; or
            any other callable, called as ``model(batch)``.
        inputs: ``(n, ...)`` array, or a tuple of such arrays for a model with several
            inputs (e.g. ``(latents, labels)``; each keeps its dtype, others become float32).
        batch_size: examples per call.

    Returns:
        ``(n, ...)`` NumPy array of outputs (a tuple of arrays for multi-output models).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    several = isinstance(inputs, tuple)
    arrays = [np.asarray(a) for a in inputs] if several else [np.asarray(inputs, np.float32)]
    if len({len(a) for a in arrays}) != 1:
        raise ValueError(f"inputs must have the same length, got {[len(a) for a in arrays]}")
    is_keras = isinstance(model, keras.layers.Layer)  # Models are Layers
    outputs = []
    for start in range(0, len(arrays[0]), batch_size):
        batch = [a[start:start + batch_size] for a in arrays]
        batch = batch if several else batch[0]
        result = model(batch, training=False) if is_keras else model(batch)
        outputs.append(tuple(np.asarray(r) for r in result) if isinstance(result, (list, tuple))
                       else np.asarray(result))
    if not outputs:
        raise ValueError("apply_in_batches needs at least one input")
    if isinstance(outputs[0], tuple):
        return tuple(np.concatenate(parts) for parts in zip(*outputs, strict=True))
    return np.concatenate(outputs)
