"""``snnrl export``: write a checkpoint's network as a NIR graph (Neuromorphic Intermediate Representation).

The network of any snnrl checkpoint (a trained agent, a converted stable-baselines3 model, a bare
network) becomes a ``.nir`` file that snnTorch, Norse, Sinabs, Rockpool, Lava-DL and others read
(``snnrl.nir.read_nir`` reads it back: the same network, the same spikes). What NIR cannot
express (refractory periods, adaptive thresholds, learning rules, ...) is refused unless
``--approximate`` is given; then it is dropped and listed (see ``snnrl.nir``).

Example::

    snnrl export --agent cartpole --format nir --out cartpole.nir --approximate
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Any

FORMATS = ("nir",)


def _policy_output(metadata: dict[str, Any]) -> list[str] | None:
    """The output layer a policy checkpoint names (spiking policy or converted SB3 model), else None."""
    policy = metadata.get("snnrl_policy")
    if isinstance(policy, dict) and isinstance(policy.get("output_layer"), str):
        return [policy["output_layer"]]
    return None


def export(args: argparse.Namespace) -> int:
    from snnrl.checkpoint import CheckpointError, load_checkpoint
    from snnrl.commands.evaluate import checkpoint_argument
    from snnrl.nir import NIRApproximationWarning, NIRExportError, approximations, write_nir
    from snnrl.pipeline.agent import AgentError
    from snnrl.pipeline.run import find_resume_checkpoint

    out = Path(args.out)
    try:
        path = find_resume_checkpoint(checkpoint_argument(args))
        ckpt = load_checkpoint(path)
        net = ckpt.network
        outputs = args.output or _policy_output(ckpt.metadata)
        out.parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NIRApproximationWarning)  # listed below instead
            graph = write_nir(net, out, approximate=args.approximate, outputs=outputs)
    except (AgentError, CheckpointError, NIRExportError, FileNotFoundError, ValueError, OSError) as e:
        print(f"snnrl export: {e}", file=sys.stderr)
        return 2
    print(f"wrote {out}: NIR graph of {len(net.layers)} layers and {len(net.connections)} connections "
          f"({len(graph.nodes)} nodes) from {path}, dt = {net.dt} ms, {net.propagation} propagation")
    changes = approximations(graph)
    for change in changes:
        print(f"approximated: {change}")
    if changes:
        print("snnrl.nir.read_nir gives back the original network (from the graph's metadata); other readers see "
              "the approximated one")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``export`` on the ``snnrl`` command."""
    p = sub.add_parser("export", help="write a checkpoint's network as a NIR graph",
                       description=__doc__.split("\n\n")[0] + " " + __doc__.split("\n\n")[1].replace("\n", " "))
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--checkpoint", help="a checkpoint file or a run directory (trained agent, converted SB3 "
                                            "model or network)")
    which.add_argument("--agent", help="a trained agent that ships with snnrl (agents/trained/<name>.safetensors), "
                                       "e.g. cartpole")
    p.add_argument("--format", choices=FORMATS, default="nir", help="output format (default: nir)")
    p.add_argument("--out", required=True, help="the file to write, e.g. net.nir")
    p.add_argument("--approximate", action="store_true",
                   help="drop what NIR cannot express (refractory periods, learning rules, ...) and list it, "
                        "instead of refusing")
    p.add_argument("--output", action="append", metavar="LAYER",
                   help="a layer to make a graph output (repeatable; default: the policy's output layer, else the "
                        "layers that feed no other layer)")
    p.set_defaults(func=export)
