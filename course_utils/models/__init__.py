"""Model builders and model classes of the course, one module per family.

``networks/`` holds the generators, discriminators and encoders that several families share
(dense, convolutional, recurrent, for tables); each family module holds its model class, its
objective and its builder. Submodules are imported on first use (``cu.models.gans``).
"""

import importlib

_SUBMODULES = ("adversarial_encoders", "autoencoders", "classifier", "flows", "gans",
               "gaussians", "infogan", "networks", "vaes")

__all__ = list(_SUBMODULES)


def __getattr__(name: str):
    if name in _SUBMODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'course_utils.models' has no attribute {name!r}")
