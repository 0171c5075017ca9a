"""Connections between populations (see :mod:`snnrl.network.connections.base` for the interface)."""

from snnrl.network.connections.base import AbstractConnection, clamp_
from snnrl.network.connections.conv import Conv1dConnection, Conv2dConnection, Conv3dConnection
from snnrl.network.connections.dense import Connection
from snnrl.network.connections.local import LocalConnection1D, LocalConnection2D, LocalConnection3D
from snnrl.network.connections.meanfield import MeanFieldConnection
from snnrl.network.connections.pooling import MaxPool1dConnection, MaxPool2dConnection, MaxPool3dConnection
from snnrl.network.connections.sparse import RandomSparseConnection, SparseConnection, random_pairs

__all__ = [
    "AbstractConnection",
    "Connection",
    "Conv1dConnection",
    "Conv2dConnection",
    "Conv3dConnection",
    "LocalConnection1D",
    "LocalConnection2D",
    "LocalConnection3D",
    "MaxPool1dConnection",
    "MaxPool2dConnection",
    "MaxPool3dConnection",
    "MeanFieldConnection",
    "RandomSparseConnection",
    "SparseConnection",
    "clamp_",
    "random_pairs",
]
