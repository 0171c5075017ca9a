"""Pure tensor maths: neuron step functions, traces and spike encoders."""

from snnrl.functional._common import decay_factor, trace_step
from snnrl.functional.izhikevich import (
    FAST_SPIKING,
    REGULAR_SPIKING,
    IzhikevichParameters,
    IzhikevichState,
    izhikevich_step,
)
from snnrl.functional.lif import (
    AdaptiveLIFParameters,
    CurrentLIFParameters,
    CurrentLIFState,
    IFParameters,
    IFState,
    LIFParameters,
    LIFState,
    McCullochPittsParameters,
    adaptive_lif_step,
    current_lif_step,
    if_step,
    lif_step,
    mcculloch_pitts_step,
    subtractive_if_step,
)
from snnrl.functional.srm import SRM0Parameters, SRM0State, srm0_step

__all__ = [
    "FAST_SPIKING",
    "REGULAR_SPIKING",
    "AdaptiveLIFParameters",
    "CurrentLIFParameters",
    "CurrentLIFState",
    "IFParameters",
    "IFState",
    "IzhikevichParameters",
    "IzhikevichState",
    "LIFParameters",
    "LIFState",
    "McCullochPittsParameters",
    "SRM0Parameters",
    "SRM0State",
    "adaptive_lif_step",
    "current_lif_step",
    "decay_factor",
    "if_step",
    "izhikevich_step",
    "lif_step",
    "mcculloch_pitts_step",
    "srm0_step",
    "subtractive_if_step",
    "trace_step",
]
