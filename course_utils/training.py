"""The course's one training design: the models' base classes and :func:`train`.

Every model of the course is a :class:`GenerativeModel`: it owns one ``keras.metrics.Mean``
tracker per reported loss, and defines only ``compute_losses(batch, training) -> dict``
(with a ``"loss"`` key). The generic ``train_step`` differentiates ``"loss"`` with respect to
all trainable variables; ``fit()`` does the rest (history, validation, callbacks,
distribution strategies). Two-player models subclass :class:`AdversarialModel`, which
keeps the same trackers and reporting but takes two optimizers and repeats the critic's
step ``critic_steps`` times. Flows are single-optimizer models whose loss is their NLL.

:func:`train` runs ``fit()`` with the course's callbacks (progress bar, NaN stop, backup for
resuming) and turns Ctrl-C into a normal return; ``course_utils.cache.load_or_train`` caches
what it trained.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from course_utils._tensorflow import forgetting_custom_gradients, keras, tf
from course_utils.backup import ResumeBackup
from course_utils.callbacks import TerminateOnNonFinite, progress_bar

ops = keras.ops


def _unbuilt_copy(optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
    """A new optimizer of the same class and settings (learning-rate schedule included),
    without slots."""
    return type(optimizer).from_config(optimizer.get_config())


class GenerativeModel(keras.Model):
    """Base class: one generic ``train_step``/``test_step`` for every single-optimizer model.

    Subclasses set ``loss_names`` (the keys ``compute_losses`` returns, ``"loss"`` among them),
    create their sub-models in ``__init__`` and implement ``compute_losses``.
    ``compile`` defaults to 32 steps per execution, the course's fast set-up: it removes most
    of the per-step Python overhead, which dominates small models on CPUs. XLA is off
    (``jit_compile=False``, which Keras would otherwise turn on where it can): on CPUs it
    slows convolutions down, and its compiled programs stay in memory, which on a 2 GB
    machine costs more than the time it saves dense models.
    ``grappler_options`` are TensorFlow graph-optimizer settings that :func:`train` applies
    while this model trains (see :func:`graph_optimizer_options`).
    """

    loss_names: tuple[str, ...] = ("loss",)
    #: The attributes that hold the model's optimizers.
    optimizer_names: tuple[str, ...] = ("optimizer",)
    grappler_options: tuple[tuple[str, bool], ...] = ()
    #: The classes a conditional model generates (its ``sample`` then needs ``labels``);
    #: None for an unconditional model.
    num_classes: int | None = None

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in self.loss_names}

    @property
    def metrics(self):
        return list(self.trackers.values())

    def build(self, input_shape=None):
        """Mark the model built: its sub-models are Functional models, built on creation."""
        self.built = True

    def compile(self, optimizer, *, steps_per_execution=32, **kwargs):
        """Compile with the course's defaults. The optimizer's slots are created when the
        model is trained (:meth:`build_optimizers`), not here: a model loaded from the
        cache is only used, and Adam's two moments would double its memory."""
        super().compile(
            optimizer=optimizer,
            jit_compile=False,
            steps_per_execution=steps_per_execution,
            **kwargs,
        )
        self.build()

    def build_optimizers(self) -> None:
        """Create the optimizer's slots for the trainable variables (``fit`` does it first;
        a resume backup's optimizer state loads into them)."""
        if not self.optimizer.built:
            self.optimizer.build(self.trainable_variables)

    def release_optimizers(self) -> None:
        """Free the optimizer's slots (Adam's moments: twice the weights) once training is
        over, by compiling again with an unbuilt copy of the optimizer (same settings)."""
        self.compile(_unbuilt_copy(self.optimizer),
                     steps_per_execution=self.steps_per_execution)

    def fit(self, *args, **kwargs):
        """Keras's ``fit``, with the optimizers' slots created first (Keras would build
        only ``self.optimizer``, and on every trainable variable)."""
        self.build_optimizers()
        return super().fit(*args, **kwargs)

    def check_labels(self, labels) -> None:
        """Raise ValueError unless ``labels`` are given exactly when the model is conditional.

        Every generative model of the course samples through one interface,
        ``sample(num_samples, *, seed, labels=None, **options)``, and calls this first."""
        if (labels is None) != (self.num_classes is None):
            raise ValueError(f"{type(self).__name__}: pass labels exactly when the model is "
                             f"conditional (num_classes={self.num_classes})")

    def compute_losses(self, batch, training: bool) -> dict:
        """Return a dict of scalar losses for one batch, with the key ``"loss"`` optimized."""
        raise NotImplementedError(f"{type(self).__name__} must implement compute_losses")

    def descend(self, losses_fn, batch, variables, optimizer, key: str) -> dict:
        """One gradient step on ``losses_fn(batch, training=True)[key]``; return all losses.

        The loss is divided by the number of replicas, so that summing the replicas'
        gradients (what ``tf.distribute`` does) gives the gradient of the global-batch mean.
        """
        with tf.GradientTape() as tape:
            losses = losses_fn(batch, training=True)
            scaled = losses[key] / self.distribute_strategy.num_replicas_in_sync
        gradients = tape.gradient(scaled, variables)
        optimizer.apply(gradients, variables)
        return losses

    def update_trackers(self, losses: Mapping) -> dict:
        """Feed each loss to its tracker and return the running means, as ``fit`` expects."""
        if set(losses) != set(self.trackers):
            raise ValueError(
                f"{type(self).__name__}.compute_losses returned {sorted(losses)}, but "
                f"loss_names declares {sorted(self.trackers)}; make them the same."
            )
        for name, value in losses.items():
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def train_step(self, data):
        losses = self.descend(
            self.compute_losses, data, self.trainable_variables, self.optimizer, "loss"
        )
        return self.update_trackers(losses)

    def test_step(self, data):
        return self.update_trackers(self.compute_losses(data, training=False))


