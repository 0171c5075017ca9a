"""Populations, connections, monitors and the Network."""

from snnrl.network.connections import AbstractConnection, Connection
from snnrl.network.monitors import Monitor, NetworkMonitor
from snnrl.network.network import Network
from snnrl.network.nodes import (
    AdaptiveLIFNodes,
    BoostedLIFNodes,
    CurrentLIFNodes,
    DiehlAndCookNodes,
    IFNodes,
    Input,
    IzhikevichNodes,
    LIFNodes,
    McCullochPitts,
    Nodes,
    SRM0Nodes,
    SubtractiveResetIFNodes,
)

__all__ = [
    "AbstractConnection",
    "AdaptiveLIFNodes",
    "BoostedLIFNodes",
    "Connection",
    "CurrentLIFNodes",
    "DiehlAndCookNodes",
    "IFNodes",
    "Input",
    "IzhikevichNodes",
    "LIFNodes",
    "McCullochPitts",
    "Monitor",
    "Network",
    "NetworkMonitor",
    "Nodes",
    "SRM0Nodes",
    "SubtractiveResetIFNodes",
]
