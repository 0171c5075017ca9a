"""Network specs: a :class:`~snnrl.network.Network` described as plain data, and built back from it.

A spec is a dict of plain values (str, int, float, bool, lists, dicts) that round-trips through
TOML (:mod:`snnrl.toml`). It is the format of the presets in ``agents/`` and ``envs/`` and the
structural half of a checkpoint (:mod:`snnrl.checkpoint` adds the tensors). Example::

    snnrl_spec = 1                       # format version (required)

    [network]                            # Network(...) arguments; all optional
    dt = 1.0
    batch_size = 1
    learning = true
    propagation = "synchronous"

    [[layers]]                           # in insertion (= update) order
    name = "X"
    type = "Input"                       # a type registered with @register("nodes")
    [layers.params]                      # its constructor arguments
    n = 784
    traces = true

    [[layers]]
    name = "Y"
    type = "DiehlAndCookNodes"
    [layers.params]
    n = 100
    thresh = { tensor = [-52.0, -51.0, ...], dtype = "float32" }  # per-neuron, inline
    generator = { seed = 0 }             # a torch.Generator, recreated from its seed

    [[connections]]
    name = "X->Y"                        # optional; default "<source>-><target>"
    source = "X"
    target = "Y"
    type = "Connection"                  # registered with @register("connection")
    [connections.params]
    wmin = 0.0
    wmax = 1.0
    norm = 78.4
    [connections.init]                   # optional: how to initialise the weights
    dist = "uniform"
    low = 0.0
    high = 0.3
    seed = 0
    [connections.rule]                   # optional learning rule (@register("rule"))
    type = "PostPre"
    [connections.rule.params]
    nu = [1e-4, 1e-2]

    [[monitors]]
    name = "Y"
    type = "Monitor"                     # registered with @register("monitor")
    [monitors.params]
    obj = { ref = "layers.Y" }           # a layer, connection or the network itself
    state_vars = ["s", "v"]

Parameters (``params``) are the constructor arguments of a registered type, recorded by the
registry (:func:`snnrl.registry.constructor_args`); ``to_spec`` writes all of them, defaults
included, so a spec does not change meaning when a default changes. TOML arrays come back as
tuples. Values are plain data, with four tagged tables:

* ``{ tensor = <number or nested list>, dtype = "float32" }``: a tensor written inline (``dtype``
  optional, default inferred). Tensor arguments of populations, rules and monitors are written
  this way (e.g. a per-neuron threshold); presets may use it anywhere (a connection argument
  given inline is written back inline).
* ``{ tensor = "checkpoint", shape = [...], dtype = "...", layout = "sparse_coo" }`` (``layout``
  only for sparse tensors): a tensor argument of a *connection* (initial weights ``w``, bias
  ``b``, ``mask``, ``dale``, ``delay``, sparse ``indices``, ...). Its values are not in the
  spec but in the checkpoint, which stores every connection's tensor arguments (once, when one
  equals the state tensor of the same name) so that the connection is rebuilt exactly as it
  was built, before its learned state is loaded. Building such a spec needs them
  (:func:`snnrl.checkpoint.load_checkpoint`, or ``network_from_spec(spec, state, args=constructor_tensors(net))``);
  with only ``state``, the argument is the state tensor of the same name (``mask``, ``dale``,
  ``delay``, ...) or zeros (``w``, ``b``: the state overwrites them), exact for types such as
  the dense connection; with neither, it is an error. Presets write inline tensors or use
  ``init`` instead.
* ``{ seed = <int> }``: a ``torch.Generator`` (``to_spec`` writes ``generator.initial_seed()``,
  as a decimal string above ``2**63 - 1``; the spec gets a fresh CPU generator seeded with it).
  A type that draws its structure at construction (a random sparse connection) is reproduced
  when its generator was freshly seeded for it. Checkpoints also store each generator's current
  state, so a loaded network continues the same random stream.
* ``{ ref = "layers.<name>" | "connections.<name>" | "network" }``: a component of the network
  being built (monitors use it; connections name their endpoints with ``source``/``target``).

Any other table is a plain dict; ``None`` cannot be written (an argument that is None is left
out, which is only allowed when its default is None). A connection's ``source``, ``target`` and
``rule`` arguments are given by the entry's ``source``/``target`` keys and ``rule`` table.

Weights: the checkpoint's tensors when there are any; otherwise the ``init`` table, applied after
construction (then the connection's bounds, mask, Dale's rule and ``norm`` are re-imposed, so
with Dale's rule give a distribution of the right sign per presynaptic unit or none);
otherwise the connection type's own initialisation (seeded by its ``generator`` argument when
given). ``to_spec`` writes back the ``init`` table of a connection built from a spec. Init
distributions (see :data:`INIT_DISTS`; every key but ``dist`` optional, unknown keys are errors):

* ``uniform``: ``low`` (0), ``high`` (1), ``seed``;  ``normal``: ``mean`` (0), ``std`` (1), ``seed``;
* ``constant``: ``value`` (required);
* ``diagonal`` (2-D weights): ``value`` (1) on the diagonal, ``off`` (0) elsewhere, e.g. the
  one-to-one or lateral-inhibition weights of Diehl & Cook;
* ``blocks`` (2-D square weights): ``value`` (0) inside the diagonal blocks of ``size`` units,
  ``off`` (required) between them, e.g. populations of ``size`` neurons that inhibit each other.

``from_spec`` rejects unknown keys and types, missing required keys and unknown endpoints with a
:class:`SpecError` whose message starts with the key path, e.g. ``connections[1].params.wmaxx``.
Parameters are validated by the constructor itself (its errors are re-raised with the path).

Limitations: the spec records constructor arguments, so attributes changed after construction
(other than learned tensors, which checkpoints keep) are not described, and a tensor nested in
a list or dict argument is written inline; a generator shared by several components becomes one
generator per component; state that is not in a module's ``state_dict`` (voltages, spikes,
traces of the current run) is not saved: a built network starts at rest.
"""

