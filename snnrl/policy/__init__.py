"""Action decoders and the spiking policy (a network, an encoder and a decoder that act).

* :mod:`snnrl.policy.decoders`: output spikes -> actions (count argmax, softmax, multinomial,
  first spike, population vote, epsilon-greedy, rate -> Box value), seeded and batched;
* :mod:`snnrl.policy.policy`: :class:`SpikingPolicy` with stable-baselines3's ``predict`` and a
  Gymnasium-style ``act``, saved and loaded as snnrl checkpoints.
"""

from snnrl.policy.decoders import (
    DECODERS,
    CountArgmax,
    Decoder,
    DiscreteDecoder,
    EpsilonGreedy,
    FirstSpike,
    MultinomialCounts,
    PopulationVote,
    RateToValue,
    SoftmaxCounts,
    decoder_from_spec,
    register_decoder,
)
from snnrl.policy.policy import PolicyState, SpikingPolicy, load_policy

__all__ = [
    "DECODERS",
    "CountArgmax",
    "Decoder",
    "DiscreteDecoder",
    "EpsilonGreedy",
    "FirstSpike",
    "MultinomialCounts",
    "PolicyState",
    "PopulationVote",
    "RateToValue",
    "SoftmaxCounts",
    "SpikingPolicy",
    "decoder_from_spec",
    "load_policy",
    "register_decoder",
]
