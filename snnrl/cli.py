"""The ``snnrl`` command: ``snnrl <subcommand> --help`` documents each one.

Subcommands live in :mod:`snnrl.commands` (one module each).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from snnrl._checks import is_input_error
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
    """Run ``snnrl`` with ``argv``; returns the exit status.

    A user's mistake (an option argparse refuses, a missing extra, or an error that
    :func:`snnrl._checks.is_input_error` calls one: a bad value, a missing or misplaced file)
    is one line on stderr and status 2, Ctrl-C one line and status 130; only a bug has a traceback.
    """
    args = make_parser().parse_args(argv)
    try:
        return args.func(args)
    except ImportError as exc:  # a missing optional extra: say which one, no traceback
        print(f"snnrl {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"snnrl {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if not is_input_error(exc):
            raise  # a bug: keep the traceback
        message = " ".join(str(exc).split("\n")) or type(exc).__name__
        print(f"snnrl {args.command}: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
