"""snnrl: spiking neural networks that act, learn and see, for PyTorch and Gymnasium."""

from snnrl.network import (
    AbstractConnection,
    AdaptiveLIFNodes,
    BoostedLIFNodes,
    Connection,
    CurrentLIFNodes,
    DiehlAndCookNodes,
    IFNodes,
    Input,
    IzhikevichNodes,
    LIFNodes,
    McCullochPitts,
    Monitor,
    Network,
    NetworkMonitor,
    Nodes,
    SRM0Nodes,
    SubtractiveResetIFNodes,
)

__version__ = "0.1.0"

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
    "__version__",
]
