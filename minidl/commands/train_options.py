"""The numbers of ``minidl train``, checked before anything is built or read.

A rate that is NaN or infinite, a momentum outside [0, 1) or a warm-up as
long as the run would each train for minutes and then fail or do nothing
useful; here they cost one line.
"""

import math


def check(args):
    """Raise ValueError naming the first option whose value cannot train."""
    for name in ("epochs", "batch_size"):
        if getattr(args, name) < 1:
            raise ValueError(f"{_flag(name)} must be >= 1, got {getattr(args, name)}")
    for name in ("limit_train", "limit_test"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ValueError(f"{_flag(name)} must be >= 1, got {value}")
    if not math.isfinite(args.lr) or args.lr <= 0:
        raise ValueError(f"--lr must be a finite number > 0, got {args.lr}")
    if not 0 <= args.momentum < 1:
        raise ValueError(f"--momentum must be in [0, 1), got {args.momentum}")
    if not math.isfinite(args.weight_decay) or args.weight_decay < 0:
        raise ValueError(f"--weight-decay must be a finite number >= 0, got {args.weight_decay}")
    if not 0 <= args.label_smoothing < 1:
        raise ValueError(f"--label-smoothing must be in [0, 1), got {args.label_smoothing}")
    if args.warmup < 0:
        raise ValueError(f"--warmup must be >= 0, got {args.warmup}")
    if args.warmup and args.warmup >= args.epochs:
        raise ValueError(
            f"--warmup {args.warmup} is not shorter than the run (--epochs {args.epochs}): the rate would "
            f"never leave the warm-up; use fewer warm-up epochs or more epochs"
        )


def augment_text(args):
    """The augmentations asked for: --augmentations LIST, or crop,flip for --augment, or none."""
    if args.augmentations is not None:
        return args.augmentations
    return "crop,flip" if args.augment else "none"


def _flag(name):
    return "--" + name.replace("_", "-")
