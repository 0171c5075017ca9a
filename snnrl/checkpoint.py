"""Checkpoints: a network's spec, tensors and metadata in one file that is data, never code.

A checkpoint is a `safetensors <https://huggingface.co/docs/safetensors>`_ file: the tensor
payload is written and read by the ``safetensors`` package (``safetensors.torch.save`` /
``load``), so any safetensors reader can open it and loading it never unpickles anything:

* 8 bytes: little-endian ``uint64`` ``N``, the length of the header;
* ``N`` bytes: a JSON header ``{"__metadata__": {str: str}, "<tensor name>": {"dtype": "F32",
  "shape": [...], "data_offsets": [begin, end]}, ...}``, padded with spaces to a multiple of 8;
* the tensors' bytes, little-endian, C order, back to back in header order.

Tensor names: ``state/<key>`` for every entry of ``network.state_dict()`` (weights, biases,
masks, tensor bounds, adaptive thresholds, learning-rule state); ``rng/<component>.<arg>`` for
the state of every ``torch.Generator`` passed to a component's constructor; and
``args/connections.<name>.<arg>`` for the connections' tensor constructor arguments (the
values behind the spec's ``tensor = "checkpoint"`` placeholders: initial weights, masks,
delays, sparse indices, ...), so that every connection is rebuilt exactly as it was built
before its learned state is loaded. An argument equal to the state tensor of the same name
is not stored twice; a sparse argument is stored as ``.../indices`` and ``.../values``.
``__metadata__`` holds:

* ``format`` = ``"snnrl.checkpoint"``, ``format_version`` = ``"1"``;
* ``spec``: the network spec as TOML text (:mod:`snnrl.network.spec`);
* ``metadata``: the user's metadata as JSON;
* ``snnrl_version``, ``torch_version``, ``created`` (UTC, ISO 8601);
* ``rng_devices``: JSON ``{generator key: device type}``;
* ``extra_state``: JSON ``{state key: value}`` for the entries of ``state_dict()`` that are a
  module's ``get_extra_state()`` (keys ending in ``_extra_state``): plain data, not tensors;
* ``args``: JSON ``{argument key: {"state": key} | {"tensor": name} | {"sparse": layout,
  "shape": [...], "tensor": name}}``;
* ``sha256``: hex digest of the canonical header (sorted-key compact JSON without ``sha256``)
  followed by the tensor bytes. It detects truncation and corruption, not deliberate forgery
  (a forger can recompute it); a forged file can still only describe a network built from
  registered types, never run code.

Why not ``torch.save`` + ``torch.load(weights_only=True)``: that restricted unpickler is still
an unpickler (it has had bypasses, fixed in torch 2.6, and snnrl supports torch >= 2.4); a format
with no pickle in it cannot run code by construction, is readable by other tools
(``safetensors.torch.load_file``) and inspectable without torch (:func:`read_checkpoint_info`
reads only the header).

What this module adds to the package: the sha256 (safetensors has no checksum), the spec and
metadata, the atomic write, and checks of the header that name the file and the tensor at fault
before the payload is handed to ``safetensors`` (which validates it again). Files written before
snnrl used the package (by its own writer, same layout) load unchanged.

Writes are atomic: the file is written to a temporary file in the same directory, flushed,
fsynced and renamed over the target, so a run killed mid-write leaves the previous checkpoint
intact and at most a stale ``.<name>.<pid>@<host>.<...>.tmp`` file next to it, which the next
write of that name removes (its writer is gone). :func:`write_atomic` writes any other file so
(``results.json``). Before writing, :func:`save_checkpoint`
rebuilds the network from what it is about to write and refuses to write a checkpoint that
would not load.

Loading builds the network from the spec on the CPU, loads the tensors (keys, shapes and dtypes
must match exactly), restores the generators' states and moves the network to
``map_location``; tensors are stored device-independently, so a checkpoint saved on a GPU loads
on a CPU. Generators are recreated on ``map_location``'s device type (an object that keeps its
generator in an attribute named like the constructor argument gets the new one); their saved
state is restored when the device types match, otherwise they restart from their seed.
Transient state (voltages, spikes, traces of the current run) is not saved: a loaded network is
at rest, as after ``reset_state_variables()``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import socket
import tomllib
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import safetensors
import safetensors.torch
import torch
from torch import Tensor

from snnrl import _checks as checks
from snnrl import toml
from snnrl.network.spec import SpecError, constructor_tensors, generators, network_from_spec, network_to_spec

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "Checkpoint",
    "CheckpointError",
    "load_checkpoint",
    "read_checkpoint_info",
    "save_checkpoint",
    "write_atomic",
]

FORMAT = "snnrl.checkpoint"
FORMAT_VERSION = 1
_MAX_HEADER = 100 * 1024 * 1024
_CHUNK = 1 << 20  # bytes per write
_HOST = "".join(c if c.isalnum() or c in "-_" else "-" for c in socket.gethostname()) or "host"
_STATE, _RNG, _ARGS = "state/", "rng/", "args/"
_EXTRA_STATE = "_extra_state"  # state_dict key suffix of a module's get_extra_state()
_SPARSE = {torch.sparse_coo: "sparse_coo", torch.sparse_csr: "sparse_csr", torch.sparse_csc: "sparse_csc"}

# The safetensors dtype codes that checkpoints use (validation only: safetensors does the encoding).
_DTYPES: dict[torch.dtype, str] = {
    torch.bool: "BOOL", torch.uint8: "U8", torch.int8: "I8", torch.int16: "I16", torch.int32: "I32",
    torch.int64: "I64", torch.float16: "F16", torch.bfloat16: "BF16", torch.float32: "F32", torch.float64: "F64",
}
for _name, _code in (("uint16", "U16"), ("uint32", "U32"), ("uint64", "U64"),
                     ("float8_e4m3fn", "F8_E4M3"), ("float8_e5m2", "F8_E5M2")):
    if isinstance(getattr(torch, _name, None), torch.dtype):
        _DTYPES[getattr(torch, _name)] = _code
_CODES = {code: dtype for dtype, code in _DTYPES.items()}


class CheckpointError(ValueError):
    """A file that is not a valid snnrl checkpoint (truncated, corrupt, tampered, wrong format or
    tensors that do not match its spec), or a network that cannot be saved."""


class Checkpoint(NamedTuple):
    """What :func:`load_checkpoint` returns."""

    network: Any
    """The restored :class:`~snnrl.network.Network`."""
    spec: dict[str, Any]
    """The network spec."""
    metadata: dict[str, Any]
    """The user's metadata passed to :func:`save_checkpoint`."""
    info: dict[str, str]
    """``format_version``, ``snnrl_version``, ``torch_version`` and ``created`` of the file."""


