"""Networks that several model families share: dense (:mod:`.mlp`), convolutional
(:mod:`.conv`), recurrent (:mod:`.lstm`) and for table rows (:mod:`.table`), and how a
network reads a class label (:mod:`.labels`)."""

from course_utils.models.networks import conv, labels, lstm, mlp, table

__all__ = ["conv", "labels", "lstm", "mlp", "table"]
