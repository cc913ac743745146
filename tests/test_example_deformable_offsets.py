"""examples/deformable_offsets.py on a slice of Fashion-MNIST: it trains both networks,
prints both accuracies, draws the PNG, and its sampling points are right at init."""

import importlib.util
import pathlib

import numpy as np

import minidl as md

EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "deformable_offsets.py"


def _load():
    spec = importlib.util.spec_from_file_location("examples_deformable_offsets", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_example_trains_both_networks_and_draws_the_sampling_points(tmp_path, capsys):
    module = _load()
    out = tmp_path / "offsets.png"
    results = module.main(["--steps", "2", "--batch-size", "4", "--train-size", "32",
                           "--test-size", "20", "--out", str(out)])
    assert set(results) == {"resnet20", "resnet20_dcn"}
    assert all(0.0 <= a <= 1.0 and a * 20 == round(a * 20) for a in results.values())
    printed = capsys.readouterr().out
    assert "resnet20      test accuracy" in printed and "resnet20_dcn  test accuracy" in printed
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sampling_points_sit_on_the_grid_at_init_and_move_when_trained():
    module = _load()
    image = np.random.default_rng(0).normal(size=(1, 32, 32)).astype(np.float32)
    md.manual_seed(0)
    model = md.models.resnet20_dcn(in_channels=1)
    layers = module.sampling_points(model, image)
    assert len(layers) == 6
    first_points, first_grid, first_mask = layers[0]
    # layer 1 reads the 16x16 map (2 image pixels each) at stride 2: centre output 4 -> rows 7..9
    np.testing.assert_array_equal(first_grid[:, 0], (np.repeat([7, 8, 9], 3) + 0.5) * 2 - 0.5)
    for points, grid, mask in layers:
        np.testing.assert_array_equal(points, grid)
        np.testing.assert_array_equal(mask, np.ones(9))
    config = module.Config(steps=2, batch_size=4, seed=0)
    images = np.random.default_rng(1).normal(size=(8, 1, 32, 32)).astype(np.float32)
    trained = module.train("resnet20_dcn", images, np.arange(8) % 10, config)
    moved = module.sampling_points(trained, image)
    assert any(np.abs(points - grid).max() > 0 for points, grid, _ in moved)
