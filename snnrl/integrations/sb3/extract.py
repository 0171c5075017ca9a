"""Read the network of a stable-baselines3 policy and convert it: :func:`convert_sb3`.

Supported: DQN and QR-DQN (Q-values; QR-DQN's quantiles are averaged into the last layer), PPO
and A2C (the actor: features extractor, ``mlp_extractor.policy_net`` and ``action_net``; logits
for discrete actions, the Gaussian mean for box actions, gSDE and squashed outputs included), SAC
(``actor``: features extractor, ``latent_pi``, ``mu``) and TD3 / DDPG (``actor.mu`` without its
final tanh), with ``MlpPolicy`` (``FlattenExtractor``) or ``CnnPolicy`` (``NatureCNN``) and other
extractors built from the layers that :mod:`snnrl.integrations.sb3.convert` converts.

**Box actions.** The network computes the mean of the action distribution (before any tanh);
the converted policy acts as SB3's deterministic policy does: the mean clipped to the action
space, or, for squashed policies (SAC, TD3, DDPG, PPO / A2C with ``squash_output``), the tanh of
the mean rescaled to the action space (SAC with gSDE first clips the mean to ``clip_mean``, its
``Hardtanh``). A deterministic gSDE policy acts with its mean. Stochastic actions are reproduced
where the noise does not depend on the observation (PPO / A2C without gSDE: ``log_std``); gSDE's
and SAC's noise is computed from the hidden features, which the SNN does not expose, so these
converted policies act deterministically only (``predict(..., deterministic=True)``; TD3's and
DDPG's ``predict`` is deterministic anyway).

**VecNormalize.** A :class:`~snnrl.integrations.sb3.NormalizedModel` (what
:func:`~snnrl.integrations.sb3.load_sb3_model` returns for a model with ``vecnormalize.pkl``) or
``obs_normalization=`` gives the statistics; the conversion folds them into the first ``Linear``
layer where that is exact and otherwise keeps them as the converted policy's input transform (see
:mod:`snnrl.integrations.sb3.normalization`). Either way the converted policy takes raw observations.

The layers read from the policy are checked against the policy's own output on the calibration
observations before the conversion is accepted, so a custom module whose ``forward`` is not a
plain chain of its children is refused with a clear error rather than converted wrongly.
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
from snnrl.integrations.sb3.normalization import NormalizedModel, ObsNormalization
from snnrl.integrations.sb3.policy import METADATA_FORMAT, METADATA_VERSION, ConvertedPolicy, Preprocessor

__all__ = ["PolicyNetwork", "convert_sb3", "policy_network", "preprocess_spec"]


@dataclass
class PolicyNetwork:
    """The feed-forward path of an SB3 policy that decides the action."""

    algo: str  # "dqn", "qrdqn", "ppo", "a2c", "sac", "td3", "ddpg"
    layers: list[nn.Module]
    reference: Callable[[Tensor], Tensor]  # raw observation tensor (as obs_to_tensor gives) -> output
    output: str  # "q", "logits", "mean"
    policy: Any
    squash: bool = False  # box actions: tanh of the mean, rescaled to the action space
    clip_mean: float | None = None  # the mean is clipped to [-clip_mean, clip_mean] first (SAC with gSDE)
    noise: str = "none"  # stochastic box actions: one of NOISES


_ALGOS = ("dqn", "qrdqn", "ppo", "a2c", "sac", "td3", "ddpg")


def _algo_name(model: Any) -> str | None:
    name = type(model).__name__.lower()
    return name if name in _ALGOS else None


def _actor_critic(policy: Any, algo: str | None) -> PolicyNetwork:
    """PPO and A2C: features extractor, ``mlp_extractor.policy_net``, ``action_net``."""
    sb3 = require_sb3()
    spaces = sb3.common.policies.spaces
    extractor = policy.features_extractor if policy.share_features_extractor else policy.pi_features_extractor
    layers = linearize(extractor) + linearize(policy.mlp_extractor.policy_net) + linearize(policy.action_net)

    def reference(obs: Tensor) -> Tensor:
        features = policy.extract_features(obs, extractor)
        return policy.action_net(policy.mlp_extractor.forward_actor(features))

    if isinstance(policy.action_space, spaces.Discrete):
        return PolicyNetwork(algo or "ppo", layers, reference, "logits", policy)
    if not isinstance(policy.action_space, spaces.Box):
        raise ConversionError(f"action space {policy.action_space} is not supported (Discrete or Box only)")
    sde = bool(getattr(policy, "use_sde", False))
    return PolicyNetwork(algo or "ppo", layers, reference, "mean", policy, squash=bool(policy.squash_output),
                         noise="state_dependent" if sde else "gaussian")


def _sac(policy: Any, algo: str | None) -> PolicyNetwork:
    """SAC's actor: features extractor, ``latent_pi``, ``mu`` (with gSDE: ``Linear`` then ``Hardtanh``)."""
    actor = policy.actor
    mu: Any = actor.mu
    clip_mean = None
    if isinstance(mu, nn.Sequential) and len(mu) == 2 and isinstance(mu[1], nn.Hardtanh):
        if float(mu[1].min_val) != -float(mu[1].max_val):
            raise ConversionError(f"SAC's mean clip {mu[1]} is not symmetric")
        mu, clip_mean = mu[0], float(mu[1].max_val)
    if not isinstance(mu, nn.Linear):
        raise ConversionError(f"SAC's action mean must be a Linear layer (optionally followed by Hardtanh), got {mu}")
    layers = linearize(actor.features_extractor) + linearize(actor.latent_pi) + [mu]

    def reference(obs: Tensor) -> Tensor:
        return mu(actor.latent_pi(actor.extract_features(obs, actor.features_extractor)))

    return PolicyNetwork(algo or "sac", layers, reference, "mean", policy, squash=True, clip_mean=clip_mean,
                         noise="state_dependent")


