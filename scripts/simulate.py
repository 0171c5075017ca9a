"""Thin entry point: same as ``snnrl simulate`` (see ``--help``)."""

import sys

from snnrl.cli import main

if __name__ == "__main__":
    sys.exit(main(["simulate", *sys.argv[1:]]))
