"""The quality gate that CI runs inside pytest: ruff is clean and mypy finds no new errors.

mypy is compared module by module with ``tests/mypy_baseline.json`` (module path -> error count):
a module may not gain errors, and a module that loses some must have its baseline lowered, so the
baseline only shrinks. After fixing (or, deliberately, adding) mypy errors, rewrite it with::

    python tests/test_quality.py --update-mypy-baseline

mypy's cache lives under the system temp dir (one per checkout), not in the repo: a cold run takes
about 20 s on a 2-core machine, a warm one under a second.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import tempfile
from collections import Counter
from importlib.util import find_spec
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BASELINE = REPO / "tests" / "mypy_baseline.json"
UPDATE_COMMAND = "python tests/test_quality.py --update-mypy-baseline"
MYPY_CACHE = Path(tempfile.gettempdir()) / f"snnrl-mypy-cache-{hashlib.sha1(str(REPO).encode()).hexdigest()[:12]}"
_ERROR = re.compile(r"^(?P<path>[^:\n]+\.pyi?):(?:\d+:){0,2} error: ")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=600)


def run_mypy() -> tuple[Counter[str], dict[str, list[str]]]:
    """mypy over ``snnrl`` (settings in pyproject.toml): the error count and error lines per module path."""
    proc = _run("mypy", "snnrl", "--cache-dir", str(MYPY_CACHE), "--no-pretty", "--no-color-output",
                "--no-error-summary")
    counts: Counter[str] = Counter()
    lines: dict[str, list[str]] = {}
    for line in proc.stdout.splitlines():
        match = _ERROR.match(line)
        if match:
            path = match["path"].replace("\\", "/")
            counts[path] += 1
            lines.setdefault(path, []).append(line)
    # exit status 1 means "errors found"; anything else (2: crash or bad usage) is not a count
    if proc.returncode not in (0, 1) or (proc.returncode == 1) != bool(counts):
        raise RuntimeError(f"mypy failed (exit status {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return counts, lines


def read_baseline() -> dict[str, int]:
    return json.loads(BASELINE.read_text()) if BASELINE.exists() else {}


def write_baseline(counts: Counter[str]) -> None:
    BASELINE.write_text(json.dumps(dict(sorted(counts.items())), indent=2) + "\n")


def test_ruff_is_clean():
    if find_spec("ruff") is None:
        pytest.fail('ruff is not installed: pip install -e ".[dev]"')
    proc = _run("ruff", "check", ".")
    assert proc.returncode == 0, f"`ruff check .` is not clean:\n{proc.stdout}\n{proc.stderr}"


@pytest.fixture(scope="module")
def mypy_result() -> tuple[Counter[str], dict[str, list[str]]]:
    if find_spec("mypy") is None:
        pytest.skip('mypy is not installed (it is in the dev extra: pip install -e ".[dev]")')
    return run_mypy()


def test_mypy_no_new_errors(mypy_result):
    counts, lines = mypy_result
    baseline = read_baseline()
    worse = {path: n for path, n in counts.items() if n > baseline.get(path, 0)}
    report = [
        f"{path}: {n} mypy errors, baseline {baseline.get(path, 0)}:\n    " + "\n    ".join(lines[path])
        for path, n in sorted(worse.items())
    ]
    assert not worse, (
        "mypy found more errors than tests/mypy_baseline.json allows (all of the module's errors are listed; "
        "the new ones are among them):\n" + "\n".join(report)
    )


def test_mypy_baseline_is_tight(mypy_result):
    counts, _ = mypy_result
    better = {path: (counts.get(path, 0), n) for path, n in read_baseline().items() if counts.get(path, 0) < n}
    assert not better, (
        "fewer mypy errors than tests/mypy_baseline.json records, well done; lower the baseline with "
        f"`{UPDATE_COMMAND}`:\n" + "\n".join(f"{path}: {now} errors, baseline {n}" for path, (now, n) in
                                           sorted(better.items()))
    )


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--update-mypy-baseline", action="store_true",
                        help=f"run mypy and rewrite {BASELINE.relative_to(REPO)} with its error counts")
    if not parser.parse_args().update_mypy_baseline:
        parser.error("nothing to do: pass --update-mypy-baseline (run the checks with pytest)")
    new, _ = run_mypy()
    old = read_baseline()
    write_baseline(new)
    for module in sorted(set(old) | set(new)):
        if old.get(module, 0) != new.get(module, 0):
            print(f"{module}: {old.get(module, 0)} -> {new.get(module, 0)}")
    print(f"{BASELINE.relative_to(REPO)}: {sum(new.values())} errors in {len(new)} modules "
          f"(was {sum(old.values())} in {len(old)})")
