"""The README's Fashion-MNIST recipe on a small slice, and the parts it is made of: a cosine
schedule with warm-up stepped per batch, and curves.png readable from the first epoch."""

import json
import os
import pathlib
import re
import shlex

import numpy as np
import pytest

import minidl as md
from minidl import cli
from minidl.commands import builders
from minidl.training.curves import curves_figure, smoothed, smoothing_window
from test_data_idx import FASHION_DIR

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def recipe_argv():
    """The arguments of the README recipe's `minidl train` command."""
    text = README.read_text(encoding="utf-8")
    start = text.index("<!-- section: recipe (issue 9) -->")
    (command,) = re.findall(r"^minidl train .*$", text[start:text.index("\n## ", start)], flags=re.M)
    return shlex.split(command)[1:]


def test_the_readme_recipe_trains_on_a_slice(tmp_path, capsys):
    if not os.path.isdir(FASHION_DIR):
        pytest.fail(f"{FASHION_DIR} is missing: install dataset-fashion-mnist, as .ci/run does")
    argv = recipe_argv()
    assert argv[:2] == ["train", "resnet20"] and "--label-smoothing" in argv and "erase" in " ".join(argv)
    out = tmp_path / "recipe"
    # The same options; only the length and the data are cut (argparse keeps an option's last value).
    code = cli.main(argv + ["--epochs", "2", "--warmup", "1", "--limit-train", "512", "--limit-test", "256",
                            "--out", str(out), "--no-progress"])
    printed, err = capsys.readouterr()
    assert code == 0, err
    saved = json.loads((out / "metrics.json").read_text())
    first, second = saved["epochs"]
    assert second["train_loss"] < first["train_loss"]
    assert second["test_acc"] > 0.2  # 10 classes: chance is 0.1; 8 steps in all (27% here)
    assert first["lr"] < second["lr"]  # epoch 1 starts in the warm-up, epoch 2 at the top of the cosine
    # a per-step schedule also records (and prints) the rate an epoch ended at
    lr = float(argv[argv.index("--lr") + 1])
    assert first["lr_end"] == pytest.approx(lr) and second["lr_end"] == pytest.approx(0.0, abs=1e-12)
    assert f"lr {first['lr']:.4g} -> {lr:.4g}" in printed + err


def test_cosine_step_warms_up_and_decays_by_step():
    optimizer = md.optim.SGD([md.nn.Parameter(np.zeros(1))], lr=1.0)
    schedule = builders.build_schedule("cosine-step", optimizer, epochs=3, warmup=1, steps_per_epoch=4)
    rates = []
    for _ in range(12):
        rates.append(optimizer.param_groups[0]["lr"])
        schedule.step()
    np.testing.assert_allclose(rates[:5], [0.2, 0.4, 0.6, 0.8, 1.0])
    assert all(a > b for a, b in zip(rates[4:], rates[5:]))
    np.testing.assert_allclose(rates[8], (1 + np.cos(np.pi * 4 / 8)) / 2)


def test_curves_show_steps_and_epochs_on_a_log_scale_from_one_epoch():
    epochs = [{"epoch": 1, "train_loss": 1.0, "train_acc": 0.6, "test_loss": 0.8, "test_acc": 0.7}]
    losses = list(np.linspace(2.3, 0.5, 120))
    figure = curves_figure(epochs, "lenet5 on fashion-mnist", losses, steps_per_epoch=120)
    loss_axes, acc_axes = figure.axes
    assert loss_axes.get_yscale() == "log"
    raw, mean, test = loss_axes.lines
    np.testing.assert_allclose(raw.get_xdata(), np.arange(1, 121) / 120)
    np.testing.assert_allclose(mean.get_ydata(), smoothed(losses, smoothing_window(120)))
    assert list(test.get_xdata()) == [1] and test.get_marker() == "s"  # one epoch is still a visible point
    assert [line.get_ydata()[0] for line in acc_axes.lines] == [60.0, 70.0]


def test_smoothing_is_a_trailing_mean():
    np.testing.assert_allclose(smoothed([4.0, 2.0, 0.0, 2.0], window=2), [4.0, 3.0, 1.0, 1.0])
