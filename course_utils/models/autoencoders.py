"""Multi-layer perceptron encoders and decoders, and the plain autoencoder."""

from __future__ import annotations

from collections.abc import Sequence

from course_utils import losses
from course_utils._tensorflow import keras
from course_utils.geometry import NUM_PIXELS
from course_utils.training import GenerativeModel


def build_mlp(
    input_dim: int,
    hidden_units: Sequence[int],
    output_dim: int,
    *,
    activation: str | None = "tanh",
    output_activation: str | None = None,
    name: str = "mlp",
) -> keras.Model:
    """Build a dense network ``input_dim -> hidden_units... -> output_dim``.

    Args:
        input_dim: size of the input vectors.
        hidden_units: width of each hidden layer, e.g. ``(500, 300)``; may be empty
            (a linear map when ``output_activation`` is None).
        output_dim: size of the output vectors.
        activation: activation of the hidden layers.
        output_activation: activation of the last layer (None: linear).
        name: the model's name (``"encoder"``, ``"decoder"``, ...).

    Returns:
        A Functional model mapping ``(batch, input_dim)`` to ``(batch, output_dim)``.
    """
    if input_dim < 1 or output_dim < 1 or any(units < 1 for units in hidden_units):
        raise ValueError(
            f"layer sizes must be positive, got input_dim={input_dim}, "
            f"hidden_units={tuple(hidden_units)}, output_dim={output_dim}"
        )
    inputs = keras.Input((input_dim,), name=f"{name}_input")
    outputs = inputs
    for index, units in enumerate(hidden_units, start=1):
        outputs = keras.layers.Dense(units, activation=activation, name=f"{name}_{index}")(outputs)
    outputs = keras.layers.Dense(output_dim, activation=output_activation,
                                 name=f"{name}_out")(outputs)
    return keras.Model(inputs, outputs, name=name)


class Autoencoder(GenerativeModel):
    """Encoder ``f`` and decoder ``g`` trained so that ``g(f(x)) ≈ x`` in mean squared error.

    Args:
        encoder: maps images ``(batch, input_dim)`` to codes ``(batch, latent_dim)``.
        decoder: maps codes back to ``(batch, input_dim)``.

    ``compute_losses`` returns ``{"loss": mean over the batch of the per-image MSE}`` (the
    squared loss of Lee's lecture notes, averaged over pixels).
    """

    def __init__(self, encoder: keras.Model, decoder: keras.Model, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder

    def call(self, images, training=False):
        return self.decoder(self.encoder(images, training=training), training=training)

    def compute_losses(self, batch, training: bool) -> dict:
        reconstructions = self(batch, training=training)
        return {"loss": keras.ops.mean(losses.mean_squared_error(batch, reconstructions))}


def build_autoencoder(
    input_dim: int = NUM_PIXELS,
    *,
    hidden_units: Sequence[int] = (500, 300),
    latent_dim: int = 2,
    activation: str | None = "tanh",
    learning_rate: float | keras.optimizers.schedules.LearningRateSchedule = 1e-4,
    steps_per_execution: int = 32,
) -> Autoencoder:
    """Build and compile a symmetric MLP autoencoder (Lee's 784-500-300-2, tanh).

    The decoder mirrors the encoder (``latent_dim -> reversed(hidden_units) -> input_dim``)
    with a linear output, as in Lee's lecture notes. ``hidden_units=()`` and
    ``activation=None`` give the linear autoencoder whose optimum spans the PCA subspace.

    Args:
        steps_per_execution: as in
            :meth:`~course_utils.training.GenerativeModel.compile`.

    Returns:
        A compiled :class:`Autoencoder` (Adam with ``learning_rate``, a number or a schedule).
    """
    encoder = build_mlp(input_dim, hidden_units, latent_dim, activation=activation,
                        name="encoder")
    decoder = build_mlp(latent_dim, tuple(reversed(hidden_units)), input_dim,
                        activation=activation, name="decoder")
    model = Autoencoder(encoder, decoder, name="autoencoder")
    model.compile(keras.optimizers.Adam(learning_rate), steps_per_execution=steps_per_execution)
    return model
