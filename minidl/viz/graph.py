"""The autograd graph behind a tensor, drawn with Graphviz.

One box per op (its Function name, output shape and dtype, and the bytes it
holds for backward), one ellipse per leaf that requires grad (named from
``params`` when given, e.g. ``dict(model.named_parameters())``), edges in the
direction data flows in forward. Draw before ``backward()``: backward frees the
graph (unless it was called with ``retain_graph=True``).

>>> import numpy as np, minidl as md
>>> w = md.tensor(np.ones((2, 3), np.float32), requires_grad=True)
>>> y = (md.tensor(np.ones((4, 3), np.float32)) @ w.T).sum()
>>> graph = md.viz.draw_graph(y, params={"w": w})
>>> graph.source.count("shape=box"), graph.source.count("shape=ellipse")  # Transpose, MatMul, Sum; w
(3, 1)
>>> "w" in graph.source and "2x3 float32" in graph.source
True
"""

import pathlib
import shutil

from minidl.tensor import Tensor

FORMATS = (".png", ".svg", ".dot")

INSTALL_HINT = (
    "install the graphviz Python package with `pip install 'minidl[viz]'` (or `pip install graphviz`) "
    "and Graphviz's `dot` program with your system's packages (Debian/Ubuntu: `apt-get install graphviz`)"
)


def _graphviz():
    try:
        import graphviz
    except ImportError as error:
        raise ImportError(f"md.viz.draw_graph needs the graphviz Python package: {INSTALL_HINT}") from error
    return graphviz


def saved_bytes(function):
    """Bytes of the arrays ``function`` keeps for backward: what ``save_for_backward`` got
    and any array it stored on itself (a max's indices, say), or in a dict, list or tuple
    there (a Winograd conv's input points by slice), each array counted once."""
    arrays = {}
    candidates = list(function._saved or ()) + list(vars(function).values())
    for value in list(candidates):
        if isinstance(value, dict):
            candidates.extend(value.values())
        elif isinstance(value, (list, tuple)):
            candidates.extend(value)
    for value in candidates:
        if hasattr(value, "nbytes") and hasattr(value, "shape") and not isinstance(value, Tensor):
            arrays[id(value)] = int(value.nbytes)
    return sum(arrays.values())


def _functions(output):
    """The ops behind ``output``, each once, in the order a depth-first walk from it
    reaches them (the same order every run)."""
    if output.creator is None:
        return []
    order, seen, stack = [], {id(output.creator)}, [output.creator]
    while stack:
        function = stack.pop()
        if function.inputs is None:
            raise ValueError(
                f"draw_graph: the graph through {function.name} was freed by backward; draw it "
                "before backward, or call backward(retain_graph=True)"
            )
        order.append(function)
        for x in reversed(function.inputs):
            creator = x.creator
            if creator is not None and id(creator) not in seen:
                seen.add(id(creator))
                stack.append(creator)
    return order


def _describe(shape, dtype):
    return f"{'x'.join(str(n) for n in shape) or 'scalar'} {dtype}"


def _size(nbytes):
    for unit in ("B", "KB", "MB"):
        if nbytes < 1024 or unit == "MB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024


def build_graph(output, params=None):
    """The graph behind ``output`` as a ``graphviz.Digraph`` (nothing written)."""
    if not isinstance(output, Tensor):
        raise TypeError(f"draw_graph: output must be a Tensor, got {type(output).__name__}")
    graphviz = _graphviz()
    names = {id(tensor): name for name, tensor in (params or {}).items()}
    graph = graphviz.Digraph("autograd", graph_attr={"rankdir": "TB"},
                             node_attr={"fontname": "Helvetica", "fontsize": "10"})
    node_of = {}

    def leaf_node(tensor):
        if id(tensor) not in node_of:
            node_of[id(tensor)] = f"t{len(node_of)}"
            name = names.get(id(tensor), "input")
            graph.node(node_of[id(tensor)], f"{name}\n{_describe(tensor.shape, tensor.dtype)}",
                       shape="ellipse", style="filled", fillcolor="lightblue")
        return node_of[id(tensor)]

    functions = _functions(output)
    for function in functions:
        node_of[id(function)] = f"f{len(node_of)}"
    for function in functions:
        shapes = "\n".join(_describe(shape, dtype) for shape, dtype in function._output_meta)
        graph.node(node_of[id(function)], f"{function.name}\n{shapes}\nsaved {_size(saved_bytes(function))}",
                   shape="box", style="filled", fillcolor="lightgrey")
        for x in function.inputs:
            if x.creator is not None:
                graph.edge(node_of[id(x.creator)], node_of[id(function)])
            elif x.requires_grad:
                graph.edge(leaf_node(x), node_of[id(function)])
    if output.creator is None and output.requires_grad:
        leaf_node(output)
    return graph


def draw_graph(output, path=None, params=None):
    """The autograd graph behind ``output`` as a ``graphviz.Digraph``; with ``path``, also
    written there as a PNG, SVG or Graphviz source, chosen by the extension.

    ``params`` maps names to tensors (``dict(model.named_parameters())``): leaves found
    there are labelled with their names, other leaves that require grad are "input".
    """
    suffix = None
    if path is not None:
        path = pathlib.Path(path)
        suffix = path.suffix.lower()
        if suffix not in FORMATS:
            raise ValueError(f"draw_graph: path must end in {', '.join(FORMATS)}, got {str(path)!r}")
        if suffix != ".dot" and shutil.which("dot") is None:
            raise RuntimeError(f"draw_graph: writing {suffix} needs Graphviz's `dot` program, not found on PATH: "
                               f"{INSTALL_HINT}")
    graph = build_graph(output, params)
    if path is not None:
        data = graph.source.encode() if suffix == ".dot" else graph.pipe(format=suffix[1:])
        path.write_bytes(data)
    return graph