from __future__ import annotations

import inspect
import math
import numbers
import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch
from torch import Tensor

from snnrl import _checks as checks
from snnrl import toml
from snnrl.network.network import Network
from snnrl.registry import constructor_args, lookup, name_of

__all__ = [
    "INIT_DISTS",
    "SPEC_VERSION",
    "SpecError",
    "component_from_spec",
    "component_to_spec",
    "constructor_tensors",
    "network_from_spec",
    "network_to_spec",
    "read_spec",
    "write_spec",
]

#: Version of the spec format written by :func:`network_to_spec`.
SPEC_VERSION = 1

_TOP_KEYS = ("snnrl_spec", "network", "layers", "connections", "monitors")
_LAYER_KEYS = ("name", "type", "params")
_CONNECTION_KEYS = ("name", "source", "target", "type", "params", "init", "rule")
_COMPONENT_KEYS = ("type", "params")
_MONITOR_KEYS = ("name", "type", "params")
_CHECKPOINT = "checkpoint"
_INT64_MAX = 2**63 - 1
_EXTRA_STATE = "_extra_state"  # state_dict key suffix of a module's get_extra_state()


class SpecError(ValueError):
    """An invalid spec. The message starts with the path of the offending key."""


def _elements(data: Any) -> Iterator[Any]:
    """The scalars of a nested list (a scalar: itself)."""
    if isinstance(data, list):
        for item in data:
            yield from _elements(item)
    else:
        yield data


def _error(path: str, message: str) -> SpecError:
    return SpecError(f"{path}: {message}")


# ------------------------------------------------------------------------- init dists
def _init_number(init: Mapping[str, Any], key: str, default: float | None, path: str) -> float:
    """The number ``init[key]`` (``default`` when absent; None: required) of the init table at ``path``."""
    value = init.get(key, default)
    if value is None:
        raise _error(path, f"init dist {init['dist']!r} needs {key!r}")
    if not (checks.is_real(value) and math.isfinite(value)):
        raise _error(f"{path}.{key}", f"must be a finite number, got {value!r}")
    return float(value)


def _generator(init: Mapping[str, Any], path: str) -> torch.Generator | None:
    seed = init.get("seed")
    if seed is None:
        return None
    if not (checks.is_int(seed) and seed >= 0):
        raise _error(f"{path}.seed", f"must be a non-negative int, got {seed!r}")
    return torch.Generator().manual_seed(int(seed))


def _init_uniform(w: Tensor, init: Mapping[str, Any], path: str) -> Tensor:
    low, high = _init_number(init, "low", 0.0, path), _init_number(init, "high", 1.0, path)
    if low > high:
        raise _error(f"{path}.low", f"low={low} is greater than high={high}")
    return low + (high - low) * torch.rand(w.shape, generator=_generator(init, path), dtype=w.dtype)


def _init_normal(w: Tensor, init: Mapping[str, Any], path: str) -> Tensor:
    mean, std = _init_number(init, "mean", 0.0, path), _init_number(init, "std", 1.0, path)
    if std < 0:
        raise _error(f"{path}.std", f"must be >= 0, got {std}")
    return mean + std * torch.randn(w.shape, generator=_generator(init, path), dtype=w.dtype)


def _init_constant(w: Tensor, init: Mapping[str, Any], path: str) -> Tensor:
    return torch.full(w.shape, _init_number(init, "value", None, path), dtype=w.dtype)


