"""Thin entry point: same as ``snnrl convert`` (see ``--help``).

Example (the CartPole figures in bench/README.md)::

    python scripts/convert_sb3.py --model ../shared/data/sb3-zoo/ppo-CartPole-v1.zip --env cartpole \
        --episodes 100 --n-envs 100 --sweep 8,16,32,64,128
"""

import sys

from snnrl.cli import main

if __name__ == "__main__":
    sys.exit(main(["convert", *sys.argv[1:]]))
