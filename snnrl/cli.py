"""The ``snnrl`` command: ``snnrl <subcommand> --help`` documents each one.

Subcommands live in :mod:`snnrl.commands` (one module each).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from snnrl.commands import COMMANDS


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="snnrl", description="Spiking neural networks for RL and vision.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"snnrl.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"snnrl.commands.{name}":
                continue  # not written yet
            raise
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    try:
        return args.func(args)
    except ImportError as exc:  # a missing optional extra: say which one, no traceback
        print(f"snnrl {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
