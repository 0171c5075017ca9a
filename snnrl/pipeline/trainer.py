r"""The episode pipeline: a spiking policy acts, the environment answers, the reward is credited.

One step of :meth:`Trainer.learn` for the batch of environments (one batch element each):

1. encode the observations ``o_t`` and run the policy's decision window of ``T`` steps with
   learning on and ``reward=0.0``: two-factor rules learn, three-factor rules (MSTDP, MSTDPET,
   R-max) only build the eligibility of the spikes that choose the action; decode ``a_t``;
2. step the environments with ``a_t``: reward ``r_t``, ``terminated``, ``truncated`` (kept apart);
3. shape the reward (:class:`RewardShaping`), turn it into the modulator ``m_t`` with the reward
   signal (raw reward, reward-prediction error against a moving average, or the TD error of
   a :class:`LinearCritic`), and deliver it once, ``network.deliver_reward(m_t)``: the weight
   change is ``m_t`` times the eligibility built while choosing ``a_t``, **before** the window
   on ``o_{t+1}`` runs (BindsNET applied ``r_t`` during the next observation's window instead);
4. at an episode's end, the reward signal closes the episode (``end_episode(mask)``) and the
   network state of that environment (voltages, traces, eligibility) is reset; the environment
   is reset with the next episode's seed.

Episode ``k`` (counted over the whole run, in the order episodes start) is reset with seed
``derive_seed(seed, 0, k)``, so a run is a function of its seed, and a run killed after a
checkpoint and resumed (:meth:`Trainer.load_checkpoint`) continues exactly as if it had not
been stopped (checkpoints hold the network with its rule state, the decoder's and encoder's
random states, the reward signal's and critic's state and the counters). With several
environments, episodes still running when a checkpoint is written are not in it: a resumed
run restarts them (exactness holds for ``num_envs = 1``).

Evaluation (:meth:`Trainer.evaluate`) runs the same loop without learning, deterministically
by default, on its own seed stream ``derive_seed(seed, 1, k)`` and on a copy of the policy's
random state (:func:`forked_random_state`), so it never disturbs training; :meth:`Trainer.run_random`
plays uniformly random actions on the training seeds (the random baseline of a learning curve).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from snnrl import _checks as checks
from snnrl._tensors import as_dtype
from snnrl.learning.base import REDUCTIONS
from snnrl.learning.feedback import Feedback
from snnrl.learning.rewards import RewardSignal, TDError
from snnrl.pipeline.build import derive_seed
from snnrl.pipeline.callbacks import Callback, CallbackList, EpisodeInfo
from snnrl.pipeline.critic import Critic
from snnrl.pipeline.envs import make_driver
from snnrl.pipeline.schedule import LearningRateSchedule
from snnrl.policy.decoders import action_readout
from snnrl.policy.policy import SpikingPolicy, load_policy

__all__ = ["EVAL_STREAM", "TRAIN_STREAM", "LinearCritic", "RewardShaping", "Trainer", "forked_random_state",
           "policy_generators", "summarize"]

_TRAINING_KEY = "snnrl_training"
TRAIN_STREAM, EVAL_STREAM = 0, 1


@dataclasses.dataclass(frozen=True)
class RewardShaping:
    r"""What the environment's reward becomes before the reward signal sees it.

    .. math:: \tilde r = \text{scale}\cdot \text{clip}(\text{sign}(r)) + \text{step\_bonus}
              + \text{terminal}\cdot[\text{terminated}] + \text{life\_loss}\cdot[\text{a life was lost}]
              - \text{entropy}\cdot\log\pi(a|s)

    (``sign``: replace ``r`` by its sign, as Atari agents do; ``clip > 0``: clip to
    ``[-clip, clip]``; ``terminal`` is added on termination only, not on truncation by a time
    limit; ``life_loss`` when the environment's ``info["lives"]`` went down, Atari's lost
    lives). ``entropy``: the policy's ``-log pi(a|s)`` of the action taken, passed by the
    trainer, times ``entropy`` (an entropy bonus: in expectation a policy-gradient actor then
    also climbs ``entropy`` times the policy's entropy, which keeps it from collapsing onto one
    action). Returns reported in logs are always the environment's own.
    """

    scale: float = 1.0
    step_bonus: float = 0.0
    terminal: float = 0.0
    clip: float = 0.0
    sign: bool = False
    life_loss: float = 0.0
    entropy: float = 0.0

    def __post_init__(self) -> None:
        for name in ("scale", "step_bonus", "terminal", "life_loss"):
            object.__setattr__(self, name, checks.finite(name, getattr(self, name)))
        object.__setattr__(self, "clip", checks.positive("clip", self.clip, strict=False))
        object.__setattr__(self, "entropy", checks.positive("entropy", self.entropy, strict=False))
        object.__setattr__(self, "sign", checks.boolean("sign", self.sign))

    def __call__(self, reward: np.ndarray, terminated: np.ndarray, life_lost: np.ndarray | None = None,
                 neg_log_prob: np.ndarray | None = None) -> np.ndarray:
        """The shaped reward per environment. Shape: every argument ``(B,)`` -> ``(B,)``."""
        r = np.sign(reward) if self.sign else np.asarray(reward, dtype=np.float64)
        if self.clip > 0:
            r = np.clip(r, -self.clip, self.clip)
        out = self.scale * r + self.step_bonus + self.terminal * terminated.astype(np.float64)
        if self.life_loss and life_lost is not None:
            out = out + self.life_loss * life_lost.astype(np.float64)
        if self.entropy:
            if neg_log_prob is None:
                raise ValueError("an entropy bonus needs the policy's -log pi(a|s) of each action taken")
            out = out + self.entropy * np.asarray(neg_log_prob, dtype=np.float64)
        return out

    @classmethod
    def from_table(cls, table: Mapping[str, Any] | Any) -> RewardShaping:
        """From an agent preset's ``[reward]`` table: a mapping or a
        :class:`~snnrl.pipeline.agent.RewardConfig` (its ``signal`` is the reward signal's, not
        shaping). Any other key that is not a field here is an error that names it."""
        values: Mapping[str, Any] = table
        if dataclasses.is_dataclass(table) and not isinstance(table, type):
            values = {f.name: getattr(table, f.name) for f in dataclasses.fields(table)}
        names = [f.name for f in dataclasses.fields(cls)]
        for key in values:
            if key not in names and key != "signal":
                raise ValueError(f"unknown key 'reward.{key}' of the reward shaping; valid keys: {['signal', *names]}")
        return cls(**{name: values[name] for name in names if name in values})


class LinearCritic:
    r"""A linear value estimate on the input spike counts, trained by TD(λ) (no backpropagation).

    Features are the input layer's spikes of the decision window counted per neuron and
    divided by ``T`` (``φ ∈ [0, 1]^n``), or with ``reads="rates"`` the spike encoder's
    noise-free intensities of the same observation (the trainer passes them as a one-step window);
    ``V(s) = w·φ + b``. After each step, with the TD error
    ``δ`` of :class:`~snnrl.learning.TDError` (discount ``gamma``) and an accumulating trace
    ``e ← gamma λ e + φ / max(1, |φ|_1)`` (normalised by the number of active features, as in tile
    coding): ``w ← w + lr δ e``, ``b ← b + bias_lr δ``, averaged over the batch (``reduction="mean"``) or
    summed (``"sum"``: each environment's step counts in full, as with one environment). The
    traces are per environment and cleared at episode ends (:meth:`reset`); ``λ = 0`` is TD(0).

    Args:
        n_features: input neurons.
        lr: learning rate.
        init: initial value (the bias ``b``).
        trace: ``λ`` in ``[0, 1]``.
        gamma: the discount of the traces (the trainer sets it to the TD error's).
        reads: ``"spikes"`` or ``"rates"`` (see above).
        bias_lr: learning rate of ``b`` (None: ``lr``; 0: ``b`` stays ``init``).
        reduction: ``"mean"`` or ``"sum"`` over the batch (the same with one environment).
    """

    READS = ("spikes", "rates")
    REDUCTIONS = REDUCTIONS  # the learning rules' choices

    def __init__(self, n_features: int, lr: float = 0.01, init: float = 0.0, trace: float = 0.0,
                 gamma: float = 0.99, reads: str = "spikes", bias_lr: float | None = None,
                 reduction: str = "mean") -> None:
        if reads not in self.READS:
            raise ValueError(f"reads must be one of {self.READS}, got {reads!r}")
        if reduction not in self.REDUCTIONS:
            raise ValueError(f"reduction must be one of {self.REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction
        self.reads = reads
        self.w = torch.zeros(checks.integer("n_features", n_features, 1))
        self.b = torch.tensor(checks.finite("init", init))
        self.lr = checks.finite("lr", lr)
        self.bias_lr = self.lr if bias_lr is None else checks.finite("bias_lr", bias_lr)
        self.trace = checks.in_range("trace (lambda)", trace, 0, 1)
        self.gamma = checks.in_range("gamma", gamma, 0, 1)
        self.e: Tensor | None = None
        self._phi = torch.zeros(0)

    def reset(self, mask: Tensor | None = None) -> None:
        """Clear the traces of all environments, or of those where ``mask`` ``(B,)`` is True."""
        if self.e is not None:
            if mask is None:
                self.e.zero_()
            else:
                self.e[mask.cpu()] = 0.0

    def features(self, x: Tensor) -> Tensor:
        """``(T, B, *input shape)`` spikes -> ``(B, n)`` features."""
        return as_dtype(x.reshape(x.shape[0], x.shape[1], -1), torch.float32).mean(0).cpu()

    def value(self, phi: Tensor) -> Tensor:
        """``(B, n)`` -> ``(B,)``."""
        return phi @ self.w + self.b

    def update(self, phi: Tensor, delta: Tensor) -> None:
        """TD(λ) step for features ``phi`` ``(B, n)`` of ``s_t`` and errors ``delta`` ``(B,)``."""
        step = phi / phi.sum(1, keepdim=True).clamp(min=1.0)
        if self.trace > 0:
            if self.e is None or self.e.shape != phi.shape:
                self.e = torch.zeros_like(phi)
            self.e.mul_(self.gamma * self.trace).add_(step)
            step = self.e
        if self.reduction == "mean":
            self.w += self.lr * (delta.unsqueeze(1) * step).mean(0)
            self.b += self.bias_lr * delta.mean()
        else:
            self.w += self.lr * (delta.unsqueeze(1) * step).sum(0)
            self.b += self.bias_lr * delta.sum()

    # -- the trainer's Critic protocol (snnrl.pipeline.critic.Critic)
    def observe(self, x: Tensor) -> Tensor:
        """``V(s_t)`` for the window input ``x``; keeps its features for :meth:`learn`."""
        self._phi = self.features(x)
        return self.value(self._phi)

    def evaluate(self, x: Tensor) -> Tensor:
        """``V(s)`` for the window input ``x``."""
        return self.value(self.features(x))

    def learn(self, delta: Tensor) -> None:
        """:meth:`update` with the features of the last :meth:`observe`."""
        self.update(self._phi, delta)

    def state(self) -> dict[str, Any]:
        return {"w": self.w.tolist(), "b": float(self.b), "lr": self.lr}

    def load_state(self, state: Mapping[str, Any]) -> None:
        w = torch.tensor(state["w"], dtype=torch.float32)
        if w.shape != self.w.shape:
            raise ValueError(f"critic weights have shape {tuple(w.shape)}, expected {tuple(self.w.shape)}")
        self.w = w
        self.b = torch.tensor(float(state["b"]), dtype=torch.float32)


def _buffers_to_data(module: torch.nn.Module) -> dict[str, Any]:
    return {name: {"shape": list(buf.shape), "values": buf.detach().cpu().reshape(-1).tolist()}
            for name, buf in module.named_buffers()}


def _buffers_from_data(module: torch.nn.Module, data: Mapping[str, Any]) -> None:
    for name, item in data.items():
        if name not in module._buffers:
            raise ValueError(f"the reward signal has no buffer {name!r}")
        old = module._buffers[name]
        module._buffers[name] = torch.tensor(item["values"], dtype=old.dtype).reshape(item["shape"]).to(old.device)


class _Run:
    """Per-environment accumulators of one :meth:`Trainer._run`."""

    def __init__(self, n: int, episodes: int, learn: bool, count: bool, seed: int, stream: int, first: int,
                 random: np.random.Generator | None = None) -> None:
        self.n, self.episodes, self.learn, self.count = n, episodes, learn, count
        self.random = random
        self.seed, self.stream, self.first = seed, stream, first
        self.started = 0
        self.seeds: list[int | None] = [None] * n
        self.ep_seed: list[int | None] = [None] * n
        self.active = np.zeros(n, dtype=bool)
        self.reset_mask = np.zeros(n, dtype=bool)
        self.ep_ret = np.zeros(n)
        self.ep_shaped = np.zeros(n)
        self.ep_len = np.zeros(n, dtype=np.int64)
        self.ep_mod = np.zeros(n)
        self.ep_mod_abs = np.zeros(n)
        self.rate_sums: dict[str, Tensor] = {}
        self.finished: list[EpisodeInfo] = []
        self.critic_x: Tensor | None = None  # the critic's view of the current observations

    def clear(self, i: int) -> None:
        """Start environment ``i``'s next episode from zero."""
        self.ep_ret[i] = self.ep_shaped[i] = self.ep_mod[i] = self.ep_mod_abs[i] = 0.0
        self.ep_len[i] = 0
        for v in self.rate_sums.values():
            v[i] = 0.0


class Trainer:
    """Trains (and evaluates) a spiking policy on episodes; see the module docstring.

    Args:
        policy: the :class:`~snnrl.policy.SpikingPolicy`.
        envs: a ``gymnasium.Env``, a list of them (one batch element each) or a
            ``gymnasium.vector.VectorEnv``; their spaces must be the policy's.
        reward_signal: turns shaped rewards into modulators (default
            :class:`~snnrl.learning.RawReward`).
        shaping: reward scaling/shaping (default: none).
        critic: a value estimate (:class:`LinearCritic` or
            :class:`~snnrl.pipeline.critic.SpikingCritic`: the :class:`~snnrl.pipeline.critic.Critic`
            protocol); required by (and only used with) a :class:`~snnrl.learning.TDError` signal.
        feedback: neuron-specific learning signals (:class:`~snnrl.learning.Feedback`): each
            delivery also carries ``{layer: L}`` built from the decoder's action error of the
            decision (reward-based e-prop); None: the modulator alone.
        seed: seeds the episodes (``derive_seed(seed, 0, k)`` for episode ``k``).
        max_episode_steps: truncate episodes longer than this (0: no limit).
        agent: the agent preset's document (plain data), stored in checkpoints.
        lr_schedule: a :class:`~snnrl.pipeline.schedule.LearningRateSchedule`: the modulator
            delivered to the network during training episode ``k`` is multiplied by
            ``lr_schedule(k)`` (the actor's learning rate; the critic and the logged modulator
            are not scaled). None: a constant factor of 1.
    """

    def __init__(
        self,
        policy: SpikingPolicy,
        envs: Any,
        *,
        reward_signal: RewardSignal | None = None,
        shaping: RewardShaping | None = None,
        critic: Critic | None = None,
        feedback: Feedback | None = None,
        seed: int = 0,
        max_episode_steps: int = 0,
        agent: Mapping[str, Any] | None = None,
        lr_schedule: LearningRateSchedule | None = None,
    ) -> None:
        from snnrl.learning import RawReward

        if not isinstance(policy, SpikingPolicy):
            raise TypeError(f"policy must be a SpikingPolicy, got {type(policy).__name__}")
        self.policy = policy
        self.driver = make_driver(envs)
        # environments in worker processes: prepare the reward delivery while they step
        self._overlap = callable(getattr(self.driver, "step_async", None))
        for what, ours, theirs in (("observation", self.driver.observation_space, policy.observation_space),
                                   ("action", self.driver.action_space, policy.action_space)):
            if tuple(getattr(ours, "shape", ()) or ()) != tuple(getattr(theirs, "shape", ()) or ()) or \
                    getattr(ours, "n", None) != getattr(theirs, "n", None):
                raise ValueError(f"the environments' {what} space {ours} is not the policy's {theirs}")
        self.reward_signal = reward_signal if reward_signal is not None else RawReward()
        if not isinstance(self.reward_signal, RewardSignal):
            raise TypeError(f"reward_signal must be a RewardSignal, got {type(self.reward_signal).__name__}")
        self.shaping = shaping if shaping is not None else RewardShaping()
        if isinstance(self.reward_signal, TDError) and critic is None:
            raise ValueError("a TDError reward signal needs a value estimate: pass critic=LinearCritic(...)")
        if critic is not None and not isinstance(self.reward_signal, TDError):
            raise ValueError("a critic is only used with a TDError reward signal")
        self.critic = critic
        if feedback is not None and not isinstance(feedback, Feedback):
            raise TypeError(f"feedback must be a Feedback, got {type(feedback).__name__}")
        if feedback is not None and feedback.network is not policy.network:
            raise ValueError("feedback must be built on the policy's network")
        self._readout = action_readout(policy.decoder)
        if self.shaping.entropy and self._readout is None:
            raise ValueError(f"an entropy bonus (reward.entropy) needs a decoder of a Discrete action space; "
                             f"{type(policy.decoder).__name__} has none")
        if feedback is not None and self._readout is None:
            raise ValueError(f"feedback needs a decoder of a Discrete action space (it feeds back the action error); "
                             f"{type(policy.decoder).__name__} has none")
        self.feedback = feedback
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be an int >= 0, got {seed!r}")
        self.seed = seed
        self.max_episode_steps = int(max_episode_steps)
        self.agent = dict(agent) if agent is not None else None
        if lr_schedule is not None and not isinstance(lr_schedule, LearningRateSchedule):
            raise TypeError(f"lr_schedule must be a LearningRateSchedule, got {type(lr_schedule).__name__}")
        self.lr_schedule = lr_schedule
        self.episodes_done = 0
        self.total_steps = 0
        self.returns: list[float] = []
        self.lengths: list[int] = []
        self.last_episode: EpisodeInfo | None = None
        self.training = False
        self.metadata: dict[str, Any] = {}
        """Extra plain data saved with checkpoints (e.g. the run directory's name)."""

    @property
    def n_envs(self) -> int:
        """Number of environments (the batch size)."""
        return self.driver.n

    # ------------------------------------------------------------------ public
    def learn(self, episodes: int, callback: Callback | Sequence[Callback] | None = None) -> Trainer:
        """Train until ``episodes`` episodes are done in total (resumed ones included).

        Stops early when a callback returns False. Returns ``self``.
        """
        if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 0:
            raise ValueError(f"episodes must be an int >= 0, got {episodes!r}")
        cb = self._callback(callback)
        self.training = True
        cb.on_training_start()
        try:
            if self.episodes_done < episodes:
                self._run(episodes - self.episodes_done, learn=True, deterministic=False, stream=TRAIN_STREAM,
                          first_episode=self.episodes_done, callback=cb)
        finally:
            self.training = False
            cb.on_training_end()
        return self

    def evaluate(self, episodes: int, *, deterministic: bool = True, seed: int | None = None,
                 callback: Callback | Sequence[Callback] | None = None) -> tuple[list[float], list[int]]:
        """Play ``episodes`` (>= 1) episodes without learning; returns ``(returns, lengths)``.

        Episode ``k`` uses seed ``derive_seed(seed, 1, k)`` (``seed`` default: the trainer's).
        The evaluation's random draws (tie-breaking, voltage noise, stochastic decoding, an
        encoder's spikes) come from a copy of the policy's random state
        (:func:`forked_random_state`): the same state and ``seed`` give the same evaluation, and
        training goes on as if the evaluation had not happened.
        """
        episodes = checks.integer("episodes", episodes, 1)
        seed = self.seed if seed is None else checks.integer("seed", seed, 0)
        cb = self._callback(callback)
        with forked_random_state(self.policy):
            infos = self._run(episodes, learn=False, deterministic=deterministic, stream=EVAL_STREAM,
                              first_episode=0, callback=cb, seed=seed, count=False)
        return [i.ret for i in infos], [i.length for i in infos]

    def run_random(self, episodes: int, seed: int | None = None,
                   stream: int = TRAIN_STREAM) -> tuple[list[float], list[int]]:
        """Uniformly random actions on the seeds of episodes ``0 .. episodes-1`` of the training
        stream (``stream=TRAIN_STREAM``, the random baseline of a learning curve) or of the
        evaluation stream (``EVAL_STREAM``), on every environment of the batch (single ones or a
        vector env: the same loop as training). The actions come from their own generator
        (``derive_seed(seed, 2)``); the network, the encoder and the decoder are not used, so
        their random states are untouched. Returns ``(returns, lengths)`` in the order episodes end."""
        episodes = checks.integer("episodes", episodes, 1)
        seed = self.seed if seed is None else checks.integer("seed", seed, 0)
        stream = checks.choice("stream", stream, (TRAIN_STREAM, EVAL_STREAM))
        rng = np.random.default_rng(derive_seed(seed, 2))
        infos = self._run(episodes, learn=False, deterministic=False, stream=stream, first_episode=0,
                          callback=CallbackList([]), seed=seed, count=False, random=rng)
        return [i.ret for i in infos], [i.length for i in infos]

    def _random_actions(self, rng: np.random.Generator) -> np.ndarray:
        """One uniformly random action per environment, as the environments take them."""
        space, n = self.driver.action_space, self.driver.n
        n_actions = getattr(space, "n", None)
        if n_actions is not None:
            return rng.integers(n_actions, size=n) + int(getattr(space, "start", 0))
        return np.stack([rng.uniform(space.low, space.high).astype(space.dtype) for _ in range(n)])

    # -------------------------------------------------------------- the loop
    def _callback(self, callback: Callback | Sequence[Callback] | None) -> Callback:
        if callback is None:
            cb: Callback = CallbackList([])
        elif isinstance(callback, Callback):
            cb = callback
        else:
            cb = CallbackList(callback)
        cb.init_callback(self)
        return cb

    def _episode_seed(self, seed: int, stream: int, k: int) -> int | None:
        return derive_seed(seed, stream, k) % (2**31) if self.driver.seeded else None

    def _run(self, episodes: int, *, learn: bool, deterministic: bool, stream: int, first_episode: int,
             callback: Callback, seed: int | None = None, count: bool = True,
             random: np.random.Generator | None = None) -> list[EpisodeInfo]:
        seed = self.seed if seed is None else seed
        policy, driver, n = self.policy, self.driver, self.driver.n
        net = policy.network
        if net.batch_size != n:
            net.set_batch_size(n)
        policy.reset()
        if learn:
            self.reward_signal.reset_state_variables()
            if self.critic is not None:
                self.critic.reset()
        run = _Run(n, episodes, learn, count, seed, stream, first_episode, random)
        for i in range(min(n, episodes)):
            run.seeds[i] = self._episode_seed(seed, stream, first_episode + run.started)
            run.started += 1
        run.active[: run.started] = True
        run.ep_seed = list(run.seeds)
        obs = driver.reset(np.ones(n, dtype=bool), run.seeds if driver.seeded else [seed] + [None] * (n - 1))
        x = policy.obs_to_input(obs) if random is None else torch.zeros(0)
        run.critic_x = self._critic_input(x) if learn else None
        with torch.no_grad():
            while True:
                x, stop = self._step(run, x, deterministic, callback)
                if stop or not callback.on_step() or not run.active.any():
                    break
        return run.finished

    def _step(self, run: _Run, x: Tensor, deterministic: bool, callback: Callback) -> tuple[Tensor, bool]:
        """One decision and environment step of every environment; returns the next input and
        whether a callback asked to stop."""
        policy, driver, learn = self.policy, self.driver, run.learn
        if run.random is not None:  # random play: no network, no encoding
            return self._random_step(run, x, callback)
        value = None
        if learn and self.critic is not None:
            assert run.critic_x is not None  # set with the observations whenever learning
            value = self.critic.observe(run.critic_x)
        actions = policy.decide(x, deterministic=deterministic, learn=learn)
        signals = neg_log_prob = None
        if (learn and self.feedback is not None) or self.shaping.entropy:
            out = policy.last_output
            assert out is not None and self._readout is not None  # decide() has just run; checked in __init__
            if learn and self.feedback is not None:
                signals = self.feedback.signals(self._readout.action_error(out, actions))
            if self.shaping.entropy:
                prob = self._readout.action_probability(out, actions)
                neg_log_prob = -torch.log(prob.clamp(min=1e-6)).cpu().numpy()
        if policy.record:
            self._accumulate_rates(run.rate_sums, x)
        if learn and self._overlap:  # the eligibility's bookkeeping while the workers step
            overlapped: Any = driver  # an AsyncEnvList (EnvDriver has no step_async)
            overlapped.step_async(policy.to_env_action(actions), run.active)
            try:
                policy.network.prepare_reward(signals)
            finally:
                obs2, reward, terminated, truncated, valid = overlapped.step_wait()
        else:
            obs2, reward, terminated, truncated, valid = driver.step(policy.to_env_action(actions), run.active)
        valid &= run.active
        run.ep_len += valid
        if self.max_episode_steps:
            truncated |= valid & (run.ep_len >= self.max_episode_steps) & ~terminated
        reward = np.where(valid, reward, 0.0)
        run.ep_ret += reward
        shaped = np.where(valid, self.shaping(reward, terminated, driver.life_lost, neg_log_prob), 0.0)
        run.ep_shaped += shaped
        if run.count:
            self.total_steps += int(valid.sum())
        x2 = policy.obs_to_input(obs2)
        critic_x2 = self._critic_input(x2) if learn else None
        stop = False
        if learn:
            m = self._modulator(shaped, terminated, value, critic_x2, valid)
            factor = self.lr_schedule(self.episodes_done) if self.lr_schedule is not None else 1.0
            m_net = m if factor == 1.0 else m * factor
            if signals is None:
                policy.network.deliver_reward(m_net)
            else:
                policy.network.deliver_reward(m_net, signals)
            m_np = m.cpu().numpy()
            run.ep_mod += m_np
            run.ep_mod_abs += np.abs(m_np)
            stop = not callback.on_update(m)
        invalid = run.active & ~valid
        if invalid.any():  # NEXT_STEP autoreset: a new episode began without our reset
            policy.reset(invalid)
            if learn:
                self.reward_signal.reset_state_variables(torch.as_tensor(invalid))
        done = valid & (terminated | truncated)
        if done.any():
            stop = self._end_episodes(run, done, terminated, callback) or stop
            reset_mask = run.reset_mask
            if reset_mask.any():
                x2 = policy.obs_to_input(driver.reset(reset_mask, run.seeds))
                critic_x2 = self._critic_input(x2) if learn else None
        run.critic_x = critic_x2
        return x2, stop

    def _critic_input(self, x: Tensor) -> Tensor | None:
        """What the critic reads of the observations whose network input is ``x``: ``x`` itself, or
        the encoder's noise-free intensities as a one-step window ``(1, B, n)`` (``reads="rates"``)."""
        critic = self.critic
        if critic is None:
            return None
        if critic.reads == "rates":
            return torch.as_tensor(self.driver.intensities()).unsqueeze(0)
        return x

    def _random_step(self, run: _Run, x: Tensor, callback: Callback) -> tuple[Tensor, bool]:
        """:meth:`_step` with uniformly random actions (``run.random``): no decision, no learning."""
        assert run.random is not None
        driver = self.driver
        _, reward, terminated, truncated, valid = driver.step(self._random_actions(run.random), run.active)
        valid &= run.active
        run.ep_len += valid
        if self.max_episode_steps:
            truncated |= valid & (run.ep_len >= self.max_episode_steps) & ~terminated
        run.ep_ret += np.where(valid, reward, 0.0)
        stop = False
        done = valid & (terminated | truncated)
        if done.any():
            stop = self._end_episodes(run, done, terminated, callback)
            if run.reset_mask.any():
                driver.reset(run.reset_mask, run.seeds)
        return x, stop

    def _end_episodes(self, run: _Run, done: np.ndarray, terminated: np.ndarray, callback: Callback) -> bool:
        """Close the episodes that ended (``done``); pick the environments to reset into
        ``run.reset_mask``. Returns whether a callback asked to stop."""
        mask = torch.as_tensor(done)
        if run.learn:
            self.reward_signal.end_episode(mask)
            if self.critic is not None:
                self.critic.reset(mask)
        if run.random is None:
            self.policy.reset(done)
        run.reset_mask = np.zeros(run.n, dtype=bool)
        stop = False
        for i in np.flatnonzero(done):
            length = int(run.ep_len[i])
            info = EpisodeInfo(
                index=(self.episodes_done if run.count else len(run.finished)), env=int(i), ret=float(run.ep_ret[i]),
                length=length, shaped_return=float(run.ep_shaped[i]),
                modulator_mean=float(run.ep_mod[i] / max(length, 1)),
                modulator_abs=float(run.ep_mod_abs[i] / max(length, 1)),
                terminated=bool(terminated[i]), seed=run.ep_seed[i],
                rates=self._rates(run.rate_sums, int(i), length), training=run.learn)
            run.finished.append(info)
            self.last_episode = info
            if run.count:
                self.episodes_done += 1
                self.returns.append(info.ret)
                self.lengths.append(info.length)
            if not callback.on_episode_end(info):
                stop = True
            run.clear(int(i))
            if run.started < run.episodes and not stop:
                run.seeds[i] = run.ep_seed[i] = self._episode_seed(run.seed, run.stream, run.first + run.started)
                run.started += 1
                run.reset_mask[i] = True
            else:
                run.active[i] = False
                if self.driver.steps_all:  # a VectorEnv steps every env: reset it anyway
                    run.seeds[i] = None
                    run.reset_mask[i] = True
        return stop

    def _modulator(self, shaped: np.ndarray, terminated: np.ndarray, value: Tensor | None, x2: Tensor | None,
                   valid: np.ndarray) -> Tensor:
        """The modulator of this step, one value per environment ``(B,)`` (zero where the step was
        not valid); the network turns a one-environment batch into a number once."""
        signal, critic = self.reward_signal, self.critic
        if critic is None or value is None or x2 is None:
            r = torch.as_tensor(shaped, dtype=torch.float32)
            return torch.as_tensor(signal.step(r), dtype=torch.float32) * torch.as_tensor(valid, dtype=torch.float32)
        # the TD error in double precision (as Python floats were): runs stay bit-identical to before
        r64 = torch.as_tensor(shaped, dtype=torch.float64)
        v2 = critic.evaluate(x2)
        delta = torch.as_tensor(signal.step(r64, value=value.double(), next_value=v2.double(),
                                            terminated=torch.as_tensor(terminated)), dtype=torch.float64)
        delta = delta * torch.as_tensor(valid, dtype=torch.float64)
        critic.learn(delta.float())
        return delta

    def _accumulate_rates(self, sums: dict[str, Tensor], x: Tensor) -> None:
        policy = self.policy
        n = x.shape[1]
        items = [(policy.input_layer, x), *policy.last_spikes.items()]
        for name, s in items:
            counts = as_dtype(s.reshape(s.shape[0], n, -1), torch.float32).sum((0, 2)).cpu()
            if name not in sums:
                sums[name] = torch.zeros(n)
            sums[name] += counts

    def _rates(self, sums: dict[str, Tensor], i: int, length: int) -> dict[str, float]:
        if not sums or length == 0:
            return {}
        net, steps, dt = self.policy.network, self.policy.steps, self.policy.network.dt
        return {name: float(v[i]) * 1000.0 / (length * steps * dt * net.layers[name].n) for name, v in sums.items()}

    # ------------------------------------------------------------ checkpoints
    def training_state(self) -> dict[str, Any]:
        """The trainer's state as plain data (what a checkpoint holds besides the policy)."""
        from snnrl.network.spec import component_to_spec

        return {
            "format": 1,
            "seed": self.seed,
            "episodes_done": self.episodes_done,
            "total_steps": self.total_steps,
            "returns": list(self.returns),
            "lengths": list(self.lengths),
            "max_episode_steps": self.max_episode_steps,
            "shaping": dataclasses.asdict(self.shaping),
            "reward_signal": {"spec": component_to_spec(self.reward_signal, "reward"),
                              "buffers": _buffers_to_data(self.reward_signal)},
            "critic": self.critic.state() if self.critic is not None else None,
            "metadata": dict(self.metadata),
        }

    def save_checkpoint(self, path: str | os.PathLike[str]) -> None:
        """Write the policy and the training state to ``path`` (atomically)."""
        meta: dict[str, Any] = {_TRAINING_KEY: self.training_state()}
        if self.agent is not None:
            meta["agent"] = self.agent
        os.makedirs(os.path.dirname(os.path.abspath(os.fspath(path))), exist_ok=True)
        self.policy.save(path, meta)

    def load_checkpoint(self, path: str | os.PathLike[str]) -> dict[str, Any]:
        """Continue from a checkpoint written by :meth:`save_checkpoint`: the policy (network,
        rule state, decoder and encoder random state) is replaced by the saved one and the
        counters, returns, reward signal and critic are restored. Returns its metadata."""
        policy, meta = load_policy(path, self.policy.device)
        state = meta.get(_TRAINING_KEY)
        if not isinstance(state, Mapping):
            raise ValueError(f"{os.fspath(path)} is a policy checkpoint without training state; it cannot be resumed")
        if state.get("format") != 1:
            raise ValueError(f"{os.fspath(path)}: unknown training-state format {state.get('format')!r}")
        _carry_ties(self.policy.network, policy.network)
        self.policy = policy
        self._readout = action_readout(policy.decoder)
        if self.feedback is not None:  # its symmetric mode reads the current weights
            self.feedback.network = policy.network
        self.seed = int(state["seed"])
        self.episodes_done = int(state["episodes_done"])
        self.total_steps = int(state["total_steps"])
        self.returns = [float(r) for r in state["returns"]]
        self.lengths = [int(n) for n in state["lengths"]]
        _buffers_from_data(self.reward_signal, state["reward_signal"]["buffers"])
        if self.critic is not None and state.get("critic") is not None:
            self.critic.load_state(state["critic"])
        self.metadata = dict(state.get("metadata", {}))
        return meta

    def close(self) -> None:
        """Close the environments."""
        self.driver.close()


def _carry_ties(old: Any, new: Any) -> None:
    """Give ``new``'s connections the weight ties (``set_tie``) of ``old``'s connections of the
    same name: ties come from the agent preset, not from the checkpoint."""
    for name, conn in old.connections.items():
        tie = conn.tie
        if tie is not None and name in new.connections:
            new.connections[name].set_tie(tie.view(conn.weight.shape))


def policy_generators(policy: SpikingPolicy) -> list[torch.Generator]:
    """Every ``torch.Generator`` a policy draws from, in a fixed order, each once: its voltage
    noise's, its encoder's, its decoder's (and an inner decoder's), and those of the network's
    components (stochastic transmission, stochastic neurons)."""
    objects: list[Any] = [policy, policy.encoder]
    decoder: Any = policy.decoder
    while decoder is not None and all(decoder is not o for o in objects):  # EpsilonGreedy wraps a decoder
        objects.append(decoder)
        decoder = getattr(decoder, "decoder", None)
    objects.extend(policy.network.modules())
    found: dict[int, torch.Generator] = {}
    for obj in objects:
        for value in getattr(obj, "__dict__", {}).values():
            if isinstance(value, torch.Generator):
                found.setdefault(id(value), value)
    return list(found.values())


@contextlib.contextmanager
def forked_random_state(policy: SpikingPolicy) -> Iterator[None]:
    """Run the block on a copy of the policy's random state, then put the original back.

    Inside the block every generator of :func:`policy_generators` (and torch's global CPU
    generator, which components without one draw from) goes on from its current state; afterwards
    each is back in the state it had before, whatever the block drew. An evaluation between two
    training episodes thus neither advances nor disturbs the training's random streams: a run
    with periodic evaluations trains exactly as one without, resumes exactly from any of its
    checkpoints, and two evaluations from the same state with the same seed are identical.
    """
    generators = policy_generators(policy)
    saved = [g.get_state() for g in generators]
    try:
        with torch.random.fork_rng(devices=[]):
            yield
    finally:
        for g, state in zip(generators, saved, strict=True):
            g.set_state(state)


def summarize(values: Sequence[float]) -> dict[str, float]:
    """Mean, standard deviation, min and max (NaN when empty)."""
    if not values:
        nan = math.nan
        return {"mean": nan, "std": nan, "min": nan, "max": nan, "n": 0}
    a = np.asarray(values, dtype=np.float64)
    return {"mean": float(a.mean()), "std": float(a.std()), "min": float(a.min()), "max": float(a.max()),
            "n": int(a.size)}

