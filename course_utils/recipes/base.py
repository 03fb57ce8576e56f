"""What every recipe shares: a frozen, typed config whose fields are the cache key, the one
rule for step counts, the seeds of a recipe's random streams, :func:`load`, and the
registry of the course's trained models.

A recipe is a frozen dataclass: its fields say everything that shapes the trained model
(data, sizes, epochs, seed), and its methods say how the model is built, which data it trains
on, how it is evaluated and which snapshots or measurements it keeps. :func:`load` does what
every recipe needs, once: it seeds, plans the training (:class:`TrainingPlan`), names the
cache entry, and calls :func:`~course_utils.cache.load_or_train`.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from course_utils import cache, config
from course_utils.geometry import IMAGE_SIDE


class SeedStream(enum.IntEnum):
    """Offsets from a recipe's ``seed``, one per random stream, so that no two streams of
    one recipe draw the same numbers: ``np.random.default_rng(self.seed +
    SeedStream.EVALUATION)``."""

    SNAPSHOTS = 1  # the fixed latents of the samples kept after every epoch
    EVALUATION = 2  # the samples the evaluation measures
    SECOND_DRAW = 3  # a second draw of the evaluation (latents read back, samples to train on)
    MEASUREMENTS = 4  # the fixed latents of the measurements made during training
    BASELINE = 5  # the weights of an untrained baseline network
    TEST_DATA = 100  # data the course generates for testing (two moons, Waves)


#: Fixed latents an image GAN's snapshots keep after every epoch (ten of each class for a
#: conditional model, enough to follow its conditional accuracy over training).
SNAPSHOT_SIZE = 100


def by_mode(*, full, fast):
    """A dataclass field whose default is ``full`` in full mode and ``fast`` in fast mode,
    chosen when the config is made (``epochs: int = by_mode(full=40, fast=6)``)."""
    return field(default_factory=lambda: config.pick(full=full, fast=fast))


def steps_per_epoch(num_examples: int, batch_size: int, *, drop_remainder: bool) -> int:
    """Optimizer steps in one pass over ``num_examples`` in batches of ``batch_size``: the
    last, smaller batch counts when it is kept (``drop_remainder=False``)."""
    if num_examples < 1 or batch_size < 1:
        raise ValueError(f"need positive num_examples and batch_size, got {num_examples} and "
                         f"{batch_size}")
    return num_examples // batch_size if drop_remainder else math.ceil(num_examples / batch_size)


@dataclass(frozen=True)
class TrainingPlan:
    """How a recipe's model is trained, derived from its config by :meth:`Recipe.plan` and
    recorded in its cache key.

    Attributes:
        steps_per_epoch: training steps per epoch (a GAN's generator steps).
        total_steps: ``epochs * steps_per_epoch`` (e.g. a learning-rate schedule's length).
        steps_per_execution: training steps per call from Python (the course's 32; the
            benchmark's keras-io side uses 1).
    """

    steps_per_epoch: int
    total_steps: int
    steps_per_execution: int = 32


def _matches(value, hint) -> bool:
    """Whether ``value`` has the type ``hint`` (the subset of typing the recipes use)."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, option) for option in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin is tuple:
        item_hint = typing.get_args(hint)[0]
        return isinstance(value, tuple) and all(_matches(item, item_hint) for item in value)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    return isinstance(value, hint)


@dataclass(frozen=True)
class Recipe:
    """Base of every recipe: one trained model of the course.

    Subclasses are frozen dataclasses whose fields all have defaults (mode-dependent ones
    through :func:`by_mode`), among them ``epochs``, ``batch_size`` and ``seed``. They
    define :attr:`cache_name`, :meth:`num_train_examples`, :meth:`build`,
    :meth:`training_data` and :meth:`evaluate`, and, when they need them, :meth:`callbacks`,
    :meth:`validation_data`. A field given a value of the wrong type raises ``TypeError``
    naming it; a misspelt one is refused by the dataclass itself. Lists given for tuple
    fields are kept as tuples.

    Class attributes:
        drop_remainder: the training data drops its last, smaller batch.
    """

    drop_remainder: ClassVar[bool] = True

    def __post_init__(self):
        hints = typing.get_type_hints(type(self))
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if isinstance(value, list):
                value = tuple(value)
                object.__setattr__(self, item.name, value)
            hint = hints[item.name]
            if not _matches(value, hint):
                expected = hint.__name__ if isinstance(hint, type) else str(hint)
                raise TypeError(f"{type(self).__name__}.{item.name} must be {expected}, got "
                                f"{value!r}")

    def _set_default(self, name: str, value) -> None:
        """Fill in a field left at None with its default (for a frozen instance)."""
        if getattr(self, name) is None:
            object.__setattr__(self, name, value)

    # --- what each recipe says -------------------------------------------------------------------
    @property
    def cache_name(self) -> str:
        """The cache entry's name, e.g. ``"vae_mnist_dense_2d"``."""
        raise NotImplementedError(f"{type(self).__name__} must define cache_name")

    def num_train_examples(self) -> int:
        """Examples in one epoch of :meth:`training_data`."""
        raise NotImplementedError(f"{type(self).__name__} must define num_train_examples")

    def build(self, plan: TrainingPlan):
        """A new compiled model, following ``plan`` (its schedule lengths)."""
        raise NotImplementedError(f"{type(self).__name__} must define build")

    def training_data(self):
        """The training dataset (made only when the model must be trained)."""
        raise NotImplementedError(f"{type(self).__name__} must define training_data")

    def evaluate(self, model) -> dict[str, Any]:
        """The figures stored with the trained model."""
        raise NotImplementedError(f"{type(self).__name__} must define evaluate")

    def validation_data(self):
        """A dataset evaluated after each epoch, or None."""
        return None

    def callbacks(self) -> list:
        """Keras callbacks of the training run (snapshots, measurements)."""
        return []

    def examples_per_step(self) -> int:
        """Training examples one optimizer step consumes: ``batch_size``, or for a critic
        with a fresh real batch per critic step, ``critic_steps * batch_size``."""
        return self.batch_size

    # --- what they share -------------------------------------------------------------------------
    def plan(self) -> TrainingPlan:
        """The one rule for step counts: the steps of an epoch from the data's size and the
        examples of a step (:func:`steps_per_epoch`), and of the whole run."""
        steps = steps_per_epoch(self.num_train_examples(), self.examples_per_step(),
                                drop_remainder=self.drop_remainder)
        return TrainingPlan(steps, self.epochs * steps)

    def cache_config(self, plan: TrainingPlan) -> dict[str, Any]:
        """The cache key's content: the recipe's kind, its fields and its plan."""
        return {"recipe": type(self).__name__, **dataclasses.asdict(self),
                "plan": dataclasses.asdict(plan)}

    def snapshot_epochs(self) -> range:
        """The epochs after which snapshots are kept: before training, then every epoch."""
        return range(self.epochs + 1)


def load(recipe: Recipe) -> cache.CachedRun:
    """Load the recipe's model from the cache, or train, evaluate and cache it.

    Returns:
        The :class:`~course_utils.cache.CachedRun`: the model, its history, its training
        seconds, the figures of :meth:`Recipe.evaluate` (``metrics``) and what its callbacks
        recorded (``arrays``: snapshots, measurements).

    Raises:
        course_utils.cache.NotCachedError: inside ``cache.cache_only()``, when the
            model is not in the cache.
    """
    plan = recipe.plan()

    def build():
        config.set_seed(recipe.seed)
        return recipe.build(plan)

    return cache.load_or_train(
        recipe.cache_name, build, config_dict=recipe.cache_config(plan),
        train_data=recipe.training_data, validation_data=recipe.validation_data,
        epochs=recipe.epochs, callbacks=recipe.callbacks(), evaluate_fn=recipe.evaluate)


def sample_labels(num_samples: int, num_classes: int | None) -> np.ndarray | None:
    """Labels ``0, 1, ..., num_classes - 1, 0, 1, ...`` for a conditional model's samples
    (every class equally often), or None for an unconditional one."""
    return None if num_classes is None else np.arange(num_samples) % num_classes


#: A model's samples: ``draw(run, num_samples, seed)`` -> ``(num_samples, 28, 28)`` in [0, 1].
Draw = Callable[[cache.CachedRun, int, int], np.ndarray]


def draw_from_prior(run: cache.CachedRun, num_samples: int, seed: int) -> np.ndarray:
    """Samples through the course's one sampling interface, ``model.sample(num_samples,
    seed=seed, labels=...)``: the prior's draws pushed through the generator, decoder or
    inverse flow; a conditional model is asked for its classes in turn
    (:func:`sample_labels`)."""
    labels = sample_labels(num_samples, run.model.num_classes)
    images = run.model.sample(num_samples, seed=seed, labels=labels)
    return np.asarray(images, np.float32).reshape(num_samples, IMAGE_SIDE, IMAGE_SIDE)


@dataclass(frozen=True)
class CourseModel:
    """One trained model of the course, as the comparison chapter and the benchmark see it.

    Attributes:
        key: a short identifier (``"dcgan"``), also the benchmark's case name.
        name: how the comparison calls it (``"DCGAN"``).
        chapter: the notebook stem that trains it and records its figures.
        family: autoencoder, VAE, GAN, conditional GAN, adversarial autoencoder, flow, ...
        recipe: makes its recipe (in the current mode).
        fid_key: the chapter's recorded classifier-FID; None for a model that makes no images.
        likelihood_key: the chapter's recorded likelihood figure, if the model has one.
        likelihood_unit: what that figure measures.
        draw: how to sample it (:func:`draw_from_prior` unless said otherwise).
        benchmark: the recipe ``make bench`` trains it with, or None when it is not one of
            the benchmark's cases.
    """

    key: str
    name: str
    chapter: str
    family: str
    recipe: Callable[[], Recipe]
    fid_key: str | None = None
    likelihood_key: str | None = None
    likelihood_unit: str = ""
    draw: Draw = draw_from_prior
    benchmark: Callable[[], Recipe] | None = None

    @property
    def digits(self) -> tuple[int, ...]:
        """The digits the model was trained on (its FID compares with their test images)."""
        return tuple(getattr(self.recipe(), "digits", None) or range(10))

    def load(self) -> cache.CachedRun:
        """Load (or train) the model through its recipe."""
        return load(self.recipe())


#: Every trained model of the course by key, filled by the family modules as they load.
REGISTRY: dict[str, CourseModel] = {}


def register(model: CourseModel) -> CourseModel:
    """Add a model to :data:`REGISTRY` (each key once)."""
    if model.key in REGISTRY:
        raise ValueError(f"a course model with key {model.key!r} is registered already")
    REGISTRY[model.key] = model
    return model