class AdversarialModel(GenerativeModel):
    """Base class for two-player models (GANs, WGANs, BiGAN, AAE, ...).

    Subclasses implement ``discriminator_losses(batch, training)`` (with key ``"d_loss"``)
    and ``generator_losses(batch, training)`` (with key ``"g_loss"``), and by default own
    ``self.discriminator`` and ``self.generator`` (override ``discriminator_variables`` /
    ``generator_variables`` when a player has more networks, e.g. an encoder).

    Each training step takes ``critic_steps`` discriminator (critic) steps with fresh noise,
    each followed by ``after_critic_step()`` (a WGAN clips its critic's weights there), then
    one generator step, followed by ``after_generator_step()`` (a GAN updates its averaged
    generator there). The critic steps all see the step's real batch, or, with
    ``fresh_batches``, each its own: the dataset then yields ``critic_steps * batch_size``
    examples per step, which :meth:`critic_batches` cuts into one slice per critic step
    (Algorithm 1 of Arjovsky et al., 2017, draws a new real batch for every critic update).
    Either way one training step, and so one ``fit()`` step, is one generator update.
    """

    loss_names = ("d_loss", "g_loss")
    # TensorFlow 2.21's remapper fails on adversarial training graphs whose discriminator has
    # a convolution, its bias and LeakyReLU (it fuses ops the backward pass still needs): it
    # logs an error, sometimes, and then skips the fusion anyway, so turning it off costs
    # nothing.
    grappler_options = (("remapping", False),)
    optimizer_names = ("d_optimizer", "optimizer")

    def __init__(self, *, critic_steps: int = 1, fresh_batches: bool = False, **kwargs):
        if not isinstance(critic_steps, int) or critic_steps < 1:
            raise ValueError(f"critic_steps must be a positive int, got {critic_steps!r}")
        super().__init__(**kwargs)
        self.critic_steps = critic_steps
        self.fresh_batches = bool(fresh_batches)

    @property
    def discriminator_variables(self):
        return self.discriminator.trainable_variables

    @property
    def generator_variables(self):
        return self.generator.trainable_variables

    def compile(self, *, d_optimizer, g_optimizer, steps_per_execution=32, **kwargs):
        """Compile with one optimizer per player (``self.optimizer`` is the generator's)."""
        keras.Model.compile(
            self,
            optimizer=g_optimizer,
            jit_compile=False,
            steps_per_execution=steps_per_execution,
            **kwargs,
        )
        self.build()
        self.d_optimizer = d_optimizer

    def build_optimizers(self) -> None:
        """Create both players' optimizer slots (see :meth:`GenerativeModel.build_optimizers`)."""
        for optimizer, variables in ((self.d_optimizer, self.discriminator_variables),
                                     (self.optimizer, self.generator_variables)):
            if not optimizer.built:
                optimizer.build(variables)

    def release_optimizers(self) -> None:
        self.compile(d_optimizer=_unbuilt_copy(self.d_optimizer),
                     g_optimizer=_unbuilt_copy(self.optimizer),
                     steps_per_execution=self.steps_per_execution)

    def discriminator_losses(self, batch, training: bool) -> dict:
        raise NotImplementedError(f"{type(self).__name__} must implement discriminator_losses")

    def generator_losses(self, batch, training: bool) -> dict:
        raise NotImplementedError(f"{type(self).__name__} must implement generator_losses")

    def compute_losses(self, batch, training: bool) -> dict:
        return {
            **self.discriminator_losses(batch, training=training),
            **self.generator_losses(batch, training=training),
        }

    def after_critic_step(self) -> None:
        """Called after each discriminator step (nothing by default)."""

    def after_generator_step(self) -> None:
        """Called after each generator step (nothing by default)."""

    def critic_step(self, batch) -> dict:
        """One discriminator update on ``batch``, then ``after_critic_step()``; its losses."""
        losses = self.descend(self.discriminator_losses, batch, self.discriminator_variables,
                              self.d_optimizer, "d_loss")
        self.after_critic_step()
        return losses

    def generator_step(self, batch) -> dict:
        """One generator update (``batch`` gives its size, and labels if any), then
        ``after_generator_step()``; its losses."""
        losses = self.descend(self.generator_losses, batch, self.generator_variables,
                              self.optimizer, "g_loss")
        self.after_generator_step()
        return losses

    def critic_batches(self, data) -> list:
        """The real batch of each of a step's critic updates: ``data`` every time, or with
        ``fresh_batches`` its ``critic_steps`` consecutive slices along the first axis."""
        if not self.fresh_batches:
            return [data] * self.critic_steps
        first = keras.tree.flatten(data)[0]
        if first.shape[0] is not None and first.shape[0] % self.critic_steps:
            raise ValueError(f"with fresh_batches, a training batch holds critic_steps "
                             f"({self.critic_steps}) real batches, but it has "
                             f"{first.shape[0]} examples; batch the dataset by a multiple of "
                             f"critic_steps")
        size = ops.shape(first)[0] // self.critic_steps

        def piece(index):
            return keras.tree.map_structure(
                lambda tensor: tensor[index * size:(index + 1) * size], data)

        return [piece(index) for index in range(self.critic_steps)]

    def train_step(self, data):
        batches = self.critic_batches(data)
        for batch in batches:
            d_losses = self.critic_step(batch)
        g_losses = self.generator_step(batches[-1])
        return self.update_trackers({**d_losses, **g_losses})


