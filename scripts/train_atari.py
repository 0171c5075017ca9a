"""Thin entry point: ``snnrl train`` for the Atari agent presets.

    python scripts/train_atari.py --game breakout --minutes 3      # = snnrl train --agent agents/breakout.toml ...
    python scripts/train_atari.py --game pong --episodes 200 --baseline-episodes 20

``--game`` picks ``agents/<game>.toml`` (breakout, pong, space_invaders; default breakout); every
other argument goes to ``snnrl train`` unchanged (see ``snnrl train --help``).
"""

import argparse
import sys
from pathlib import Path

from snnrl.cli import main

GAMES = ("breakout", "pong", "space_invaders")

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], add_help=False)
    parser.add_argument("--game", choices=GAMES, default="breakout")
    known, rest = parser.parse_known_args()
    if "-h" in rest or "--help" in rest:
        print(f"usage: train_atari.py [--game {{{','.join(GAMES)}}}] [snnrl train options]\n")
    agent = Path(__file__).resolve().parents[1] / "agents" / f"{known.game}.toml"
    sys.exit(main(["train", "--agent", str(agent), *rest]))
