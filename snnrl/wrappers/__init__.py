"""Gymnasium wrappers: observations become spike trains; Atari preprocessing for spiking agents.

Needs the ``atari`` extra (Gymnasium, ale-py, OpenCV): ``pip install 'snnrl[atari]'``.

* Spike encoders (:mod:`snnrl.wrappers.encoding`): :class:`PoissonObservation`,
  :class:`BernoulliObservation`, :class:`RankOrderObservation`, :class:`LatencyObservation`,
  :class:`PopulationObservation`, :class:`JointPopulationObservation`, :class:`RepeatObservation`;
  observations are scaled to ``[0, 1]`` by :class:`UnitScaler` first.
* Atari pieces (:mod:`snnrl.wrappers.atari`): :class:`AtariPreprocessing` (Gymnasium's, with a
  faster step on a plain ALE environment), :class:`FireOnReset`, :class:`CropObservation`
  (with :data:`PLAY_AREAS`), :class:`BinarizeObservation`, :class:`FrameDifferenceObservation`,
  :class:`OverlayObservation`, :class:`SubtractBackground`, :class:`PoolObservation`,
  :class:`SpreadObservation`, :class:`ProjectObservation`.
* Gymnasium's :class:`ResizeObservation` and :class:`FrameStackObservation` with the same outputs,
  faster (:mod:`snnrl.wrappers.frames`).
* :class:`StickyActions` (:mod:`snnrl.wrappers.sticky`): ALE's sticky actions played outside the
  emulator, so that a seeded reset does not reload the ROM.
* :class:`SeedFirstReset`, :class:`ActionRepeat`, :class:`ActionSubset` (:mod:`snnrl.wrappers.common`).
"""

try:
    import gymnasium  # noqa: F401
except ImportError as err:
    raise ImportError("snnrl.wrappers needs Gymnasium, which is not installed: pip install 'snnrl[atari]'") from err

from snnrl.wrappers.atari import (
    PLAY_AREAS,
    AtariPreprocessing,
    BinarizeObservation,
    CropObservation,
    FireOnReset,
    FrameDifferenceObservation,
    OverlayObservation,
    PoolObservation,
    ProjectObservation,
    SpreadObservation,
    SubtractBackground,
)
from snnrl.wrappers.common import ActionRepeat, ActionSubset, SeedFirstReset
from snnrl.wrappers.encoding import (
    BernoulliObservation,
    JointPopulationObservation,
    LatencyObservation,
    PoissonObservation,
    PopulationObservation,
    RankOrderObservation,
    RepeatObservation,
    SpikeEncodingObservation,
)
from snnrl.wrappers.frames import FrameStackObservation, ResizeObservation
from snnrl.wrappers.scaling import UnitScaler
from snnrl.wrappers.sticky import StickyActions

__all__ = [
    "PLAY_AREAS",
    "ActionRepeat",
    "ActionSubset",
    "AtariPreprocessing",
    "BernoulliObservation",
    "BinarizeObservation",
    "CropObservation",
    "FireOnReset",
    "FrameDifferenceObservation",
    "FrameStackObservation",
    "LatencyObservation",
    "OverlayObservation",
    "PoissonObservation",
    "PoolObservation",
    "ProjectObservation",
    "SpreadObservation",
    "JointPopulationObservation",
    "PopulationObservation",
    "RankOrderObservation",
    "RepeatObservation",
    "ResizeObservation",
    "SeedFirstReset",
    "SpikeEncodingObservation",
    "StickyActions",
    "SubtractBackground",
    "UnitScaler",
]