class TrainingDivergedError(RuntimeError):
    """A loss became NaN or infinite; nothing was cached.

    Attributes:
        model: the model, with the weights of its last finished epoch when a resume backup
            had them (else as it stopped).
    """

    def __init__(self, message: str, *, model: keras.Model | None = None):
        super().__init__(message)
        self.model = model


@dataclass
class TrainingResult:
    """What :func:`train` returns.

    Attributes:
        history: ``{metric name: [one value per completed epoch]}``.
        seconds: wall-clock training time.
        interrupted: True when Ctrl-C stopped training early.
    """

    history: dict[str, list[float]]
    seconds: float
    interrupted: bool = False

    @property
    def epochs_completed(self) -> int:
        return len(next(iter(self.history.values()), []))


def train(
    model: keras.Model,
    train_data,
    *,
    epochs: int,
    validation_data=None,
    callbacks: Iterable[keras.callbacks.Callback] = (),
    backup: ResumeBackup | None = None,
) -> TrainingResult:
    """Fit a compiled model with the course's callbacks.

    Args:
        model: a compiled ``keras.Model`` (usually a :class:`GenerativeModel`).
        train_data: a ``tf.data.Dataset`` of batches (see ``course_utils.data.make_dataset``).
        epochs: passes over ``train_data``.
        validation_data: optional dataset evaluated after each epoch (``val_*`` keys).
        callbacks: extra Keras callbacks (e.g. a sample-grid monitor).
        backup: a :class:`~course_utils.backup.ResumeBackup` (give it the callbacks as
            ``recorders``): training resumes from its last finished epoch, and it keeps each
            finished epoch, so a crashed or interrupted run resumes there.

    Returns:
        A :class:`TrainingResult`, whose history covers every epoch, resumed ones included.
        Ctrl-C returns the model as trained so far (``interrupted=True``) instead of raising.

    Raises:
        TrainingDivergedError: a logged loss became NaN or infinite. With a backup, the
            model's weights are put back to the last finished epoch (``error.model``) and
            the backup is kept.
    """
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    initial_epoch = backup.restore(model) if backup is not None else 0
    nan_stop = TerminateOnNonFinite()
    all_callbacks = [nan_stop, progress_bar(epochs), *callbacks]
    if backup is not None:
        all_callbacks.append(backup)
    start = time.perf_counter()
    interrupted = False
    try:
        # forgetting_custom_gradients: else the trained graph keeps the model alive for good
        with (graph_optimizer_options(**dict(getattr(model, "grappler_options", ()))),
              forgetting_custom_gradients()):
            model.fit(
                train_data,
                epochs=epochs,
                initial_epoch=initial_epoch,
                validation_data=validation_data,
                callbacks=all_callbacks,
                shuffle=False,  # datasets arrive shuffled; Keras warns if asked to shuffle them
                verbose=0,
            )
    except KeyboardInterrupt:
        interrupted = True
    seconds = backup.training_seconds() if backup is not None else time.perf_counter() - start
    if backup is not None:
        history = {key: list(values) for key, values in backup.history.items()}
    else:
        history_callback = getattr(model, "history", None)
        history = {key: [float(value) for value in values] for key, values in
                   getattr(history_callback, "history", {}).items()}
    if nan_stop.bad_value is not None:
        key, value = nan_stop.bad_value
        finished = sum(all(math.isfinite(v) for v in epoch)
                       for epoch in zip(*history.values(), strict=True))
        kept = "nothing was cached"
        if backup is not None and backup.epochs_saved:
            backup.restore_weights(model)
            kept = (f"the weights of epoch {backup.epochs_saved} are kept (in the model, the "
                    f"error's .model, and in the resume backup {backup.folder}); nothing was "
                    "cached")
        raise TrainingDivergedError(
            f"Training stopped: {key} became {value} in epoch {finished + 1}, after "
            f"{finished} finished epoch(s); {kept}. Lower the learning rate or check the "
            "data's value range.", model=model)
    return TrainingResult(history=history, seconds=seconds, interrupted=interrupted)