def _td3(policy: Any, algo: str | None) -> PolicyNetwork:
    """TD3's and DDPG's actor: features extractor, ``mu`` without its final ``Tanh``."""
    actor = policy.actor
    mu = list(actor.mu) if isinstance(actor.mu, nn.Sequential) else []
    if not mu or not isinstance(mu[-1], nn.Tanh):
        raise ConversionError(f"the TD3/DDPG actor's network must be a Sequential ending with Tanh, got {actor.mu}")
    body = nn.Sequential(*mu[:-1])
    layers = linearize(actor.features_extractor) + linearize(body)

    def reference(obs: Tensor) -> Tensor:
        return body(actor.extract_features(obs, actor.features_extractor))

    return PolicyNetwork(algo or "td3", layers, reference, "mean", policy, squash=True, noise="none")


def policy_network(model: Any) -> PolicyNetwork:
    """The layers, output kind and reference function of an SB3 model (or its policy).

    Raises:
        ConversionError: a policy this conversion does not handle.
    """
    if isinstance(model, NormalizedModel):
        model = model.model
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
        return _actor_critic(policy, algo)
    actor = getattr(policy, "actor", None)
    if actor is not None and hasattr(actor, "latent_pi") and hasattr(actor, "mu"):
        return _sac(policy, algo)
    if actor is not None and hasattr(actor, "mu"):
        return _td3(policy, algo)
    raise ConversionError(f"cannot convert a {type(policy).__name__}: supported are the policies of DQN, QR-DQN, "
                          "PPO, A2C, SAC, TD3 and DDPG")


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


def _fold_first(layers: list[nn.Module], stats: ObsNormalization) -> list[nn.Module] | None:
    """``layers`` with ``stats`` folded into the first ``Linear`` (after ``Flatten``), or None if it is not one."""
    i = next((k for k, m in enumerate(layers) if not isinstance(m, nn.Flatten)), None)
    first = layers[i] if i is not None else None
    if i is None or not isinstance(first, nn.Linear):
        return None
    return [*layers[:i], stats.fold(first), *layers[i + 1:]]


def _normalization(model: Any, obs_normalization: ObsNormalization | None) -> tuple[Any, Any, ObsNormalization | None,
                                                                                    str | None]:
    """``(SB3 model, predictor on raw observations, statistics, their source)``."""
    if isinstance(model, NormalizedModel):
        if obs_normalization is not None:
            raise ValueError("the model already carries VecNormalize statistics (a NormalizedModel); do not pass "
                             "obs_normalization too")
        return model.model, model, model.normalization, model.source
    if obs_normalization is None:
        return model, model, None, None
    if not isinstance(obs_normalization, ObsNormalization):
        raise TypeError(f"obs_normalization must be an ObsNormalization, got {type(obs_normalization).__name__}")
    return model, NormalizedModel(model, obs_normalization), obs_normalization, None


