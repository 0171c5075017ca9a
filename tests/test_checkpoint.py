"""Checkpoints: identical networks after loading, the file format, atomic writes, and bad files."""

import itertools
import json
import os
import pickle
from datetime import datetime
from pathlib import Path

import pytest
import safetensors.torch
import torch

from snnrl import (
    AdaptiveLIFNodes,
    Connection,
    DiehlAndCookNodes,
    Input,
    LIFNodes,
    Monitor,
    Network,
    SRM0Nodes,
    __version__,
    checkpoint,
    toml,
)
from snnrl.checkpoint import CheckpointError, load_checkpoint, read_checkpoint_info, save_checkpoint
from snnrl.learning import PostPre
from snnrl.network import SparseConnection
from snnrl.network.spec import network_to_spec

#: Written by snnrl's own safetensors writer, before the ``safetensors`` package did the payload
#: (``legacy_network()`` after 20 steps of ``_spikes()``; metadata ``{"episode": 7, ...}``).
LEGACY = Path(__file__).parent / "data" / "checkpoint-v1.safetensors"


def _gen(seed: int, device: str = "cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def identity_network(device: str = "cpu", rule: bool = True) -> Network:
    """Several layer types, stochastic ones with generators, learned thresholds and a learning rule."""
    net = Network(batch_size=2)
    net.add_layer(Input(6, traces=True), "X")
    net.add_layer(AdaptiveLIFNodes(4, thresh=torch.tensor([-60.0, -58.0, -62.0, -59.0]), theta_plus=0.5,
                                   tc_theta_decay=200.0, refrac=1.0), "A")
    net.add_layer(DiehlAndCookNodes(5, thresh=-62.0, theta_plus=0.3, generator=_gen(1, device)), "D")
    net.add_layer(SRM0Nodes(3, rho_0=10.0, generator=_gen(2, device)), "S")
    x, a, d, s = (net.layers[n] for n in "XADS")
    mask = torch.rand(6, 4, generator=_gen(3)) < 0.8
    net.add_connection(Connection(x, a, torch.rand(6, 4, generator=_gen(4)) * 12, b=torch.tensor([0.5, 0, 0, 1]),
                                  mask=mask, wmin=0.0, wmax=torch.full((4,), 14.0),
                                  rule=PostPre(nu=(0.05, 0.1)) if rule else None), "X", "A")
    net.add_connection(Connection(a, d, wmin=0.0, wmax=25.0, generator=_gen(5)), "A", "D")
    net.add_connection(Connection(x, s, torch.rand(6, 3, generator=_gen(6)) * 8), "X", "S")
    net.add_connection(Connection(d, d, -5.0 * (1 - torch.eye(5))), "D", "D")
    for name in "ADS":
        net.add_monitor(Monitor(net.layers[name], ["s", "v"]), name)
    return net if device == "cpu" else net.to(device)


def legacy_network() -> Network:
    """``identity_network()`` plus a sparse connection (stored as sparse constructor arguments)."""
    net = identity_network()
    net.add_layer(LIFNodes(3), "L")
    w = torch.sparse_coo_tensor(torch.tensor([[0, 2, 5], [1, 0, 2]]), torch.tensor([20.0, 30.0, 25.0]), (6, 3),
                                check_invariants=True)
    net.add_connection(SparseConnection(net.layers["X"], net.layers["L"], w), "X", "L")
    return net


def _spikes(device: str = "cpu") -> torch.Tensor:
    return (torch.rand(40, 2, 6, generator=_gen(7)) < 0.4).to(device)


def _recordings(net: Network) -> dict:
    return {name: {var: mon.get(var).cpu() for var in mon.state_vars} for name, mon in net.monitors.items()}


def _assert_same_state(a: Network, b: Network) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for key, value in sb.items():
        same = torch.equal(sa[key].cpu(), value.cpu()) if isinstance(value, torch.Tensor) else sa[key] == value
        assert same, key


@pytest.fixture
def saved(tmp_path):
    net = identity_network()
    net.run({"X": _spikes()[:20]})
    path = tmp_path / "net.safetensors"
    save_checkpoint(net, path, metadata={"episode": 7, "note": "after 20 steps", "scores": [1.5, None]})
    return net, path


def test_loaded_network_is_identical(saved):
    net, path = saved
    loaded = load_checkpoint(path).network
    assert network_to_spec(loaded) == network_to_spec(net)
    _assert_same_state(loaded, net)
    assert loaded.layers["A"].theta.abs().sum() > 0  # adaptive thresholds were learned and restored
    assert loaded.connections["X->A"].rule.x_pre.abs().sum() > 0  # and the rule's traces
    for name in "DS":  # the generators continue the same random stream
        assert torch.equal(loaded.layers[name].generator.get_state(), net.layers[name].generator.get_state())

    net.reset_state_variables()
    loaded.reset_state_variables()
    net.run({"X": _spikes()})
    loaded.run({"X": _spikes()})
    expected = _recordings(net)
    assert expected["D"]["s"].any() and expected["S"]["s"].any() and expected["A"]["s"].any()
    assert _recordings(loaded).keys() == expected.keys()
    for name, recs in _recordings(loaded).items():
        for var, value in recs.items():
            assert torch.equal(value, expected[name][var]), (name, var)
    _assert_same_state(loaded, net)

    # and with the same seed
    for model in (net, loaded):
        model.reset_state_variables()
        for name in "DS":
            model.layers[name].generator.manual_seed(123)
        model.run({"X": _spikes()})
    for name, recs in _recordings(loaded).items():
        for var, value in recs.items():
            assert torch.equal(value, _recordings(net)[name][var]), (name, var)


def test_metadata_and_info(saved):
    net, path = saved
    ckpt = load_checkpoint(path)
    assert ckpt.metadata == {"episode": 7, "note": "after 20 steps", "scores": [1.5, None]}
    assert ckpt.spec == network_to_spec(net)
    assert ckpt.info["snnrl_version"] == __version__ and ckpt.info["torch_version"] == torch.__version__
    assert ckpt.info["format_version"] == "1"
    assert datetime.fromisoformat(ckpt.info["created"]).tzinfo is not None
    info = read_checkpoint_info(path)  # the header only
    assert info["metadata"] == ckpt.metadata and info["spec"] == ckpt.spec
    assert info["tensors"]["state/layers.A.theta"] == ("F32", [4])
    assert info["tensors"]["state/connections.X->A.mask"] == ("BOOL", [6, 4])
    assert "rng/layers.D.generator" in info["tensors"]


def test_the_file_is_plain_safetensors(saved):
    net, path = saved
    data = path.read_bytes()
    n = int.from_bytes(data[:8], "little")
    assert (8 + n) % 8 == 0
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__")
    assert all(isinstance(v, str) for v in meta.values())
    assert meta["format"] == "snnrl.checkpoint"
    assert toml.loads(meta["spec"]) == network_to_spec(net)
    spans = sorted(e["data_offsets"] for e in header.values())
    assert spans[0][0] == 0 and spans[-1][1] == len(data) - 8 - n
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))
    entry = header["state/connections.X->A.weight"]
    begin, end = entry["data_offsets"]
    raw = torch.frombuffer(bytearray(data[8 + n + begin:8 + n + end]), dtype=torch.float32).view(6, 4)
    assert torch.equal(raw, net.connections["X->A"].weight)
    # an unchanged constructor tensor (the mask) is not stored twice; the initial weights are
    assert "args/connections.X->A.mask" not in header and "args/connections.X->A.w" in header


