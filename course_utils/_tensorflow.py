"""The one place where TensorFlow and Keras are imported.

Every module of the package that needs them writes ``from course_utils._tensorflow import
keras, tf``. Importing this module:

- selects the TensorFlow backend for Keras (unless ``KERAS_BACKEND`` is already set),
- raises TensorFlow's C++ log threshold to warnings-and-errors-only (unless set),
- has TensorFlow's oneDNN CPU allocator take memory from the system allocator (unless
  ``TF_ONEDNN_USE_SYSTEM_ALLOCATOR`` is set): its own pool never gives memory back, so in
  a chapter that trains one model after another the next model's memory came on top of
  the largest one before it; from the system allocator it goes back between models,
- hides the few lines TensorFlow's CUDA stubs print to the OS-level stderr while it loads
  and probes devices on a machine without a GPU (they are not Python warnings and no
  environment variable silences them; genuine errors still raise Python exceptions;
  :func:`absorb_first_use_notices` does the same for oneDNN's first-use notice),
- drops TensorFlow's "triggered tf.function retracing" warning. It counts traces of the same
  code across *all* models, so it fires whenever a chapter trains several models in a row
  (each ``fit`` traces its own new training function once), which is expected here.
"""

import contextlib
import logging
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ONEDNN_USE_SYSTEM_ALLOCATOR", "1")


@contextlib.contextmanager
def _silenced_os_stderr():
    """Redirect file descriptor 2 to /dev/null for the duration of the block."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (e.g. some embedded interpreters)
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


with _silenced_os_stderr():
    import tensorflow as tf

    tf.config.list_physical_devices()  # the CUDA probe logs here; do it while silenced
    import keras
    from tensorflow.python.framework import ops as _framework_ops  # the gradient registry


def absorb_first_use_notices() -> None:
    """Run, with the OS-level stderr silenced, an operation that makes oneDNN print its
    once-per-process notice ("supports DT_INT32 only on platforms with AVX-512"; the first
    gradient of ``tf.repeat`` triggers it), so that it does not land in a notebook's output
    later. It starts TensorFlow's runtime, after which devices cannot be reconfigured, so it
    is not done at import but by :func:`course_utils.config.setup_notebook`."""
    with _silenced_os_stderr():
        x = tf.ones(1)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.repeat(x, 2)
        tape.gradient(y, x)


@contextlib.contextmanager
def forgetting_custom_gradients():
    """Unregister, when the block ends, the custom gradients TensorFlow registered in it.

    Every optimizer step that Keras traces sums its gradients over the replicas with
    ``tf.distribute``'s ``all_reduce``, even with one replica, and ``all_reduce`` wraps them
    in a ``tf.custom_gradient``. In a traced function that registers a gradient function,
    under a new name, in TensorFlow's process-wide registry, where it stays: it holds the
    step's gradient tensors, so their graph, and through the graph every variable of the
    model and of its optimizer, outlive the model: each training left its weights and its
    optimizer's slots behind. Nothing looks these gradients up once the step is traced
    (they would be gradients of the gradients' sum), so the names added in the block are
    dropped, and a deleted model's memory is freed. Does nothing where the registry is not
    found."""
    names = getattr(getattr(_framework_ops, "_gradient_registry", None), "_registry", None)
    before = set(names) if isinstance(names, dict) else set()
    try:
        yield
    finally:
        if isinstance(names, dict):
            for name in set(names) - before:
                if name.startswith("CustomGradient-"):
                    del names[name]


class _DropRetracingWarnings(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


tf.get_logger().addFilter(_DropRetracingWarnings())

if keras.backend.backend() != "tensorflow":
    raise ImportError(
        f"course_utils needs Keras's TensorFlow backend, but KERAS_BACKEND is "
        f"{keras.backend.backend()!r}. Unset KERAS_BACKEND or set it to 'tensorflow' "
        "before importing course_utils."
    )

__all__ = ["forgetting_custom_gradients", "keras", "tf"]
