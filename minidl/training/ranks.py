"""What the Trainer agrees on across ranks when it runs data-parallel.

Every rank runs the same loop on its shard of each global batch. Decisions
that end or shape the loop must be the same on every rank, or one rank would
leave while the others wait for it inside a collective:

- ``step_totals``: the global batch's loss, correct count and size, summed over
  the ranks' shards once per step. The loss that decides "diverged" and the
  epoch's metrics are the global batch's, the same on every rank.
- ``AgreedInterrupt``: Ctrl-C reaches the ranks (mpiexec forwards it) at
  different moments; ``requested`` is true on every rank as soon as it is true
  on one, and is asked at the same points of the loop on every rank.

In a world of one both return what they are given, with no collective.
"""

import numpy as np

from minidl import distributed


def step_totals(mean_loss, correct, count):
    """(mean loss, correct, count) over all ranks' shards of this step's batch."""
    if distributed.get_world_size() == 1:
        return mean_loss, correct, count
    totals = distributed.all_reduce(np.array([mean_loss * count, correct, count], dtype=np.float64))
    return float(totals[0] / totals[2]), int(totals[1]), int(totals[2])


def reduced_sums(*values):
    """The sums over all ranks of a few numbers (evaluation's loss, correct and seen)."""
    if distributed.get_world_size() == 1:
        return values
    return tuple(distributed.all_reduce(np.array(values, dtype=np.float64)).tolist())


class AgreedInterrupt:
    """Wraps a deferred_interrupt: ``requested`` on every rank once any rank has it."""

    def __init__(self, local):
        self.local = local

    @property
    def requested(self):
        flag = np.array([1.0 if self.local.requested else 0.0])
        return bool(distributed.all_reduce(flag, "max")[0])


def agreed(interrupt):
    """``interrupt`` itself in a world of one, else an AgreedInterrupt around it."""
    return interrupt if distributed.get_world_size() == 1 else AgreedInterrupt(interrupt)
