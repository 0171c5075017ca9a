"""Spike encoders: objects that turn data into time-major spike trains."""

from snnrl.encoding.encoders import (
    BernoulliEncoder,
    Encoder,
    LatencyEncoder,
    PoissonEncoder,
    PopulationEncoder,
    RankOrderEncoder,
    RepeatEncoder,
    SingleEncoder,
)

__all__ = [
    "BernoulliEncoder",
    "Encoder",
    "LatencyEncoder",
    "PoissonEncoder",
    "PopulationEncoder",
    "RankOrderEncoder",
    "RepeatEncoder",
    "SingleEncoder",
]
