"""Connections between populations (see :mod:`snnrl.network.connections.base` for the interface)."""

from snnrl.network.connections.base import AbstractConnection, clamp_
from snnrl.network.connections.dense import Connection

__all__ = ["AbstractConnection", "Connection", "clamp_"]