def _init_diagonal(w: Tensor, init: Mapping[str, Any], path: str) -> Tensor:
    if w.dim() != 2:
        raise _error(f"{path}.dist", f"'diagonal' needs 2-D weights, this connection's are {tuple(w.shape)}")
    out = torch.full(w.shape, _init_number(init, "off", 0.0, path), dtype=w.dtype)
    return out.fill_diagonal_(_init_number(init, "value", 1.0, path))


def _init_blocks(w: Tensor, init: Mapping[str, Any], path: str) -> Tensor:
    size = init.get("size")
    if w.dim() != 2 or w.shape[0] != w.shape[1]:
        raise _error(f"{path}.dist", f"'blocks' needs square 2-D weights, this connection's are {tuple(w.shape)}")
    if not (checks.is_int(size) and size > 0 and w.shape[0] % size == 0):
        raise _error(f"{path}.size", f"must be a positive int that divides {w.shape[0]} units, got {size!r}")
    block = torch.arange(w.shape[0]) // int(size)
    same = block[:, None] == block[None, :]
    inside, off = _init_number(init, "value", 0.0, path), _init_number(init, "off", None, path)
    return torch.where(same, torch.tensor(inside, dtype=w.dtype), torch.tensor(off, dtype=w.dtype))


#: Weight initialisations for a connection's ``init`` table: name -> (function, allowed keys).
INIT_DISTS: dict[str, tuple[Callable[[Tensor, Mapping[str, Any], str], Tensor], tuple[str, ...]]] = {
    "uniform": (_init_uniform, ("low", "high", "seed")),
    "normal": (_init_normal, ("mean", "std", "seed")),
    "constant": (_init_constant, ("value",)),
    "diagonal": (_init_diagonal, ("value", "off")),
    "blocks": (_init_blocks, ("size", "value", "off")),
}


def _check_init(init: Any, path: str) -> tuple[Callable[[Tensor, Mapping[str, Any], str], Tensor], Mapping]:
    if not isinstance(init, Mapping):
        raise _error(path, f"must be a table, got {type(init).__name__}")
    if "dist" not in init:
        raise _error(f"{path}.dist", f"missing; one of {sorted(INIT_DISTS)}")
    dist = init["dist"]
    if dist not in INIT_DISTS:
        raise _error(f"{path}.dist", f"unknown init dist {dist!r}; known: {sorted(INIT_DISTS)}")
    fn, allowed = INIT_DISTS[dist]
    for key in init:
        if key != "dist" and key not in allowed:
            raise _error(f"{path}.{key}", f"unknown key for init dist {dist!r}; allowed: {list(allowed)}")
    return fn, init


def _apply_init(conn: Any, init: Mapping[str, Any], path: str) -> None:
    fn, _ = _check_init(init, path)
    weight = getattr(conn, "weight", None)
    if not isinstance(weight, Tensor):
        raise _error(path, f"{type(conn).__name__} has no weights to initialise")
    with torch.no_grad():
        weight.data.copy_(fn(weight.data, init, path))
        conn.constrain()
        if getattr(conn, "norm", None) is not None:
            conn.normalize()


# ------------------------------------------------------------------------ values
def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _dtype(name: Any, path: str) -> torch.dtype:
    dtype = getattr(torch, name, None) if isinstance(name, str) else None
    if not isinstance(dtype, torch.dtype):
        raise _error(path, f"unknown dtype {name!r} (e.g. 'float32', 'int64', 'bool')")
    return dtype


def _is_tagged(value: Mapping[str, Any]) -> bool:
    keys = set(value)
    return "tensor" in keys or keys == {"seed"} or keys == {"ref"}


_SPARSE = {torch.sparse_coo: "sparse_coo", torch.sparse_csr: "sparse_csr", torch.sparse_csc: "sparse_csc"}
_LAYOUTS = {name: layout for layout, name in _SPARSE.items()}