def convert_sb3(
    model: Any,
    calibration: Any = None,
    *,
    env: Any = None,
    obs_normalization: ObsNormalization | None = None,
    fold_normalization: bool = True,
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
    """Convert a stable-baselines3 DQN / QR-DQN / PPO / A2C / SAC / TD3 / DDPG model into a spiking policy.

    Args:
        model: the SB3 model (e.g. from :func:`~snnrl.integrations.sb3.load_sb3_model`), or a
            :class:`~snnrl.integrations.sb3.NormalizedModel` (a model with its VecNormalize statistics).
        calibration: raw observations ``(N, *obs shape)`` (as the environment gives them, before
            any VecNormalize) for the data-based normalisation; None collects ``n_calibration``
            by running the model (deterministically) in ``env``.
        env: an SB3 ``VecEnv`` (or Gymnasium env) to collect calibration observations from
            (without VecNormalize: the statistics are applied here).
        obs_normalization: VecNormalize statistics of a plain SB3 ``model`` (see
            :func:`~snnrl.integrations.sb3.read_vecnormalize`).
        fold_normalization: fold the statistics into the first ``Linear`` layer where that is exact
            (the clip cannot bind within the observation space's bounds); False always keeps them
            as the converted policy's input transform.
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
        A :class:`~snnrl.integrations.sb3.ConvertedPolicy` that takes raw observations.

    Raises:
        ConversionError: an unsupported policy or layer, or statistics that do not fit the policy.
    """
    if readout not in READOUTS:
        raise ValueError(f"unknown readout {readout!r}; expected one of {READOUTS}")
    require_sb3()
    sb3_model, predictor, stats, source = _normalization(model, obs_normalization)
    parts = policy_network(sb3_model)
    policy = parts.policy
    spec = preprocess_spec(policy)
    layers, folded = list(parts.layers), False
    if stats is not None:
        if spec["space"] != "box" or spec.get("image"):
            raise ConversionError("VecNormalize statistics apply to vector (Box, non-image) observations only, but "
                                  f"the policy's observation space is {policy.observation_space}")
        if stats.shape != tuple(spec["shape"]):
            raise ConversionError(f"the VecNormalize statistics have shape {stats.shape} but the policy's "
                                  f"observations have shape {tuple(spec['shape'])}")
        space = policy.observation_space
        fold = _fold_first(layers, stats) if fold_normalization and not stats.clip_can_bind(space.low, space.high) \
            else None
        if fold is not None:
            layers, folded = fold, True
        else:
            spec["obs_normalization"] = stats.as_dict()
    pre = Preprocessor(spec)
    if calibration is None:
        if env is None:
            raise ValueError("give calibration observations or an env to collect them from")
        from snnrl.integrations.sb3.evaluation import collect_observations, ensure_vec_env

        calibration = collect_observations(predictor, ensure_vec_env(env), n_calibration)
    x, _ = pre(calibration)
    if x.shape[0] < 1:
        raise ValueError("no calibration observations")
    raw = np.asarray(calibration)[:256]
    was_training = policy.training
    policy.set_training_mode(False)
    try:
        with torch.no_grad():
            obs, _ = policy.obs_to_tensor(stats(raw) if stats is not None else raw)
            ref = parts.reference(obs).float().cpu()
            mine = ann_forward(layers, x[:256].to(ref.device)).float().cpu()
    finally:
        policy.set_training_mode(was_training)
    if ref.shape != mine.shape or not torch.allclose(mine, ref, rtol=tolerance, atol=tolerance * (1 + float(
            ref.abs().max()))):
        diff = float((mine - ref).abs().max()) if ref.shape == mine.shape else f"shape {tuple(mine.shape)} vs " \
            f"{tuple(ref.shape)}"
        raise ConversionError(f"the layers read from the {parts.algo} policy do not reproduce its output (max "
                              f"difference {diff}); a custom module's forward is probably not a plain chain of "
                              f"its layers: {[type(m).__name__ for m in parts.layers]}")
    converted = convert_modules([m.cpu() for m in layers], x.cpu(), percentile=percentile, segments=segments,
                                v_init=v_init, normalization=normalization, replicas=replicas)
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
        "epsilon": float(getattr(sb3_model, "exploration_rate", 0.0) or 0.0),
        "layers": [info.as_dict() for info in converted.layers],
        "ann_layers": [repr(m) for m in parts.layers],
        "sb3_version": sb3.__version__,
    }
    if stats is not None:
        meta["obs_normalization"] = {**stats.as_dict(), "folded": folded, "source": source}
    if parts.output == "mean":
        meta.update(squash=parts.squash, noise=parts.noise)
        if parts.clip_mean is not None:
            meta["clip_mean"] = parts.clip_mean
        if parts.noise == "gaussian":
            meta["log_std"] = policy.log_std.detach().cpu().double().ravel().tolist()
    return ConvertedPolicy(converted.network, meta, seed=seed)
