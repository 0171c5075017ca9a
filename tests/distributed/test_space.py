"""The search space of ``snnrl tune`` and the seeds of ``snnrl train --seeds``: parsing and checks (no Ray)."""

import subprocess
import sys

import pytest

from snnrl.cli import main
from snnrl.distributed.seedset import parse_seeds
from snnrl.distributed.space import SpaceError, check_space, override, parse_param
from snnrl.pipeline import load_agent

NU = "network.connections.0.rule.params.nu"


def test_seeds_ranges_and_lists():
    assert parse_seeds("0-9") == tuple(range(10))
    assert parse_seeds("4") == (4,)
    assert parse_seeds("0,3,5-7") == (0, 3, 5, 6, 7)


@pytest.mark.parametrize(("text", "message"), [
    ("5-2", "the range '5-2' is empty (5 > 2)"),
    ("a-b", "'a-b' is not a seed or a range"),
    ("-1", "'-1' is not a seed or a range"),
    ("0,1,1", "seed 1 is given twice"),
    ("", "'' is not a seed or a range"),
])
def test_bad_seeds_are_named(text, message):
    with pytest.raises(ValueError, match="--seeds") as info:
        parse_seeds(text)
    assert message in str(info.value)


def test_distributions_and_their_optuna_form():
    optuna = pytest.importorskip("optuna")
    p = parse_param(f"{NU}=loguniform(1e-3, 0.5)")
    assert (p.key, p.kind, p.args) == (NU, "loguniform", (1e-3, 0.5))
    assert p.distribution() == optuna.distributions.FloatDistribution(1e-3, 0.5, log=True)
    assert parse_param("training.episodes=int(10, 50, 10)").distribution() == \
        optuna.distributions.IntDistribution(10, 50, step=10)
    assert parse_param("a.b=uniform(-1, 1)").distribution() == optuna.distributions.FloatDistribution(-1.0, 1.0)
    c = parse_param('reward.signal.type=choice("RawReward", MovingAverageRPE)')
    assert c.args == ("RawReward", "MovingAverageRPE") and c.candidates() == list(c.args)
    assert parse_param("x.y=choice(true, false)").args == (True, False)
    assert override(NU, 0.02) == f"{NU}=0.02"
    assert override("reward.signal.type", "RawReward") == 'reward.signal.type="RawReward"'


@pytest.mark.parametrize(("text", "message"), [
    ("training.episodes", "must look like key.path=DIST"),
    ("=uniform(0, 1)", "must look like key.path=DIST"),
    ("a..b=uniform(0, 1)", "must look like key.path=DIST"),
    ("a=normal(0, 1)", "'normal(0, 1)' is not a distribution"),
    ("a=uniform(0, 1", "is not a distribution"),
    ("a=uniform(1, 1)", "the range is empty (1 >= 1)"),
    ("a=uniform(2, 1)", "the range is empty (2 >= 1)"),
    ("a=uniform(0)", "uniform takes 2 numbers"),
    ("a=uniform(x, 1)", "uniform takes 2 numbers"),
    ("a=loguniform(0, 1)", "loguniform needs 0 < LOW"),
    ("a=int(1.5, 3)", "int takes integers"),
    ("a=int(1, 9, 0)", "the step must be >= 1"),
    ("a=choice(1)", "choice needs two or more values"),
    ("a=choice()", "choice needs two or more values"),
    ("a=choice(1, 1)", "a choice is given twice"),
    ("a=choice([1], [2])", "choice values must be numbers, strings or booleans"),
])
def test_malformed_params_are_named(text, message):
    with pytest.raises(SpaceError) as info:
        parse_param(text)
    assert f"--param {text!r}" in str(info.value) and message in str(info.value)


@pytest.mark.parametrize(("text", "message"), [
    ("training.episodez=int(3, 5)", "unknown key 'training.episodez'"),
    (f"{NU.replace('nu', 'nux')}=uniform(0.1, 0.2)", "nux: unknown parameter of MSTDPET"),
    ("training.episodes=uniform(3, 5)", "training.episodes must be an int >= 1, got 3.0"),
    ("trainig.episodes=int(3, 5)", "unknown key 'trainig'"),
])
def test_keys_the_preset_does_not_take_are_refused(text, message):
    config = load_agent("cue_bandit")
    with pytest.raises(SpaceError) as info:
        check_space(config, [parse_param(text)])
    assert str(info.value).startswith(f"--param {text!r}: with ") and message in str(info.value)


def test_a_valid_space_passes_and_a_key_twice_does_not():
    config = load_agent("cue_bandit")
    check_space(config, [parse_param(f"{NU}=choice(0.002, 0.2)"), parse_param("training.episodes=int(5, 10)")])
    with pytest.raises(SpaceError, match=f"--param {NU} is given twice"):
        check_space(config, [parse_param(f"{NU}=uniform(0.1, 0.2)"), parse_param(f"{NU}=uniform(0.2, 0.3)")])


def test_a_plain_import_and_the_parser_do_not_import_the_extra():
    code = ("import sys, snnrl, snnrl.distributed, snnrl.cli; snnrl.cli.make_parser(); "
            "print(sorted({'ray', 'optuna', 'rliable', 'arch'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stderr


def test_without_the_extra_the_commands_say_which_to_install(tmp_path, monkeypatch, capsys):
    for module in ("ray", "optuna", "rliable", "rliable.library", "rliable.metrics"):
        monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    for argv in (["tune", "--agent", "cue_bandit", "--trials", "1", "--param", "training.episodes=int(1, 3)",
                  "--out", str(tmp_path / "t")],
                 ["train", "--agent", "cue_bandit", "--seeds", "0-1", "--runs-dir", str(tmp_path / "r")]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"snnrl {argv[0]}: ")
        assert "pip install 'snnrl[distributed]'" in err[0]
    assert not (tmp_path / "t").exists() and not (tmp_path / "r").exists()  # nothing started
