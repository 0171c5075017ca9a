"""What a NIR graph written by snnrl carries besides NIR itself, and how two graphs are compared.

The graph's ``metadata`` holds ``"snnrl"``: a JSON text (format, ``dt``, the network spec, the
approximations, which NIR nodes hold which weights, ...) and ``"snnrl_tensors"``: the tensors NIR
cannot hold (learning-rule state, masks, constructor arguments, ...) as flat 1-D arrays named
``t0``, ``t1``, ... (HDF5 cannot gzip 0-d or empty arrays, and NIR's writer gzips every array; the
JSON records each tensor's shape, dtype and layout).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = ["FORMAT", "FORMAT_VERSION", "decode_tensors", "encode_tensors", "first_difference", "read_header"]

FORMAT = "snnrl.nir"
FORMAT_VERSION = 1
_SPARSE = {torch.sparse_coo: "sparse_coo", torch.sparse_csr: "sparse_csr", torch.sparse_csc: "sparse_csc"}
_NUMPY_SAFE = {torch.bfloat16: torch.float32}  # dtypes numpy lacks: stored widened, restored on read


def _dtype(name: str) -> torch.dtype:
    dtype = getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"unknown dtype {name!r} in the snnrl metadata")
    return dtype


def encode_tensors(values: Mapping[str, Any], arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """``{key: entry}`` for the JSON header; tensor data goes into ``arrays`` (``"t<i>"`` names).

    Tensors become ``{"tensor": [names], "shape", "dtype"[, "layout"]}``; anything else (a module's
    extra state) must be JSON data and becomes ``{"value": ...}``.
    """
    out: dict[str, Any] = {}

    def put(t: Tensor) -> str | None:
        if t.numel() == 0:
            return None
        name = f"t{len(arrays)}"
        flat = t.detach().cpu().reshape(-1)
        arrays[name] = flat.to(_NUMPY_SAFE.get(flat.dtype, flat.dtype)).numpy().copy()
        return name

    for key, value in values.items():
        if not isinstance(value, Tensor):
            json.dumps(value)  # extra state must be plain data
            out[key] = {"value": value}
            continue
        entry: dict[str, Any] = {"shape": list(value.shape), "dtype": str(value.dtype).removeprefix("torch.")}
        if value.layout != torch.strided:
            coo = value.detach().cpu().to_sparse_coo().coalesce()
            entry["layout"] = _SPARSE.get(value.layout, "sparse_coo")
            entry["tensor"] = [put(coo.indices()), put(coo.values())]
            entry["nnz"] = int(coo.values().numel())
        else:
            entry["tensor"] = [put(value)]
        out[key] = entry
    return out


def decode_tensors(table: Mapping[str, Any], arrays: Mapping[str, Any]) -> dict[str, Any]:
    """The values :func:`encode_tensors` described (tensors on the CPU)."""
    out: dict[str, Any] = {}

    def get(name: str | None, shape: list[int], dtype: torch.dtype) -> Tensor:
        if name is None:
            return torch.zeros(shape, dtype=dtype)
        data = torch.from_numpy(np.array(np.asarray(arrays[name]).reshape(-1)))
        return data.to(dtype).reshape(shape)

    for key, entry in table.items():
        if "value" in entry:
            out[key] = entry["value"]
            continue
        shape, dtype = list(entry["shape"]), _dtype(entry["dtype"])
        layout = entry.get("layout")
        if layout is None:
            out[key] = get(entry["tensor"][0], shape, dtype)
            continue
        nnz = int(entry["nnz"])
        indices = get(entry["tensor"][0], [len(shape), nnz], torch.int64)
        values = get(entry["tensor"][1], [nnz], dtype)
        sparse = torch.sparse_coo_tensor(indices, values, shape, check_invariants=True).coalesce()
        out[key] = sparse if layout == "sparse_coo" else sparse.to_sparse(layout={
            "sparse_csr": torch.sparse_csr, "sparse_csc": torch.sparse_csc}[layout])
    return out


def read_header(metadata: Any) -> dict[str, Any] | None:
    """The snnrl header of a graph's metadata, or None for a graph snnrl did not write."""
    if not isinstance(metadata, Mapping) or "snnrl" not in metadata:
        return None
    text = metadata["snnrl"]
    if isinstance(text, bytes):
        text = text.decode("utf8")
    try:
        header = json.loads(str(text))
    except json.JSONDecodeError:
        return None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        return None
    return header


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (str, bytes)) or isinstance(b, (str, bytes)):
        norm = [x.decode("utf8") if isinstance(x, bytes) else x for x in (a, b)]
        return bool(norm[0] == norm[1])
    try:
        x, y = np.asarray(a), np.asarray(b)
    except (TypeError, ValueError):
        return bool(a == b)
    if x.dtype == object or y.dtype == object:
        return bool(a == b)
    return x.shape == y.shape and bool(np.array_equal(x, y))


def first_difference(a: Any, b: Any, path: str = "graph") -> str | None:
    """Where two NIR graphs (or nodes, as ``to_dict()`` data) differ, ignoring metadata; None if nowhere."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        keys_a = {k for k in a if k != "metadata"}
        keys_b = {k for k in b if k != "metadata"}
        if keys_a != keys_b:
            return f"{path}: keys {sorted(keys_a ^ keys_b)} in only one of them"
        if "edges" in keys_a and "nodes" in keys_a:
            edges = [sorted(tuple(str(x) for x in e) for e in g["edges"]) for g in (a, b)]
            if edges[0] != edges[1]:
                return f"{path}.edges"
        for key in sorted(keys_a):
            if key == "edges" and "nodes" in keys_a:
                continue
            found = first_difference(a[key], b[key], f"{path}.{key}")
            if found is not None:
                return found
        return None
    if isinstance(a, Mapping) or isinstance(b, Mapping):
        return path
    return None if _same(a, b) else path
