"""Softmax cross-entropy on the CPU: the NumPy reference serves, on purpose.

Names, arguments and results are those of ``minidl.kernels.reference.cross_entropy``.
The work is a few whole-array passes over (N, K) logits: on (128, 10) forward and
backward take about 25 us together, far below anything a Numba kernel could save
in a training step, so the CPU set takes NumPy's vectorised passes as they are.
"""

from minidl.kernels.reference.cross_entropy import (  # noqa: F401 (this set's kernels)
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
)
