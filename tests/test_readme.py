"""The README's quickstart runs as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_quickstart_runs(capsys):
    text = README.read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "README has no python code block"
    namespace: dict = {}
    exec(compile(blocks[0], "README quickstart", "exec"), namespace)
    net = namespace["net"]
    assert len(net.monitors["Y"]) == 0  # the quickstart ends with a reset, which clears monitors
    assert float(capsys.readouterr().out.split("(")[1].split(")")[0]) > 0  # the network fired


def test_ci_runs_the_readme_test_command():
    ci = (README.parent / ".ci" / "run").read_text()
    command = 'pip install -q -r requirements/ci.txt -e ".[dev]" && OMP_NUM_THREADS=1 python -m pytest'
    assert command in ci and command in README.read_text()
