"""Plasticity rules (they work on any connection through its interface) and reward signals."""

from snnrl.learning.base import LearningRule

__all__ = ["LearningRule"]
