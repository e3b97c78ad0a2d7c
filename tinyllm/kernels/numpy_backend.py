"""The numpy backend: the reference ops of tinyllm.ops, unchanged (E3.2, E3.3, S1, S3)."""

from tinyllm.ops.attention import (attention_backward, attention_forward,  # noqa: F401
                                   matmul_softmax_backward, matmul_softmax_forward)
from tinyllm.ops.softmax import softmax_backward, softmax_forward  # noqa: F401


def check_available():
    """The reference is always available."""
