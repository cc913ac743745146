"""Any zoo model on any dataset from ``minidl train``: channels, classes and image size
follow the dataset (or --input-size), and a mismatch is refused before any data is read.

Fashion-MNIST is the real one from the Debian package; CIFAR-10 is a small fake in the
official python layout, written into a temporary --data-dir.
"""

import inspect
import json
import os

import numpy as np
import pytest

import minidl as md
from minidl import cli
from minidl.commands import model_input
from minidl.data import spec
from minidl.models import registry
from test_data_cifar import make_cifar10
from test_data_idx import FASHION_DIR

TINY = ["--epochs", "1", "--batch-size", "2", "--limit-train", "2", "--limit-test", "2", "--no-progress"]

# The --input-size each model needs on 28x28 Fashion-MNIST (the smallest of
# model_input.CANDIDATE_SIZES that it takes); the rest take the images as they are.
# With ceil_mode, PyTorch (and so minidl) keeps one window of a pooling kernel larger
# than its padded input when it overhangs by less than a stride: SqueezeNet 1.0's
# pools then take 28x28 as it is, and NiN's take 48x48.
NEEDS_INPUT_SIZE = {
    "alexnet": 64, "alexnet_paper": 96, "zfnet": 64, "lenet5_1998": 32, "nin_imagenet": 48,
    "densenet121": 32, "fractalnet": 32, "googlenet": 224,
    **{name: 32 for name in md.models.list_models() if name.startswith("vgg")},
}


@pytest.fixture(autouse=True)
def fashion_mnist():
    if not os.path.isdir(FASHION_DIR):
        pytest.fail(f"{FASHION_DIR} is missing: install the Debian package dataset-fashion-mnist, as .ci/run does")


def train(capsys, *argv):
    code = cli.main(["train", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def cifar_dir(tmp_path):
    make_cifar10(str(tmp_path / "cifar"), "python", train_per_batch=2, test_count=4)
    return str(tmp_path / "cifar")


def test_every_builder_takes_in_channels_next_to_num_classes():
    for name in md.models.list_models():
        parameters = inspect.signature(registry._BUILDERS[name]).parameters
        assert {"num_classes", "in_channels"} <= set(parameters), name
        assert parameters["in_channels"].default == md.models.input_shape(name)[0], name


@pytest.mark.parametrize("name, shape", [("lenet5", (1, 28, 28)), ("resnet20", (3, 32, 32)),
                                         ("densenet_bc_100", (3, 32, 32)), ("vgg11", (3, 224, 224))])
def test_in_channels_changes_only_the_first_convolution(name, shape):
    other = 4 - shape[0]  # 1 <-> 3
    native, changed = md.models.get(name), md.models.get(name, in_channels=other)
    differing = {key: (p.shape, changed_p.shape)
                 for (key, p), (_, changed_p) in zip(native.named_parameters(), changed.named_parameters())
                 if p.shape != changed_p.shape}
    (key, (before, after)), = differing.items()
    assert before[1] == shape[0] and after[1] == other, key


@pytest.mark.parametrize("name, size, features", [("lenet5", 32, 50 * 8 * 8), ("lenet5_1998", 36, 120 * 2 * 2),
                                                  ("vgg11_bn", 32, 512), ("alexnet", 64, 256 * 1 * 1)])
def test_a_fixed_head_is_sized_for_its_input(name, size, features):
    model = md.models.get(name, num_classes=10, in_channels=1, input_size=size)
    first_fc = next(m for m in model.modules() if isinstance(m, md.nn.Linear))
    assert first_fc.weight.shape[1] == features
    assert model.eval()(md.tensor(np.zeros((1, 1, size, size), np.float32))).shape == (1, 10)


def test_a_fixed_head_refuses_an_input_it_cannot_reach():
    with pytest.raises(ValueError, match=r"vgg11: a 28x28 input is too small: its feature map vanishes at MaxPool2d"):
        md.models.vgg11(input_size=28)


@pytest.mark.parametrize("argv", [
    ["resnet20", "--dataset", "fashion-mnist"],
    ["densenet_bc_100", "--dataset", "fashion-mnist"],
    ["vgg11_bn", "--dataset", "fashion-mnist", "--input-size", "32"],
    ["lenet5", "--dataset", "cifar10"],
    ["resnet20", "--dataset", "cifar10"],
])
def test_the_issue_commands_train_and_evaluate(tmp_path, capsys, cifar_dir, argv):
    out = str(tmp_path / "run")
    code, stdout, err = train(capsys, *argv, "--data-dir", cifar_dir, "--out", out, *TINY)
    assert code == 0, err
    with open(os.path.join(out, "metrics.json")) as f:
        saved = json.load(f)
    assert saved["model"] == argv[0] and saved["dataset"] == argv[2]
    if "--input-size" in argv:
        assert "resized to 32x32" in stdout and saved["config"]["input_size"] == [32, 32]
    code = cli.main(["evaluate", argv[0], "--checkpoint", os.path.join(out, "last.npz"), "--data-dir", cifar_dir,
                     "--limit-test", "2", "--no-progress"])
    stdout, err = capsys.readouterr()
    assert code == 0, err
    assert f"accuracy {saved['epochs'][0]['test_acc']:.2%}" in stdout


def test_a_model_that_cannot_take_the_images_is_refused_before_any_data_is_read(tmp_path, capsys):
    empty = tmp_path / "nothing-here"
    empty.mkdir()
    code, _, err = train(capsys, "vgg11_bn", "--dataset", "cifar10", "--data-dir", str(empty),
                         "--out", str(tmp_path / "run"), "--input-size", "16", *TINY)
    assert code == 1
    assert "vgg11_bn cannot take 3x16x16 images (--input-size)" in err and "pass --input-size 32" in err
    assert "was not found" not in err and not os.path.exists(tmp_path / "run")


def test_input_size_syntax():
    assert model_input.parse_input_size("64x48") == (64, 48)
    for bad in ("0", "32x", "x32", "3.5", "-4"):
        with pytest.raises(ValueError, match="--input-size must be H or HxW"):
            model_input.parse_input_size(bad)


def test_the_fit_check_leaves_buffers_and_random_state_alone():
    dataset = spec("fashion-mnist")
    md.manual_seed(3)
    chosen, model = model_input.build_checked("resnet20", dataset)
    after_check = md.random.get_state()
    md.manual_seed(3)
    fresh = model_input.plan("resnet20", dataset).build()
    assert after_check == md.random.get_state()
    for (name, mine), (_, theirs) in zip(model.state_dict().items(), fresh.state_dict().items()):
        assert np.array_equal(mine, theirs), name


@pytest.mark.slow
@pytest.mark.parametrize("name", md.models.list_models())
def test_every_model_trains_one_step_on_fashion_mnist(tmp_path, capsys, name):
    size = NEEDS_INPUT_SIZE.get(name)
    extra = [] if size is None else ["--input-size", str(size)]
    code, stdout, err = train(capsys, name, "--out", str(tmp_path / "run"), *extra, *TINY)
    assert code == 0, err
    assert "after 1 epoch(s)" in stdout
    # The test numbers of one step on two images mean nothing (batch norm's running
    # statistics come from one batch of two); the training loss must be a number.
    with open(tmp_path / "run" / "metrics.json") as f:
        assert np.isfinite(json.load(f)["epochs"][0]["train_loss"])
    if size is not None:
        code, _, err = train(capsys, name, "--out", str(tmp_path / "refused"), *TINY)
        assert code == 1 and f"pass --input-size {size} " in err, err
