"""TOML through tomllib and tomli-w: exact round trips, numpy scalars, and errors that name the key."""

import math
import random
import tomllib

import numpy as np
import pytest
import tomli_w

from snnrl import toml

DOC = {
    "title": 'quotes " and \\ backslashes, tab\t, newline\n, bell \x07, del \x7f, unicode é ∞ 🧠',
    "int": -(2**63),
    "big": 2**63 - 1,
    "floats": [0.1, -0.0, 1e-300, 1.7976931348623157e308, 5e-324, 1e16, float("inf"), float("-inf")],
    "bools": [True, False],
    "nested": [[1, 2], [], ["a", [3.5]]],
    "mixed": [1, "two", {"three": 3}, [{"four": 4}]],
    "empty_list": [],
    "tuple": (1, 2),
    "key with spaces": 1,
    "dotted.key": 2,
    "": "empty key",
    "ключ": "non-ASCII key",
    "network": {"dt": 1.0, "learning": True, "sub": {"deeper": {"deepest": "x"}}, "empty": {}},
    "layers": [
        {"name": "X", "params": {"n": 4, "thresh": {"tensor": [[-52.0, -50.0]], "dtype": "float32"}}},
        {"name": "Y", "params": {}, "rule": {"type": "R", "params": {"nu": [0.1, 0.2]}},
         "children": [{"a": 1}, {"b": {"c": 2}}]},
    ],
}


def _normal(value):
    """Tuples as lists (what TOML gives back)."""
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_normal(v) for v in value]
    return value


def test_round_trip_of_every_supported_value():
    text = toml.dumps(DOC)
    assert tomllib.loads(text) == _normal(DOC)
    assert toml.loads(text) == _normal(DOC)


def test_nan_round_trips():
    back = toml.loads(toml.dumps({"x": float("nan"), "xs": [float("nan"), 1.0]}))
    assert math.isnan(back["x"]) and math.isnan(back["xs"][0]) and back["xs"][1] == 1.0


def test_layout_is_tomli_w_s():
    data = {"snnrl_spec": 1, "network": {"dt": 1.0},
            "layers": [{"name": "X", "params": {"n": 4, "thresh": {"tensor": [1.0], "dtype": "float32"}}}]}
    text = toml.dumps(data)
    assert text == tomli_w.dumps(data)
    assert text.startswith("snnrl_spec = 1\n\n[network]\ndt = 1.0\n\n[[layers]]\nname = \"X\"\n")
    assert "[layers.params.thresh]" in text


def test_numpy_scalars_and_tuples_become_plain_values():
    data = {"i": np.int64(-3), "u": np.uint8(200), "f": np.float32(0.5), "d": np.float64(0.1), "b": np.bool_(True),
            "t": (np.int32(1), 2.5), "nested": {"deep": [np.int16(7)]}}
    back = toml.loads(toml.dumps(data))
    assert back == {"i": -3, "u": 200, "f": 0.5, "d": 0.1, "b": True, "t": [1, 2.5], "nested": {"deep": [7]}}
    assert type(back["i"]) is int and type(back["f"]) is float and back["b"] is True


def test_file_round_trip(tmp_path):
    toml.dump(DOC, tmp_path / "doc.toml")
    assert toml.load(tmp_path / "doc.toml") == _normal(DOC)


@pytest.mark.parametrize(("data", "error", "pattern"), [
    ({"layers": [{"params": {"x": None}}]}, ValueError, r"^layers\[0\]\.params\.x: TOML has no null"),
    ({"a": [1, None]}, ValueError, r"^a\[1\]: TOML has no null"),
    ({"a": {"b": 2**63}}, ValueError, r"^a\.b: 9223372036854775808 is outside TOML's signed 64-bit"),
    ({"a": object()}, TypeError, r"^a: cannot write a object to TOML"),
    ({"a": {1: 2}}, TypeError, r"^a: TOML keys must be strings"),
    ({"a": {"b": {"c": {"d": None}}}}, ValueError, r"^a\.b\.c\.d: TOML has no null"),
])
def test_errors_name_the_key_path(data, error, pattern):
    with pytest.raises(error, match=pattern):
        toml.dumps(data)


def test_root_must_be_a_table():
    with pytest.raises(TypeError, match="TOML documents are tables"):
        toml.dumps([1, 2])


def test_bad_toml_is_reported_by_the_reader():
    with pytest.raises(toml.TOMLDecodeError):
        toml.loads("a = [")


_ALPHABET = 'abcXYZ09_- ."\\\n\t\x00\x1f\x7fé∞🧠[]{}=#'


def _random_value(rng: random.Random, depth: int):
    kind = rng.randrange(7 if depth < 3 else 4)
    if kind == 0:
        return "".join(rng.choice(_ALPHABET) for _ in range(rng.randrange(8)))
    if kind == 1:
        return rng.choice([0, -1, 2**63 - 1, -(2**63), rng.randrange(-(10**12), 10**12)])
    if kind == 2:
        return rng.choice([0.0, -0.0, 1e-310, 1e300, float("inf"), float("-inf"), rng.uniform(-1e6, 1e6),
                           rng.random() * 10 ** rng.randrange(-20, 20)])
    if kind == 3:
        return rng.random() < 0.5
    if kind == 4:
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if kind == 5:  # an array of tables
        return [_random_table(rng, depth + 1) for _ in range(1 + rng.randrange(3))]
    return _random_table(rng, depth + 1)


def _random_table(rng: random.Random, depth: int) -> dict:
    keys = ("".join(rng.choice(_ALPHABET) for _ in range(rng.randrange(5))) for _ in range(rng.randrange(5)))
    return {key: _random_value(rng, depth) for key in keys}


def test_random_documents_round_trip():
    rng = random.Random(0)
    for _ in range(300):
        doc = _random_table(rng, 0)
        assert tomllib.loads(toml.dumps(doc)) == doc
