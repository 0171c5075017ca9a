"""The converted agent: a spiking network that answers stable-baselines3's ``predict``.

:class:`ConvertedPolicy` needs only torch and numpy (not SB3): a checkpoint written by
:meth:`ConvertedPolicy.save` runs anywhere snnrl does.

**Decisions.** Each call to ``predict`` preprocesses the observations exactly as SB3 does
(VecNormalize's statistics where the conversion did not fold them into the first layer,
channels-last images transposed to channels-first, ``/ 255`` for image spaces when the policy
normalises images, one-hot for discrete spaces, ``float32`` otherwise), resets the network to
rest and presents them for ``steps`` time steps as constant input. The output layer's
accumulated input (reading ``"potential"``) or its spike counts (``"spikes"``) give the Q-values,
logits or action means, and the action follows as the SB3 policy would choose it:

* Q-values (DQN, QR-DQN): the greedy action; ``deterministic=False`` is epsilon-greedy with the
  model's final exploration rate (``epsilon``);
* logits (PPO, A2C, discrete actions): the most probable action, or a sample of the softmax;
* action means (box actions): the mean clipped to the action space, or a Gaussian sample with
  the policy's ``log_std`` (PPO, A2C); for squashed policies (SAC, TD3, DDPG, PPO / A2C with
  ``squash_output``) the tanh of the mean (first clipped to ``clip_mean`` where the policy did)
  rescaled to the action space, as SB3's ``unscale_action``. The noise of gSDE and SAC depends on
  hidden features the SNN does not expose: those policies act deterministically only.

Because the state is reset before every decision, nothing carries from one step to the next:
``state`` is returned unchanged and ``episode_start`` is not needed (both are accepted, so
:func:`stable_baselines3.common.evaluation.evaluate_policy` runs the agent unchanged).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

from snnrl import _checks as checks
from snnrl.integrations.sb3.convert import READOUTS, simulate
from snnrl.integrations.sb3.normalization import ObsNormalization
from snnrl.network import Network

__all__ = ["METADATA_FORMAT", "NOISES", "ConvertedPolicy", "Preprocessor"]

METADATA_FORMAT = "snnrl.sb3.converted"
#: 2: VecNormalize statistics, squashed outputs, the kind of noise (version 1 files load unchanged).
METADATA_VERSION = 2
#: Stochastic box actions: a Gaussian with state-independent ``log_std`` (PPO, A2C), noise that
#: depends on hidden features (gSDE, SAC; not reproduced: deterministic only), or none (TD3, DDPG).
NOISES = ("gaussian", "state_dependent", "none")


class Preprocessor:
    """SB3's observation preprocessing for one observation space, as plain data.

    Args:
        spec: ``{"space": "box", "shape": [...], "image": bool, "normalize": bool}``,
            ``{"space": "discrete", "n": int}``, ``{"space": "multi_discrete", "nvec": [...]}`` or
            ``{"space": "multi_binary", "shape": [...]}``. A box spec may carry
            ``"obs_normalization"`` (:meth:`ObsNormalization.as_dict`): VecNormalize's statistics,
            applied first.
    """

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.spec = dict(spec)
        kind = self.spec.get("space")
        if kind not in ("box", "discrete", "multi_discrete", "multi_binary"):
            raise ValueError(f"unknown observation space kind {kind!r} in the preprocessing spec")
        self.kind = kind
        stats = self.spec.get("obs_normalization")
        self.obs_normalization = ObsNormalization.from_dict(stats) if stats is not None else None
        if kind in ("box", "multi_binary"):
            self.shape = tuple(int(d) for d in self.spec["shape"])
        elif kind == "discrete":
            self.shape = ()
        else:
            self.shape = (len(self.spec["nvec"]),)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one preprocessed observation (the network's input)."""
        if self.kind == "discrete":
            return (int(self.spec["n"]),)
        if self.kind == "multi_discrete":
            return (int(sum(self.spec["nvec"])),)
        return self.shape

    def _maybe_transpose(self, obs: np.ndarray) -> np.ndarray:
        """SB3's ``maybe_transpose``: channels-last images of a channels-first space are transposed."""
        if obs.shape == self.shape or obs.shape[1:] == self.shape or obs.ndim not in (3, 4):
            return obs
        t = np.transpose(obs, (2, 0, 1) if obs.ndim == 3 else (0, 3, 1, 2))
        return t if t.shape == self.shape or t.shape[1:] == self.shape else obs

    def __call__(self, observation: Any, device: torch.device | str = "cpu") -> tuple[Tensor, bool]:
        """``(preprocessed batch, whether the input was batched)``.

        Shape:
            ``observation``: one observation or a batch ``(B, ...)`` (channels-last images are
            accepted for a channels-first space); output ``(B, *input_shape)``, float32.
        """
        obs = np.asarray(observation)
        if self.kind == "box" and self.spec.get("image"):
            obs = self._maybe_transpose(obs)
        if obs.shape == self.shape:
            batched = False
        elif obs.shape[1:] == self.shape:
            batched = True
        else:
            raise ValueError(f"observation has shape {obs.shape}, expected {self.shape} or (B, *{self.shape})")
        if self.obs_normalization is not None:
            obs = self.obs_normalization(obs)
        x = torch.as_tensor(obs.reshape(-1, *self.shape), device=device)
        if self.kind == "discrete":
            x = torch.nn.functional.one_hot(x.long(), int(self.spec["n"])).float()
        elif self.kind == "multi_discrete":
            x = torch.cat([torch.nn.functional.one_hot(col.long(), int(n)).float()
                           for col, n in zip(x.unbind(1), self.spec["nvec"], strict=True)], dim=1)
        elif self.kind == "box" and self.spec.get("normalize"):
            x = x.float() / 255.0
        else:
            x = x.float()
        return x, batched


