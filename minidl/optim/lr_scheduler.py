"""Learning-rate schedules, stepped once per epoch as in PyTorch.

Each schedule sets ``group["lr"]`` of every parameter group from the group's
starting rate (``initial_lr``, saved on the group when the schedule is made)
and the number of ``step()`` calls so far (``last_epoch``); building one sets
the rate for epoch 0. The closed forms, for base rate b and epoch e:

    StepLR(step_size, gamma)          b * gamma ** (e // step_size)
    MultiStepLR(milestones, gamma)    b * gamma ** (number of milestones <= e)
    CosineAnnealingLR(T_max, eta_min, warmup)
        e <  warmup:   b * (e + 1) / (warmup + 1)                       (linear warm-up)
        e >= warmup:   eta_min + (b - eta_min) * (1 + cos(pi * t)) / 2,
                       t = min(e - warmup, T_max - warmup) / (T_max - warmup)
    ReduceLROnPlateau(mode, factor, patience, ...)
        multiply by ``factor`` when the monitored number (say the validation
        loss) has not improved for more than ``patience`` epochs: the lecture's
        "lower the rate when the validation error stops falling".

Without warm-up, CosineAnnealingLR matches PyTorch's for e <= T_max; after
T_max it stays at eta_min (PyTorch's follows the cosine back up).

``state_dict()`` / ``load_state_dict()`` save and restore a schedule with its
optimizer in a checkpoint.

>>> import numpy as np, minidl as md
>>> opt = md.optim.SGD([md.nn.Parameter(np.zeros(1))], lr=1.0)
>>> sched = StepLR(opt, step_size=2, gamma=0.5)
>>> rates = []
>>> for epoch in range(5):
...     rates.append(opt.param_groups[0]["lr"])
...     sched.step()
>>> rates
[1.0, 1.0, 0.5, 0.5, 0.25]
"""

import bisect
import math


class _Schedule:
    """What every schedule shares: the rates it set, and its state for checkpoints."""

    def get_last_lr(self):
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self):
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state):
        self.__dict__.update(state)


class LRScheduler(_Schedule):
    """Base class of the epoch schedules: subclasses give ``rate(base_lr, epoch)``."""

    def __init__(self, optimizer):
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = -1
        self.step()

    def rate(self, base_lr, epoch):
        raise NotImplementedError(f"{type(self).__name__}.rate is not implemented")

    def step(self):
        self.last_epoch += 1
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = self.rate(base, self.last_epoch)

    def load_state_dict(self, state):
        """Restore the schedule, and set the rates it gives at the restored epoch."""
        super().load_state_dict(state)
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = self.rate(base, self.last_epoch)


def _positive_int(value, op, name):
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"{op}: {name} must be a positive int, got {value!r}")
    return value


class StepLR(LRScheduler):
    """Multiply the rate by ``gamma`` every ``step_size`` epochs."""

    def __init__(self, optimizer, step_size, gamma=0.1):
        self.step_size = _positive_int(step_size, "StepLR", "step_size")
        self.gamma = gamma
        super().__init__(optimizer)

    def rate(self, base_lr, epoch):
        return base_lr * self.gamma ** (epoch // self.step_size)


class MultiStepLR(LRScheduler):
    """Multiply the rate by ``gamma`` at each epoch in ``milestones``.

    >>> import numpy as np, minidl as md
    >>> opt = md.optim.SGD([md.nn.Parameter(np.zeros(1))], lr=1.0)
    >>> sched = MultiStepLR(opt, milestones=[1, 3], gamma=0.1)
    >>> [sched.rate(1.0, e) for e in range(4)]
    [1.0, 0.1, 0.1, 0.010000000000000002]
    """

    def __init__(self, optimizer, milestones, gamma=0.1):
        self.milestones = sorted(int(m) for m in milestones)
        self.gamma = gamma
        super().__init__(optimizer)

    def rate(self, base_lr, epoch):
        return base_lr * self.gamma ** bisect.bisect_right(self.milestones, epoch)


class CosineAnnealingLR(LRScheduler):
    """Cosine decay from the base rate to ``eta_min`` at epoch ``T_max``, after ``warmup`` epochs
    of linear warm-up.

    >>> import numpy as np, minidl as md
    >>> opt = md.optim.SGD([md.nn.Parameter(np.zeros(1))], lr=1.0)
    >>> sched = CosineAnnealingLR(opt, T_max=5, warmup=1)
    >>> [round(sched.rate(1.0, e), 3) for e in range(6)]
    [0.5, 1.0, 0.854, 0.5, 0.146, 0.0]
    """

    def __init__(self, optimizer, T_max, eta_min=0.0, warmup=0):
        self.T_max = _positive_int(T_max, "CosineAnnealingLR", "T_max")
        if not isinstance(warmup, int) or not 0 <= warmup < T_max:
            raise ValueError(f"CosineAnnealingLR: warmup must be an int in [0, T_max={T_max}), got {warmup!r}")
        self.eta_min = eta_min
        self.warmup = warmup
        super().__init__(optimizer)

    def rate(self, base_lr, epoch):
        if epoch < self.warmup:
            return base_lr * (epoch + 1) / (self.warmup + 1)
        span = self.T_max - self.warmup
        t = min(epoch - self.warmup, span) / span
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * t)) / 2


class ReduceLROnPlateau(_Schedule):
    """Lower the rate when a monitored number stops improving; ``step(metric)`` once per epoch.

    PyTorch's rule: ``metric`` improves on the best so far when it is below
    best * (1 - threshold) ("rel") or best - threshold ("abs") in mode "min"
    (above, in mode "max"). After more than ``patience`` epochs without
    improvement, each group's rate becomes max(lr * factor, min_lr) (when that
    changes it by more than ``eps``), then ``cooldown`` epochs pass before
    counting again.

    >>> import numpy as np, minidl as md
    >>> opt = md.optim.SGD([md.nn.Parameter(np.zeros(1))], lr=1.0)
    >>> sched = ReduceLROnPlateau(opt, patience=1)
    >>> for loss in [1.0, 0.5, 0.5, 0.5, 0.5]:
    ...     sched.step(loss)
    >>> sched.get_last_lr()
    [0.1]
    """

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0.0, eps=1e-8):
        if mode not in ("min", "max"):
            raise ValueError(f"ReduceLROnPlateau: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"ReduceLROnPlateau: threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        if not 0 < factor < 1:
            raise ValueError(f"ReduceLROnPlateau: factor must be in (0, 1), got {factor}")
        self.optimizer = optimizer
        self.mode, self.factor, self.patience = mode, factor, patience
        self.threshold, self.threshold_mode = threshold, threshold_mode
        self.cooldown, self.eps = cooldown, eps
        self.min_lrs = list(min_lr) if isinstance(min_lr, (list, tuple)) else [min_lr] * len(optimizer.param_groups)
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0

    def _improves(self, value):
        if self.mode == "min":
            bound = self.best * (1 - self.threshold) if self.threshold_mode == "rel" else self.best - self.threshold
            return value < bound
        bound = self.best * (1 + self.threshold) if self.threshold_mode == "rel" else self.best + self.threshold
        return value > bound

    def step(self, metric):
        value = float(metric)
        self.last_epoch += 1
        if self._improves(value):
            self.best = value
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs):
                new_lr = max(group["lr"] * self.factor, min_lr)
                if group["lr"] - new_lr > self.eps:
                    group["lr"] = new_lr
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