def _encode(value: Any, path: str, refs: Mapping[int, str], placeholder: bool = False) -> Any:
    """Plain-data form of a constructor argument (see the module docstring).

    ``placeholder``: a tensor *here* (not nested in a list or dict) becomes a checkpoint placeholder.
    """
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, Tensor):
        t = value.detach()
        if placeholder:
            out = {"tensor": _CHECKPOINT, "shape": list(t.shape), "dtype": _dtype_name(t.dtype)}
            if t.layout != torch.strided:
                if t.layout not in _SPARSE:
                    raise _error(path, f"cannot store a tensor with layout {t.layout} (strided, COO, CSR, CSC only)")
                out["layout"] = _SPARSE[t.layout]
            return out
        if t.layout != torch.strided:
            t = t.to_dense()
        return {"tensor": t.cpu().tolist(), "dtype": _dtype_name(t.dtype)}
    if isinstance(value, torch.Generator):
        seed = value.initial_seed()
        return {"seed": seed if seed <= _INT64_MAX else str(seed)}
    if id(value) in refs:
        return {"ref": refs[id(value)]}
    if isinstance(value, (list, tuple)):
        return [_encode(v, f"{path}[{i}]", refs) for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise _error(path, f"dict keys must be strings, got {k!r}")
            out[k] = _encode(v, f"{path}.{k}", refs)
        if _is_tagged(out):
            raise _error(path, f"a dict with keys {sorted(out)} would read back as a tensor, generator or ref")
        return out
    if value is None:
        raise _error(path, "None cannot be written in a spec (TOML has no null)")
    if isinstance(value, torch.nn.Module):
        raise _error(path, f"this {type(value).__name__} is not a layer or connection of the network")
    raise _error(path, f"cannot describe a {type(value).__name__} value in a spec "
                       "(plain data, tensors, generators and network components only)")


class _Decoder:
    """Turns spec values back into Python values (tensors, generators, references).

    Checkpoint placeholders are filled from ``args`` (the constructor tensors a checkpoint
    stores, by ``"<component>.<argument>"``) when given; else, when only ``state`` is given,
    from the state tensor of the same key, or zeros.
    """

    def __init__(self, refs: Mapping[str, Any], state: Mapping[str, Tensor] | None,
                 args: Mapping[str, Tensor] | None = None) -> None:
        self.refs = refs
        self.state = state
        self.args = args

    def __call__(self, value: Any, path: str, key: str | None = None) -> Any:
        """Decode ``value``; ``key`` names it among the constructor tensors (top-level arguments)."""
        if isinstance(value, Mapping):
            if "tensor" in value:
                return self.tensor(value, path, key)
            if set(value) == {"seed"}:
                return self.generator(value["seed"], path)
            if set(value) == {"ref"}:
                ref = value["ref"]
                if ref not in self.refs:
                    raise _error(f"{path}.ref", f"unknown reference {ref!r}; known: {sorted(self.refs)}")
                return self.refs[ref]
            return {k: self(v, f"{path}.{k}") for k, v in value.items()}
        if isinstance(value, list):
            return tuple(self(v, f"{path}[{i}]") for i, v in enumerate(value))
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        raise _error(path, f"not plain data: {type(value).__name__}")

    def tensor(self, value: Mapping[str, Any], path: str, key: str | None = None) -> Tensor:
        for k in value:
            if k not in ("tensor", "dtype", "shape", "layout"):
                raise _error(f"{path}.{k}", "unknown key in a tensor table; allowed: tensor, dtype, shape, layout")
        data = value["tensor"]
        dtype = _dtype(value["dtype"], f"{path}.dtype") if "dtype" in value else None
        if data != _CHECKPOINT:
            for k in ("shape", "layout"):
                if k in value:
                    raise _error(f"{path}.{k}", "only allowed with tensor = 'checkpoint'")
            if isinstance(data, str):
                raise _error(f"{path}.tensor", f"must be a number, a nested list or 'checkpoint', got {data!r}")
            booleans = {isinstance(x, bool) for x in _elements(data)}
            if len(booleans) > 1 or (booleans == {True} and dtype not in (None, torch.bool)):
                raise _error(f"{path}.tensor", "mixes booleans and numbers" if len(booleans) > 1 else
                             f"holds booleans but its dtype is {value['dtype']!r}")
            try:
                return torch.tensor(data, dtype=dtype)
            except (TypeError, ValueError, RuntimeError) as e:
                raise _error(f"{path}.tensor", f"not a valid tensor: {e}") from None
        shape = value.get("shape")
        if not isinstance(shape, list) or not all(checks.is_int(d) and d >= 0 for d in shape):
            raise _error(f"{path}.shape", f"must be a list of non-negative ints, got {shape!r}")
        if dtype is None:
            raise _error(f"{path}.dtype", "missing (needed with tensor = 'checkpoint')")
        layout = value.get("layout", "strided")
        if layout != "strided" and layout not in _LAYOUTS:
            raise _error(f"{path}.layout", f"unknown layout {layout!r}; known: {['strided', *_LAYOUTS]}")
        if self.args is not None:
            arg = self.args.get(key) if key is not None else None
            if not isinstance(arg, Tensor):
                raise _error(path, f"the checkpoint has no tensor for this argument ({key!r})")
            got_layout = _SPARSE.get(arg.layout, "strided")
            if list(arg.shape) != shape or arg.dtype != dtype or got_layout != layout:
                raise _error(path, f"the checkpoint's tensor has shape {list(arg.shape)}, dtype {arg.dtype} and "
                                   f"layout {got_layout}; the spec says {shape}, {dtype} and {layout}")
            return arg.clone()
        if self.state is None:
            raise _error(path, "this tensor's values live in a checkpoint: load it with load_checkpoint(path) "
                               "or network_from_spec(spec, state), or write the values inline / use an init table")
        saved = self.state.get(key) if key is not None else None
        if layout == "strided" and isinstance(saved, Tensor) and list(saved.shape) == shape:
            return saved.detach().to(dtype).clone()
        zeros = torch.zeros(shape, dtype=dtype)
        return zeros if layout == "strided" else zeros.to_sparse(layout=_LAYOUTS[layout])

    @staticmethod
    def generator(seed: Any, path: str) -> torch.Generator:
        if isinstance(seed, str) and seed.isdigit():
            seed = int(seed)
        if not (checks.is_int(seed) and 0 <= seed < 2**64):
            raise _error(f"{path}.seed", f"must be an int in [0, 2**64), got {seed!r}")
        return torch.Generator().manual_seed(int(seed))


# --------------------------------------------------------------------- components
def _signature(cls: type) -> inspect.Signature:
    return inspect.signature(cls)


def _params_to_spec(obj: Any, path: str, refs: Mapping[int, str], placeholders: bool,
                    drop: tuple[str, ...] = (), inline: frozenset[str] = frozenset()) -> dict:
    args = constructor_args(obj)
    parameters = _signature(type(obj)).parameters
    out: dict[str, Any] = {}
    for name, value in args.items():
        if name in drop:
            continue
        param = parameters.get(name)
        where = f"{path}.params.{name}"
        if param is not None and param.kind is inspect.Parameter.VAR_KEYWORD:
            for key, v in value.items():
                if v is not None:
                    out[key] = _encode(v, f"{path}.params.{key}", refs, placeholders and key not in inline)
            continue
        if param is not None and param.kind is inspect.Parameter.VAR_POSITIONAL:
            if value:
                raise _error(where, "extra positional arguments (*args) cannot be described in a spec")
            continue
        if value is None:
            if param is not None and param.default is not None:
                raise _error(where, f"is None but its default is {param.default!r}; a spec cannot write None")
            continue
        out[name] = _encode(value, where, refs, placeholders and name not in inline)
    return out


def _describe(obj: Any, kind: str, path: str, refs: Mapping[int, str], drop: tuple[str, ...] = (),
              inline: frozenset[str] = frozenset()) -> dict:
    try:
        found_kind, name = name_of(obj)
    except ValueError as e:
        raise _error(f"{path}.type", str(e)) from None
    if found_kind != kind:
        raise _error(f"{path}.type", f"{name} is registered as a {found_kind!r} type, expected {kind!r}")
    return {"type": name, "params": _params_to_spec(obj, path, refs, kind == "connection", drop, inline)}


def _check_keys(entry: Any, path: str, allowed: tuple[str, ...], required: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(entry, Mapping):
        raise _error(path, f"must be a table, got {type(entry).__name__}")
    for key in entry:
        if key not in allowed:
            raise _error(f"{path}.{key}" if path else str(key), f"unknown key; allowed: {list(allowed)}")
    for key in required:
        if key not in entry:
            raise _error(f"{path}.{key}" if path else key, "missing required key")
    return entry


def _type_name(entry: Mapping[str, Any], path: str) -> str:
    name = entry["type"]
    if not isinstance(name, str):
        raise _error(f"{path}.type", f"must be a string, got {name!r}")
    return name


def _construct(
    kind: str, entry: Mapping[str, Any], path: str, decode: _Decoder, fixed: Mapping[str, Any] | None = None,
    key_prefix: str | None = None,
) -> Any:
    """Build a registered type from ``{type, params}``; ``fixed`` arguments come from elsewhere.

    ``key_prefix``: the object's key prefix in the network's ``state_dict``, which also names its
    checkpoint tensors (``"connections.<name>."``).
    """
    type_name = _type_name(entry, path)
    try:
        cls = lookup(kind, type_name)
    except ValueError as e:
        raise _error(f"{path}.type", str(e)) from None
    params = entry.get("params", {})
    if not isinstance(params, Mapping):
        raise _error(f"{path}.params", f"must be a table, got {type(params).__name__}")
    parameters = _signature(cls).parameters
    var_keyword = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    named = {n: p for n, p in parameters.items()
             if p.kind not in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)}
    fixed = dict(fixed or {})
    kwargs: dict[str, Any] = {}
    for key, raw in params.items():
        where = f"{path}.params.{key}"
        if key in fixed:
            raise _error(where, f"is set by the entry's {key!r} key, not in params")
        if key not in named and not var_keyword:
            raise _error(where, f"unknown parameter of {type_name}; valid: {[n for n in named if n not in fixed]}")
        kwargs[key] = decode(raw, where, None if key_prefix is None else key_prefix + key)
    kwargs.update(fixed)
    for name, param in named.items():
        if param.default is inspect.Parameter.empty and name not in kwargs:
            raise _error(f"{path}.params.{name}", f"missing required parameter of {type_name}")
    args = [kwargs.pop(n) for n, p in named.items() if p.kind is inspect.Parameter.POSITIONAL_ONLY and n in kwargs]
    try:
        return cls(*args, **kwargs)
    except (TypeError, ValueError) as e:
        raise _error(f"{path}.params", f"{type_name} rejected its parameters: {e}") from e


def component_to_spec(obj: Any, kind: str | None = None) -> dict[str, Any]:
    """``{"type": name, "params": {...}}`` for a standalone registered object (encoder, rule, ...).

    Tensor arguments are written inline. ``kind`` (optional) checks the registry kind.
    """
    found_kind, _ = name_of(obj)
    return _describe(obj, kind or found_kind, kind or found_kind, {})


def component_from_spec(kind: str, entry: Mapping[str, Any], path: str | None = None) -> Any:
    """Build a registered object of ``kind`` from ``{"type": name, "params": {...}}``.

    Raises:
        SpecError: unknown keys, type or parameters, or parameters the constructor rejects;
            the message starts with the key path (``path``, default ``kind``).
    """
    path = kind if path is None else path
    _check_keys(entry, path, _COMPONENT_KEYS, ("type",))
    return _construct(kind, entry, path, _Decoder({}, None))


# ------------------------------------------------------------------------ network
def _network_params(cls: type) -> dict[str, inspect.Parameter]:
    return {n: p for n, p in _signature(cls).parameters.items()
            if p.kind not in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)}


