"""``minidl graph MODEL [--input 1x28x28] --out g.png``: a model's training graph, drawn.

Runs one training-mode forward pass of a single random image and the
cross-entropy loss, and draws the autograd graph behind the loss with
``md.viz.draw_graph`` (one box per op: its name, output shape and dtype, and the
bytes it keeps for backward; parameters by name). ``--out`` picks the format by
its extension: .png, .svg or .dot.
"""


def add_arguments(parser):
    parser.add_argument("model", help="a registered model name (see `minidl models`)")
    parser.add_argument("--input", metavar="CxHxW", default=None,
                        help="input shape of one image, e.g. 1x28x28 (default: the model's own)")
    parser.add_argument("--num-classes", type=int, default=10, help="number of classes of the model")
    parser.add_argument("--out", required=True, help="where to write the graph: a .png, .svg or .dot file")


def run(args):
    import sys

    import numpy as np

    import minidl as md
    from minidl import models
    from minidl.summary import parse_shape

    def fail(message):
        print(f"minidl graph: {message}", file=sys.stderr)
        return 2

    if args.model not in models.list_models():
        return fail(f"unknown model {args.model!r}; `minidl models` lists them")
    try:
        shape = parse_shape(args.input) if args.input else models.input_shape(args.model)
        if len(shape) != 3:
            return fail(f"--input is one image's CxHxW, got {args.input!r}")
        md.manual_seed(0)
        model = models.get(args.model, num_classes=args.num_classes, in_channels=shape[0])
        model.train()
        x = md.tensor(np.random.default_rng(0).normal(size=(1, *shape)).astype(np.float32))
        loss = md.functional.cross_entropy(model(x), np.zeros(1, dtype=np.int64))
        graph = md.viz.draw_graph(loss, args.out, params=dict(model.named_parameters()))
    except (ValueError, ImportError, RuntimeError) as error:
        return fail(str(error))
    ops = sum(1 for line in graph.body if "shape=box" in line)
    print(f"wrote {args.out}: the training graph of {args.model} on a 1x{'x'.join(map(str, shape))} input, "
          f"{ops} ops")
    return 0
