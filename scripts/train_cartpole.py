"""Thin entry point: ``snnrl train --agent agents/cartpole.toml`` (see ``snnrl train --help``).

    python scripts/train_cartpole.py --seed 1 --eval-episodes 100
"""

import sys
from pathlib import Path

from snnrl.cli import main

if __name__ == "__main__":
    agent = Path(__file__).resolve().parents[1] / "agents" / "cartpole.toml"
    sys.exit(main(["train", "--agent", str(agent), *sys.argv[1:]]))