def network_to_spec(net: Network) -> dict[str, Any]:
    """The spec of ``net`` (see the module docstring); connection tensors are not included."""
    section = {}
    for name in _network_params(type(net)):
        section[name] = _encode(getattr(net, name), f"network.{name}", {})
    refs: dict[int, str] = {id(net): "network"}
    layers = []
    for i, (name, layer) in enumerate(net.layers.items()):
        refs[id(layer)] = f"layers.{name}"
        layers.append({"name": name, **_describe(layer, "nodes", f"layers[{i}]", refs)})
    connections = []
    for i, (name, conn) in enumerate(net.connections.items()):
        path = f"connections[{i}]"
        source, target = net.endpoints[name]
        args = constructor_args(conn)
        drop = tuple(k for k, layer in (("source", conn.source), ("target", conn.target)) if args.get(k) is layer)
        entry = {"name": name, "source": source, "target": target,
                 **_describe(conn, "connection", path, refs, (*drop, "rule"), conn.spec_inline or frozenset())}
        init = conn.spec_init
        if init is not None:
            entry["init"] = dict(init)
        rule = conn.rule
        if rule is not None:
            entry["rule"] = _describe(rule, "rule", f"{path}.rule", refs)
        connections.append(entry)
        refs[id(conn)] = f"connections.{name}"
    monitors = [{"name": name, **_describe(mon, "monitor", f"monitors[{i}]", refs)}
                for i, (name, mon) in enumerate(net.monitors.items())]
    return {"snnrl_spec": SPEC_VERSION, "network": section, "layers": layers, "connections": connections,
            "monitors": monitors}


