"""Optimizers (SGD, ...) and learning-rate schedules."""

from minidl.optim.optimizer import Optimizer
from minidl.optim.sgd import SGD

__all__ = ["Optimizer", "SGD"]
