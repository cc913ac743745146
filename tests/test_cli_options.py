"""What ``minidl`` says about its options and names, before any training: flags that do
not swallow the model, names matched like a person would, numbers that cannot train
refused, and the version, model list and CUDA hint."""

import re

import numpy as np
import pytest

import minidl as md
from minidl import backend, cli
from minidl.training import Trainer, TrainingDiverged
from minidl.data import ArrayDataset, DataLoader

F = md.functional


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def no_data(tmp_path):
    """A --data-dir holding nothing, with cifar10: any command that reads data fails with 'was not found'."""
    empty = tmp_path / "empty"
    empty.mkdir()
    return ["--dataset", "cifar10", "--data-dir", str(empty), "--out", str(tmp_path / "run"), "--no-progress"]


@pytest.mark.parametrize("argv, model, resume, augment", [
    (["train", "--resume", "lenet5"], "lenet5", True, False),
    (["train", "--augment", "resnet20"], "resnet20", False, True),
    (["train", "lenet5", "--resume-from", "x.npz", "--augment"], "lenet5", False, True),
])
def test_flags_do_not_swallow_the_model_name(argv, model, resume, augment):
    args = cli.build_parser(argv).parse_args(argv)
    assert (args.model, args.resume, args.augment) == (model, resume, augment)


@pytest.mark.parametrize("typo, suggestion", [("resnet2", "resnet20"), ("lenet", "lenet5"), ("vgg11bn", "vgg11_bn"),
                                              ("densenet_bc100", "densenet_bc_100")])
def test_a_typo_gets_did_you_mean_and_no_internal_names(capsys, no_data, typo, suggestion):
    code, _, err = run(capsys, "train", typo, *no_data)
    assert code == 1
    assert re.search(f"unknown model {typo!r}; did you mean ([a-z0-9_]+ or )*{suggestion}\\b", err), err
    assert "models.get" not in err and "was not found" not in err


def test_names_are_matched_ignoring_case(tmp_path, capsys):
    assert md.models.resolve("LeNet5") == "lenet5" and md.models.resolve("DenseNet_BC_100") == "densenet_bc_100"
    assert md.models.get("ResNet20", in_channels=1).conv1.weight.shape[1] == 1


@pytest.mark.parametrize("option, value, message", [
    ("--lr", "nan", "--lr must be a finite number > 0, got nan"),
    ("--lr", "inf", "--lr must be a finite number > 0, got inf"),
    ("--lr", "-0.1", "--lr must be a finite number > 0"),
    ("--momentum", "1", r"--momentum must be in \[0, 1\), got 1.0"),
    ("--momentum", "-0.5", r"--momentum must be in \[0, 1\)"),
    ("--label-smoothing", "1", r"--label-smoothing must be in \[0, 1\)"),
])
def test_numbers_that_cannot_train_are_refused_before_data(capsys, no_data, option, value, message):
    code, _, err = run(capsys, "train", "resnet20", option, value, *no_data)
    assert code == 1 and re.search(message, err), err
    assert "was not found" not in err


@pytest.mark.parametrize("schedule", ["cosine", "cosine-step"])
def test_a_warmup_as_long_as_the_run_is_refused(capsys, no_data, schedule):
    code, _, err = run(capsys, "train", "resnet20", "--epochs", "3", "--schedule", schedule, "--warmup", "3", *no_data)
    assert code == 1 and "--warmup 3 is not shorter than the run (--epochs 3)" in err
    assert "CosineAnnealingLR" not in err and "was not found" not in err


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"minidl {md.__version__}"


def test_models_lists_families_with_counts_and_native_input(capsys):
    code, out, _ = run(capsys, "models")
    assert code == 0
    assert re.search(r"\nLeNet-5\n  lenet5 +1,256,080 parameters +1x28x28  fixed-size head", out)
    assert re.search(r"\nResNet and plain nets \(CIFAR\)\n  resnet20 +269,722 parameters +3x32x32\n", out)
    assert "\nother\n" not in out
    listed = re.findall(r"^  (\S+) ", out, re.MULTILINE)
    assert sorted(listed) == md.models.list_models()


def test_the_models_table_holds_the_counts_the_zoo_tests_build():
    from minidl.commands.models import PARAMETERS
    from test_models_zoo import EXPECTED

    assert PARAMETERS == EXPECTED


def test_the_cuda_hint_fits_a_checkout():
    # The tests run from a checkout installed with `pip install -e`, as the README says.
    assert "pip install -e '.[cuda12]'" in backend.cuda_install_hint()


class _Scaled:
    """Cross-entropy times a factor that jumps at a given step: a loss that blows up."""

    def __init__(self, jump_at, factor):
        self.calls, self.jump_at, self.factor = 0, jump_at, factor

    def __call__(self, logits, labels):
        self.calls += 1
        loss = F.cross_entropy(logits, labels)
        return loss * self.factor if self.calls >= self.jump_at else loss


@pytest.mark.parametrize("factor, stops", [(2e4, True), (5e3, False)])
def test_a_loss_far_above_the_first_stops_the_run_like_nan(tmp_path, factor, stops):
    rng = np.random.default_rng(0)
    data = ArrayDataset(rng.integers(0, 256, (8, 1, 4, 4), dtype=np.uint8), np.arange(8) % 2, 2)
    md.manual_seed(0)
    model = md.nn.Sequential(md.nn.Flatten(), md.nn.Linear(16, 2))
    optimizer = md.optim.SGD(model.parameters(), lr=0.0)  # a frozen model: the loss only moves by the factor
    out = tmp_path / "run"
    trainer = Trainer(model, optimizer, DataLoader(data, 2, seed=0), DataLoader(data, 4), out_dir=str(out),
                      progress=False, verbose=False, criterion=_Scaled(3, factor))
    if stops:
        with pytest.raises(TrainingDiverged,
                           match=r"more than 10000 times the first step's .* at epoch 1, step 3 of 4"):
            trainer.fit(1)
        assert not out.exists() and len(trainer.step_losses) == 2
    else:
        trainer.fit(1)
        assert len(trainer.step_losses) == 4


def test_resume_differences_name_options_not_internal_values(tmp_path, capsys):
    out = str(tmp_path / "run")
    tiny = ["--batch-size", "2", "--limit-test", "2", "--no-progress", "--out", out]
    assert run(capsys, "train", "lenet5", "--epochs", "1", "--limit-train", "2", *tiny)[0] == 0
    code, _, err = run(capsys, "train", "lenet5", "--epochs", "2", "--resume", *tiny)
    assert code == 1 and "--limit-train: checkpoint 2, now not given" in err
    assert "None" not in err
