"""Training and evaluation loops for the Diehl & Cook models (unsupervised and supervised).

Protocol (:class:`Protocol`): every image is Poisson-encoded (pixel / 255 x ``max_rate`` Hz)
for ``time`` ms and presented from the resting state (the paper's rest between images is
replaced by a reset; ``rest`` simulates it anyway). Before each presentation the input
weights are normalised (the paper normalises before each example; BindsNET after each run).
With ``retry_below`` > 0 (the paper: 5) an image that makes fewer excitatory spikes is shown
again with ``max_rate`` raised by ``retry_increase`` Hz (the paper: 32 Hz), learning on all
the while, as in the paper's code, up to ``max_retries`` times.

Evaluation (:func:`evaluate`), as in the paper: after training, learning is switched off, the
training images are presented again to assign labels to the neurons, and the test images are
classified by every readout of :mod:`snnrl.vision.evaluation` (all-activity, proportion
weighting, n-gram, logistic regression on spike counts). Nothing about the test images is used
to assign labels or fit readouts.

Supervised training (``Protocol(supervised=True)``) lets only the label's neurons fire
(``supervision="group"``) or forces some of them to spike (``"clamp"``, BindsNET's way), and is
followed by :meth:`Trainer.calibrate`, a label-free pass with the weights frozen that balances
the thresholds across classes (the ``snnrl mnist`` command does this by default).

Randomness: the order of each epoch comes from ``seed`` and the epoch, and every image's
spikes from ``seed``, the epoch and the image's position, so a run resumed from a checkpoint
continues exactly as the uninterrupted run would have.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from snnrl.vision.datasets import ImageDataset, poisson_spikes
from snnrl.vision.evaluation import (
    LogisticReadout,
    accuracy,
    all_activity,
    assign_labels,
    ngram_predict,
    ngram_scores,
    proportion_weighting,
)
from snnrl.vision.models import Activity, DiehlCook, DiehlCookConfig, NetworkModel

__all__ = [
    "PROTOCOLS",
    "EvalResult",
    "Protocol",
    "Trainer",
    "TrainState",
    "collect_activity",
    "evaluate",
    "load_checkpoint",
    "save_checkpoint",
]

_MIX = 1_000_003


@dataclass(frozen=True)
class Protocol:
    """How images are presented (time in ms, rates in Hz).

    Attributes:
        time: presentation time per image.
        rest: simulated silence after each image (0: the state is reset instead).
        max_rate: rate of a full-intensity pixel (the paper: 63.75 Hz; BindsNET: 128 Hz).
        retry_below: show an image again when it drew fewer excitatory spikes (0: never).
        retry_increase: how much ``max_rate`` rises per retry.
        max_retries: at most this many retries per image.
        batch_size: images presented side by side while training (> 1: mini-batch STDP, see
            :mod:`snnrl.fused`).
        test_batch_size: images side by side without learning (exact).
        supervised: use the labels while training (see :class:`Trainer`).
        supervision: ``"group"`` (only the neurons of the label's group may fire: a large
            negative drive silences the others) or ``"clamp"`` (BindsNET: ``n_clamp`` neurons
            of the group are forced to spike).
        n_clamp: clamped neurons per image.
        clamp_choice: ``"random"`` (BindsNET: a random neuron of the label's group) or
            ``"best"`` (the neuron of the group whose weights match the image best).
        clamp_rate: rate of the forced spikes (None: every step, as BindsNET).
        nu_decay: the STDP rates are multiplied by this after every epoch (1: constant).
    """

    time: float = 250.0
    rest: float = 0.0
    max_rate: float = 128.0
    retry_below: int = 0
    retry_increase: float = 32.0
    max_retries: int = 10
    batch_size: int = 1
    test_batch_size: int = 500
    supervised: bool = False
    supervision: str = "group"
    n_clamp: int = 1
    clamp_choice: str = "random"
    clamp_rate: float | None = None
    nu_decay: float = 1.0

    def __post_init__(self) -> None:
        if not self.time > 0 or self.rest < 0 or not self.max_rate > 0:
            raise ValueError("time and max_rate must be > 0 and rest >= 0")
        if self.batch_size < 1 or self.test_batch_size < 1:
            raise ValueError("batch sizes must be >= 1")
        if self.supervision not in ("group", "clamp"):
            raise ValueError(f"supervision must be 'group' or 'clamp', got {self.supervision!r}")
        if self.clamp_choice not in ("random", "best"):
            raise ValueError(f"clamp_choice must be 'random' or 'best', got {self.clamp_choice!r}")
        if not 0 < self.nu_decay <= 1:
            raise ValueError(f"nu_decay must be in (0, 1], got {self.nu_decay!r}")
        if self.retry_below < 0 or self.max_retries < 0:
            raise ValueError("retry_below and max_retries must be >= 0")

    def replace(self, **changes: Any) -> Protocol:
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ValueError(f"unknown Protocol fields: {sorted(unknown)}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


#: Protocols: BindsNET's ``eth_mnist.py`` defaults (250 ms, 128 Hz), the paper's (350 ms,
#: 63.75 Hz, retry below 5 spikes), and ours (250 ms, 64 Hz).
PROTOCOLS = {
    "bindsnet": Protocol(),
    "paper": Protocol(time=350.0, max_rate=63.75, retry_below=5, retry_increase=31.875),
    "tuned": Protocol(max_rate=64.0),
}


@dataclass
class TrainState:
    """Progress of a training run (stored in checkpoints)."""

    epoch: int = 0
    position: int = 0  # images of the current epoch already used
    images_seen: int = 0
    presentations: int = 0  # including retries
    seconds: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)


def _generator(seed: int, *parts: int) -> torch.Generator:
    s = seed
    for p in parts:
        s = (s * _MIX + p + 1) % (2**62)
    return torch.Generator().manual_seed(s)


def _order(n: int, seed: int, epoch: int) -> Tensor:
    return torch.randperm(n, generator=_generator(seed, 7, epoch))


class Trainer:
    """Trains a :class:`DiehlCook` on a data set (unsupervised, or supervised by clamping).

    Args:
        model: the network.
        train: training images.
        protocol: presentation protocol.
        seed: randomness (order, spikes, one-spike choices).
        update_interval: images per running-accuracy window: the assignments made from one
            window's activity classify the next window (BindsNET's training printout).
        log: called with progress lines (None: silent).
        tensorboard: a ``torch.utils.tensorboard.SummaryWriter``-like object, or None.

    Supervised (``protocol.supervised``): neuron ``j`` belongs to class ``j // (N // 10)``.
    While training, either only the label's group may fire (``supervision="group"``: the group's
    neurons compete through the usual inhibition and adaptive thresholds, so each class learns
    ``N // 10`` prototypes of its own), or ``n_clamp`` neurons of the group are forced to spike
    (``"clamp"``, BindsNET's ``supervised_mnist.py``). Testing never uses the labels. Running
    training accuracy is not reported for supervised runs: with the teacher on it is trivially
    high (BindsNET's printouts of 93-96 % against about 10 % on the test set).
    """

    def __init__(self, model: DiehlCook, train: ImageDataset, protocol: Protocol, *, seed: int = 0,
                 update_interval: int = 250, log: Callable[[str], None] | None = print,
                 tensorboard: Any = None, state: TrainState | None = None) -> None:
        self.model = model
        self.train = train
        self.protocol = protocol
        self.seed = int(seed)
        self.update_interval = int(update_interval)
        self.log = log
        self.tb = tensorboard
        self.state = state or TrainState()
        self._window_counts: list[Tensor] = []
        self._window_labels: list[Tensor] = []
        self._assign: Tensor | None = None
        self._base_config = model.config
        n = model.n_neurons
        if protocol.supervised and n < train.n_classes:
            raise ValueError(f"supervised training needs at least {train.n_classes} neurons, got {n}")

    # ------------------------------------------------------------------ one batch
    def _clamp(self, images: Tensor, labels: Tensor, g: torch.Generator) -> Tensor:
        p = self.protocol
        n = self.model.n_neurons
        per_class = n // self.train.n_classes
        k = min(p.n_clamp, per_class)
        clamp = torch.zeros(labels.shape[0], n, dtype=torch.bool)
        for b in range(labels.shape[0]):
            base = int(labels[b]) * per_class
            if p.clamp_choice == "random":
                pick = torch.randperm(per_class, generator=g)[:k]
            else:
                x = images[b].reshape(-1).to(torch.float32)
                drive = x @ self.model.weight[:, base:base + per_class]
                pick = torch.topk(drive, k).indices
            clamp[b, base + pick] = True
        return clamp

    def _groups(self, labels: Tensor) -> Tensor:
        """``(B, N)`` bool: the neurons of each image's class group."""
        per_class = self.model.n_neurons // self.train.n_classes
        group = torch.arange(self.model.n_neurons) // per_class
        return group.unsqueeze(0) == labels.long().unsqueeze(1)

    def _present(self, images: Tensor, labels: Tensor, g: torch.Generator) -> Activity:
        p = self.protocol
        model = self.model
        rate = torch.full((images.shape[0],), float(p.max_rate))
        clamp = drive = None
        if p.supervised and p.supervision == "clamp":
            clamp = self._clamp(images, labels, g)
        elif p.supervised:
            drive = torch.where(self._groups(labels), 0.0, -1000.0)
        model.normalize()
        spikes = poisson_spikes(images, p.time, max_rate=rate, dt=model.config.dt, generator=g)
        kw = {} if drive is None else {"drive": drive}
        act = model.run(spikes, learning=True, rest=p.rest, clamp=clamp, clamp_rate=p.clamp_rate, generator=g, **kw)
        self.state.presentations += images.shape[0]
        if p.retry_below <= 0 or p.supervised:
            return act
        counts = act.counts
        for _ in range(p.max_retries):
            low = counts.sum(1) < p.retry_below
            if not bool(low.any()):
                break
            idx = low.nonzero()[:, 0]
            rate[idx] += p.retry_increase
            model.normalize()
            spikes = poisson_spikes(images[idx], p.time, max_rate=rate[idx], dt=model.config.dt, generator=g)
            again = model.run(spikes, learning=True, rest=p.rest, generator=g)
            counts = counts.clone()
            counts[idx] = again.counts
            self.state.presentations += idx.numel()
        return Activity(counts, act.events, act.steps)

    # ---------------------------------------------------------------- running accuracy
    def _window(self, counts: Tensor, labels: Tensor) -> dict[str, float] | None:
        self._window_counts.append(counts)
        self._window_labels.append(labels)
        if sum(c.shape[0] for c in self._window_counts) < self.update_interval:
            return None
        c = torch.cat(self._window_counts)
        y = torch.cat(self._window_labels)
        self._window_counts, self._window_labels = [], []
        row: dict[str, float] = {"images": float(self.state.images_seen), "epoch": float(self.state.epoch),
                                 "spikes_per_image": float(c.sum(1).mean())}
        # Under clamping the teacher makes training activity trivially right: no training accuracy then.
        if not self.protocol.supervised and self._assign is not None:
            row["train_acc_all"] = accuracy(all_activity(c, self._assign.assignments), y)
            row["train_acc_prop"] = accuracy(
                proportion_weighting(c, self._assign.assignments, self._assign.proportions), y)
        self._assign = assign_labels(c, y, self.train.n_classes)
        return row

    # ------------------------------------------------------------------------ loop
    def fit(self, epochs: int, *, max_images: int | None = None, checkpoint: str | Path | None = None,
            checkpoint_every: int = 1000, progress: bool = True) -> TrainState:
        """Train until ``epochs`` epochs are done (``max_images`` per epoch at most); resumes from ``state``.

        Returns the :class:`TrainState` (also ``self.state``).
        """
        st = self.state
        n_total = len(self.train) if max_images is None else min(len(self.train), int(max_images))
        bs = self.protocol.batch_size
        bar = _progress(total=epochs * n_total, initial=st.epoch * n_total + st.position, enabled=progress)
        last_ckpt = st.images_seen
        try:
            while st.epoch < epochs:
                k = self.protocol.nu_decay ** st.epoch
                base = self._base_config
                self.model.config = base.replace(nu_pre=base.nu_pre * k, nu_post=base.nu_post * k)
                order = _order(len(self.train), self.seed, st.epoch)[:n_total]
                while st.position < n_total:
                    t0 = time.perf_counter()
                    idx = order[st.position:st.position + bs]
                    g = _generator(self.seed, st.epoch, st.position)
                    act = self._present(self.train.images[idx], self.train.labels[idx], g)
                    st.seconds += time.perf_counter() - t0
                    st.position += idx.numel()
                    st.images_seen += idx.numel()
                    bar.update(idx.numel())
                    row = self._window(act.counts, self.train.labels[idx])
                    if row is not None:
                        row["images_per_s"] = st.images_seen / max(st.seconds, 1e-9)
                        st.history.append(row)
                        bar.set_postfix({k: f"{v:.3f}" for k, v in row.items() if k.startswith("train_acc")})
                        self._tensorboard(row)
                    if checkpoint is not None and st.images_seen - last_ckpt >= checkpoint_every:
                        save_checkpoint(checkpoint, self.model, self.protocol, st, self.seed, self._base_config)
                        last_ckpt = st.images_seen
                st.epoch += 1
                st.position = 0
                if self.log:
                    self.log(f"epoch {st.epoch}/{epochs}: {st.images_seen:,} images, "
                             f"{st.images_seen / max(st.seconds, 1e-9):.1f} images/s")
        finally:
            bar.close()
            self.model.config = self._base_config
        if checkpoint is not None:
            save_checkpoint(checkpoint, self.model, self.protocol, st, self.seed, self._base_config)
        return st

    def calibrate(self, images: int | None = None, *, progress: bool = False) -> int:
        """Balance the thresholds with the weights frozen: present ``images`` training images
        (default: all) without labels and without STDP, ``theta`` adapting as usual.

        After supervised training each neuron's threshold has only been set by the images of its
        own class, so a neuron of a class with little ink (1s) is too easily excited by the others;
        one unlabelled pass in which all neurons compete again restores the balance. Returns the
        number of images presented.
        """
        p = self.protocol
        n = len(self.train) if images is None else min(len(self.train), int(images))
        base = self._base_config
        self.model.config = base.replace(nu_pre=0.0, nu_post=0.0)
        order = _order(len(self.train), self.seed, 10_000)[:n]
        bar = _progress(total=n, initial=0, enabled=progress)
        try:
            for start in range(0, n, p.batch_size):
                idx = order[start:start + p.batch_size]
                g = _generator(self.seed, 10_000, start)
                self.model.normalize()
                spikes = poisson_spikes(self.train.images[idx], p.time, max_rate=p.max_rate,
                                        dt=self.model.config.dt, generator=g)
                self.model.run(spikes, learning=True, rest=p.rest, generator=g)
                bar.update(idx.numel())
        finally:
            bar.close()
            self.model.config = base
        return n

    def _tensorboard(self, row: dict[str, float]) -> None:
        if self.tb is None:
            return
        step = int(row["images"])
        for k, v in row.items():
            if k not in ("images", "epoch") and math.isfinite(v):
                self.tb.add_scalar(f"train/{k}", v, step)
        self.tb.add_scalar("train/theta_mean", float(self.model.theta.mean()), step)


def _progress(total: int, initial: int, enabled: bool) -> Any:
    if enabled:
        try:
            from tqdm import tqdm

            return tqdm(total=total, initial=initial, unit="img", dynamic_ncols=True, mininterval=1.0)
        except ImportError:  # pragma: no cover - tqdm is a dev/CI dependency
            pass

    class _Null:
        def update(self, n: int) -> None: ...
        def set_postfix(self, d: dict[str, str]) -> None: ...
        def close(self) -> None: ...

    return _Null()


# ------------------------------------------------------------------------------ evaluation
def collect_activity(model: DiehlCook, data: ImageDataset, protocol: Protocol, *, seed: int = 0,
                     tag: int = 1, progress: bool = False) -> Activity:
    """Present ``data`` with learning off (in batches, exact); events index images in ``data``.

    Shape:
        ``counts``: ``(S, N)``; ``events``: ``(E, 3)``.
    """
    n = len(data)
    bs = protocol.test_batch_size
    counts, events = [], []
    bar = _progress(total=n, initial=0, enabled=progress)
    model.normalize()
    steps = 0
    for start in range(0, n, bs):
        g = _generator(seed, 1_000 + tag, start)
        images = data.images[start:start + bs]
        spikes = poisson_spikes(images, protocol.time, max_rate=protocol.max_rate, dt=model.config.dt, generator=g)
        act = model.run(spikes, learning=False, rest=protocol.rest, generator=g)
        counts.append(act.counts)
        ev = act.events.clone()
        ev[:, 1] += start
        events.append(ev)
        steps = act.steps
        bar.update(images.shape[0])
    bar.close()
    return Activity(torch.cat(counts), torch.cat(events), steps)


@dataclass
class EvalResult:
    """Accuracies (fractions) by readout, and what produced them."""

    accuracy: dict[str, float]
    n_train: int
    n_test: int
    silent_test: float  # fraction of test images with no excitatory spike
    seconds_assign: float
    seconds_test: float

    @property
    def test_images_per_s(self) -> float:
        return self.n_test / max(self.seconds_test, 1e-9)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"test_images_per_s": self.test_images_per_s}


def evaluate(model: DiehlCook, train: ImageDataset, test: ImageDataset, protocol: Protocol, *, seed: int = 0,
             ngram: int = 2, supervised_groups: bool = False, progress: bool = False) -> EvalResult:
    """Assign labels from the training images (learning off), then classify the test images.

    Readouts: ``all_activity``, ``proportion_weighting``, ``ngram`` (``n = ngram``; 0 skips
    it), ``logreg`` (logistic regression fitted on the training counts) and, with
    ``supervised_groups``, ``class_groups`` (all-activity with the fixed class groups of
    supervised training).
    """
    t0 = time.perf_counter()
    tr = collect_activity(model, train, protocol, seed=seed, tag=1, progress=progress)
    t1 = time.perf_counter()
    te = collect_activity(model, test, protocol, seed=seed, tag=2, progress=progress)
    t2 = time.perf_counter()
    c = train.n_classes
    asg = assign_labels(tr.counts, train.labels, c)
    acc = {
        "all_activity": accuracy(all_activity(te.counts, asg.assignments, c), test.labels),
        "proportion_weighting": accuracy(proportion_weighting(te.counts, asg.assignments, asg.proportions, c),
                                         test.labels),
    }
    if ngram > 0:
        table = ngram_scores(tr.events, train.labels, ngram, model.n_neurons, c)
        acc[f"ngram{ngram}"] = accuracy(ngram_predict(te.events, len(test), table), test.labels)
    acc["logreg"] = accuracy(LogisticReadout(c).fit(tr.counts, train.labels).predict(te.counts), test.labels)
    if supervised_groups:
        per_class = model.n_neurons // c
        fixed = torch.arange(model.n_neurons) // per_class
        fixed[fixed >= c] = -1
        acc["class_groups"] = accuracy(all_activity(te.counts, fixed, c), test.labels)
    silent = float((te.counts.sum(1) == 0).float().mean())
    return EvalResult(acc, len(train), len(test), silent, t1 - t0, t2 - t1)


# ------------------------------------------------------------------------------ checkpoints
def save_checkpoint(path: str | Path, model: DiehlCook | NetworkModel, protocol: Protocol, state: TrainState,
                    seed: int, config: DiehlCookConfig | None = None) -> Path:
    """Write the model (as its generic network), protocol and progress atomically (no pickle).

    ``config`` overrides ``model.config`` in the file (the trainer stores the undecayed rates).
    """
    from snnrl.checkpoint import save_checkpoint as _save

    meta = {
        "kind": "snnrl.vision.DiehlCook" if isinstance(model, DiehlCook) else "snnrl.vision.NetworkModel",
        "config": (config or model.config).to_dict(),
        "protocol": protocol.to_dict(),
        "state": dataclasses.asdict(state),
        "seed": seed,
    }
    net = model.to_network()
    _save(net, str(path), metadata={"vision": meta})
    return Path(path)


def load_checkpoint(path: str | Path) -> tuple[DiehlCook | NetworkModel, Protocol, TrainState, int]:
    """Read a checkpoint written by :func:`save_checkpoint`: ``(model, protocol, state, seed)``."""
    from snnrl.checkpoint import load_checkpoint as _load

    ck = _load(str(path))
    meta = ck.metadata.get("vision") if isinstance(ck.metadata, dict) else None
    kinds = ("snnrl.vision.DiehlCook", "snnrl.vision.NetworkModel")
    if not isinstance(meta, dict) or meta.get("kind") not in kinds:
        raise ValueError(f"{path} is not a vision checkpoint (no 'vision' metadata)")
    config = DiehlCookConfig(**meta["config"])
    net = ck.network
    state = TrainState(**meta["state"])
    protocol = Protocol(**meta["protocol"])
    if meta["kind"] == kinds[1]:
        return NetworkModel(net, config), protocol, state, int(meta["seed"])
    mask = net.connections["X->Ae"].mask
    lateral = net.connections["Ai->Ae" if config.inhibition == "layer" else "Ae->Ae"].weight.data
    model = DiehlCook(config, mask=mask, lateral=lateral, weight=net.connections["X->Ae"].weight.data.clone())
    model.theta.copy_(net.layers["Ae"].theta)
    model.weight.copy_(net.connections["X->Ae"].weight.data)  # undo the constructor's normalisation
    return model, protocol, state, int(meta["seed"])