# ----------------------------------------------------------------------------- save
def save_checkpoint(
    network: Any, path: str | os.PathLike[str], metadata: Mapping[str, Any] | None = None, verify: bool = True
) -> None:
    """Write ``network`` (spec + tensors) and ``metadata`` to ``path``, atomically.

    Args:
        network: the network.
        path: file to write (conventionally ``*.safetensors``); replaced atomically if it exists.
        metadata: plain data to keep with it (JSON-serialisable, ``str`` keys), e.g. the episode.
        verify: first rebuild the network from what would be written (on the CPU, leaving torch's
            global random state alone) and refuse to write a checkpoint that would not load,
            e.g. a structure drawn from a generator that had been used before the constructor
            got it. Costs one construction of the network; ``False`` skips it.

    Raises:
        SpecError: the network cannot be described as a spec (message names the component).
        CheckpointError: metadata or a tensor that cannot be stored, or a network that could
            not be rebuilt from its checkpoint (nothing is written then).
    """
    from snnrl import __version__

    if metadata is None:
        metadata = {}
    if not isinstance(metadata, Mapping):
        raise CheckpointError(f"metadata must be a mapping, got {type(metadata).__name__}")
    try:
        user = json.dumps(dict(metadata))
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"metadata must be JSON-serialisable plain data: {e}") from None
    spec_text = toml.dumps(network_to_spec(network))
    state = network.state_dict()
    tensors: dict[str, Tensor] = {}
    extra: dict[str, Any] = {}
    for key, value in state.items():
        if isinstance(value, Tensor):
            tensors[_STATE + key] = value
        elif key.endswith(_EXTRA_STATE):
            extra[key] = value
        else:
            raise CheckpointError(f"state_dict entry {key!r} is a {type(value).__name__}, not a tensor")
    try:
        extra_json = json.dumps(extra, allow_nan=True)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"a module's extra state (get_extra_state) must be JSON-serialisable plain data: "
                              f"{e}") from None
    rng_devices = {}
    for key, (_, _, gen) in generators(network).items():
        tensors[_RNG + key] = gen.get_state()
        rng_devices[key] = gen.device.type
    constructor = constructor_tensors(network)
    args: dict[str, Any] = {}
    for key, value in constructor.items():
        same = state.get(key)
        if (value.layout == torch.strided and isinstance(same, Tensor) and same.shape == value.shape
                and same.dtype == value.dtype and torch.equal(same, value.to(same.device))):
            args[key] = {"state": key}  # not stored twice
        elif value.layout == torch.strided:
            tensors[_ARGS + key] = value
            args[key] = {"tensor": _ARGS + key}
        elif value.layout in _SPARSE:
            coo = value.to_sparse_coo().coalesce() if value.layout != torch.sparse_coo else value.coalesce()
            tensors[_ARGS + key + "/indices"] = coo.indices()
            tensors[_ARGS + key + "/values"] = coo.values()
            args[key] = {"sparse": _SPARSE[value.layout], "shape": list(value.shape), "tensor": _ARGS + key}
        else:
            raise CheckpointError(f"argument {key!r} has layout {value.layout}, which checkpoints cannot store")
    if verify:
        rebuilt_state = {**{k: v for k, v in state.items() if isinstance(v, Tensor)}, **json.loads(extra_json)}
        try:
            _build(tomllib.loads(spec_text), rebuilt_state, type(network), constructor)
        except SpecError as e:
            raise CheckpointError(f"{os.fspath(path)}: not written: the network could not be rebuilt from this "
                                  f"checkpoint: {e}") from e
    meta = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "snnrl_version": __version__,
        "torch_version": torch.__version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "spec": spec_text,
        "metadata": user,
        "rng_devices": json.dumps(rng_devices),
        "args": json.dumps(args),
        "extra_state": extra_json,
    }
    _write_file(path, tensors, meta)