def _entries(spec: Mapping[str, Any], key: str) -> list[Any]:
    entries = spec.get(key, [])
    if not isinstance(entries, list):
        raise _error(key, f"must be an array of tables ([[{key}]]), got {type(entries).__name__}")
    return entries


def _entry_name(entry: Mapping[str, Any], path: str, default: str | None = None) -> str:
    name = entry.get("name", default)
    if not isinstance(name, str) or not name:
        raise _error(f"{path}.name", f"must be a non-empty string, got {name!r}")
    return name


def network_from_spec(
    spec: Mapping[str, Any] | str | os.PathLike[str],
    state: Mapping[str, Tensor] | None = None,
    network_cls: type | None = None,
    args: Mapping[str, Tensor] | None = None,
) -> Network:
    """Build a network from a spec (a dict, or the path of a TOML file).

    Args:
        spec: the spec (see the module docstring).
        state: tensors to load (a ``state_dict`` of the same network, e.g. from a checkpoint).
            With it, ``tensor = "checkpoint"`` arguments are allowed and ``init`` tables are not
            applied (the state has the weights); the keys, shapes and dtypes must match exactly.
        network_cls: the class to build (default :class:`Network`).
        args: the connections' tensor arguments, as :func:`constructor_tensors` returns them
            (checkpoints store them). Without them, a ``tensor = "checkpoint"`` argument is the
            state tensor of the same name (``mask``, ``dale``, ``delay``, ...) or zeros (``w``,
            ``b``, which the state overwrites): exact for types that keep what they derive
            from their tensor arguments in same-named buffers, as the dense connection does.

    Raises:
        SpecError: the message starts with the offending key path.
    """
    cls = Network if network_cls is None else network_cls
    if not isinstance(spec, Mapping):
        spec = read_spec(spec)
    _check_keys(spec, "", _TOP_KEYS, ("snnrl_spec",))
    version = spec["snnrl_spec"]
    if version != SPEC_VERSION or isinstance(version, bool):
        raise _error("snnrl_spec", f"unsupported spec version {version!r}; this snnrl reads version {SPEC_VERSION}")
    section = spec.get("network", {})
    net_params = _network_params(cls)
    _check_keys(section, "network", tuple(net_params), ())
    try:
        net = cls(**section)
    except (TypeError, ValueError) as e:
        raise _error("network", str(e)) from e
    refs: dict[str, Any] = {"network": net}
    if args is not None and state is None:
        raise ValueError("args need state: give the state_dict as well")
    decode = _Decoder(refs, state, args)

    for i, entry in enumerate(_entries(spec, "layers")):
        path = f"layers[{i}]"
        _check_keys(entry, path, _LAYER_KEYS, ("name", "type"))
        name = _entry_name(entry, path)
        layer = _construct("nodes", entry, path, decode)
        try:
            net.add_layer(layer, name)
        except (TypeError, ValueError) as e:
            raise _error(f"{path}.name", str(e)) from e
        refs[f"layers.{name}"] = layer

    for i, entry in enumerate(_entries(spec, "connections")):
        path = f"connections[{i}]"
        _check_keys(entry, path, _CONNECTION_KEYS, ("source", "target", "type"))
        _add_connection(net, entry, path, decode, refs, state is None)

    for i, entry in enumerate(_entries(spec, "monitors")):
        path = f"monitors[{i}]"
        _check_keys(entry, path, _MONITOR_KEYS, ("name", "type"))
        name = _entry_name(entry, path)
        monitor = _construct("monitor", entry, path, decode)
        try:
            net.add_monitor(monitor, name)
        except (TypeError, ValueError) as e:
            raise _error(f"{path}.name", str(e)) from e

    if state is not None:
        load_state(net, state)
    return net