def test_the_safetensors_package_reads_our_files(saved):
    net, path = saved
    tensors = safetensors.torch.load_file(path)
    assert torch.equal(tensors["state/connections.X->A.weight"], net.connections["X->A"].weight)
    with safetensors.safe_open(path, "pt") as f:
        assert json.loads(f.metadata()["metadata"])["episode"] == 7


def test_a_checkpoint_written_before_the_safetensors_package_still_loads(tmp_path):
    """The checked-in file was written by snnrl's own writer (tensors in insertion order, not
    safetensors' order by alignment); it loads unchanged and equals the network it was made from."""
    ckpt = load_checkpoint(LEGACY)
    assert ckpt.metadata["episode"] == 7 and ckpt.info["format_version"] == "1"
    net = legacy_network()
    net.run({"X": _spikes()[:20]})
    assert ckpt.spec == network_to_spec(net)
    _assert_same_state(ckpt.network, net)
    assert ckpt.network.connections["X->L"].weight.tolist() == [20.0, 30.0, 25.0]
    # written again by this snnrl, it loads to the same network
    save_checkpoint(ckpt.network, tmp_path / "again.safetensors", metadata=ckpt.metadata)
    _assert_same_state(load_checkpoint(tmp_path / "again.safetensors").network, net)
    for cut in (100, LEGACY.stat().st_size - 1):  # the old layout gets the same truncation errors
        (tmp_path / "cut.safetensors").write_bytes(LEGACY.read_bytes()[:cut])
        with pytest.raises(CheckpointError, match=r"truncated|not an snnrl checkpoint"):
            load_checkpoint(tmp_path / "cut.safetensors")