def _build(spec: Mapping[str, Any], state: Mapping[str, Any], network_cls: type | None,
           args: Mapping[str, Tensor]) -> Any:
    """``network_from_spec`` on the CPU without touching torch's global random state (the
    constructors' default initialisations are overwritten by ``state`` anyway)."""
    with torch.random.fork_rng(devices=[]):
        return network_from_spec(spec, state, network_cls, args)


def _dense_cpu(tensors: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The tensors on the CPU, contiguous, none sharing memory with another (as safetensors requires)."""
    out: dict[str, Tensor] = {}
    seen: set[int] = set()
    for name, t in tensors.items():
        if t.dtype not in _DTYPES:
            raise CheckpointError(f"tensor {name!r} has dtype {t.dtype}, which checkpoints cannot store")
        if t.layout != torch.strided:
            raise CheckpointError(f"tensor {name!r} has layout {t.layout}; checkpoints store dense tensors only")
        cpu = t.detach().to("cpu").contiguous()
        if cpu.numel() > 0:
            ptr = cpu.untyped_storage().data_ptr()
            if ptr in seen:
                cpu = cpu.clone()
            seen.add(cpu.untyped_storage().data_ptr())
        out[name] = cpu
    return out


def _canonical(meta: Mapping[str, str], entries: Mapping[str, Any]) -> bytes:
    return json.dumps({"__metadata__": dict(meta), **entries}, sort_keys=True, separators=(",", ":")).encode()


def _split(payload: bytes) -> tuple[dict[str, Any], memoryview]:
    """``(tensor entries, tensor bytes)`` of a safetensors payload written by the package."""
    n = int.from_bytes(payload[:8], "little")
    header = json.loads(payload[8:8 + n])
    header.pop("__metadata__", None)
    return header, memoryview(payload)[8 + n:]


def _write_file(path: str | os.PathLike[str], tensors: Mapping[str, Tensor], meta: Mapping[str, str]) -> None:
    """Write a safetensors file with ``meta`` (str -> str) plus a sha256, atomically.

    The sha256 covers the canonical header (sorted-key compact JSON, without the digest) and the
    tensor bytes. The package lays the tensors out independently of the metadata, so the payload
    is serialised once to learn the layout and once more with the digest in its metadata.
    """
    tensors = _dense_cpu(tensors)
    entries, body = _split(safetensors.torch.save(tensors, metadata=dict(meta)))
    digest = hashlib.sha256(_canonical(meta, entries))
    digest.update(body)
    payload = safetensors.torch.save(tensors, metadata={**meta, "sha256": digest.hexdigest()})
    if _split(payload)[0] != entries:  # the digest covers the first layout: it must not have moved
        raise CheckpointError(f"{os.fspath(path)}: not written: safetensors laid the tensors out differently "
                              "in two serialisations")
    _atomic_write(Path(path), _chunks(payload))


def _chunks(payload: bytes) -> Iterator[memoryview]:
    view = memoryview(payload)
    for start in range(0, len(view), _CHUNK):
        yield view[start:start + _CHUNK]


def write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` as checkpoints are written: the old file or the new one, never half
    of one, whenever the writer is killed (see the module docstring)."""
    _atomic_write(Path(path), _chunks(data))


def _writer_gone(owner: str) -> bool:
    """Whether the writer ``<pid>@<host>`` of a temporary file has ended: a process of this host
    that no longer exists (a writer elsewhere, or on a system without ``os.kill(pid, 0)``, is
    never presumed gone)."""
    pid, _, host = owner.partition("@")
    if os.name != "posix" or host != _HOST or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists (another user's)
        return False
    return False


def _remove_stale(path: Path) -> None:
    """Remove the temporary files of ``path`` that killed writers left behind."""
    prefix = f".{path.name}."
    with contextlib.suppress(OSError):
        for entry in os.scandir(path.parent):
            name = entry.name
            if name.startswith(prefix) and name.endswith(".tmp"):
                owner = name[len(prefix):-len(".tmp")].rpartition(".")[0]  # <pid>@<host>.<random>
                if _writer_gone(owner):
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)


def _atomic_write(path: Path, chunks: Iterator[Any]) -> None:
    """Write to a temporary file next to ``path``, fsync it, then rename it over ``path``; first
    remove what killed writers of ``path`` left (:func:`_remove_stale`)."""
    directory = path.parent
    _remove_stale(path)
    tmp = directory / f".{path.name}.{os.getpid()}@{_HOST}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if os.name == "posix":  # make the rename itself durable
        with contextlib.suppress(OSError):
            dir_fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)