def _add_connection(net: Any, entry: Mapping[str, Any], path: str, decode: _Decoder, refs: dict[str, Any],
                    apply_init: bool) -> None:
    ends = {}
    for role in ("source", "target"):
        layer_name = entry[role]
        if not isinstance(layer_name, str) or layer_name not in net.layers:
            raise _error(f"{path}.{role}", f"unknown layer {layer_name!r}; layers: {list(net.layers)}")
        ends[role] = layer_name
    name = _entry_name(entry, path, f"{ends['source']}->{ends['target']}")
    init = entry.get("init")
    if init is not None:
        _check_init(init, f"{path}.init")
    type_name = _type_name(entry, path)
    try:
        parameters = _signature(lookup("connection", type_name)).parameters
    except ValueError as e:
        raise _error(f"{path}.type", str(e)) from None
    fixed = {role: net.layers[layer] for role, layer in ends.items() if role in parameters}
    rule = None
    if "rule" in entry:
        rule_path = f"{path}.rule"
        _check_keys(entry["rule"], rule_path, _COMPONENT_KEYS, ("type",))
        rule = _construct("rule", entry["rule"], rule_path, decode)
        if "rule" in parameters:
            fixed["rule"] = rule
    conn = _construct("connection", entry, path, decode, fixed, key_prefix=f"connections.{name}.")
    if rule is not None and "rule" not in parameters:
        conn.set_rule(rule)
    if init is not None:
        if apply_init:
            _apply_init(conn, init, f"{path}.init")
        conn.spec_init = dict(init)
    params = entry.get("params", {})
    inline = frozenset(k for k, v in params.items() if isinstance(v, Mapping) and "tensor" in v
                       and v["tensor"] != _CHECKPOINT)
    if inline:
        conn.spec_inline = inline
    try:
        net.add_connection(conn, ends["source"], ends["target"], name)
    except (TypeError, ValueError) as e:
        raise _error(f"{path}.name", str(e)) from e
    refs[f"connections.{name}"] = conn


