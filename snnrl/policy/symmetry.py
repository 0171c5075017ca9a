r"""Mirror symmetry of a game as tied synapses of the policy.

Breakout, Pong and Space Invaders look the same in a mirror once LEFT and RIGHT are swapped
(Pong's paddle moves up and down: its mirror is the vertical flip, its RIGHT is up). A policy
that respects this prefers RIGHT in a state exactly as much as it prefers LEFT in the mirrored
state, so it can never settle on "always RIGHT": whatever it learns must depend on where things
are. For a readout that adds one preference per input cell this is a tie between synapses,

.. math:: w_{(r, c) \to j} = w_{m(r, c) \to \sigma(j)}

with ``m`` the mirror of the cell grid and ``sigma`` the output neuron of the swapped action
(neuron ``i`` of action ``a`` <-> neuron ``i`` of action ``swap(a)``), which
:meth:`AbstractConnection.set_tie <snnrl.network.connections.base.AbstractConnection.set_tie>`
keeps after every update.

A hidden layer ``L`` between the input and the readout keeps the symmetry when its neurons come
in mirrored pairs: neuron ``i`` of its first half and neuron ``i`` of its second half (its twin)
see mirrored inputs, ``w_{(r, c) \to i} = w_{m(r, c) \to twin(i)}``, and a twin's synapses onto
the readout are those of ``i`` with the actions swapped, ``w_{i \to j} = w_{twin(i) \to \sigma(j)}``.

* :func:`action_swap`: the permutation of actions that a mirror induces, from their names;
* :func:`mirror_partners`: the tie of a dense ``(H * W, n_out)`` weight;
* :func:`twin_neurons`, :func:`tie_partners`: the pieces of the ties through a hidden layer.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["MIRROR_AXES", "action_swap", "mirror_cells", "mirror_partners", "swapped_neurons", "tie_partners",
           "twin_neurons"]

MIRROR_AXES = ("width", "height")
"""Axes of an observation grid ``(H, W)`` a game can be mirrored along."""


def action_swap(meanings: Sequence[str]) -> list[int]:
    """The action each action becomes in the mirror: LEFT and RIGHT exchanged in its name
    (``"RIGHTFIRE"`` <-> ``"LEFTFIRE"``, ``"UPLEFT"`` <-> ``"UPRIGHT"``); an action without either
    (``"NOOP"``, ``"FIRE"``) stays itself.

    Raises:
        ValueError: an action's mirror is not among the actions (e.g. RIGHT without LEFT).
    """
    names = [str(m).upper() for m in meanings]
    index = {name: i for i, name in enumerate(names)}
    out = []
    for name in names:
        swapped = name.replace("RIGHT", "\0").replace("LEFT", "RIGHT").replace("\0", "LEFT")
        if swapped not in index:
            raise ValueError(f"the mirror of action {name!r} is {swapped!r}, which is not among the actions {names}")
        out.append(index[swapped])
    return out


def mirror_partners(grid: tuple[int, int], axis: str, swap: Sequence[int], neurons_per_action: int = 1) -> Tensor:
    """The tie (flat partner index of every weight) of a dense weight from a ``grid`` of input
    cells (row-major) to ``len(swap) * neurons_per_action`` output neurons (action ``a``'s neurons
    are ``a * k ... a * k + k - 1``).

    Args:
        grid: ``(H, W)`` of the input cells.
        axis: ``"width"`` (a left-right mirror: ``(r, c) -> (r, W - 1 - c)``) or ``"height"``
            (``(r, c) -> (H - 1 - r, c)``).
        swap: the action each action becomes (:func:`action_swap`), an involution.
        neurons_per_action: ``k``.

    Shape:
        output ``(H * W, len(swap) * neurons_per_action)`` int64.
    """
    return tie_partners(mirror_cells(grid, axis), swapped_neurons(swap, neurons_per_action))


def mirror_cells(grid: tuple[int, int], axis: str) -> Tensor:
    """The cell each cell of a row-major ``grid`` becomes in the mirror along ``axis``.

    Shape:
        output ``(H * W,)`` int64.
    """
    if axis not in MIRROR_AXES:
        raise ValueError(f"mirror axis must be one of {MIRROR_AXES}, got {axis!r}")
    h, w = (int(v) for v in grid)
    cells = torch.arange(h * w).view(h, w)
    return (cells.flip(1) if axis == "width" else cells.flip(0)).reshape(-1)


def swapped_neurons(swap: Sequence[int], neurons_per_action: int = 1) -> Tensor:
    """The output neuron each output neuron becomes: neuron ``i`` of action ``a`` <-> neuron ``i``
    of action ``swap[a]``.

    Shape:
        output ``(len(swap) * neurons_per_action,)`` int64.
    """
    n_actions, k = len(swap), int(neurons_per_action)
    if sorted(swap) != list(range(n_actions)) or any(swap[swap[a]] != a for a in range(n_actions)):
        raise ValueError(f"swap must pair the actions (an involution of 0..{n_actions - 1}), got {list(swap)}")
    return (torch.as_tensor(list(swap)).view(-1, 1) * k + torch.arange(k)).reshape(-1)


def twin_neurons(n: int) -> Tensor:
    """The twin of each neuron of a hidden layer of ``n`` (even) neurons: its first half and its
    second half swapped (``i <-> i + n / 2``).

    Shape:
        output ``(n,)`` int64.
    """
    if n < 2 or n % 2:
        raise ValueError(f"a mirror-tied hidden layer needs an even number of neurons (twins in two halves), got {n}")
    return (torch.arange(n) + n // 2) % n


def tie_partners(source: Tensor, target: Tensor) -> Tensor:
    """The tie of a dense ``(n_source, n_target)`` weight under a permutation of its source
    neurons and one of its target neurons (both involutions): ``w[s, t]`` is tied to
    ``w[source[s], target[t]]`` (flat indices).

    Shape:
        ``source``: ``(n_source,)``; ``target``: ``(n_target,)``; output ``(n_source, n_target)`` int64.
    """
    return source.reshape(-1, 1) * target.numel() + target.reshape(1, -1)
