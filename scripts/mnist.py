"""Thin entry point: same as ``snnrl mnist`` (see ``--help``)."""

import sys

from snnrl.cli import main

if __name__ == "__main__":
    sys.exit(main(["mnist", *sys.argv[1:]]))
