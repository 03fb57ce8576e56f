"""The registry of the course's trained models: one typed recipe per model, and one
:func:`load`.

A recipe is a frozen dataclass whose fields are its cache key; a chapter makes one and loads
it (training it on a cache miss)::

    MNIST_2D = cu.recipes.VAERecipe(latent_dim=2)
    run = cu.recipes.load(MNIST_2D)        # run.model, run.metrics, run.history, ...

Later chapters (and the comparison chapter) make the same recipe and load the same entry.
:data:`REGISTRY` lists every trained model of the course with the chapter that trains it;
the comparison chapter and ``make bench`` read it. One module per family:

=======================  ===============================================================
:mod:`.base`             the recipe base class, the training plan, seeds, the registry
:mod:`.autoencoders`     chapter 01's autoencoder (and chapter 02's code mixture)
:mod:`.vaes`             chapter 03's VAEs
:mod:`.gans`             chapters 05-07's image GANs and WGANs, the ring of Gaussians
:mod:`.tables`           chapter 07b's GANs of the penguin table
:mod:`.infogan`          chapter 08's InfoGAN
:mod:`.adversarial_encoders`  chapter 09's BiGAN and AAEs
:mod:`.sequences`        chapter 10's RCGAN
:mod:`.flows`            chapter 11's RealNVPs
:mod:`.classifiers`      the course classifier; chapter 06's TSTR classifiers
=======================  ===============================================================
"""

from course_utils.recipes.adversarial_encoders import AAERecipe, BiGANRecipe
from course_utils.recipes.autoencoders import AutoencoderRecipe, draw_from_code_mixture
from course_utils.recipes.base import (
    REGISTRY,
    SNAPSHOT_SIZE,
    CourseModel,
    Recipe,
    TrainingPlan,
    by_mode,
    draw_from_prior,
    load,
    register,
    sample_labels,
    steps_per_epoch,
)
from course_utils.recipes.classifiers import (
    CourseClassifierRecipe,
    DownstreamClassifierRecipe,
    course_classifier,
)
from course_utils.recipes.flows import (
    FLOW_DIGITS,
    DigitFlowRecipe,
    MoonsFlowRecipe,
    MultiscaleRealNVPRecipe,
    RealNVPRecipe,
)
from course_utils.recipes.gans import (
    GANRecipe,
    RingGANRecipe,
    conditional_gan,
    dcgan,
    wasserstein_gan,
)
from course_utils.recipes.infogan import AffineMoves, InfoGANRecipe, paper_infogan
from course_utils.recipes.sequences import RCGANRecipe
from course_utils.recipes.tables import TabularGANRecipe, penguin_tables
from course_utils.recipes.vaes import VAE_EPOCHS, VAERecipe


def image_models() -> tuple[CourseModel, ...]:
    """The registered models that make MNIST images (those with a recorded FID), in
    chapter order."""
    return tuple(sorted((model for model in REGISTRY.values() if model.fid_key),
                        key=lambda model: model.chapter))


__all__ = [
    "FLOW_DIGITS",
    "REGISTRY",
    "SNAPSHOT_SIZE",
    "VAE_EPOCHS",
    "AAERecipe",
    "AffineMoves",
    "AutoencoderRecipe",
    "BiGANRecipe",
    "CourseClassifierRecipe",
    "CourseModel",
    "DigitFlowRecipe",
    "DownstreamClassifierRecipe",
    "GANRecipe",
    "InfoGANRecipe",
    "MoonsFlowRecipe",
    "MultiscaleRealNVPRecipe",
    "RCGANRecipe",
    "RealNVPRecipe",
    "Recipe",
    "RingGANRecipe",
    "TabularGANRecipe",
    "TrainingPlan",
    "VAERecipe",
    "by_mode",
    "conditional_gan",
    "course_classifier",
    "dcgan",
    "draw_from_code_mixture",
    "draw_from_prior",
    "image_models",
    "load",
    "paper_infogan",
    "penguin_tables",
    "register",
    "sample_labels",
    "steps_per_epoch",
    "wasserstein_gan",
]
