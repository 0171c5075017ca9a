"""TensorBoard logging of a training run (needs the ``tensorboard`` extra).

:class:`TensorBoardCallback` writes, into one run directory (conventionally
``runs/<env>__<agent>__<seed>__<time>``):

every ``log_interval`` episodes (x axis: the episode number, 1-based)
    ``episode/return``, ``episode/length``, ``episode/shaped_return``;
    ``reward/modulator_mean`` and ``reward/modulator_abs`` (the mean reward-prediction error /
    modulator delivered per step, and its magnitude), ``reward/baseline`` (the reward
    prediction of a :class:`~snnrl.learning.MovingAverageRPE`);
    ``rates/<layer>`` (mean firing rate over the episode, Hz, every layer);
    ``weights/<connection>/norm`` (Frobenius) and ``weights/<connection>/mean`` (every
    connection with weights); ``train/steps_per_second``, ``train/total_steps``,
    ``train/epsilon`` (epsilon-greedy decoders);
every ``image_interval`` episodes
    ``weights/<connection>`` histograms; images ``images/raster`` (the spikes of every layer of
    environment 0 during the last ``raster_windows`` decision windows) and
    ``images/weights/<connection>`` (the weight matrix, or receptive fields for 2-D inputs);
whatever the callbacks record in their :class:`~snnrl.pipeline.callbacks.Logger`
    (``eval/mean_return`` of :class:`~snnrl.pipeline.EvalCallback`) at the step it is dumped at;
once
    the agent's hyperparameters (the HPARAMS tab; metric ``hparams/mean_return``, the mean
    return of the last 100 episodes, written at the end) and the agent preset as text
    (``config/agent``).

Connection names contain ``->``; tags use them as they are (``weights/X->Y/norm``).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from snnrl.analysis.images import raster_image, weight_image
from snnrl.pipeline.callbacks import Callback, EpisodeInfo

__all__ = ["TensorBoardCallback", "flatten_hparams"]


def _summary_writer() -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("TensorBoard logging needs tensorboard: pip install 'snnrl[tensorboard]'") from exc
    return SummaryWriter


def flatten_hparams(data: Mapping[str, Any], prefix: str = "") -> dict[str, bool | int | float | str]:
    """A nested document as ``{"a.b.c": value}`` with values TensorBoard's hparams accept
    (lists and other values become strings). The network spec is summarised: layer types and
    sizes, and each connection's rule with its parameters."""
    out: dict[str, bool | int | float | str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if name == "network" and isinstance(value, Mapping):
            for layer in value.get("layers", []) or []:
                params = layer.get("params", {})
                size = params.get("n", params.get("shape"))
                out[f"network.layers.{layer.get('name')}"] = f"{layer.get('type')}({size})"
            for conn in value.get("connections", []) or []:
                cname = conn.get("name") or f"{conn.get('source')}->{conn.get('target')}"
                rule = conn.get("rule")
                if isinstance(rule, Mapping):
                    out[f"network.{cname}.rule"] = str(rule.get("type"))
                    for p, v in (rule.get("params") or {}).items():
                        out[f"network.{cname}.rule.{p}"] = v if isinstance(v, (bool, int, float, str)) else str(v)
            continue
        if isinstance(value, Mapping):
            out.update(flatten_hparams(value, f"{name}."))
        elif isinstance(value, (bool, int, float, str)):
            out[name] = value
        else:
            out[name] = str(value)
    return out


class TensorBoardCallback(Callback):
    """Writes a run's scalars, histograms, images and hyperparameters (see the module docstring).

    Args:
        log_dir: the run directory.
        hparams: the agent preset's document (plain data) for the HPARAMS tab and the config text.
        log_interval: episodes between scalars (>= 1).
        image_interval: episodes between histograms and images (0: never).
        raster_windows: decision windows shown in the raster image.
    """

    def __init__(self, log_dir: str, *, hparams: Mapping[str, Any] | None = None, log_interval: int = 1,
                 image_interval: int = 50, raster_windows: int = 8) -> None:
        super().__init__()
        self.log_dir = str(log_dir)
        self.hparams = dict(hparams) if hparams is not None else None
        self.log_interval = max(1, int(log_interval))
        self.image_interval = int(image_interval)
        self.windows: deque[dict[str, torch.Tensor]] = deque(maxlen=max(1, int(raster_windows)))
        self.writer: Any = None
        self._t0 = 0.0
        self._steps0 = 0

    def _init_callback(self) -> None:
        if self.writer is None:
            self.writer = _summary_writer()(self.log_dir)
        self.logger.add_output(self.write_scalar)
        self.trainer.policy.record = True  # type: ignore[union-attr]

    def write_scalar(self, key: str, value: float, step: int) -> None:
        """Write one scalar (the output this callback adds to its logger)."""
        if self.writer is not None:
            self.writer.add_scalar(key, value, step)

    def _on_training_start(self) -> None:
        self._t0 = time.perf_counter()
        self._steps0 = self.trainer.total_steps  # type: ignore[union-attr]
        if self.hparams is not None and self.trainer.episodes_done == 0:  # type: ignore[union-attr]
            self._write_hparams()

    def _write_hparams(self) -> None:
        from torch.utils.tensorboard.summary import hparams

        import snnrl.toml as toml

        flat = flatten_hparams(self.hparams)  # type: ignore[arg-type]
        exp, ssi, sei = hparams(flat, {"hparams/mean_return": float("nan")})
        fw = self.writer._get_file_writer()
        for s in (exp, ssi, sei):
            fw.add_summary(s)
        try:
            text = toml.dumps(self.hparams)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            text = repr(self.hparams)
        self.writer.add_text("config/agent", "```toml\n" + text + "\n```", 0)

    def _on_step(self) -> bool:
        policy = self.trainer.policy  # type: ignore[union-attr]
        if self.image_interval and policy.last_input is not None:
            window = {policy.input_layer: policy.last_input[:, 0].reshape(policy.last_input.shape[0], -1).clone()}
            for name, s in policy.last_spikes.items():
                window[name] = s[:, 0].reshape(s.shape[0], -1).clone()
            self.windows.append(window)
        return True

    def _on_episode_end(self, episode: EpisodeInfo) -> bool:
        if not episode.training:
            return True
        step = episode.index + 1
        w = self.writer
        if step % self.log_interval == 0:
            w.add_scalar("episode/return", episode.ret, step)
            w.add_scalar("episode/length", episode.length, step)
            w.add_scalar("episode/shaped_return", episode.shaped_return, step)
            w.add_scalar("reward/modulator_mean", episode.modulator_mean, step)
            w.add_scalar("reward/modulator_abs", episode.modulator_abs, step)
            baseline = getattr(self.trainer.reward_signal, "baseline", None)  # type: ignore[union-attr]
            if isinstance(baseline, torch.Tensor):
                w.add_scalar("reward/baseline", float(baseline.float().mean()), step)
            for name, rate in episode.rates.items():
                w.add_scalar(f"rates/{name}", rate, step)
            for name, conn in self._weighted():
                weight = conn.weight.detach().float()
                w.add_scalar(f"weights/{name}/norm", float(weight.norm()), step)
                w.add_scalar(f"weights/{name}/mean", float(weight.mean()), step)
            elapsed = max(time.perf_counter() - self._t0, 1e-9)
            w.add_scalar("train/steps_per_second", (self.trainer.total_steps - self._steps0) / elapsed, step)
            w.add_scalar("train/total_steps", self.trainer.total_steps, step)
            eps = getattr(self.trainer.policy.decoder, "current_epsilon", None)
            if eps is not None:
                w.add_scalar("train/epsilon", float(eps), step)
        if self.image_interval and step % self.image_interval == 0:
            self._images(step)
        self.logger.dump(step)
        return True

    def _weighted(self) -> list[tuple[str, Any]]:
        net = self.trainer.policy.network  # type: ignore[union-attr]
        return [(n, c) for n, c in net.connections.items() if isinstance(getattr(c, "weight", None), torch.Tensor)]

    def _images(self, step: int) -> None:
        w = self.writer
        net = self.trainer.policy.network  # type: ignore[union-attr]
        for name, conn in self._weighted():
            w.add_histogram(f"weights/{name}", conn.weight.detach().float().cpu(), step)
            img = weight_image(conn.weight, net.layers[net.endpoints[name][0]].shape)
            w.add_image(f"images/weights/{name}", img[None], step, dataformats="CHW")
        if self.windows:
            names = list(self.windows[-1])
            spikes = {n: torch.cat([win[n] for win in self.windows if n in win]) for n in names}
            w.add_image("images/raster", raster_image(spikes), step, dataformats="HWC")

    def _on_training_end(self) -> None:
        if self.writer is None:
            return
        returns = self.trainer.returns  # type: ignore[union-attr]
        if returns:
            self.writer.add_scalar("hparams/mean_return", float(np.mean(returns[-100:])), len(returns))
        self.logger.dump(self.trainer.episodes_done)  # type: ignore[union-attr]
        self.writer.flush()

    def close(self) -> None:
        """Close the event file (values recorded but not dumped since are dropped)."""
        self.logger.remove_output(self.write_scalar)
        if self.writer is not None:
            self.writer.close()
            self.writer = None