# --------------------------------------------------------------------- state, RNG
def load_state(net: Any, state: Mapping[str, Tensor]) -> None:
    """Load ``state`` into ``net``: keys, shapes and dtypes must match exactly.

    Entries whose key ends with ``_extra_state`` (a module's ``get_extra_state()``) may be any
    value; the module's ``set_extra_state`` validates them.

    When every floating tensor of ``state`` has one dtype other than the network's, the network
    is converted to it first (a network saved after ``.double()``).

    Raises:
        SpecError: with the names of the missing, unexpected or mismatched tensors.
    """
    expected = net.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        raise _error("state", f"the tensors do not match the spec: missing {missing[:8]}"
                              f"{'...' if len(missing) > 8 else ''}, unexpected {unexpected[:8]}"
                              f"{'...' if len(unexpected) > 8 else ''}")
    for key, value in state.items():
        if not isinstance(value, Tensor) and not key.endswith(_EXTRA_STATE):
            raise _error(f"state[{key!r}]", f"must be a tensor, got {type(value).__name__}")
    floats = {t.dtype for t in state.values() if isinstance(t, Tensor) and t.is_floating_point()}
    own = {t.dtype for t in expected.values() if isinstance(t, Tensor) and t.is_floating_point()}
    if len(floats) == 1 and own and floats != own:
        net.to(next(iter(floats)))
        expected = net.state_dict()
    for key, value in state.items():
        want = expected[key]
        if not isinstance(value, Tensor) or not isinstance(want, Tensor):  # a module's extra state
            if isinstance(value, Tensor) != isinstance(want, Tensor):
                raise _error(f"state[{key!r}]", f"is a {type(value).__name__}; the spec builds a "
                                                f"{type(want).__name__}")
            continue
        if tuple(value.shape) != tuple(want.shape) or value.dtype != want.dtype:
            raise _error(f"state[{key!r}]", f"has shape {tuple(value.shape)} and dtype {value.dtype}; the spec "
                                            f"builds shape {tuple(want.shape)} and dtype {want.dtype}")
    try:
        net.load_state_dict(dict(state), strict=True)
    except (RuntimeError, ValueError, TypeError, KeyError) as e:
        raise _error("state", f"cannot be loaded: {e}") from e


def constructor_tensors(net: Any) -> dict[str, Tensor]:
    """The tensor arguments of ``net``'s connections: ``{"connections.<name>.<argument>": tensor}``.

    These are the values behind a spec's ``tensor = "checkpoint"`` placeholders; with the
    ``state_dict`` they rebuild every connection exactly (``network_from_spec(spec, state, args=...)``).
    """
    out = {}
    for name, conn in net.connections.items():
        parameters = _signature(type(conn)).parameters
        for arg, value in constructor_args(conn).items():
            param = parameters.get(arg)
            values = value if param is not None and param.kind is inspect.Parameter.VAR_KEYWORD else {arg: value}
            for key, v in values.items():
                if isinstance(v, Tensor):
                    out[f"connections.{name}.{key}"] = v.detach()
    return out


def components(net: Any) -> list[tuple[str, Any]]:
    """``(path, object)`` of every registered component of ``net``: layers, connections, rules, monitors."""
    out: list[tuple[str, Any]] = [(f"layers.{n}", layer) for n, layer in net.layers.items()]
    for n, conn in net.connections.items():
        out.append((f"connections.{n}", conn))
        if conn.rule is not None:
            out.append((f"connections.{n}.rule", conn.rule))
    out.extend((f"monitors.{n}", mon) for n, mon in net.monitors.items())
    return out


def generators(net: Any) -> dict[str, tuple[Any, str, torch.Generator]]:
    """The generators passed to the constructors of ``net``'s components.

    Returns ``{"<component path>.<argument>": (object, argument, generator)}``; when the object
    holds a generator in an attribute named like the argument, that (live) one is returned.
    """
    out = {}
    for path, obj in components(net):
        try:
            args = constructor_args(obj)
        except ValueError:
            continue
        for arg, value in args.items():
            if isinstance(value, torch.Generator):
                live = obj.__dict__.get(arg)
                out[f"{path}.{arg}"] = (obj, arg, live if isinstance(live, torch.Generator) else value)
    return out


# --------------------------------------------------------------------------- files
def read_spec(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a spec from a TOML file (not validated until built)."""
    try:
        return toml.load(path)
    except (toml.TOMLDecodeError, UnicodeDecodeError) as e:
        raise SpecError(f"{os.fspath(path)}: not valid TOML (UTF-8): {e}") from None


def write_spec(spec: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Write a spec (e.g. ``network_to_spec(net)``) to a TOML file."""
    toml.dump(spec, path)
