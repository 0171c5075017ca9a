"""Read the network of a stable-baselines3 policy and convert it: :func:`convert_sb3`.

Supported: DQN and QR-DQN (Q-values; QR-DQN's quantiles are averaged into the last layer), PPO
and A2C (the actor: features extractor, ``mlp_extractor.policy_net`` and ``action_net``; logits
for discrete actions, the Gaussian mean for box actions), with ``MlpPolicy`` (``FlattenExtractor``)
or ``CnnPolicy`` (``NatureCNN``) and other extractors built from the layers that
:mod:`snnrl.integrations.sb3.convert` converts. The layers read from the policy are checked
against the policy's own output on the calibration observations before the conversion is
accepted, so a custom module whose ``forward`` is not a plain chain of its children is refused
with a clear error rather than converted wrongly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from snnrl.integrations.sb3.convert import READOUTS, ConversionError, ann_forward, convert_modules, linearize
from snnrl.integrations.sb3.loading import require_sb3
from snnrl.integrations.sb3.policy import METADATA_FORMAT, METADATA_VERSION, ConvertedPolicy, Preprocessor

__all__ = ["PolicyNetwork", "convert_sb3", "policy_network", "preprocess_spec"]


@dataclass
class PolicyNetwork:
    """The feed-forward path of an SB3 policy that decides the action."""

    algo: str  # "dqn", "qrdqn", "ppo", "a2c"
    layers: list[nn.Module]
    reference: Callable[[Tensor], Tensor]  # raw observation tensor (as obs_to_tensor gives) -> output
    output: str  # "q", "logits", "mean"
    policy: Any


def _algo_name(model: Any) -> str | None:
    name = type(model).__name__.lower()
    return name if name in ("dqn", "qrdqn", "ppo", "a2c") else None


def policy_network(model: Any) -> PolicyNetwork:
    """The layers, output kind and reference function of an SB3 model (or its policy).

    Raises:
        ConversionError: a policy this conversion does not handle.
    """
    policy = getattr(model, "policy", model)
    algo = _algo_name(model)
    if hasattr(policy, "quantile_net"):  # QR-DQN
        qnet = policy.quantile_net
        layers = linearize(qnet.features_extractor) + linearize(qnet.quantile_net)
        last = layers[-1]
        if not isinstance(last, nn.Linear):
            raise ConversionError(f"QR-DQN's quantile network must end with a Linear layer, got {last}")
        nq, na = int(qnet.n_quantiles), int(policy.action_space.n)
        folded = nn.Linear(last.in_features, na, bias=True)
        with torch.no_grad():
            folded.weight.copy_(last.weight.view(nq, na, -1).mean(0))
            bias = last.bias if last.bias is not None else torch.zeros(nq * na)
            folded.bias.copy_(bias.view(nq, na).mean(0))
        layers[-1] = folded
        return PolicyNetwork("qrdqn", layers, lambda obs: qnet(obs).mean(dim=1), "q", policy)
    if hasattr(policy, "q_net") and hasattr(policy.q_net, "q_net"):  # DQN
        qnet = policy.q_net
        layers = linearize(qnet.features_extractor) + linearize(qnet.q_net)
        return PolicyNetwork(algo or "dqn", layers, qnet, "q", policy)
    if hasattr(policy, "mlp_extractor") and hasattr(policy, "action_net"):  # PPO, A2C
        sb3 = require_sb3()
        spaces = sb3.common.policies.spaces
        extractor = policy.features_extractor if policy.share_features_extractor else policy.pi_features_extractor
        layers = linearize(extractor) + linearize(policy.mlp_extractor.policy_net) + linearize(policy.action_net)
        if isinstance(policy.action_space, spaces.Discrete):
            output = "logits"
        elif isinstance(policy.action_space, spaces.Box):
            if getattr(policy, "squash_output", False) or getattr(policy, "use_sde", False):
                raise ConversionError("policies with squashed outputs or gSDE cannot be converted")
            output = "mean"
        else:
            raise ConversionError(f"action space {policy.action_space} is not supported (Discrete or Box only)")

        def reference(obs: Tensor) -> Tensor:
            features = policy.extract_features(obs, extractor)
            return policy.action_net(policy.mlp_extractor.forward_actor(features))

        return PolicyNetwork(algo or "ppo", layers, reference, output, policy)
    raise ConversionError(f"cannot convert a {type(policy).__name__}: supported are the policies of DQN, QR-DQN, "
                          "PPO and A2C")


def preprocess_spec(policy: Any) -> dict[str, Any]:
    """The :class:`~snnrl.integrations.sb3.policy.Preprocessor` spec of an SB3 policy's observation space."""
    sb3 = require_sb3()
    from stable_baselines3.common.preprocessing import is_image_space

    spaces = sb3.common.policies.spaces
    space = policy.observation_space
    if isinstance(space, spaces.Box):
        image = bool(is_image_space(space))
        return {"space": "box", "shape": list(space.shape), "image": image,
                "normalize": bool(image and policy.normalize_images)}
    if isinstance(space, spaces.Discrete):
        return {"space": "discrete", "n": int(space.n)}
    if isinstance(space, spaces.MultiDiscrete):
        return {"space": "multi_discrete", "nvec": [int(v) for v in np.asarray(space.nvec).ravel()]}
    if isinstance(space, spaces.MultiBinary):
        return {"space": "multi_binary", "shape": list(space.shape)}
    raise ConversionError(f"observation space {space} is not supported (Box, Discrete, MultiDiscrete, MultiBinary)")


