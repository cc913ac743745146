"""minidl's random generator: weight initialisation and dropout seeds.

``manual_seed(s)`` makes a run repeatable. The generator is NumPy's PCG64 on
the host whatever the device, so a seed gives the same weights and masks on
the CPU and the GPU. ``get_state``/``set_state`` let a checkpoint resume the
exact random stream.
"""

import numpy as np

_generator = np.random.Generator(np.random.PCG64(0))


def manual_seed(seed):
    """Reseed minidl's generator (initialisation, dropout masks, data shuffling)."""
    global _generator
    _generator = np.random.Generator(np.random.PCG64(int(seed)))


def generator():
    """The current generator (a numpy.random.Generator)."""
    return _generator


def next_seed():
    """A fresh 63-bit seed for a counter-based kernel (the dropout mask)."""
    return int(_generator.integers(0, 2**63 - 1))


def get_state():
    return _generator.bit_generator.state


def set_state(state):
    _generator.bit_generator.state = state