def test_tensors_sharing_memory_are_written_apart(saved, tmp_path):
    _, path = saved
    meta, _ = checkpoint._read_file(path)
    base = torch.arange(6.0)
    checkpoint._write_file(tmp_path / "shared.safetensors", {"a": base, "b": base[2:], "c": base.view(2, 3).t()},
                           meta)
    _, tensors = checkpoint._read_file(tmp_path / "shared.safetensors")
    assert tensors["b"].tolist() == [2.0, 3.0, 4.0, 5.0] and tensors["c"].tolist() == [[0.0, 3.0], [1.0, 4.0],
                                                                                       [2.0, 5.0]]
    with pytest.raises(CheckpointError, match=r"tensor 'z' has dtype torch.complex128"):
        checkpoint._write_file(tmp_path / "z.safetensors", {"z": torch.zeros(2, dtype=torch.complex128)}, meta)


def test_float64_network_round_trip(tmp_path):
    net = identity_network(rule=False).double()
    net.run({"X": _spikes()[:10]})
    save_checkpoint(net, tmp_path / "f64.safetensors")
    loaded = load_checkpoint(tmp_path / "f64.safetensors", map_location=torch.device("cpu")).network
    assert loaded.connections["X->A"].weight.dtype == torch.float64
    _assert_same_state(loaded, net)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_checkpoint_saved_on_gpu_loads_on_cpu_and_gpu(tmp_path):
    net = identity_network("cuda", rule=False)
    net.run({"X": _spikes("cuda")[:20]})
    path = tmp_path / "gpu.safetensors"
    save_checkpoint(net, path)
    cpu = load_checkpoint(path).network
    assert cpu.connections["X->A"].weight.is_cpu and cpu.layers["D"].generator.device.type == "cpu"
    _assert_same_state(cpu, net)
    cpu.run({"X": _spikes()})
    gpu = load_checkpoint(path, map_location="cuda").network
    assert gpu.connections["X->A"].weight.is_cuda and gpu.layers["S"].generator.device.type == "cuda"
    _assert_same_state(gpu, net)
    net.reset_state_variables()
    gpu.reset_state_variables()
    net.run({"X": _spikes("cuda")})
    gpu.run({"X": _spikes("cuda")})
    for name, recs in _recordings(gpu).items():
        for var, value in recs.items():
            assert torch.equal(value, _recordings(net)[name][var]), (name, var)


