"""The Trainer on a tiny model and tiny data: exact resume, Ctrl-C, NaN, and foreign checkpoints."""

import json
import os
import signal

import numpy as np
import pytest

import minidl as md
from minidl.data import ArrayDataset, DataLoader
from minidl.data import transforms as T
from minidl.optim import lr_scheduler
from minidl.training import Trainer, TrainingDiverged, TrainingInterrupted, load_checkpoint

nn = md.nn


def tiny_model(hidden=4):
    return nn.Sequential(
        nn.Conv2d(1, hidden, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Dropout(0.3), nn.Linear(hidden * 4 * 4, 3),
    )


def tiny_data(count, seed):
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 3
    images = rng.integers(0, 120, (count, 1, 8, 8)) + (labels * 60)[:, None, None, None]
    return ArrayDataset(images.astype(np.uint8), labels, num_classes=3)


OPTIMIZERS = {
    "sgd+step": (lambda p: md.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=5e-4),
                 lambda o: lr_scheduler.StepLR(o, step_size=1, gamma=0.5)),
    "adam+cosine": (lambda p: md.optim.Adam(p, lr=0.01), lambda o: lr_scheduler.CosineAnnealingLR(o, 3, warmup=1)),
    "adamw+plateau": (lambda p: md.optim.AdamW(p, lr=0.01),
                      lambda o: lr_scheduler.ReduceLROnPlateau(o, patience=0, threshold=0.5)),
}


def make_trainer(out_dir, recipe="sgd+step", seed=0):
    md.manual_seed(seed)
    model = tiny_model()
    make_optimizer, make_schedule = OPTIMIZERS[recipe]
    optimizer = make_optimizer(model.parameters())
    augment = T.Compose([T.RandomCrop(8, padding=1), T.RandomHorizontalFlip(), T.Normalize([0.4], [0.3])])
    train = DataLoader(tiny_data(40, 1), 8, shuffle=True, seed=seed, transform=augment)
    test = DataLoader(tiny_data(16, 2), 8, transform=T.Normalize([0.4], [0.3]))
    return Trainer(model, optimizer, train, test, make_schedule(optimizer), out_dir=str(out_dir),
                   run={"model": "tiny", "dataset": "tiny"}, progress=False, verbose=False)


def weights(trainer):
    return {k: v.copy() for k, v in trainer.model.state_dict().items()}


def same_numbers(a, b):
    strip = lambda history: [{k: v for k, v in r.items() if k != "seconds"} for r in history]  # noqa: E731
    return strip(a) == strip(b)


@pytest.mark.parametrize("recipe", list(OPTIMIZERS))
def test_one_epoch_then_resume_equals_two_straight(tmp_path, recipe):
    straight = make_trainer(tmp_path / "straight", recipe)
    history = straight.fit(epochs=3)

    first = make_trainer(tmp_path / "split", recipe)
    first.fit(epochs=1)
    resumed = make_trainer(tmp_path / "split", recipe, seed=123)  # another seed: everything must come from the file
    resumed.resume(os.path.join(tmp_path / "split", "last.npz"))
    assert resumed.epoch == 1
    resumed_history = resumed.fit(epochs=3)

    assert same_numbers(resumed_history, history)
    for key, array in weights(straight).items():
        np.testing.assert_array_equal(weights(resumed)[key], array, err_msg=key)
    saved = json.load(open(tmp_path / "split" / "metrics.json"))
    assert same_numbers(saved["epochs"], history)


