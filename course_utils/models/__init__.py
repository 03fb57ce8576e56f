"""Model builders and model classes of the course, one module per family."""

from course_utils.models import autoencoders, classifier

__all__ = ["autoencoders", "classifier"]
