"""Spiking feature extractors that stable-baselines3 trains with surrogate gradients.

:class:`SpikingNet` is a plain torch module: affine layers (``Linear`` / ``Conv2d``), each followed
by leaky integrate-and-fire neurons (:func:`snnrl.functional.surrogate.lif_surrogate_step`:
``v <- beta v + I``, spike at ``v >= thresh``, reset by subtraction, surrogate gradient in the
backward pass). Every call simulates ``steps`` time steps **from rest** (the state is reset per
call, as SB3 expects of a policy: a batch of observations in, a batch of outputs out, nothing
carried between calls). The observation, preprocessed by SB3 (``/ 255`` for images), is the
constant input current of the first layer (direct / analog encoding, as in the deep spiking
Q-networks of Chen et al. 2022 and Liu et al. 2022); the features are the firing rates of the
last layer over the ``steps`` steps.

The layers are simulated layer by layer over all steps (one batched matrix product per layer
instead of one per step), which computes the same thing as step by step for a feed-forward
network and is several times faster.

:class:`SpikingMlpExtractor` (vector observations) and :class:`SpikingCnnExtractor` (images,
NatureCNN's geometry) are SB3 ``BaseFeaturesExtractor`` s: pass them through ``policy_kwargs``
(:func:`spiking_policy_kwargs`) to PPO, A2C or DQN. With ``net_arch=[]`` the heads that SB3 puts
on top (action logits, value, Q-values) are linear readouts of the spike rates: non-spiking
output neurons that integrate their input, the "membrane potential" decoding of deep spiking
Q-networks.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from snnrl import _checks as checks
from snnrl.functional.surrogate import SURROGATES, lif_surrogate_step
from snnrl.integrations.sb3.loading import require_sb3

require_sb3("snnrl.integrations.sb3.features")

from stable_baselines3.common.preprocessing import get_flattened_obs_dim, is_image_space  # noqa: E402
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor  # noqa: E402

__all__ = ["SpikingCnnExtractor", "SpikingMlpExtractor", "SpikingNet", "spiking_policy_kwargs"]


class SpikingNet(nn.Module):
    """Affine layers each followed by surrogate-gradient LIF neurons, ``steps`` steps per call.

    Args:
        layers: ``Linear`` / ``Conv2d`` modules in order (a ``Linear`` after a ``Conv2d``
            flattens its input).
        steps: time steps per call (T).
        beta: membrane decay per step (``exp(-dt / tau)``), in ``(0, 1]``.
        thresh: firing threshold.
        surrogate, alpha: see :func:`snnrl.functional.surrogate.spike`.

    Shape:
        input ``(B, *in shape)``; output ``(B, n_features)``, the last layer's firing rates in ``[0, 1]``.
    """

    def __init__(self, layers: Sequence[nn.Module], steps: int = 8, beta: float = 0.9, thresh: float = 1.0,
                 surrogate: str = "fast_sigmoid", alpha: float = 5.0) -> None:
        super().__init__()
        steps = checks.integer("steps", steps, 1, what="a positive int")
        if not 0.0 < beta <= 1.0:
            raise ValueError(f"beta must be in (0, 1], got {beta!r}")
        if not thresh > 0:
            raise ValueError(f"thresh must be > 0, got {thresh!r}")
        if surrogate not in SURROGATES:
            raise ValueError(f"unknown surrogate {surrogate!r}; expected one of {SURROGATES}")
        for m in layers:
            if not isinstance(m, (nn.Linear, nn.Conv2d)):
                raise TypeError(f"layers must be Linear or Conv2d, got {type(m).__name__}")
        self.layers = nn.ModuleList(layers)
        self.steps, self.beta, self.thresh = steps, float(beta), float(thresh)
        self.surrogate, self.alpha = surrogate, float(alpha)

    def _lif(self, current: Tensor, constant: bool) -> Tensor:
        """LIF neurons over ``steps`` steps from rest; ``current`` is ``(B, ...)`` if constant else ``(T, B, ...)``."""
        v = torch.zeros_like(current if constant else current[0])
        out = []
        for t in range(self.steps):
            s, v = lif_surrogate_step(current if constant else current[t], v, self.beta, self.thresh,
                                      self.surrogate, self.alpha)
            out.append(s)
        return torch.stack(out)

    def forward(self, x: Tensor) -> Tensor:
        first = self.layers[0]
        h = self._lif(first(x.flatten(1) if isinstance(first, nn.Linear) else x), constant=True)
        for layer in self.layers[1:]:
            t, b = h.shape[:2]
            flat = h.reshape(t * b, *h.shape[2:])
            if isinstance(layer, nn.Linear):
                flat = flat.flatten(1)
            cur = layer(flat)
            h = self._lif(cur.view(t, b, *cur.shape[1:]), constant=False)
        return h.mean(0).flatten(1)


class SpikingMlpExtractor(BaseFeaturesExtractor):
    """Spiking MLP features extractor for vector observations (``policy_kwargs`` of PPO / A2C / DQN).

    Args:
        observation_space: the (flattenable) observation space.
        hidden: widths of the spiking layers; the last is the features dimension.
        steps, beta, thresh, surrogate, alpha: see :class:`SpikingNet`.
    """

    def __init__(self, observation_space: Any, hidden: Sequence[int] = (64, 64), steps: int = 8, beta: float = 0.9,
                 thresh: float = 1.0, surrogate: str = "fast_sigmoid", alpha: float = 5.0) -> None:
        hidden = [int(h) for h in hidden]
        if not hidden or any(h < 1 for h in hidden):
            raise ValueError(f"hidden must be a non-empty list of positive widths, got {hidden!r}")
        super().__init__(observation_space, features_dim=hidden[-1])
        sizes = [get_flattened_obs_dim(observation_space), *hidden]
        layers = [nn.Linear(a, b) for a, b in itertools.pairwise(sizes)]
        self.net = SpikingNet(layers, steps, beta, thresh, surrogate, alpha)

    def forward(self, observations: Tensor) -> Tensor:
        return self.net(observations.flatten(1).float())


class SpikingCnnExtractor(BaseFeaturesExtractor):
    """Spiking NatureCNN (Mnih et al. 2015's geometry) for image observations (channels first).

    Convolutions 32 8x8/4, 64 4x4/2, 64 3x3/1 and a dense layer of ``features_dim``, each followed
    by LIF neurons.

    Args:
        observation_space: an image space (SB3 transposes channels-last envs itself).
        features_dim: width of the last spiking layer.
        steps, beta, thresh, surrogate, alpha: see :class:`SpikingNet`.
    """

    def __init__(self, observation_space: Any, features_dim: int = 512, steps: int = 8, beta: float = 0.9,
                 thresh: float = 1.0, surrogate: str = "fast_sigmoid", alpha: float = 5.0,
                 normalized_image: bool = False) -> None:
        if not is_image_space(observation_space, check_channels=False, normalized_image=normalized_image):
            raise ValueError(f"SpikingCnnExtractor needs an image observation space, got {observation_space}")
        super().__init__(observation_space, features_dim)
        c = observation_space.shape[0]
        convs = [nn.Conv2d(c, 32, 8, stride=4), nn.Conv2d(32, 64, 4, stride=2), nn.Conv2d(64, 64, 3, stride=1)]
        with torch.no_grad():
            x = torch.zeros(1, *observation_space.shape)
            for conv in convs:
                x = conv(x)
        layers = [*convs, nn.Linear(math.prod(x.shape[1:]), features_dim)]
        self.net = SpikingNet(layers, steps, beta, thresh, surrogate, alpha)

    def forward(self, observations: Tensor) -> Tensor:
        return self.net(observations.float())


def spiking_policy_kwargs(kind: str = "mlp", net_arch: Sequence[int] | dict[str, Any] = (), **extractor: Any
                          ) -> dict[str, Any]:
    """``policy_kwargs`` for SB3 PPO / A2C / DQN with a spiking features extractor.

    Args:
        kind: ``"mlp"`` (:class:`SpikingMlpExtractor`) or ``"cnn"`` (:class:`SpikingCnnExtractor`).
        net_arch: SB3's layers between the features and the heads; the default ``()`` makes the
            heads linear readouts of the spike rates.
        extractor: the extractor's keyword arguments (``hidden``, ``steps``, ``beta``, ...).

    Example:
        >>> from stable_baselines3 import PPO
        >>> model = PPO("MlpPolicy", "CartPole-v1", policy_kwargs=spiking_policy_kwargs(steps=8))
        >>> type(model.policy.features_extractor).__name__
        'SpikingMlpExtractor'
        >>> model.policy.action_net  # the action logits: a linear readout of the 64 spike rates
        Linear(in_features=64, out_features=2, bias=True)
    """
    classes = {"mlp": SpikingMlpExtractor, "cnn": SpikingCnnExtractor}
    if kind not in classes:
        raise ValueError(f"kind must be 'mlp' or 'cnn', got {kind!r}")
    arch = dict(net_arch) if isinstance(net_arch, dict) else list(net_arch)
    return {"features_extractor_class": classes[kind], "features_extractor_kwargs": dict(extractor),
            "net_arch": arch}
