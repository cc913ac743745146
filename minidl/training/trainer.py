"""Trainer: the epoch loop, evaluation, checkpoints and the run's files.

An epoch trains on every batch of the training loader (model in train mode),
evaluates on the test loader (eval mode, no gradients), steps the learning-rate
schedule, and then writes to ``out_dir``:

    last.npz       the checkpoint: model, optimizer, schedule, minidl's random
                   generator, the loader's seed, the epoch and the history
    best.npz       the same, for the epoch with the best test accuracy so far
    metrics.json   the run's settings and one record per epoch
    curves.png     loss and accuracy per epoch

Everything a run does next depends only on that state (the loader derives each
batch's order and augmentation from its seed, the epoch and the batch number),
so ``resume(path)`` continues exactly: a resumed run's numbers equal the
uninterrupted run's, bit for bit, on the CPU.

Stopping early keeps saved work:

- Ctrl-C finishes the current step, saves ``last.npz`` with the position inside
  the epoch (the step and the epoch's running sums), and raises
  TrainingInterrupted; resuming starts at the next step.
- A loss that is not finite, or above DIVERGED_FACTOR times the run's first
  loss, raises TrainingDiverged naming the epoch and the step, before the
  weights are touched and without writing any file, so the last good
  checkpoint stays.

The training loss of every step is kept (``step_losses``, in the checkpoint
too) for the per-step curve of ``curves.png``. A schedule made with
``schedule_per_step=True`` is stepped after every training step instead of
every epoch (a warm-up and cosine decay by step); each epoch's record then
holds the rate it ended at (``lr_end``) beside the one it started at (``lr``).
"""

import math
import os
import sys
import time

from tqdm import tqdm

from minidl import functional as F
from minidl import random
from minidl.autograd import no_grad
from minidl.optim.lr_scheduler import ReduceLROnPlateau
from minidl.tensor import tensor
from minidl.training.checkpoint import load_checkpoint, load_model_state, save_checkpoint
from minidl.training.curves import plot_curves
from minidl.training.interrupt import deferred_interrupt
from minidl.training.metrics import write_metrics
from minidl.training.ranks import agreed, reduced_sums, step_totals


# A loss this many times the first one means the run has blown up: the rate is too high.
DIVERGED_FACTOR = 1e4


class TrainingDiverged(RuntimeError):
    """The loss became NaN, infinite or DIVERGED_FACTOR times its first value; the message
    names the epoch and step."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped training after a checkpoint was saved (``.checkpoint`` is its path)."""

    def __init__(self, message, checkpoint):
        super().__init__(message)
        self.checkpoint = checkpoint


def evaluate(model, loader, device="cpu", interrupt=None, progress=False):
    """(mean loss, accuracy) of ``model`` over ``loader`` in eval mode, without gradients.

    Returns None when ``interrupt.requested`` turns True (Ctrl-C) before the end.
    """
    was_training = model.training
    model.eval()
    loss_sum, correct, seen = 0.0, 0, 0
    batches = loader.batches(0)
    bar = tqdm(total=len(loader), desc="  test", unit="batch", leave=False,
               disable=not progress, dynamic_ncols=True, file=sys.stderr)
    try:
        with no_grad():
            for images, labels in batches:
                x, y = tensor(images, device=device), tensor(labels, device=device)
                logits = model(x)
                loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
                correct += int((logits.argmax(axis=1).data == y.data).sum())
                seen += len(labels)
                bar.update()
                if interrupt is not None and interrupt.requested:
                    return None
    finally:
        batches.close()
        bar.close()
        model.train(was_training)
    loss_sum, correct, seen = reduced_sums(loss_sum, correct, seen)  # data-parallel: every rank's shard
    return loss_sum / seen, correct / seen


def _fresh_sums():
    return {"loss_sum": 0.0, "correct": 0, "seen": 0, "seconds": 0.0}


