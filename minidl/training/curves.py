"""``curves.png``: loss and accuracy per epoch, train and test, side by side.

Drawn with matplotlib's object API on the Agg canvas: no window, no global
pyplot state, works on a machine without a display.
"""

import io

from minidl.atomic import write_atomically


def plot_curves(path, epochs, title=""):
    """Plot the records of ``metrics.json`` (a list of dicts) to a PNG at ``path``."""
    # Imported here: matplotlib takes about half a second to import, and only a
    # run that writes its files needs it.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    x = [record["epoch"] for record in epochs]
    figure = Figure(figsize=(10, 4), dpi=100)
    FigureCanvasAgg(figure)
    loss_axes, acc_axes = figure.subplots(1, 2)
    for axes, key, label in ((loss_axes, "loss", "cross-entropy loss"), (acc_axes, "acc", "accuracy (%)")):
        scale = 100 if key == "acc" else 1
        for split, style in (("train", "o-"), ("test", "s--")):
            axes.plot(x, [record[f"{split}_{key}"] * scale for record in epochs], style, label=split)
        axes.set_xlabel("epoch")
        axes.set_ylabel(label)
        axes.grid(True, alpha=0.3)
        axes.legend()
        axes.xaxis.get_major_locator().set_params(integer=True)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    write_atomically(path, lambda f: f.write(buffer.getvalue()))