def _action_spec(policy: Any) -> dict[str, Any]:
    sb3 = require_sb3()
    space = policy.action_space
    if isinstance(space, sb3.common.policies.spaces.Discrete):
        return {"space": "discrete", "n": int(space.n)}
    return {"space": "box", "shape": list(space.shape), "low": np.asarray(space.low, dtype=float).ravel().tolist(),
            "high": np.asarray(space.high, dtype=float).ravel().tolist()}


def convert_sb3(
    model: Any,
    calibration: Any = None,
    *,
    env: Any = None,
    n_calibration: int = 1000,
    percentile: float = 99.9,
    segments: int = 8,
    v_init: float = 0.5,
    steps: int = 64,
    readout: str = "potential",
    normalization: str = "channel",
    replicas: int | Sequence[int] = 1,
    seed: int | None = 0,
    tolerance: float = 1e-4,
) -> ConvertedPolicy:
    """Convert a stable-baselines3 DQN / QR-DQN / PPO / A2C model into a spiking policy.

    Args:
        model: the SB3 model (e.g. from :func:`~snnrl.integrations.sb3.load_sb3_model`).
        calibration: raw observations ``(N, *obs shape)`` for the data-based normalisation; None
            collects ``n_calibration`` by running the model (deterministically) in ``env``.
        env: an SB3 ``VecEnv`` (or Gymnasium env) to collect calibration observations from.
        n_calibration: observations to collect when ``calibration`` is None.
        percentile: ReLU normalisation percentile (see :func:`convert_modules`).
        segments: neurons per side for tanh / sigmoid units.
        v_init: initial membrane voltage (fraction of the threshold).
        steps: simulation steps per decision (T); can be changed later on the policy.
        readout: ``"potential"`` or ``"spikes"``.
        normalization: ``"channel"`` or ``"layer"`` ReLU scales (see :func:`convert_modules`).
        replicas: neurons per hidden unit (and segment) with staggered initial voltages: an int
            for every hidden layer or one per hidden layer (see :func:`convert_modules`).
        seed: seed of the random source for non-deterministic actions.
        tolerance: largest relative difference allowed between the layers read from the policy
            and the policy itself on the calibration data.

    Returns:
        A :class:`~snnrl.integrations.sb3.ConvertedPolicy`.

    Raises:
        ConversionError: an unsupported policy or layer.
    """
    if readout not in READOUTS:
        raise ValueError(f"unknown readout {readout!r}; expected one of {READOUTS}")
    require_sb3()
    parts = policy_network(model)
    policy = parts.policy
    pre = Preprocessor(preprocess_spec(policy))
    if calibration is None:
        if env is None:
            raise ValueError("give calibration observations or an env to collect them from")
        from snnrl.integrations.sb3.evaluation import collect_observations, ensure_vec_env

        calibration = collect_observations(model, ensure_vec_env(env), n_calibration)
    x, _ = pre(calibration)
    if x.shape[0] < 1:
        raise ValueError("no calibration observations")
    was_training = policy.training
    policy.set_training_mode(False)
    try:
        with torch.no_grad():
            obs, _ = policy.obs_to_tensor(np.asarray(calibration)[:256])
            ref = parts.reference(obs).float().cpu()
            mine = ann_forward(parts.layers, x[:256].to(ref.device)).float().cpu()
    finally:
        policy.set_training_mode(was_training)
    if ref.shape != mine.shape or not torch.allclose(mine, ref, rtol=tolerance, atol=tolerance * (1 + float(
            ref.abs().max()))):
        diff = float((mine - ref).abs().max()) if ref.shape == mine.shape else f"shape {tuple(mine.shape)} vs " \
            f"{tuple(ref.shape)}"
        raise ConversionError(f"the layers read from the {parts.algo} policy do not reproduce its output (max "
                              f"difference {diff}); a custom module's forward is probably not a plain chain of "
                              f"its layers: {[type(m).__name__ for m in parts.layers]}")
    layers = [m.cpu() for m in parts.layers]
    converted = convert_modules(layers, x.cpu(), percentile=percentile, segments=segments, v_init=v_init,
                                 normalization=normalization, replicas=replicas)
    sb3 = require_sb3()
    meta: dict[str, Any] = {
        "format": METADATA_FORMAT,
        "version": METADATA_VERSION,
        "algo": parts.algo,
        "output": parts.output,
        "preprocess": pre.spec,
        "action": _action_spec(policy),
        "output_scale": converted.output_scale,
        "v_init": v_init,
        "steps": steps,
        "readout": readout,
        "percentile": percentile,
        "segments": segments,
        "normalization": normalization,
        "replicas": replicas if isinstance(replicas, int) else list(replicas),
        "calibration_size": int(x.shape[0]),
        "epsilon": float(getattr(model, "exploration_rate", 0.0) or 0.0),
        "layers": [info.as_dict() for info in converted.layers],
        "ann_layers": [repr(m) for m in parts.layers],
        "sb3_version": sb3.__version__,
    }
    if parts.output == "mean":
        meta["log_std"] = policy.log_std.detach().cpu().double().ravel().tolist()
    return ConvertedPolicy(converted.network, meta, seed=seed)
