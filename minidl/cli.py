"""The ``minidl`` command: ``minidl train|evaluate|summary|bench|models|graph ...``.

Each subcommand lives in its own module under ``minidl.commands`` and exposes
``add_arguments(parser)`` and ``run(args) -> int``; this file only dispatches,
importing a subcommand's module when it is used.
"""

import argparse
import importlib
import sys

COMMANDS = {
    "train": "train a model on a dataset",
    "evaluate": "evaluate a checkpoint on a test set",
    "summary": "per-layer output shape, memory, parameters and FLOPs",
    "bench": "training throughput against PyTorch on this machine",
    "models": "list the registered models",
    "graph": "draw a model's autograd graph (PNG, SVG or Graphviz source)",
}


def _module(name):
    return importlib.import_module(f"minidl.commands.{name}")


def build_parser(argv):
    parser = argparse.ArgumentParser(prog="minidl", description="minidl: CNNs from scratch on NumPy/CuPy")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, help_text in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:  # only the chosen subcommand is imported
            _module(name).add_arguments(command_parser)
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)
    try:
        return _module(args.command).run(args) or 0
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
