"""``minidl summary MODEL [--input 3x227x227]``: the per-layer table of a model.

Prints one row per layer (output shape, memory in KB, parameters, FLOPs) and the
totals, as ``md.summary`` computes them; the input defaults to the size the
model was designed for.
"""


def add_arguments(parser):
    parser.add_argument("model", help="a registered model name (see `minidl models`)")
    parser.add_argument("--input", metavar="CxHxW", default=None,
                        help="input shape of one image, e.g. 3x227x227 (default: the model's own)")
    parser.add_argument("--num-classes", type=int, default=None, help="number of classes of the model")


def run(args):
    import sys

    from minidl import models
    from minidl.summary import parse_shape, summary

    kwargs = {} if args.num_classes is None else {"num_classes": args.num_classes}
    try:
        name = models.resolve(args.model)
        shape = parse_shape(args.input) if args.input else models.input_shape(name)
        print(summary(models.get(name, **kwargs), shape, name=name))
    except ValueError as error:
        print(f"minidl summary: {error}", file=sys.stderr)
        return 2
    return 0
