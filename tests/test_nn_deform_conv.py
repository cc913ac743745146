"""nn.DeformConv2d, resnet20_dcn and their summary rows.

At initialisation the layer must be exactly a plain convolution (zero offset
predictor, mask 2*sigmoid(0) = 1), and resnet20_dcn exactly a ResNet-20 with
the same weights; training must move the offset predictor (its gradient is
not zero at init); the summary counts the offset conv and notes the sampling.
"""

import pathlib
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
from minidl.functional import conv_algorithms
from minidl.testing import strategies as mst

F, nn = md.functional, md.nn


@given(case=mst.deform_conv2d_cases(), modulated=st.booleans(), bias=st.booleans(), seed=mst.seeds())
def test_at_initialisation_the_layer_is_exactly_a_plain_convolution(case, modulated, bias, seed):
    conv = case.conv
    c_in, c_out = conv.x_shape[1], conv.w_shape[0]
    md.manual_seed(seed % 1000)
    layer = nn.DeformConv2d(c_in, c_out, conv.w_shape[2:], conv.stride, conv.padding, conv.dilation,
                            conv.groups, bias, case.offset_groups, modulated)
    x = md.tensor(mst.rng(seed).normal(size=conv.x_shape).astype(np.float32))
    expected = F.conv2d(x, layer.weight, layer.bias, conv.stride, conv.padding, conv.dilation, conv.groups)
    np.testing.assert_array_equal(layer(x).numpy(), expected.numpy())


def test_the_offset_predictor_learns_from_the_first_step():
    md.manual_seed(0)
    layer = nn.DeformConv2d(3, 4, 3, padding=1, offset_groups=3)
    x = md.tensor(np.random.default_rng(1).normal(size=(2, 3, 6, 6)).astype(np.float32))
    layer(x).backward(np.random.default_rng(2).normal(size=(2, 4, 6, 6)).astype(np.float32))
    assert layer.offset_conv.weight.shape == (3 * 3 * 9, 3, 3, 3)
    assert np.abs(layer.offset_conv.weight.grad).max() > 0
    assert np.abs(layer.offset_conv.bias.grad).max() > 0
    assert layer.weight.grad.shape == layer.weight.shape


def test_offsets_returns_the_offset_field_and_the_mask():
    layer = nn.DeformConv2d(2, 2, 3, stride=2, padding=1, offset_groups=2, modulated=True)
    offset, mask = layer.offsets(md.tensor(np.ones((1, 2, 5, 5), np.float32)))
    assert offset.shape == (1, 2 * 2 * 9, 3, 3) and mask.shape == (1, 2 * 9, 3, 3)
    assert not offset.numpy().any() and (mask.numpy() == 1).all()
    unmodulated = nn.DeformConv2d(2, 2, 3, modulated=False)
    offset, mask = unmodulated.offsets(md.tensor(np.ones((1, 2, 5, 5), np.float32)))
    assert offset.shape == (1, 18, 3, 3) and mask is None
    assert unmodulated.offset_conv.out_channels == 18


@pytest.mark.parametrize("kwargs, words", [
    (dict(offset_groups=2), ("offset_groups=2", "in_channels=3")),
    (dict(groups=2), ("groups=2", "in_channels=3")),
    (dict(offset_groups=0), ("offset_groups", ">= 1")),
])
def test_bad_layer_arguments_are_named(kwargs, words):
    with pytest.raises(ValueError) as error:
        nn.DeformConv2d(3, 4, 3, **kwargs)
    for word in ("DeformConv2d",) + words:
        assert word in str(error.value)


def test_resnet20_dcn_at_initialisation_is_resnet20_with_the_same_weights(monkeypatch):
    """Bit for bit when both compute their convolutions alike (im2col columns and one GEMM);
    with plain ResNet-20's 64-channel convolutions on Winograd, as the rule picks them,
    within float32 rounding."""
    md.manual_seed(0)
    dcn = md.models.resnet20_dcn().eval()
    plain = md.models.resnet20().eval()
    state = {k: v for k, v in dcn.state_dict().items() if "offset_conv" not in k}
    plain.load_state_dict(state)
    deformable = [m for m in dcn.modules() if isinstance(m, nn.DeformConv2d)]
    assert len(deformable) == 6 and [m.stride for m in deformable] == [(2, 2)] + [(1, 1)] * 5
    assert all(not m.offset_conv.weight.numpy().any() for m in deformable)
    x = md.tensor(np.random.default_rng(0).normal(size=(2, 3, 32, 32)).astype(np.float32))
    with md.no_grad():
        chosen = plain(x).numpy()
        rule = conv_algorithms.choose_algorithm
        monkeypatch.setattr(conv_algorithms, "choose_algorithm",
                            lambda *args: "pointwise" if rule(*args) == "pointwise" else "im2col")
        np.testing.assert_array_equal(dcn(x).numpy(), plain(x).numpy())
    np.testing.assert_allclose(dcn(x).numpy(), chosen, rtol=1e-5, atol=1e-5)


def test_summary_counts_the_offset_conv_and_notes_the_sampling():
    model = nn.Sequential(nn.DeformConv2d(8, 16, 3, padding=1, bias=False))
    table = md.summary(model, (8, 10, 10))
    offset_row, row = table["0.offset_conv"], table["0"]
    assert (offset_row.label, row.label) == ("CONV1", "DCONV2")
    assert offset_row.flops == 27 * 10 * 10 * 8 * 9          # its output x C_in x kh x kw
    assert row.flops == 16 * 10 * 10 * 8 * 9
    assert row.params == 16 * 8 * 9 and offset_row.params == 27 * 8 * 9 + 27
    samples = 8 * 9 * 10 * 10
    assert f"{samples:,} values x 5 multiply-adds = {5 * samples:,}" in row.note
    assert row.note in str(table)


def test_the_readme_example_runs():
    text = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    start = text.index("<!-- section: deformable convolution (issue 10) -->")
    end = text.index("\n## ", start)
    (block,) = re.findall(r"```python\n(.*?)```", text[start:end], flags=re.S)
    namespace = {"__name__": "readme_deformable"}
    exec(compile(block, "README.md", "exec"), namespace)
    assert namespace["y"].shape == (2, 16, 10, 10)
    assert namespace["offset"].grad.shape == (2, 18, 10, 10) and namespace["mask"].grad is not None