def test_outputs_of_a_run(tmp_path):
    trainer = make_trainer(tmp_path)
    history = trainer.fit(epochs=2)
    assert sorted(os.listdir(tmp_path)) == ["best.npz", "curves.png", "last.npz", "metrics.json"]
    metrics = json.load(open(tmp_path / "metrics.json"))
    assert metrics["model"] == "tiny" and [r["epoch"] for r in metrics["epochs"]] == [1, 2]
    for record in metrics["epochs"]:
        assert set(record) == {"epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds"}
        assert 0 <= record["test_acc"] <= 1 and record["seconds"] > 0
    assert [r["lr"] for r in history] == [0.05, 0.025]  # StepLR halves it each epoch
    assert open(tmp_path / "curves.png", "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    best = load_checkpoint(tmp_path / "best.npz")
    assert best["history"][-1]["test_acc"] == max(r["test_acc"] for r in history)


def _interrupt_at(trainer, step):
    """Send SIGINT (Ctrl-C) to this process during the forward pass of training step ``step``."""
    calls = []

    def hook(module, inputs, output):
        if module.training:
            calls.append(1)
            if len(calls) == step:
                os.kill(os.getpid(), signal.SIGINT)

    return trainer.model.register_forward_hook(hook)


@pytest.mark.parametrize("at_step", [3, 5])  # 5 batches an epoch: the middle, and the end of the epoch
def test_ctrl_c_saves_and_resume_continues_exactly(tmp_path, at_step):
    straight = make_trainer(tmp_path / "straight")
    history = straight.fit(epochs=2)

    interrupted = make_trainer(tmp_path / "cut")
    handle = _interrupt_at(interrupted, at_step + 5)  # in the second epoch
    handler = signal.getsignal(signal.SIGINT)  # Python's default; SIG_IGN where started in the background
    with pytest.raises(TrainingInterrupted) as info:
        interrupted.fit(epochs=2)
    handle.remove()
    assert info.value.checkpoint == os.path.join(tmp_path / "cut", "last.npz")
    saved = load_checkpoint(info.value.checkpoint)
    assert (saved["epoch"], saved["step"]) == (1, at_step)  # the step in flight was finished, then saved
    assert signal.getsignal(signal.SIGINT) is handler  # the handler from before fit, restored

    resumed = make_trainer(tmp_path / "cut", seed=7)
    resumed.resume(info.value.checkpoint)
    assert same_numbers(resumed.fit(epochs=2), history)
    for key, array in weights(straight).items():
        np.testing.assert_array_equal(weights(resumed)[key], array, err_msg=key)


def test_second_ctrl_c_quits_at_once_without_saving(tmp_path):
    trainer = make_trainer(tmp_path)
    trainer.fit(epochs=1)
    before = open(tmp_path / "last.npz", "rb").read()
    calls = []

    def hook(module, inputs, output):
        if module.training:
            calls.append(1)
            if len(calls) == 2:
                os.kill(os.getpid(), signal.SIGINT)
                os.kill(os.getpid(), signal.SIGINT)

    trainer.model.register_forward_hook(hook)
    with pytest.raises(KeyboardInterrupt) as info:
        trainer.fit(epochs=2)
    assert not isinstance(info.value, TrainingInterrupted)
    assert open(tmp_path / "last.npz", "rb").read() == before


def test_nan_loss_stops_naming_epoch_and_step_and_keeps_the_checkpoint(tmp_path):
    trainer = make_trainer(tmp_path)
    trainer.fit(epochs=1)
    files = {name: open(tmp_path / name, "rb").read() for name in os.listdir(tmp_path)}
    calls = []

    def poison(module, inputs, output):
        if module.training:
            calls.append(1)
            if len(calls) == 3:
                output.data[...] = np.nan

    trainer.model.register_forward_hook(poison)
    message = r"the loss is nan at epoch 2, step 3 of 5.*last good checkpoint .*last\.npz is untouched"
    with pytest.raises(TrainingDiverged, match=message):
        trainer.fit(epochs=2)
    assert {name: open(tmp_path / name, "rb").read() for name in os.listdir(tmp_path)} == files


def test_checkpoint_of_another_model_lists_the_keys(tmp_path):
    make_trainer(tmp_path).fit(epochs=1)
    other = make_trainer(tmp_path / "other")
    md.manual_seed(0)
    other.model = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 64, 3),
                                nn.Linear(3, 3))
    with pytest.raises(ValueError) as info:
        other.resume(os.path.join(tmp_path, "last.npz"))
    message = str(info.value)
    assert "saved from model 'tiny'" in message
    assert "missing keys (4): 3.weight, 3.bias, 4.weight, 4.bias" in message
    assert "unexpected keys (2): 5.weight, 5.bias" in message
    assert "0.weight: checkpoint (4, 1, 3, 3) vs model (6, 1, 3, 3)" in message