class Trainer:
    """Trainer(model, optimizer, train_loader, test_loader, scheduler=None, device="cpu",
    out_dir=None, run=None, progress=True, verbose=True, criterion=None, schedule_per_step=False).

    ``criterion(outputs, labels)`` is the training loss (default
    F.cross_entropy); outputs with a ``logits`` field (GoogLeNet's auxiliary
    heads) are scored on those logits.

    ``run`` (a dict: model and dataset names, the settings) is written into
    metrics.json and every checkpoint. Without ``out_dir`` nothing is written.
    ``progress`` shows tqdm bars (on stderr); ``verbose`` prints a line per
    epoch (on stdout).
    """

    def __init__(self, model, optimizer, train_loader, test_loader, scheduler=None, device="cpu",
                 out_dir=None, run=None, progress=True, verbose=True, criterion=None, schedule_per_step=False):
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.criterion = criterion or F.cross_entropy
        self.schedule_per_step = schedule_per_step
        self.train_loader, self.test_loader = train_loader, test_loader
        self.device = device
        self.out_dir = out_dir
        self.run = dict(run or {})
        self.progress, self.verbose = progress, verbose
        self.epoch = 0  # finished epochs
        self.step = 0  # finished steps of the current epoch
        self.sums = _fresh_sums()  # the current epoch's running totals
        self.history = []
        self.step_losses = []  # every training step's loss, over the whole run
        self.best_acc = None

    # ---- the loop ---------------------------------------------------------
    def fit(self, epochs):
        """Train until ``epochs`` epochs are finished; returns the history (one dict per epoch)."""
        with deferred_interrupt() as local_interrupt:
            interrupt = agreed(local_interrupt)
            while self.epoch < epochs:
                lr = self.optimizer.param_groups[0]["lr"]
                resumed_seconds, started = self.sums["seconds"], time.perf_counter()
                self._train_epoch(epochs, interrupt)
                result = None if interrupt.requested else self.evaluate(self.test_loader, interrupt)
                self.sums["seconds"] = resumed_seconds + time.perf_counter() - started
                if result is None:
                    self._stop_interrupted()
                self._finish_epoch(epochs, lr, *result)
        return self.history

    def _train_epoch(self, epochs, interrupt):
        loader, sums = self.train_loader, self.sums
        self.model.train()
        batches = loader.batches(self.epoch, start=self.step)
        bar = tqdm(total=len(loader), initial=self.step, desc=f"epoch {self.epoch + 1}/{epochs}",
                   unit="batch", disable=not self.progress, dynamic_ncols=True, file=sys.stderr)
        images_seen, started = 0, time.perf_counter()
        try:
            for images, labels in batches:
                x, y = tensor(images, device=self.device), tensor(labels, device=self.device)
                outputs = self.model(x)
                logits = getattr(outputs, "logits", outputs)
                loss = self.criterion(outputs, y)
                correct = int((logits.argmax(axis=1).data == y.data).sum())
                value, correct, n = step_totals(loss.item(), correct, len(labels))  # the global batch's
                self._check_diverged(value, len(loader))
                self.optimizer.zero_grad()
                loss.backward()
                if hasattr(self.model, "reduce_gradients"):  # DistributedDataParallel
                    self.model.reduce_gradients()
                self.optimizer.step()
                if self.schedule_per_step and self.scheduler is not None:
                    self.scheduler.step()
                self.step_losses.append(value)
                sums["loss_sum"] += value * n
                sums["correct"] += correct
                sums["seen"] += n
                self.step += 1
                images_seen += n
                rate = images_seen / max(time.perf_counter() - started, 1e-9)
                bar.set_postfix({"loss": f"{sums['loss_sum'] / sums['seen']:.4f}",
                                 "acc": f"{sums['correct'] / sums['seen']:.2%}", "img/s": f"{rate:.0f}"},
                                refresh=False)
                bar.update()
                if interrupt.requested:
                    break
        finally:
            batches.close()
            bar.close()

    def _check_diverged(self, value, steps):
        first = self.step_losses[0] if self.step_losses else None
        if math.isfinite(value) and (first is None or value <= DIVERGED_FACTOR * first):
            return
        what = f"{value}"
        if math.isfinite(value):
            what = f"{value:.4g}, more than {DIVERGED_FACTOR:g} times the first step's {first:.4g},"
        raise TrainingDiverged(
            f"training stopped: the loss is {what} at epoch {self.epoch + 1}, step {self.step + 1} "
            f"of {steps}; the weights were not updated with it and {self._kept()}. "
            "A lower learning rate usually helps."
        )

    def evaluate(self, loader, interrupt=None):
        """(mean loss, accuracy) of the model over ``loader``; None if Ctrl-C came first."""
        return evaluate(self.model, loader, self.device, interrupt, self.progress)

    def _finish_epoch(self, epochs, lr, test_loss, test_acc):
        sums = self.sums
        record = {
            "epoch": self.epoch + 1,
            "train_loss": sums["loss_sum"] / sums["seen"],
            "train_acc": sums["correct"] / sums["seen"],
            "test_loss": test_loss,
            "test_acc": test_acc,
            "lr": lr,
            "seconds": round(sums["seconds"], 3),
        }
        rate = f"lr {lr:.4g}"
        if self.schedule_per_step:  # the rate moved during the epoch: say where it ended
            record["lr_end"] = self.optimizer.param_groups[0]["lr"]
            rate += f" -> {record['lr_end']:.4g}"
        self._say(
            f"epoch {record['epoch']}/{epochs}: train loss {record['train_loss']:.4f} acc {record['train_acc']:.2%}"
            f" | test loss {test_loss:.4f} acc {test_acc:.2%} | {rate} | {record['seconds']:.1f} s"
        )
        if isinstance(self.scheduler, ReduceLROnPlateau):
            self.scheduler.step(test_loss)
        elif self.scheduler is not None and not self.schedule_per_step:
            self.scheduler.step()
        self.history.append(record)
        self.epoch += 1
        self.step = 0
        self.sums = _fresh_sums()
        improved = self.best_acc is None or test_acc > self.best_acc
        if improved:
            self.best_acc = test_acc
        if self.out_dir:
            save_checkpoint(self.checkpoint_path("last"), self.state_dict())
            if improved:
                save_checkpoint(self.checkpoint_path("best"), self.state_dict())
            write_metrics(os.path.join(self.out_dir, "metrics.json"), self.run, self.history)
            plot_curves(os.path.join(self.out_dir, "curves.png"), self.history,
                        title=" on ".join(filter(None, (self.run.get("model"), self.run.get("dataset")))),
                        step_losses=self.step_losses, steps_per_epoch=len(self.train_loader))

    def _stop_interrupted(self):
        where = f"epoch {self.epoch + 1}, step {self.step} of {len(self.train_loader)}"
        if not self.out_dir:
            raise TrainingInterrupted(f"interrupted at {where}; no out_dir, nothing saved", None)
        path = self.checkpoint_path("last")
        save_checkpoint(path, self.state_dict())
        self._say(f"interrupted at {where}: saved {path}; continue with --resume")
        raise TrainingInterrupted(f"interrupted at {where}; saved {path}", path)

    def _kept(self):
        last = self.checkpoint_path("last") if self.out_dir else None
        if last and os.path.exists(last):
            return f"the last good checkpoint {last} is untouched"
        return "no checkpoint had been saved yet"

    def _say(self, line):
        if self.verbose:
            tqdm.write(line, file=sys.stdout)

    # ---- state ------------------------------------------------------------
    def checkpoint_path(self, which):
        return os.path.join(self.out_dir, f"{which}.npz")

    # What state_dict holds and load_state_dict needs: a checkpoint lacking one cannot be resumed.
    STATE_KEYS = ("run", "epoch", "step", "sums", "history", "best_acc", "model", "optimizer",
                  "scheduler", "rng", "loader")

    def state_dict(self):
        return {
            "run": self.run,
            "epoch": self.epoch,
            "step": self.step,
            "sums": dict(self.sums),
            "history": list(self.history),
            "step_losses": list(self.step_losses),
            "best_acc": self.best_acc,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "rng": random.get_state(),
            "loader": self.train_loader.state_dict(),
        }

    def load_state_dict(self, state):
        """Restore a checkpoint's state; a model that does not fit raises the key lists."""
        self.model.load_state_dict(state["model"])
        self.load_progress(state)

    def load_progress(self, state):
        """Restore everything of a checkpoint's state but the model's weights: the optimizer,
        the schedule, the random state, the loader's place and the counters."""
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        random.set_state(state["rng"])
        self.train_loader.load_state_dict(state["loader"])
        self.epoch, self.step = state["epoch"], state["step"]
        self.sums = dict(state["sums"])
        self.history = list(state["history"])
        self.step_losses = list(state.get("step_losses", []))
        self.best_acc = state["best_acc"]

    def resume(self, path):
        """Continue from the checkpoint at ``path``."""
        state = load_checkpoint(path, require=self.STATE_KEYS)
        load_model_state(self.model, state, path, self.run.get("model"))
        self.load_progress(state)
        return state