# ----------------------------------------------------------------------------- read
def _fail(path: Any, message: str) -> CheckpointError:
    return CheckpointError(f"{os.fspath(path)}: {message}")


def _parse_header(path: Any, head: bytes, size: int) -> tuple[dict[str, str], dict[str, Any], int]:
    """``(metadata, tensor entries, header length)`` from the first bytes of a file of ``size`` bytes."""
    if size < 8:
        raise _fail(path, f"not an snnrl checkpoint (only {size} bytes; truncated?)")
    n = int.from_bytes(head[:8], "little")
    if n > size - 8 or n > _MAX_HEADER or head[8:9] not in (b"{", b""):
        if head[:4] == b"PK\x03\x04" or head[:1] == b"\x80":
            raise _fail(path, "not an snnrl checkpoint: this looks like a pickle or torch.save file, and "
                              "snnrl never unpickles checkpoints (they are safetensors files)")
        if head[8:9] not in (b"{", b""):
            raise _fail(path, "not an snnrl checkpoint (no safetensors header)")
        raise _fail(path, f"not an snnrl checkpoint, or truncated: header length {n} but the file has {size} bytes")
    if len(head) < 8 + n:
        raise _fail(path, "truncated header")
    try:
        header = json.loads(head[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _fail(path, "not an snnrl checkpoint, or corrupt: the header is not valid JSON") from None
    if not isinstance(header, dict):
        raise _fail(path, "corrupt header: not a JSON object")
    meta = header.pop("__metadata__", None)
    if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise _fail(path, "not an snnrl checkpoint: no string metadata in the header")
    if meta.get("format") != FORMAT:
        raise _fail(path, f"not an snnrl checkpoint: format {meta.get('format')!r}, expected {FORMAT!r}")
    version = meta.get("format_version", "")
    if not version.isdigit():
        raise _fail(path, f"corrupt header: format_version {version!r}")
    if int(version) > FORMAT_VERSION:
        raise _fail(path, f"written by a newer snnrl (checkpoint format {version}); this one reads up to "
                          f"{FORMAT_VERSION}: upgrade snnrl")
    for key in ("spec", "metadata", "rng_devices", "args", "extra_state", "sha256"):
        if key not in meta:
            raise _fail(path, f"corrupt header: metadata has no {key!r}")
    return meta, header, n


def _check_entries(path: Any, entries: Mapping[str, Any], data_size: int) -> None:
    """Check the tensor entries against ``data_size`` bytes of payload (messages name the tensor)."""
    spans = []
    for name, entry in entries.items():
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise _fail(path, f"corrupt header: bad entry for tensor {name!r}")
        dtype = _CODES.get(entry["dtype"])
        shape, offsets = entry["shape"], entry["data_offsets"]
        ints = (isinstance(shape, list) and isinstance(offsets, list) and len(offsets) == 2
                and all(checks.is_int(v) and v >= 0 for v in [*shape, *offsets]))
        if dtype is None or not ints:
            raise _fail(path, f"corrupt header: bad dtype, shape or offsets for tensor {name!r}")
        begin, end = offsets
        numel = 1
        for d in shape:
            numel *= d
        if end - begin != numel * dtype.itemsize:
            raise _fail(path, f"corrupt header: tensor {name!r} has {end - begin} bytes for shape {shape} "
                              f"of {entry['dtype']}")
        spans.append((begin, end, name))
    spans.sort()
    position = 0
    for begin, end, name in spans:
        if begin != position:
            raise _fail(path, f"corrupt header: tensor {name!r} does not start where the previous one ends")
        position = end
    if position > data_size:
        raise _fail(path, f"truncated: the header describes {position} bytes of tensor data, the file holds "
                          f"{data_size}")
    if position < data_size:
        raise _fail(path, f"corrupt: {data_size - position} unexpected bytes after the tensor data")


def _read_file(path: str | os.PathLike[str]) -> tuple[dict[str, str], dict[str, Tensor]]:
    """Read and verify a checkpoint file: ``(metadata, tensors)``."""
    with open(path, "rb") as f:
        data = f.read()
    meta, entries, n = _parse_header(path, data, len(data))
    body = memoryview(data)[8 + n:]
    _check_entries(path, entries, len(body))
    expected = meta.pop("sha256")
    digest = hashlib.sha256(_canonical(meta, entries))
    digest.update(body)
    if digest.hexdigest() != expected:
        raise _fail(path, "corrupt or modified: the sha256 checksum does not match the contents")
    try:
        tensors = safetensors.torch.load(data)
    except (safetensors.SafetensorError, KeyError, ValueError, RuntimeError) as e:
        raise _fail(path, f"corrupt: safetensors cannot read the tensors ({type(e).__name__}: {e})") from None
    return meta, tensors


def read_checkpoint_info(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The header of a checkpoint without loading its tensors (sizes are checked, the checksum is not).

    Returns:
        ``{"spec": dict, "metadata": dict, "format_version", "snnrl_version", "torch_version",
        "created", "tensors": {name: (dtype, shape)}}``.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) == 8:
            n = int.from_bytes(head, "little")
            if n <= min(size - 8, _MAX_HEADER):
                head += f.read(n)
    meta, entries, n = _parse_header(path, head, size)
    _check_entries(path, entries, size - 8 - n)
    info: dict[str, Any] = _info(meta)
    info["spec"] = _spec(path, meta)
    info["metadata"] = _metadata(path, meta)
    info["tensors"] = {k: (e.get("dtype"), e.get("shape")) for k, e in entries.items() if isinstance(e, dict)}
    return info


def _info(meta: Mapping[str, str]) -> dict[str, str]:
    return {k: meta.get(k, "") for k in ("format_version", "snnrl_version", "torch_version", "created")}


def _spec(path: Any, meta: Mapping[str, str]) -> dict[str, Any]:
    try:
        return tomllib.loads(meta["spec"])
    except tomllib.TOMLDecodeError as e:
        raise _fail(path, f"corrupt spec: {e}") from None


def _metadata(path: Any, meta: Mapping[str, str]) -> dict[str, Any]:
    try:
        value = json.loads(meta["metadata"])
    except ValueError:
        raise _fail(path, "corrupt metadata: not JSON") from None
    if not isinstance(value, dict):
        raise _fail(path, "corrupt metadata: not a JSON object")
    return value


def _json_object(path: Any, meta: Mapping[str, str], key: str) -> dict[str, Any]:
    try:
        value = json.loads(meta[key])
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise _fail(path, f"corrupt header: {key} is not a JSON object")
    return value


def _arguments(path: Any, table: Mapping[str, Any], tensors: Mapping[str, Tensor],
               state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The connections' constructor tensors from the ``args`` table and the file's tensors."""
    args: dict[str, Tensor] = {}
    used: set[str] = set()
    for key, where in table.items():
        if not isinstance(where, dict):
            raise _fail(path, f"corrupt header: bad args entry {key!r}")
        try:
            if "state" in where:
                args[key] = state[where["state"]]
            elif "sparse" in where:
                name = where["tensor"]
                indices, values = tensors[name + "/indices"], tensors[name + "/values"]
                used.update((name + "/indices", name + "/values"))
                coo = torch.sparse_coo_tensor(indices, values, where["shape"], check_invariants=True).coalesce()
                layout = where["sparse"]
                args[key] = {"sparse_coo": coo, "sparse_csr": coo.to_sparse_csr(),
                             "sparse_csc": coo.to_sparse_csc()}[layout] if layout != "sparse_coo" else coo
            else:
                args[key] = tensors[where["tensor"]]
                used.add(where["tensor"])
        except (KeyError, TypeError, ValueError, RuntimeError) as e:
            raise _fail(path, f"corrupt header: args entry {key!r} ({type(e).__name__}: {e})") from None
    unused = [k for k in tensors if k.startswith(_ARGS) and k not in used]
    if unused:
        raise _fail(path, f"unexpected tensors {unused[:8]}")
    return args


def load_checkpoint(
    path: str | os.PathLike[str], map_location: str | torch.device = "cpu", network_cls: type | None = None
) -> Checkpoint:
    """Load a checkpoint written by :func:`save_checkpoint`.

    Args:
        path: the file.
        map_location: device for the network (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...).
        network_cls: the class to build (default :class:`~snnrl.network.Network`).

    Raises:
        CheckpointError: not a checkpoint, truncated, corrupt, from a newer format, or its
            tensors do not match its spec. Nothing in the file is ever executed.
    """
    device = torch.device(map_location)
    meta, tensors = _read_file(path)
    spec = _spec(path, meta)
    metadata = _metadata(path, meta)
    rng_devices, arg_table = _json_object(path, meta, "rng_devices"), _json_object(path, meta, "args")
    state: dict[str, Any] = {k[len(_STATE):]: t for k, t in tensors.items() if k.startswith(_STATE)}
    for key, value in _json_object(path, meta, "extra_state").items():
        if not key.endswith(_EXTRA_STATE) or key in state:
            raise _fail(path, f"corrupt header: bad extra_state key {key!r}")
        state[key] = value
    rng = {k[len(_RNG):]: t for k, t in tensors.items() if k.startswith(_RNG)}
    args = _arguments(path, arg_table, tensors, state)
    others = [k for k in tensors if not k.startswith((_STATE, _RNG, _ARGS))]
    if others:
        raise _fail(path, f"unexpected tensors {others[:8]} (not under {_STATE!r}, {_RNG!r} or {_ARGS!r})")
    try:
        net = _build(spec, state, network_cls, args)
    except SpecError as e:
        raise _fail(path, f"the checkpoint's spec and tensors do not make a valid network: {e}") from e
    except (TypeError, ValueError, RuntimeError, KeyError, IndexError) as e:
        raise _fail(path, f"cannot build the network: {type(e).__name__}: {e}") from e
    gens = generators(net)
    if set(gens) != set(rng) or set(rng) != set(rng_devices):
        raise _fail(path, f"the generator states {sorted(rng)} do not match the spec's generators {sorted(gens)}")
    if device.type != "cpu":
        net.to(device)
    for key, (obj, arg, gen) in gens.items():
        if gen.device.type != device.type:
            new = torch.Generator(device=device)
            new.manual_seed(gen.initial_seed())
            if obj.__dict__.get(arg) is gen:
                obj.__dict__[arg] = new
            gen = new
        if rng_devices[key] == gen.device.type:
            try:
                gen.set_state(rng[key].to(torch.uint8))
            except (RuntimeError, ValueError) as e:
                raise _fail(path, f"bad generator state {key!r}: {e}") from None
    return Checkpoint(net, spec, metadata, _info(meta))
