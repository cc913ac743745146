"""``curves.png``: the training loss of every step, and the test loss and accuracy of every epoch.

One set of axes over epochs (a step at i / steps-per-epoch): the per-step
training loss, faint, with its trailing moving average drawn on top (over a
tenth of the steps so far, at most SMOOTHING); the test loss per epoch as markers; both on a log scale, where a loss
falling from 2.3 to 0.3 stays readable. The accuracies per epoch (train and
test) are markers on a second y axis at the right. Markers, not lines alone,
so one or two epochs still show as points.

Drawn with matplotlib's object API on the Agg canvas: no window, no global
pyplot state, works on a machine without a display.
"""

import io

import numpy as np

from minidl.atomic import write_atomically

SMOOTHING = 50  # steps in the moving average of the training loss


def smoothed(values, window=SMOOTHING):
    """The mean of each value with up to ``window - 1`` values before it.

    >>> smoothed([1.0, 3.0, 5.0], window=2).tolist()
    [1.0, 2.0, 4.0]
    """
    values = np.asarray(values, dtype=np.float64)
    sums = np.concatenate(([0.0], np.cumsum(values)))
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(ends - window, 0)
    return (sums[ends] - sums[starts]) / (ends - starts)


def smoothing_window(steps):
    """Steps in the moving average: a tenth of the run, between 1 and SMOOTHING.

    >>> smoothing_window(30), smoothing_window(4690)
    (3, 50)
    """
    return max(1, min(SMOOTHING, steps // 10))


def plot_curves(path, epochs, title="", step_losses=(), steps_per_epoch=None):
    """Plot the records of ``metrics.json`` (a list of dicts) and the per-step training
    losses to a PNG at ``path``."""
    figure = curves_figure(epochs, title, step_losses, steps_per_epoch)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    write_atomically(path, lambda f: f.write(buffer.getvalue()))


def curves_figure(epochs, title="", step_losses=(), steps_per_epoch=None):
    """The matplotlib Figure of ``plot_curves``."""
    # Imported here: matplotlib takes about half a second to import, and only a
    # run that writes its files needs it.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    figure = Figure(figsize=(9, 4.5), dpi=100)
    FigureCanvasAgg(figure)
    loss_axes = figure.subplots()
    acc_axes = loss_axes.twinx()
    x = [record["epoch"] for record in epochs]
    if len(step_losses) and steps_per_epoch:
        steps = (np.arange(len(step_losses)) + 1) / steps_per_epoch
        loss_axes.plot(steps, step_losses, color="tab:blue", alpha=0.2, linewidth=0.8)
        window = smoothing_window(len(step_losses))
        loss_axes.plot(steps, smoothed(step_losses, window), color="tab:blue",
                       label=f"train loss per step ({window}-step mean)")
    else:
        loss_axes.plot(x, [r["train_loss"] for r in epochs], "o-", color="tab:blue", label="train loss")
    loss_axes.plot(x, [r["test_loss"] for r in epochs], "s--", color="tab:orange", label="test loss")
    loss_axes.set_yscale("log")
    loss_axes.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    loss_axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    loss_axes.yaxis.set_minor_formatter(NullFormatter())
    loss_axes.set_xlabel("epoch")
    loss_axes.set_ylabel("cross-entropy loss (log scale)")
    loss_axes.set_xlim(0, max(x + [1]) + 0.05)
    loss_axes.grid(True, which="both", alpha=0.3)
    acc_axes.plot(x, [100 * r["train_acc"] for r in epochs], "^:", color="tab:green", label="train accuracy")
    acc_axes.plot(x, [100 * r["test_acc"] for r in epochs], "D-", color="tab:red", label="test accuracy")
    acc_axes.set_ylabel("accuracy (%)")
    handles = loss_axes.get_legend_handles_labels()
    more = acc_axes.get_legend_handles_labels()
    # Below the axes, where it hides no point of either scale.
    figure.legend(handles[0] + more[0], handles[1] + more[1], loc="lower center", ncol=4, fontsize="small")
    loss_axes.xaxis.get_major_locator().set_params(integer=True)
    if title:
        figure.suptitle(title)
    figure.tight_layout(rect=(0, 0.07, 1, 1))
    return figure
