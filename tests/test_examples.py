"""The lecture's arguments, as the scripts in examples/ compute them from real layers."""

import importlib.util
import pathlib
import subprocess
import sys

import numpy as np
import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"examples_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run_script(name, *args):
    result = subprocess.run([sys.executable, str(EXAMPLES / f"{name}.py"), *args],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_three_3x3_convolutions_see_7x7_for_27_against_49_c_squared():
    results = _load("stacked_3x3").compare(channels=8, size=12)
    stacked, single = results["three 3x3"], results["one 7x7"]
    assert stacked["receptive_field"] == single["receptive_field"] == (7, 7)
    assert (stacked["params"], single["params"]) == (27 * 8**2, 49 * 8**2)
    assert (stacked["flops_per_HWC2"], single["flops_per_HWC2"]) == (27, 49)


def test_stacked_3x3_script_prints_the_lectures_numbers():
    out = _run_script("stacked_3x3", "--channels", "16", "--size", "14")
    assert "receptive field 7x7" in out and "= 27 C^2" in out and "= 49 C^2" in out and "27 HWC^2" in out


def test_receptive_field_of_a_single_3x3_is_3x3():
    module = _load("stacked_3x3")
    import minidl as md

    one = md.nn.Sequential(md.nn.Conv2d(2, 2, 3, padding=1, bias=False))
    assert module.receptive_field(one, 2) == (3, 3)


def test_vgg_rule_halving_the_maps_and_doubling_the_channels_keeps_flops_constant():
    stages = _load("vgg_rule").main()
    maps = [s[0] for s in stages]
    assert maps == [(224, 224), (112, 112), (56, 56), (28, 28), (14, 14)]
    flops = [s[4] for s in stages]
    assert flops[:4] == [1_849_688_064] * 4          # 9 * H * W * C^2, the same in stages 1-4
    assert flops[4] == flops[3] // 4                  # stage 5 keeps 512 channels on 14x14
    memory = [s[2] for s in stages]
    assert [memory[i] / memory[i + 1] for i in range(3)] == [2.0, 2.0, 2.0]   # memory halves
    params = [s[3] for s in stages]
    assert all(3.9 < params[i + 1] / params[i] < 4.0 for i in range(3))      # weights x4 (+bias)


def test_basic_block_costs_18_hwc2_and_bottleneck_17_hwc2():
    costs = _load("residual_blocks").block_costs(channels=16, size=8)
    assert costs["basic"][1] == 18 and costs["basic"][3] == [9, 9]
    assert costs["bottleneck"][1] == 17 and costs["bottleneck"][3] == [4, 9, 4]
    out = _run_script("residual_blocks")
    assert "= 18 HWC^2" in out and "= 17 HWC^2" in out


def test_naive_inception_is_854m_and_the_bottleneck_version_271m():
    module = _load("inception_cost")
    costs = module.module_costs()
    assert costs["naive"][:2] == ((672, 28, 28), 854_196_224)
    assert costs["bottleneck"][:2] == ((480, 28, 28), 271_351_808)
    assert costs["naive"][2] == 256 * 28 * 28 * 9   # the 3x3 pool, counted as the lecture counts POOL1
    # The slide's 358M: its own six terms add up to what the real module costs.
    assert module.lecture_bottleneck_terms() == 271_351_808


def test_resnext_equal_cost_width():
    module = _load("resnext_width")
    assert round(module.equal_cost_width(64, 4)) == 24
    assert round(module.equal_cost_width(64, 32)) == 4
    for g in (1, 4, 32):
        c = module.equal_cost_width(64, g)
        assert 9 * g * c**2 + 8 * g * 64 * c - 17 * 64**2 == pytest.approx(0, abs=1e-6)
    results = module.check_with_blocks(64, (1, 4, 32), size=7)
    for g, (_width, _rounded, flops, reference) in results.items():
        assert abs(flops / reference - 1) < 0.01, g
    assert results[1][2] == results[1][3]     # one path of width 64 is the bottleneck itself
    out = _run_script("resnext_width", "--groups", "4", "32")
    assert "c =  23.93 ->  24" in out and "c =   3.97 ->   4" in out


# ---- the degradation experiment ------------------------------------------------

@pytest.mark.slow
def test_degradation_the_deeper_plain_net_trains_worse_and_the_residual_one_does_not(tmp_path):
    """The example's default run: 200 steps of 32 Fashion-MNIST images, fixed seed
    (a minute or two on 2 CPU cores; the margins are several times the noise
    between seeds)."""
    module = _load("degradation")
    curves = module.run(module.Config(), log=lambda line: None)
    final = {name: module.final_loss(curve) for name, curve in curves.items()}
    assert all(len(curve) == 200 and np.all(np.isfinite(curve)) for curve in curves.values())
    assert all(loss < np.log(10) - 0.3 for loss in final.values())   # all three learn something
    assert final["plain56"] > final["plain20"] + 0.3                  # degradation
    assert final["resnet56"] < final["plain56"] - 0.3                 # shortcuts remove it
    assert final["resnet56"] < final["plain20"] + 0.1                 # ... at least as good as plain-20
    path = module.plot(curves, tmp_path / "degradation.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_degradation_data_models_and_smoothing():
    module = _load("degradation")
    images, labels = module.load_images(64, image_size=16, seed=0)
    assert images.shape == (64, 1, 16, 16) and images.dtype == np.float32 and labels.shape == (64,)
    assert np.allclose(images[:, :, 0, :], -module.MEAN / module.STD)      # the zero padding
    big, _ = module.load_images(8, image_size=32, seed=0)
    assert big.shape == (8, 1, 32, 32)
    plain, residual = (sum(p.size for p in module.build(n).parameters()) for n in ("plain56", "resnet56"))
    assert plain == residual                                                # shortcuts add no weights
    with pytest.raises(ValueError):
        module.build("vgg20")
    np.testing.assert_allclose(module.smooth([1, 2, 3, 4], window=2), [1, 1.5, 2.5, 3.5])


def test_degradation_script_runs_and_writes_its_plot(tmp_path):
    out = tmp_path / "curves.png"
    text = _run_script("degradation", "--steps", "2", "--train-size", "64", "--out", str(out))
    assert "plain56" in text and "resnet56" in text and out.read_bytes()[:4] == b"\x89PNG"
