"""One module per ``minidl`` subcommand: ``add_arguments(parser)`` and ``run(args)``."""