# ----------------------------------------------------------------- atomic writes
def test_interrupted_save_leaves_the_previous_checkpoint(saved, monkeypatch):
    net, path = saved
    real_chunks = checkpoint._chunks

    def killed_halfway(payload):
        yield from itertools.islice(real_chunks(payload), 1)
        yield b"partial tensor bytes"
        raise KeyboardInterrupt  # e.g. Ctrl-C while writing

    monkeypatch.setattr(checkpoint, "_chunks", killed_halfway)
    net.run({"X": _spikes()[:5]})
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(net, path, metadata={"episode": 8})
    assert os.listdir(path.parent) == [path.name]  # no temporary file left behind
    assert load_checkpoint(path).metadata["episode"] == 7

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint, "_chunks", real_chunks)
    monkeypatch.setattr(checkpoint.os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(net, path, metadata={"episode": 9})
    assert os.listdir(path.parent) == [path.name]
    monkeypatch.undo()
    assert load_checkpoint(path).metadata["episode"] == 7
    save_checkpoint(net, path, metadata={"episode": 10})  # a later save replaces it
    assert load_checkpoint(path).metadata["episode"] == 10


def test_bad_metadata_writes_nothing(tmp_path):
    net = identity_network()
    with pytest.raises(CheckpointError, match="JSON-serialisable"):
        save_checkpoint(net, tmp_path / "x.safetensors", metadata={"tensor": torch.zeros(1)})
    with pytest.raises(CheckpointError, match="must be a mapping"):
        save_checkpoint(net, tmp_path / "x.safetensors", metadata=[1, 2])
    assert os.listdir(tmp_path) == []


# -------------------------------------------------------------------- bad files
def test_truncated_files(saved, tmp_path):
    _, path = saved
    data = path.read_bytes()
    n = int.from_bytes(data[:8], "little")
    for cut in (0, 3, 8, 9, 8 + n // 2, 8 + n, 8 + n + 1, len(data) // 2, len(data) - 1):
        bad = tmp_path / f"cut{cut}.safetensors"
        bad.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match=r"truncated|not an snnrl checkpoint"):
            load_checkpoint(bad)
        with pytest.raises(CheckpointError):
            read_checkpoint_info(bad)


def test_random_and_foreign_files(tmp_path):
    g = _gen(0)
    for i, size in enumerate((1, 8, 64, 5000)):
        bad = tmp_path / f"random{i}"
        bad.write_bytes(bytes(torch.randint(0, 256, (size,), generator=g, dtype=torch.uint8).tolist()))
        with pytest.raises(CheckpointError):
            load_checkpoint(bad)
    text = tmp_path / "spec.toml"
    text.write_text('snnrl_spec = 1\n[network]\ndt = 1.0\n')
    with pytest.raises(CheckpointError, match="not an snnrl checkpoint"):
        load_checkpoint(text)
    header = json.dumps({"__metadata__": {"format": "pt"}, "w": {"dtype": "F32", "shape": [1],
                                                                "data_offsets": [0, 4]}}).encode()
    other = tmp_path / "other.safetensors"  # a safetensors file from another program
    other.write_bytes(len(header).to_bytes(8, "little") + header + b"\0\0\0\0")
    with pytest.raises(CheckpointError, match=r"format 'pt', expected 'snnrl\.checkpoint'"):
        load_checkpoint(other)


def test_tampered_files(saved, tmp_path):
    _, path = saved
    data = bytearray(path.read_bytes())
    n = int.from_bytes(data[:8], "little")
    flipped = bytearray(data)
    flipped[-3] ^= 0x01  # one bit of tensor data
    (tmp_path / "bit.safetensors").write_bytes(flipped)
    with pytest.raises(CheckpointError, match="checksum"):
        load_checkpoint(tmp_path / "bit.safetensors")
    header = data[8:8 + n].decode()
    assert "theta_plus = 0.5" in header
    edited = header.replace("theta_plus = 0.5", "theta_plus = 0.9")  # same length: a quiet edit of the spec
    (tmp_path / "spec.safetensors").write_bytes(bytes(data[:8]) + edited.encode() + bytes(data[8 + n:]))
    with pytest.raises(CheckpointError, match="checksum"):
        load_checkpoint(tmp_path / "spec.safetensors")
    broken = bytes(data[:8]) + b"{" + b" " * (n - 1) + bytes(data[8 + n:])
    (tmp_path / "json.safetensors").write_bytes(broken)
    with pytest.raises(CheckpointError, match="header is not valid JSON"):
        load_checkpoint(tmp_path / "json.safetensors")


class _Payload:
    """Unpickling this creates the file ``marker``: code execution, which loading must never do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_malicious_pickles_are_never_executed(tmp_path):
    marker = tmp_path / "payload-ran"
    plain = tmp_path / "evil.pkl"
    plain.write_bytes(pickle.dumps({"weights": _Payload(marker)}))
    zipped = tmp_path / "evil.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "hook": _Payload(marker)}, zipped)
    assert not marker.exists()
    for path in (plain, zipped):
        with pytest.raises(CheckpointError, match=r"pickle or torch\.save"):
            load_checkpoint(path)
        with pytest.raises(CheckpointError):
            read_checkpoint_info(path)
    assert not marker.exists()
    with open(plain, "rb") as f:  # the payload is real: plain unpickling does run it
        pickle.load(f)["weights"].close()
    assert marker.exists()


def _rewrite(path, out, edit_tensors=None, edit_meta=None):
    """Rewrite a checkpoint with edits and a *valid* checksum (what a careful forger would do)."""
    meta, tensors = checkpoint._read_file(path)
    if edit_tensors:
        edit_tensors(tensors)
    if edit_meta:
        edit_meta(meta)
    checkpoint._write_file(out, tensors, meta)
    return out


def _pop(key):
    return lambda tensors: tensors.pop(key)


def _put(key, value):
    return lambda tensors: tensors.__setitem__(key, value)


MISMATCHES = [
    (_pop("state/layers.A.theta"), r"do not match the spec: missing \['layers.A.theta'\]"),
    (_put("state/layers.A.extra", torch.zeros(4)), r"unexpected \['layers.A.extra'\]"),
    (_put("state/connections.X->A.weight", torch.zeros(4, 6)), r"has shape \(4, 6\)"),
    (_put("state/layers.A.theta", torch.zeros(4, dtype=torch.int32)), r"dtype torch.int32"),
    (_put("weights", torch.zeros(4)), r"unexpected tensors \['weights'\]"),
    (_pop("rng/layers.D.generator"), r"generator states"),
    (_put("rng/layers.D.generator", torch.zeros(3, dtype=torch.uint8)), r"bad generator state"),
    (_put("args/connections.X->A.w", torch.zeros(6, 5)), r"checkpoint's tensor has shape \[6, 5\]"),
    (_pop("args/connections.X->A.w"), r"corrupt header: args entry"),
]


@pytest.mark.parametrize(("edit", "pattern"), MISMATCHES)
def test_tensors_that_do_not_match_the_spec(saved, tmp_path, edit, pattern):
    _, path = saved
    load_checkpoint(_rewrite(path, tmp_path / "same.safetensors"))  # rewriting alone keeps it valid
    bad = _rewrite(path, tmp_path / "bad.safetensors", edit_tensors=edit)
    with pytest.raises(CheckpointError, match=pattern):
        load_checkpoint(bad)


def _spec_edit(old, new):
    def edit(meta):
        assert old in meta["spec"]
        meta["spec"] = meta["spec"].replace(old, new, 1)
    return edit


META_EDITS = [
    (lambda m: m.__setitem__("format_version", "2"), r"newer snnrl \(checkpoint format 2\)"),
    (lambda m: m.__setitem__("format_version", "one"), r"corrupt header: format_version"),
    (lambda m: m.pop("spec"), r"metadata has no 'spec'"),
    (lambda m: m.__setitem__("spec", "snnrl_spec = ["), r"corrupt spec"),
    (lambda m: m.__setitem__("metadata", "[1"), r"corrupt metadata"),
    (_spec_edit('type = "AdaptiveLIFNodes"', 'type = "os.system"'),
     r"layers\[1\]\.type: unknown nodes type 'os.system'"),
    (_spec_edit("theta_plus = 0.5", "theta_plus = 0.5\nexec = 1"), r"layers\[1\]\.params\.exec: unknown parameter"),
    (_spec_edit('target = "D"', 'target = "S"'), r"state\['connections.A->D.weight'\]: has shape \(4, 5\)"),
]


@pytest.mark.parametrize(("edit", "pattern"), META_EDITS)
def test_forged_headers_are_rejected(saved, tmp_path, edit, pattern):
    _, path = saved
    bad = _rewrite(path, tmp_path / "bad.safetensors", edit_meta=edit)
    with pytest.raises(CheckpointError, match=pattern):
        load_checkpoint(bad)


def test_missing_file_is_a_plain_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "nope.safetensors")


def test_saving_and_loading_leave_the_global_random_stream_alone(saved, tmp_path):
    net, path = saved
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    save_checkpoint(net, tmp_path / "again.safetensors")
    load_checkpoint(path)
    assert torch.equal(torch.rand(3), expected)


def test_a_checkpoint_that_would_not_load_is_not_written(tmp_path):
    from snnrl.registry import lookup

    random_sparse = lookup("connection", "RandomSparseConnection")
    g = torch.Generator().manual_seed(0)
    torch.rand(5, generator=g)  # used before the constructor gets it: the structure cannot be redrawn
    net = Network()
    net.add_layer(Input(30), "X")
    net.add_layer(LIFNodes(30), "Y")
    net.add_connection(random_sparse(net.layers["X"], net.layers["Y"], 0.5, generator=g), "X", "Y")
    with pytest.raises(CheckpointError, match=r"not written: the network could not be rebuilt.*connections\.X->Y"):
        save_checkpoint(net, tmp_path / "x.safetensors")
    assert os.listdir(tmp_path) == []
