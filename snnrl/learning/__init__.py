"""Plasticity rules (they work on any connection through its interface) and reward signals."""

from snnrl.learning.adapters import ConnectionAdapter, DenseAdapter, adapter_for, register_adapter
from snnrl.learning.base import LearningRule, ModulatedRule, Rule
from snnrl.learning.eprop import EProp
from snnrl.learning.feedback import Feedback
from snnrl.learning.rewards import MovingAverageRPE, RawReward, RewardSignal, TDError
from snnrl.learning.rules import MSTDP, MSTDPET, Hebbian, NoOp, PostPre, Rmax, WeightDependentPostPre

__all__ = [
    "MSTDP",
    "MSTDPET",
    "ConnectionAdapter",
    "DenseAdapter",
    "EProp",
    "Feedback",
    "Hebbian",
    "LearningRule",
    "ModulatedRule",
    "MovingAverageRPE",
    "NoOp",
    "PostPre",
    "RawReward",
    "RewardSignal",
    "Rmax",
    "Rule",
    "TDError",
    "WeightDependentPostPre",
    "adapter_for",
    "register_adapter",
]
