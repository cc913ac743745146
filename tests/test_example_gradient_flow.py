"""examples/gradient_flow.py on a small slice of Fashion-MNIST: the direction of each effect."""

import importlib.util
import os
import pathlib

import pytest
from test_data_idx import FASHION_DIR

EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "gradient_flow.py"


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    if not os.path.isdir(FASHION_DIR):
        pytest.fail(f"{FASHION_DIR} is missing: install the Debian package dataset-fashion-mnist, as .ci/run does")
    spec = importlib.util.spec_from_file_location("examples_gradient_flow", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path_factory.mktemp("flow")
    lines = []
    config = module.Config(steps=8, batch_size=16, train_size=128)
    return module, module.run(config, out, log=lines.append), out, lines


def test_it_writes_every_panel_and_prints_the_numbers(results):
    _, _, out, lines = results
    for name in ("depth_init", "depth_trained", "batch_norm", "init"):
        assert (out / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    assert sum("plain-56" in line for line in lines) >= 4 and any("std 1.0" in line for line in lines)


def test_resnet56_gradients_stay_in_a_band_where_plain56s_spread_over_orders_of_magnitude(results):
    module, found, _, _ = results
    plain, resnet = found["depth"]["plain-56"], found["depth"]["resnet-56"]
    assert len(plain["init"]) == len(resnet["init"]) == 55          # 55 convs (the 56th layer is the fc)
    spread = module.spread
    assert spread(plain["init"]) > 100 * spread(resnet["init"])
    assert spread(resnet["init"]) < 30 and spread(resnet["trained"]) < 30
    # At initialisation plain-56's gradient grows towards the input (batch norm in training mode) ...
    assert plain["init"][0] > 100 * plain["init"][-1]
    # ... and after a few steps it vanishes there, where resnet-56's first layer keeps its share.
    assert plain["trained"][0] < 0.1 * plain["trained"][-1]
    assert plain["trained"][0] < 0.1 * resnet["trained"][0]


def test_without_batch_norm_the_gradient_of_plain56_vanishes_towards_the_input(results):
    _, found, _, _ = results
    with_bn = found["batch_norm"]["plain-56 with batch norm"]
    without = found["batch_norm"]["plain-56 without batch norm"]
    assert without[0] < 0.1 * without[-1]
    assert with_bn[0] > with_bn[-1]


def test_std_1_explodes_the_responses_no_he_factor_vanishes_them_and_he_keeps_them_in_between(results):
    module, found, _, _ = results
    big, small, he = (found["init"][label] for label in module.INITS)
    assert big[-1] > 1e20 * big[0]
    assert small[-1] < 1e-6 * small[0]
    assert small[-1] < he[-1] < big[-1]
    assert module.spread(he) * 1e4 < min(module.spread(big), module.spread(small))
