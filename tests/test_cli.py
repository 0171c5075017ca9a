"""The ``snnrl`` command: the README's main job runs and writes what it says, and every
subcommand answers bad input with one line on stderr and a non-zero status, never a traceback."""

import json
import math
from importlib.util import find_spec

import pytest

from snnrl.cli import main, make_parser
from snnrl.commands import _args


def test_simulate_writes_summary_spikes_and_raster(tmp_path):
    pytest.importorskip("matplotlib")
    assert main(["simulate", "--out", str(tmp_path), "--time", "200", "--seed", "3"]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["steps"] == 200
    assert summary["mean_rate_hz"]["input"] > 5  # Poisson input at U(0, 40) Hz
    assert summary["mean_rate_hz"]["exc"] > 0
    png = (tmp_path / "raster.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    # same seed, same spikes
    main(["simulate", "--out", str(tmp_path / "again"), "--time", "200", "--seed", "3", "--no-plot"])
    import numpy as np

    with np.load(tmp_path / "spikes.npz") as a, np.load(tmp_path / "again" / "spikes.npz") as b:
        np.testing.assert_array_equal(a["exc"], b["exc"])


def test_bad_options_are_rejected(capsys):
    with pytest.raises(SystemExit):
        main(["simulate", "--time", "-5"])
    assert "expected a positive number, got '-5'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["simulate", "--frobnicate"])


# ------------------------------------------------------------------ bad input (issue 13)
# One row per mistake: (subcommand, arguments, a fragment of the error line that names the value).
# ``{tmp}`` is a folder with fixtures: ``afile`` (a regular file), ``not_utf8.toml``,
# ``not_a_checkpoint.safetensors``; ``{run}`` a cue_bandit run directory with a checkpoint;
# ``{sb3}`` an untrained stable-baselines3 PPO model for CartPole (rows that use it need the
# sb3 extra). Every subcommand must have rows: add yours with a new command.
AGENT = "agents/cue_bandit.toml"
QUIET = ["--no-progress", "--no-tensorboard", "--no-plot"]
BAD_INPUT = [
    ("simulate", ["--time", "nan"], "argument --time: expected a positive number, got 'nan'"),
    ("simulate", ["--seed", "-1"], "argument --seed: expected a seed"),
    ("simulate", ["--out", "{tmp}/afile/sim", "--time", "5", "--no-plot"], "Not a directory: '{tmp}/afile/sim'"),
    ("simulate", ["--max-rate", "5000", "--time", "5", "--no-plot", "--out", "{tmp}/sim"],
     "rates must be <= 1000 / dt = 1000 Hz"),
    ("train", ["--agent", "{tmp}/not_utf8.toml"], "agent preset '{tmp}/not_utf8.toml' is not valid TOML (UTF-8)"),
    ("train", ["--agent", AGENT, 'env.preset="{tmp}/not_utf8.toml"'],
     "cannot read the preset file '{tmp}/not_utf8.toml' as UTF-8 text"),
    ("train", ["--agent", AGENT, 'network="{tmp}/not_utf8.toml"'], "the spec file '{tmp}/not_utf8.toml' is not valid"),
    ("train", ["--agent", AGENT, "--runs-dir", "{tmp}/afile/runs", *QUIET],
     "cannot use '{tmp}/afile/runs' as the runs directory"),
    ("train", ["--agent", AGENT, "--run-dir", "{tmp}/afile", *QUIET], "cannot use '{tmp}/afile' as the run directory"),
    ("train", ["--agent", AGENT, "--resume", "{tmp}/not_a_checkpoint.safetensors", *QUIET],
     "cannot resume from '{tmp}/not_a_checkpoint.safetensors'"),
    ("train", ["--agent", "agents/cartpole.toml", "--resume", "{run}", *QUIET],
     "it is a run of agent 'cue_bandit' on env 'cue_bandit', not of agent 'cartpole' on env 'cartpole'"),
    ("train", ["--agent", AGENT, "--minutes", "inf"], "argument --minutes: expected a number >= 0, got 'inf'"),
    ("train", ["--agent", AGENT, "--seed", "-1"], "argument --seed: expected a seed"),
    ("train", ["--agent", AGENT, "reward.scale=inf"], "reward.scale must be a finite number, got inf"),
    ("train", ["--agent", AGENT, 'env.vectorization="threads"'],
     "env.vectorization must be \"sync\" or \"async\", got 'threads'"),
    ("train", ["--agent", AGENT, "network.connections.0.params.norm=inf"], "norm must be > 0"),
    ("train", ["--agent", "agents/cartpole_place.toml", 'critic.reduction="median"'],
     "critic.reduction must be \"mean\" or \"sum\", got 'median'"),
    ("train", ["--agent", AGENT, 'network.connections.0.rule.params.reduction="median"'],
     "reduction must be one of ('mean', 'sum'), got 'median'"),
    ("train", ["--agent", AGENT, "reward.entropy=-0.1"], "reward.entropy must be >= 0.0, got -0.1"),
    ("train", ["--agent", AGENT, "policy.mirror=true", *QUIET],
     "[policy] mirror = true needs an environment preset that declares its symmetry"),
    ("evaluate", ["--checkpoint", "{tmp}/not_a_checkpoint.safetensors"], "not an snnrl checkpoint"),
    ("evaluate", ["--checkpoint", "{tmp}/afile"], "{tmp}/afile: not an snnrl checkpoint"),
    ("evaluate", ["--checkpoint", "{run}", "--seed", "-1"], "argument --seed: expected a seed"),
    ("evaluate", ["--checkpoint", "{run}", "--env", "nosuch", "--episodes", "1"],
     "unknown environment preset 'nosuch'"),
    ("evaluate", ["--checkpoint", "{run}", "--env", "cartpole", "--episodes", "1"],
     "the environments' observation space Box(0, 1, (16, 40), uint8) is not the policy's"),
    ("evaluate", ["--checkpoint", "{run}", "--env", "{tmp}/not_utf8.toml", "--episodes", "1"], "as UTF-8 text"),
    ("play", ["--checkpoint", "{tmp}/not_a_checkpoint.safetensors", "--out", "{tmp}/p.gif"], "not an snnrl checkpoint"),
    ("play", ["--checkpoint", "{run}", "--out", "{tmp}/p.gif", "--fps", "inf"],
     "argument --fps: expected a positive number, got 'inf'"),
    ("play", ["--checkpoint", "{run}", "--out", "{tmp}/p.gif", "--seed", "-1"], "argument --seed: expected a seed"),
    ("play", ["--checkpoint", "{run}", "--env", "cartpole", "--out", "{tmp}/p.gif", "--frames", "observation"],
     "observation space"),
    ("convert", ["--model", "{sb3}", "--env", "CartPole-v1", "--v-init", "nan"],
     "argument --v-init: expected a finite number, got 'nan'"),
    ("convert", ["--model", "{tmp}/not_a_checkpoint.safetensors", "--env", "CartPole-v1"],
     "not a stable-baselines3 model"),
    ("convert", ["--model", "{sb3}", "--env", "NoSuchEnv-v9", "--out", "{tmp}/conv"], "--env 'NoSuchEnv-v9'"),
    ("convert", ["--model", "{sb3}", "--env", "acrobot", "--out", "{tmp}/conv"],
     "--env 'acrobot' does not fit the model: its observation space is Box of shape (6,), the model's is Box of "
     "shape (4,)"),
    ("convert", ["--model", "{sb3}", "--env", "CartPole-v1", "--vecnormalize", "{tmp}/absent.pkl"],
     "{tmp}/absent.pkl: no such file"),
    ("convert", ["--model", "{sb3}", "--env", "CartPole-v1", "--vecnormalize", "{tmp}/afile"],
     "{tmp}/afile: not a VecNormalize statistics file"),
    ("convert", ["--model", "{sb3}", "--env", "CartPole-v1", "--vecnormalize", "{tmp}/afile", "--no-vecnormalize"],
     "argument --no-vecnormalize: not allowed with argument --vecnormalize"),
    ("mnist", ["--rest", "-5"], "argument --rest: expected a number >= 0, got '-5'"),
    ("mnist", ["--nu-post", "nan"], "argument --nu-post: expected a finite number, got 'nan'"),
    ("mnist", ["--seed", "-1"], "argument --seed: expected a seed"),
    ("mnist", ["--out", "{tmp}/afile/mnist", "--no-plot"], "Not a directory: '{tmp}/afile/mnist'"),
    ("mnist", ["--data", "{tmp}/no_data", "--out", "{tmp}/mnist", "--no-plot"], "{tmp}/no_data"),
    ("export", ["--checkpoint", "{tmp}/not_a_checkpoint.safetensors", "--out", "{tmp}/x.nir"],
     "not an snnrl checkpoint"),
    ("export", ["--checkpoint", "{run}", "--out", "{tmp}/afile/x.nir"], "'{tmp}/afile'"),
    ("export", ["--checkpoint", "{run}", "--out", "{tmp}/x.nir"],
     "NIR cannot express layer 'A': refractory period 5.0 ms; connection 'X->A': learning rule MSTDPET"),
    ("export", ["--checkpoint", "{run}", "--out", "{tmp}/x.nir", "--approximate", "--output", "Q"],
     "outputs: 'Q' is not a non-input layer"),
    ("export", ["--agent", "cue_bandit", "--out", "{tmp}/x.nir", "--format", "onnx"], "invalid choice: 'onnx'"),
    ("summarize", ["{tmp}/afile"], "'{tmp}/afile'"),
    ("summarize", ["{run}", "--out", "{tmp}/afile/summary"], "'{tmp}/afile/summary'"),
    ("tune", ["--agent", AGENT, "--trials", "0"], "argument --trials: expected a positive integer, got '0'"),
    ("tune", ["--agent", AGENT, "--trials", "2", "--seeds-per-trial", "0"],
     "argument --seeds-per-trial: expected a positive integer, got '0'"),
    ("tune", ["--agent", AGENT, "--trials", "2", "--eval-interval", "-5"],
     "argument --eval-interval: expected a positive integer, got '-5'"),
    ("summarize", ["{run}", "--reps", "0"], "argument --reps: expected a positive integer, got '0'"),
    ("train", ["--agent", AGENT, "--seeds", "5-2"], "argument --seeds: the range '5-2' is empty (5 > 2)"),
    ("train", ["--agent", AGENT, "--seeds", "0,x"], "argument --seeds: 'x' is not a seed or a range"),
    ("train", ["--agent", AGENT, "--workers", "2"], "--workers and --address run seeds on Ray: give --seeds too"),
    ("train", ["--agent", AGENT, "--seeds", "0-1", "--address", "nohost"], "--address 'nohost' is not a Ray address"),
    ("train", ["--agent", AGENT, "--seeds", "0-1", "--run-dir", "{tmp}/set"], "holds a seed set already: --resume"),
    ("train", ["--agent", AGENT, "--seeds", "0-1", "--address", "127.0.0.1:1"],
     "cannot reach a Ray cluster at --address '127.0.0.1:1'"),
    ("tune", ["--agent", AGENT, "--trials", "2"], "give the search space: --param key.path=DIST"),
    ("tune", ["--agent", AGENT, "--trials", "2", "--param", "a.b=uniform(2, 1)"],
     "--param 'a.b=uniform(2, 1)': the range is empty (2 >= 1)"),
    ("tune", ["--agent", AGENT, "--trials", "2", "--param", "a.b=normal(0, 1)"],
     "'normal(0, 1)' is not a distribution"),
    ("tune", ["--agent", AGENT, "--trials", "2", "--param", "training.episodez=int(3, 5)"],
     "unknown key 'training.episodez'"),
    ("tune", ["--agent", AGENT, "--trials", "2", "--param", "training.episodes=int(5, 9)", "--address", "127.0.0.1:1"],
     "cannot reach a Ray cluster at --address '127.0.0.1:1'"),
    ("tune", ["--agent", AGENT, "--trials", "2", "--param", "training.episodes=int(5, 9)", "--out", "{tmp}/tune",
              "--storage", "sqlite:///{tmp}/afile/study.db"], "cannot open the Optuna storage 'sqlite:///{tmp}/afile"),
]
# the module a subcommand's rows need (its extra), where it needs one
NEEDS = {"convert": "stable_baselines3", "export": "nir", "summarize": "rliable", "tune": "optuna"}


@pytest.fixture(scope="module")
def bad_input_files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad_input")
    (tmp / "afile").write_text("x")
    (tmp / "not_utf8.toml").write_bytes(b'name = "\xff\xfe"\n')
    (tmp / "not_a_checkpoint.safetensors").write_bytes(b"garbage" * 10)
    (tmp / "set").mkdir()
    (tmp / "set" / "seeds.json").write_text("{}")  # the manifest of a seed set (snnrl train --seeds)
    run = tmp / "run"
    assert main(["train", "--agent", AGENT, "--run-dir", str(run), "--episodes", "1", "--eval-episodes", "0",
                 "--baseline-episodes", "0", *QUIET]) == 0
    places = {"tmp": str(tmp), "run": str(run), "sb3": str(tmp / "ppo_cartpole.zip")}
    if find_spec("stable_baselines3") is not None:
        from stable_baselines3 import PPO

        PPO("MlpPolicy", "CartPole-v1", n_steps=32, batch_size=32, device="cpu").save(places["sb3"])
    return places


def _outcome(argv, capsys):
    """``(exit status, stderr)`` of ``snnrl argv``; any other exception (a traceback) fails the test."""
    try:
        status = main(argv)
    except SystemExit as e:  # argparse refused an option
        status = e.code
    return status, capsys.readouterr().err


@pytest.mark.parametrize(("command", "args", "fragment"), BAD_INPUT,
                         ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(BAD_INPUT)])
def test_bad_input_is_one_line_naming_the_value(command, args, fragment, bad_input_files, capsys):
    if command in NEEDS:
        pytest.importorskip(NEEDS[command])
    argv = [command, *(a.format(**bad_input_files) for a in args)]
    status, err = _outcome(argv, capsys)
    assert status not in (0, None), f"snnrl {' '.join(argv)} succeeded"
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines and fragment.format(**bad_input_files) in lines[-1], err
    assert lines[-1].startswith(f"snnrl {command}: "), err
    if status != 2 or "error: argument" not in lines[-1]:  # not argparse (which prints its usage first)
        assert len(lines) == 1, err


def test_every_subcommand_has_bad_input_rows():
    parser = make_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    missing = sorted(set(sub.choices) - {command for command, _, _ in BAD_INPUT})
    assert not missing, f"add rows for {missing} to BAD_INPUT in tests/test_cli.py"


def test_no_option_takes_nan_or_inf():
    """Every number an option takes goes through snnrl.commands._args, which refuses NaN and infinities."""
    parser = make_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, p in sub.choices.items():
        for action in p._actions:
            assert action.type not in (int, float), (
                f"snnrl {name} {action.option_strings}: use a type from snnrl.commands._args, not {action.type}")
    for kind in (_args.finite_float, _args.integer, _args.seed_int, _args.positive_int, _args.positive_float,
                 _args.non_negative_int, _args.non_negative_float):
        for bad in ("nan", "inf", "-inf", "1e400", "x", ""):
            with pytest.raises(Exception, match=f"expected .*, got {bad!r}"):
                kind(bad)
    assert _args.seed_int(str(_args.MAX_SEED)) == _args.MAX_SEED and _args.finite_float("-2.5") == -2.5
    assert math.isfinite(_args.positive_float("1e300"))


def test_ctrl_c_is_one_line_and_status_130(monkeypatch, capsys):
    import snnrl.commands.simulate as simulate

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(simulate, "simulate", interrupted)
    assert main(["simulate", "--no-plot"]) == 130
    assert capsys.readouterr().err == "snnrl simulate: interrupted\n"