class ConvertedPolicy:
    """A converted (spiking) policy with SB3's ``predict``; build it with ``convert_sb3``.

    Args:
        network: the converted network (layers ``"input"`` ... ``"output"``).
        metadata: the conversion metadata (what ``convert_sb3`` writes; kept in checkpoints).
        steps: simulation steps per decision (default: the metadata's).
        readout: ``"potential"`` or ``"spikes"`` (default: the metadata's).
        seed: seed of the random source for non-deterministic actions.
    """

    def __init__(
        self,
        network: Network,
        metadata: Mapping[str, Any],
        *,
        steps: int | None = None,
        readout: str | None = None,
        seed: int | None = None,
    ) -> None:
        if not isinstance(network, Network):
            raise TypeError(f"network must be an snnrl Network, got {type(network).__name__}")
        meta = dict(metadata)
        if meta.get("format") != METADATA_FORMAT:
            raise ValueError(f"not the metadata of a converted policy (format {meta.get('format')!r}, expected "
                             f"{METADATA_FORMAT!r})")
        if int(meta.get("version", 0)) > METADATA_VERSION:
            raise ValueError(f"converted-policy metadata version {meta.get('version')} is newer than this snnrl "
                             f"understands ({METADATA_VERSION})")
        self.network = network
        network.train(False)
        self.metadata = meta
        self.preprocessor = Preprocessor(meta["preprocess"])
        self.output = meta["output"]  # "q", "logits" or "mean"
        self.action = meta["action"]
        self.output_scale = float(meta["output_scale"])
        self.v_init = float(meta["v_init"])
        self.epsilon = float(meta.get("epsilon", 0.0))
        self.squash = bool(meta.get("squash", False))
        self.clip_mean = float(meta["clip_mean"]) if meta.get("clip_mean") is not None else None
        self.noise = str(meta.get("noise", "gaussian" if self.output == "mean" else "none"))
        if self.noise not in NOISES:
            raise ValueError(f"unknown noise {self.noise!r} in the metadata; expected one of {NOISES}")
        self.steps = int(steps if steps is not None else meta["steps"])
        self.readout = readout if readout is not None else meta["readout"]
        self._rng = np.random.default_rng(seed)

    # -------------------------------------------------------------- settings
    @property
    def steps(self) -> int:
        """Simulation steps per decision (T)."""
        return self._steps

    @steps.setter
    def steps(self, value: int) -> None:
        self._steps = checks.integer("steps", value, 1, what="a positive int")

    @property
    def readout(self) -> str:
        """``"potential"`` (accumulated input of the output layer) or ``"spikes"`` (its spike counts)."""
        return self._readout

    @readout.setter
    def readout(self, value: str) -> None:
        if value not in READOUTS:
            raise ValueError(f"unknown readout {value!r}; expected one of {READOUTS}")
        self._readout = value

    @property
    def device(self) -> torch.device:
        return self.network.layers["input"]._device

    def to(self, device: str | torch.device) -> ConvertedPolicy:
        """Move the network to ``device``; returns self."""
        self.network.to(device)
        return self

    def seed(self, seed: int | None) -> None:
        """Reseed the random source of non-deterministic actions."""
        self._rng = np.random.default_rng(seed)

    # ------------------------------------------------------------- decisions
    def forward(self, x: Tensor) -> Tensor:
        """Simulate preprocessed inputs: the Q-values / logits / action means in the ANN's units.

        ``summed * scale / T`` (reading ``"potential"``) or ``counts * scale / T`` (``"spikes"``).

        Shape:
            ``x``: ``(B, *input_shape)``; output ``(B, n_out)``.
        """
        return self._simulate(x)[0]

    def _simulate(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        summed, counts = simulate(self.network, x, self.steps, self.v_init)
        base = summed if self.readout == "potential" else counts
        return base * (self.output_scale / self.steps), summed, counts

    def action_values(self, observation: Any) -> np.ndarray:
        """Q-values / logits / action means for raw observations (batched), as numpy.

        Shape:
            output ``(B, n_out)``.
        """
        x, _ = self.preprocessor(observation, self.device)
        return self.forward(x).cpu().numpy()

    def _greedy(self, values: Tensor, summed: Tensor, counts: Tensor) -> Tensor:
        if self.readout == "spikes":  # most spikes; ties go to the larger accumulated input
            top = counts == counts.max(dim=1, keepdim=True).values
            return summed.masked_fill(~top, -math.inf).argmax(dim=1)
        return values.argmax(dim=1)

    def predict(
        self,
        observation: Any,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, Any]:
        """SB3's policy protocol: actions for a batch of observations (or one).

        Returns:
            ``(actions, state)``: actions ``(B,)`` for discrete spaces or ``(B, *shape)`` for boxes
            (unbatched when the observation was), and ``state`` as given.
        """
        x, batched = self.preprocessor(observation, self.device)
        values, summed, counts = self._simulate(x)
        if self.action["space"] == "discrete":
            actions = self._discrete(values, summed, counts, deterministic)
        else:
            actions = self._box(values, deterministic)
        if not batched:
            actions = actions[0]
        return actions, state

    def _discrete(self, values: Tensor, summed: Tensor, counts: Tensor, deterministic: bool) -> np.ndarray:
        greedy = self._greedy(values, summed, counts).cpu().numpy()
        if deterministic:
            return greedy
        n = int(self.action["n"])
        if self.output == "q":
            explore = self._rng.random(len(greedy)) < self.epsilon
            return np.where(explore, self._rng.integers(0, n, len(greedy)), greedy)
        p = torch.softmax(values.double(), dim=1).cpu().numpy()
        u = self._rng.random((len(p), 1))
        return np.minimum((p.cumsum(axis=1) < u).sum(axis=1), n - 1)

    def _box(self, values: Tensor, deterministic: bool) -> np.ndarray:
        shape = tuple(self.action["shape"])
        mean = values.cpu().double().numpy().reshape(-1, *shape)
        if self.clip_mean is not None:
            mean = np.clip(mean, -self.clip_mean, self.clip_mean)
        if not deterministic and self.noise == "state_dependent":
            raise ValueError(f"this converted {self.metadata.get('algo')} policy acts deterministically only: its "
                             "exploration noise (gSDE or SAC) depends on hidden features the spiking network does "
                             "not expose; call predict(..., deterministic=True)")
        if not deterministic and self.noise == "gaussian":
            std = np.exp(np.asarray(self.metadata["log_std"], dtype=np.float64)).reshape(shape)
            mean = mean + std * self._rng.standard_normal(mean.shape)
        low = np.asarray(self.action["low"], dtype=np.float64).reshape(shape)
        high = np.asarray(self.action["high"], dtype=np.float64).reshape(shape)
        if self.squash:  # SB3's unscale_action of the tanh-squashed mean
            return (low + 0.5 * (np.tanh(mean) + 1.0) * (high - low)).astype(np.float32)
        return np.clip(mean, low, high).astype(np.float32)

    # ------------------------------------------------------------ checkpoints
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the network and the conversion metadata (steps and readout as now set) to an snnrl checkpoint."""
        from snnrl.checkpoint import save_checkpoint

        meta = {**self.metadata, "steps": self.steps, "readout": self.readout}
        save_checkpoint(self.network, os.fspath(path), metadata=meta)

    @classmethod
    def load(cls, path: str | os.PathLike[str], map_location: str | torch.device = "cpu", **kwargs: Any
             ) -> ConvertedPolicy:
        """Load a checkpoint written by :meth:`save` (``kwargs``: see the constructor)."""
        from snnrl.checkpoint import load_checkpoint

        ckpt = load_checkpoint(os.fspath(path), map_location)
        if ckpt.metadata.get("format") != METADATA_FORMAT:
            raise ValueError(f"{path}: an snnrl checkpoint but not a converted policy (no {METADATA_FORMAT!r} "
                             "metadata); load it with snnrl.checkpoint.load_checkpoint")
        return cls(ckpt.network, ckpt.metadata, **kwargs)

    def __repr__(self) -> str:
        m = self.metadata
        return (f"ConvertedPolicy(algo={m.get('algo')!r}, output={self.output!r}, steps={self.steps}, "
                f"readout={self.readout!r}, layers={[layer['name'] for layer in m.get('layers', [])]})")
