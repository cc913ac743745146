"""md.summary and `minidl summary`: the lecture's per-layer table (seed 001)."""

import numpy as np
import pytest

import minidl as md
from minidl import cli
from minidl.summary import Row, layer_flops, parse_shape

nn = md.nn


@pytest.fixture(scope="module")
def alexnet_table():
    return md.summary(md.models.alexnet(), (3, 227, 227))


def _by_label(table):
    return {row.label: row for row in table}


def test_alexnet_reproduces_the_lectures_rows(alexnet_table):
    rows = _by_label(alexnet_table)
    conv1, pool1, fc6 = rows["CONV1"], rows["POOL1"], rows["FC6"]
    assert (conv1.output_shape, conv1.memory, conv1.params, conv1.flops) == ((64, 56, 56), 784.0, 23_296, 72_855_552)
    assert (pool1.output_shape, pool1.memory, pool1.params, pool1.flops) == ((64, 27, 27), 182.25, 0, 419_904)
    assert fc6.flops == 37_748_736 and fc6.params == 9216 * 4096 + 4096 and fc6.output_shape == (4096,)
    assert rows["FLATTEN5"].output_shape == (9216,) and rows["FLATTEN5"].flops == 0


def test_alexnet_rows_follow_the_lectures_arithmetic(alexnet_table):
    """Every conv/fc/pool row by the lecture's formulas, from the layer's own settings."""
    rows = _by_label(alexnet_table)
    expected = {  # label: (C, H, W, C_in, kernel) for conv; the lecture's table
        "CONV2": (192, 27, 27, 64, 5), "CONV3": (384, 13, 13, 192, 3),
        "CONV4": (256, 13, 13, 384, 3), "CONV5": (256, 13, 13, 256, 3),
    }
    for label, (c, h, w, c_in, k) in expected.items():
        row = rows[label]
        assert row.output_shape == (c, h, w)
        assert row.memory == c * h * w * 4 / 1024
        assert row.params == c * c_in * k * k + c
        assert row.flops == c * h * w * c_in * k * k
    assert rows["POOL2"].output_shape == (192, 13, 13) and rows["POOL5"].output_shape == (256, 6, 6)
    assert rows["POOL5"].flops == 256 * 6 * 6 * 9
    assert [rows[f"FC{i}"].flops for i in (6, 7, 8)] == [9216 * 4096, 4096 * 4096, 4096 * 1000]
    assert alexnet_table.total_params == 61_100_840 == sum(row.params for row in alexnet_table)
    assert alexnet_table.total_flops == sum(row.flops for row in alexnet_table)


def test_rows_are_iterable_and_indexable(alexnet_table):
    rows = list(alexnet_table)
    assert len(rows) == len(alexnet_table) == 21 and all(isinstance(r, Row) for r in rows)
    assert [r.name for r in rows[:3]] == ["features.0", "features.1", "features.2"]
    assert alexnet_table[0] is rows[0] and alexnet_table["classifier.1"].label == "FC6"
    for row in rows:
        assert {"name", "output_shape", "params", "memory", "flops"} <= set(vars(row))
    with pytest.raises(KeyError, match="no layer named"):
        alexnet_table["features.99"]


def test_the_table_prints_the_lectures_numbers(alexnet_table):
    text = str(alexnet_table)
    for expected in ("CONV1", "64x56x56", "784", "23,296", "72,855,552",
                     "POOL1", "64x27x27", "182.25", "419,904", "37,748,736", "61,100,840"):
        assert expected in text
    conv1_line = next(line for line in text.splitlines() if line.startswith("features.0 "))
    assert conv1_line.split() == ["features.0", "CONV1", "Conv2d", "64x56x56", "784", "23,296", "72,855,552"]


def test_cli_summary_prints_the_table(capsys):
    assert cli.main(["summary", "alexnet", "--input", "3x227x227"]) == 0
    out = capsys.readouterr().out
    assert "72,855,552" in out and "182.25" in out and "37,748,736" in out


def test_cli_summary_defaults_to_the_models_input_and_reports_bad_input(capsys):
    assert cli.main(["summary", "resnet20"]) == 0
    assert "3x32x32" in capsys.readouterr().out
    assert cli.main(["summary", "alexnet", "--input", "3x16x16"]) == 2
    err = capsys.readouterr().err
    assert "features.5" in err and "MaxPool2d" in err
    assert cli.main(["summary", "alexnet", "--input", "3by227"]) == 2
    assert cli.main(["summary", "no_such_model"]) == 2


