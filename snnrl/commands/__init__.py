"""Subcommands of the ``snnrl`` command, one module each.

A module here that defines ``add_parser(subparsers)`` (registering its subcommand with
``set_defaults(func=...)``, where ``func(args) -> int``) and is listed in ``COMMANDS`` becomes
``snnrl <name>``. Modules import their optional dependencies inside ``func``, so ``snnrl --help``
works with only the core installed.
"""

COMMANDS = ("simulate", "train", "evaluate", "play", "convert", "mnist", "tune", "summarize", "export")
