"""md.viz: the drawn autograd graph, `minidl graph`, and the per-layer flow recorder."""

import builtins
import shutil
import sys

import numpy as np
import pytest

import minidl as md
from minidl import cli
from minidl.viz import graph as viz_graph

F, nn = md.functional, md.nn


def _labels(graph):
    """{node id: label} of a graphviz.Digraph, from its source."""
    import re

    return dict(re.findall(r'^\s*(\w+) \[label="([^"]*)"', graph.source, flags=re.M))


def _edges(graph):
    import re

    return re.findall(r"^\s*(\w+) -> (\w+)", graph.source, flags=re.M)


def test_one_node_per_op_with_name_shape_dtype_and_saved_bytes():
    md.manual_seed(0)
    layer = nn.Linear(3, 2)
    x = md.tensor(np.ones((4, 3), np.float32))
    loss = F.relu(layer(x)).sum()
    graph = md.viz.draw_graph(loss, params=dict(layer.named_parameters()))
    labels = _labels(graph)
    ops = [label for label in labels.values() if "saved" in label]
    assert [op.split("\n")[0] for op in ops] == ["Sum", "ReLU", "Linear"]
    linear = next(op for op in ops if op.startswith("Linear"))
    # Linear keeps x (4x3) and the weight (2x3) in float32: 72 bytes.
    assert linear == "Linear\n4x2 float32\nsaved 72 B"
    relu = next(op for op in ops if op.startswith("ReLU"))
    assert relu == "ReLU\n4x2 float32\nsaved 32 B"           # its output, 8 float32
    leaves = sorted(label for label in labels.values() if "saved" not in label)
    assert leaves == ["bias\n2 float32", "weight\n2x3 float32"]   # x needs no grad: not drawn
    assert len(_edges(graph)) == 4                                # weight, bias -> Linear -> ReLU -> Sum


def test_saved_bytes_counts_each_array_once_and_what_an_op_stores_on_itself():
    x = md.tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    y = x * x                                    # Mul saves (a, b): the same array twice
    assert md.viz.saved_bytes(y.creator) == 12 * 8
    z = y.max(axis=1)                            # Max keeps its indices as attributes
    assert md.viz.saved_bytes(z.creator) > 0


def test_a_tensor_used_twice_is_one_node_with_two_edges_and_unnamed_leaves_are_inputs():
    a = md.tensor(np.ones(3), requires_grad=True)
    h = a * 2.0
    y = (h * h + h).sum()
    graph = md.viz.draw_graph(y)
    labels = _labels(graph)
    mul_nodes = [n for n, label in labels.items() if label.startswith("Mul\n")]
    edges = _edges(graph)
    # h's op is one node: two edges into h * h, one into the Add; h * h feeds the Add once.
    assert sorted(sum(src == n for src, _ in edges) for n in mul_nodes) == [1, 3]
    assert "input\n3 float64" in labels.values()


def test_draw_graph_writes_png_svg_and_dot_by_extension(tmp_path):
    x = md.tensor(np.ones((2, 2)), requires_grad=True)
    y = (x * 3.0).sum()
    md.viz.draw_graph(y, tmp_path / "g.dot")
    assert (tmp_path / "g.dot").read_text().startswith("digraph")
    if shutil.which("dot") is None:
        pytest.fail("Graphviz's dot is missing: .ci/run installs Debian's graphviz")
    md.viz.draw_graph(y, tmp_path / "g.png")
    assert (tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md.viz.draw_graph(y, tmp_path / "g.svg")
    assert b"<svg" in (tmp_path / "g.svg").read_bytes()
    with pytest.raises(ValueError, match=r"draw_graph: path must end in .png, .svg, .dot, got '.*g.jpg'"):
        md.viz.draw_graph(y, tmp_path / "g.jpg")


def test_draw_graph_after_backward_says_the_graph_is_freed():
    x = md.tensor(np.ones(2), requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(ValueError, match="freed by backward.*retain_graph=True"):
        md.viz.draw_graph(y)


def test_missing_graphviz_package_or_dot_gives_install_instructions(monkeypatch, tmp_path):
    y = (md.tensor(np.ones(2), requires_grad=True) * 2.0).sum()
    real_import = builtins.__import__

    def no_graphviz(name, *args, **kwargs):
        if name == "graphviz":
            raise ImportError("No module named 'graphviz'")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "graphviz", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_graphviz)
    with pytest.raises(ImportError, match=r"pip install 'minidl\[viz\]'.*apt-get install graphviz"):
        md.viz.draw_graph(y)
    monkeypatch.setattr(builtins, "__import__", real_import)
    monkeypatch.setattr(viz_graph.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match=r"needs Graphviz's `dot` program.*apt-get install graphviz"):
        md.viz.draw_graph(y, tmp_path / "g.png")


def test_minidl_graph_draws_lenet5(tmp_path, capsys):
    out = tmp_path / "lenet.dot"
    assert cli.main(["graph", "lenet5", "--input", "1x28x28", "--out", str(out)]) == 0
    assert "11 ops" in capsys.readouterr().out
    source = out.read_text()
    for name in ("0.weight", "3.weight", "7.weight", "9.bias", "Conv2d", "MaxPool2d", "CrossEntropy"):
        assert name in source
    assert cli.main(["graph", "lenet5", "--input", "28x28", "--out", str(out)]) == 2
    assert "--input is one image's CxHxW" in capsys.readouterr().err
    assert cli.main(["graph", "lenet6", "--out", str(out)]) == 2


# ---- flow ---------------------------------------------------------------------
def test_flow_recorder_records_each_layer_in_order_and_removes_its_hooks(tmp_path):
    md.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3))
    x = md.tensor(np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32))
    labels = np.array([0, 1, 2, 0, 1])
    with md.viz.FlowRecorder(net) as flow:
        out = net(x)
        F.cross_entropy(out, labels).backward()
    assert flow.order == ["0", "2", "4"]
    for name, value in flow.in_order(flow.weight_grad_norm):
        np.testing.assert_allclose(value, np.linalg.norm(dict(net.named_modules())[name].weight.grad))
    np.testing.assert_allclose(flow.activation_std["4"], out.numpy().std())
    assert all(value > 0 for value in flow.output_grad_norm.values())
    assert all(not m._forward_hooks and not m._backward_hooks for m in net.modules())
    assert all(not p._hooks for p in net.parameters())
    path = md.viz.plot_flow({"net": [v for _, v in flow.in_order(flow.weight_grad_norm)]},
                            tmp_path / "flow.png", title="t", ylabel="|dL/dW|")
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_the_readme_flow_example_runs_and_records_every_weighted_layer(tmp_path, monkeypatch):
    import pathlib
    import re

    readme = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    start = readme.index("<!-- section: see backprop (issue 11) -->")
    section = readme[start:readme.find("\n## ", start)]
    (block,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(block, "README.md", "exec"), namespace)
    assert len(namespace["norms"]) == 20                      # resnet-20: 19 convs and the fc
    assert all(value > 0 for value in namespace["norms"])
    assert (tmp_path / "flow.png").read_bytes()[:4] == b"\x89PNG"