def test_parse_shape():
    assert parse_shape("3x227x227") == (3, 227, 227) and parse_shape("1X28X28") == (1, 28, 28)
    for bad in ("3x", "x", "3x0x4", "three"):
        with pytest.raises(ValueError):
            parse_shape(bad)


def test_flop_rules_of_each_layer_kind():
    x = md.tensor(np.zeros((1, 8, 10, 10), np.float32))
    cases = [
        (nn.Conv2d(8, 6, 3, padding=1), 6 * 10 * 10 * 8 * 9),
        (nn.Conv2d(8, 6, 3, padding=1, groups=2), 6 * 10 * 10 * 4 * 9),
        (nn.MaxPool2d(2), 8 * 5 * 5 * 4),
        (nn.AvgPool2d(3, stride=1, padding=1), 8 * 10 * 10 * 9),
        (nn.AdaptiveAvgPool2d(1), 8 * 10 * 10),
        (nn.BatchNorm2d(8), 8 * 10 * 10),
        (nn.LocalResponseNorm(5), 8 * 10 * 10 * 5),
        (nn.ReLU(), 0),
        (nn.Dropout(0.5), 0),
    ]
    for module, flops in cases:
        module.eval()
        assert layer_flops(module, (x,), module(x)) == flops, module
    fc = nn.Linear(800, 7)
    flat = md.tensor(np.zeros((1, 800), np.float32))
    assert layer_flops(fc, (flat,), fc(flat)) == 800 * 7


def test_published_flops_of_vgg16_and_resnets():
    """VGG-16 15.5G multiply-adds; ResNet-18 1.8G, ResNet-34 3.6G (He et al., Table 1)."""
    def conv_fc(table):
        return sum(row.flops for row in table if row.kind in ("Conv2d", "Linear"))

    assert conv_fc(md.summary(md.models.vgg16(num_classes=1000), (3, 224, 224))) == pytest.approx(15.47e9, rel=0.01)
    assert conv_fc(md.summary(md.models.resnet18(), (3, 224, 224))) == pytest.approx(1.8e9, rel=0.02)
    assert conv_fc(md.summary(md.models.resnet34(), (3, 224, 224))) == pytest.approx(3.6e9, rel=0.02)


def test_summary_restores_modes_and_removes_its_hooks():
    model = md.models.resnet20()
    model.train()
    model.layer2.eval()
    md.summary(model, (3, 32, 32))
    assert model.training and model.layer1.training and not model.layer2.training
    assert not model.layer2[0].bn1.training
    assert all(not m._forward_hooks for m in model.modules())
    lenet = md.models.lenet5()
    with pytest.raises(ValueError, match="raised in layer '5'"):
        md.summary(lenet, (1, 2, 2))  # 2 -> 1 after the first pool; the second 2x2 pool fails
    assert lenet.training and all(not m._forward_hooks for m in lenet.modules())


def test_parameters_that_do_not_run_in_evaluation_are_counted_but_have_no_rows():
    model = md.models.googlenet()
    table = md.summary(model, (3, 224, 224))
    assert not any(row.name.startswith("aux") for row in table)
    assert table.total_params == 13_378_280
    assert sum(row.params for row in table) == 6_998_552
    assert "do not run in evaluation" in str(table)
    assert model.training  # the summary ran in evaluation and switched back


def test_a_layer_called_twice_has_two_rows_and_counts_its_parameters_once():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 2, 3, padding=1)

        def forward(self, x):
            return self.conv(self.conv(x))

    table = md.summary(Twice(), (2, 5, 5))
    assert [row.name for row in table] == ["conv", "conv"]
    assert [row.params for row in table] == [2 * 2 * 9 + 2, 0]
    assert [row.flops for row in table] == [2 * 25 * 18] * 2


def test_summary_follows_the_models_dtype():
    model = md.models.lenet5().double()
    table = md.summary(model, (1, 28, 28))
    assert table["0"].output_shape == (20, 28, 28) and table.total_params == 1_256_080


def test_summary_rejects_a_malformed_shape():
    with pytest.raises(TypeError, match="input_shape"):
        md.summary(md.models.lenet5(), None)
    with pytest.raises(ValueError, match="input_shape"):
        md.summary(md.models.lenet5(), (1, 0, 28))


def test_summary_of_every_cifar_model_matches_its_parameter_count():
    for name in ("resnet20", "plain20", "nin", "wrn_16_8", "lenet5_1998"):
        model = md.models.get(name)
        table = md.summary(model, md.models.input_shape(name))
        assert sum(row.params for row in table) == table.total_params == sum(p.size for p in model.parameters())