@contextlib.contextmanager
def graph_optimizer_options(**options: bool):
    """Set TensorFlow's graph-optimizer (Grappler) options for the graphs first run inside
    the block, e.g. ``remapping=False``, and restore the previous settings after it.

    Grappler optimizes a ``tf.function`` when it first runs, so wrapping the training call
    is enough. The names are those of ``tf.config.optimizer.set_experimental_options``.
    """
    previous = tf.config.optimizer.get_experimental_options()
    tf.config.optimizer.set_experimental_options(options)
    try:
        yield
    finally:
        tf.config.optimizer.set_experimental_options(
            {name: previous.get(name, True) for name in options})


def release_memory() -> None:
    """Give memory freed by a training run back to the operating system.

    ``fit()`` leaves the dataset's iterator in reference cycles, which hold the training
    data's tensors until the garbage collector runs; and glibc keeps freed heap pages in the
    process. Collecting, then trimming the heap, returns them after each model trained.
    Trimming is skipped where the C library is not glibc (macOS, Windows).
    """
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def drop_compiled_functions(model: keras.Model) -> None:
    """Forget the model's compiled training, evaluation and prediction functions.

    Their traced graphs stay in memory as long as the model does; Keras builds them again
    if ``fit``, ``evaluate`` or ``predict`` is called.
    """
    model.train_function = model.test_function = model.predict_function = None
