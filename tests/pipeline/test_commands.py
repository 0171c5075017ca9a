"""``snnrl train``, ``snnrl evaluate`` and ``snnrl play`` on the fast task, and their option errors."""

import json

import pytest

from snnrl.cli import main, make_parser


def run_dir(tmp_path):
    dirs = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert len(dirs) == 1
    return dirs[0]


def test_train_evaluate_play_and_resume(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    runs = tmp_path / "runs"
    assert main(["train", "--agent", "agents/cue_bandit.toml", "--runs-dir", str(runs), "--episodes", "4",
                 "--eval-episodes", "3", "--baseline-episodes", "2", "--no-progress", "training.checkpoint_interval=2",
                 "--seed", "1"]) == 0
    run = run_dir(runs)
    assert run.name.startswith("cue_bandit__cue_bandit__1__")
    for name in ("checkpoint.safetensors", "results.json", "learning_curve.png"):
        assert (run / name).is_file(), name
    assert list(run.glob("events.out.tfevents.*"))
    res = json.loads((run / "results.json").read_text())
    assert res["episodes"] == 4 and len(res["evaluation"]["returns"]) == 3 and res["random_baseline"]["n"] == 2
    out = capsys.readouterr().out
    assert "evaluation over 3 episodes" in out and "random policy" in out
    # resume the newest run of this agent/seed and go on to 6 episodes
    assert main(["train", "--agent", "agents/cue_bandit.toml", "--runs-dir", str(runs), "--seed", "1", "--episodes",
                 "6", "--resume", "--no-progress", "--no-tensorboard", "--eval-episodes", "0"]) == 0
    assert run_dir(runs) == run and json.loads((run / "results.json").read_text())["episodes"] == 6
    out = capsys.readouterr().out
    assert f"(its checkpoint was written last): {run}" in out and f"resuming {run} at episode 4" in out
    assert main(["evaluate", "--checkpoint", str(run), "--episodes", "3", "--json", str(tmp_path / "e.json")]) == 0
    ev = json.loads((tmp_path / "e.json").read_text())
    assert ev["episodes"] == 3 and len(ev["returns"]) == 3
    assert main(["evaluate", "--checkpoint", str(run / "checkpoint.safetensors"), "--episodes", "2", "--random"]) == 0
    assert "random policy" in capsys.readouterr().out
    for suffix in ("gif", "png"):
        out_file = tmp_path / f"play.{suffix}"
        assert main(["play", "--checkpoint", str(run), "--out", str(out_file)]) == 0
        assert out_file.stat().st_size > 100
    assert "wrote 21 frames" in capsys.readouterr().out


def test_resume_refuses_a_run_of_another_agent_in_one_line(tmp_path, capsys):
    runs = tmp_path / "runs"
    assert main(["train", "--agent", "agents/cue_bandit.toml", "--runs-dir", str(runs), "--episodes", "1",
                 "--eval-episodes", "0", "--no-progress", "--no-tensorboard", "--no-plot"]) == 0
    run = run_dir(runs)
    capsys.readouterr()
    assert main(["train", "--agent", "agents/cartpole.toml", "--resume", str(run), "--no-progress"]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("snnrl train: cannot resume from"), captured.err
    assert "agent 'cue_bandit' on env 'cue_bandit'" in err[0] and "agent 'cartpole' on env 'cartpole'" in err[0]
    assert captured.out == "" and run_dir(runs) == run  # refused before anything started


def test_help_documents_every_option():
    parser = make_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name in ("train", "evaluate", "play"):
        p = sub.choices[name]
        text = p.format_help()
        for action in p._actions:
            for opt in action.option_strings:
                assert opt in text
            if action.dest != "help":
                assert action.help, f"{name} {action.dest} has no help"


def test_bad_options_give_clear_errors(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["train", "--agent", "agents/cue_bandit.toml", "--episodes", "0"])
    assert "expected a positive integer, got '0'" in capsys.readouterr().err
    assert main(["train", "--agent", "agents/cue_bandit.toml", "training.episodez=3"]) == 2
    assert "unknown key 'training.episodez'" in capsys.readouterr().err
    assert main(["train", "--agent", "agents/missing.toml"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["train", "--agent", "agents/cue_bandit.toml", "--runs-dir", str(tmp_path), "--resume"]) == 2
    assert "no run named cue_bandit__cue_bandit__0__*" in capsys.readouterr().err
    assert main(["evaluate", "--checkpoint", str(tmp_path / "none.safetensors")]) == 2
    assert "no checkpoint at" in capsys.readouterr().err
    assert main(["play", "--checkpoint", "x", "--out", "x.avi"]) == 2
    assert "--out must end in one of" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["evaluate", "--checkpoint", "x", "--episodes", "-1"])
    assert main(["play", "--agent", "nobody", "--out", str(tmp_path / "p.gif")]) == 2
    assert "no trained agent 'nobody'" in capsys.readouterr().err
    for command in (["evaluate"], ["play"]):
        with pytest.raises(SystemExit):
            main([*command, "--agent", "cue_bandit", "--checkpoint", "x"])
        assert "not allowed with argument" in capsys.readouterr().err
        with pytest.raises(SystemExit):
            main(command)
        assert "one of the arguments --checkpoint --agent is required" in capsys.readouterr().err
    assert main(["train", "--agent", "agents/cue_bandit.toml", 'critic={type="spiking",trace=0.5}',
                 'reward.signal={type="TDError"}']) == 2
    assert "critic.trace is a setting of the linear critic" in capsys.readouterr().err
    assert main(["train", "--agent", "agents/cue_bandit.toml", "feedback={hidden=[\"Q\"]}"]) == 2
    assert "feedback.hidden: no layer named 'Q'" in capsys.readouterr().err


@pytest.mark.parametrize("script", ["train_atari.py", "train_cartpole.py"])
def test_thin_scripts_pass_through_to_snnrl_train(script, monkeypatch, capsys):
    import runpy
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "scripts" / script
    monkeypatch.setattr(sys, "argv", [script, "--help"])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(path), run_name="__main__")
    assert exit_info.value.code == 0
    assert "usage: snnrl train" in capsys.readouterr().out


def test_trained_agents_ship_and_reproduce_their_results(tmp_path, capsys):
    """agents/trained/<name>.safetensors: `snnrl evaluate --agent <name>` uses it, and the numbers in
    agents/trained/README.md are what it gives (the cue bandit here: fast)."""
    import re
    from pathlib import Path

    readme = Path("agents/trained/README.md").read_text()
    for path in sorted(Path("agents/trained").glob("*.safetensors")):
        assert f"`{path.stem}`" in readme, f"agents/trained/README.md does not describe {path.name}"
    out = tmp_path / "e.json"
    assert main(["evaluate", "--agent", "cue_bandit", "--episodes", "100", "--json", str(out)]) == 0
    mean = json.loads(out.read_text())["mean"]
    row = re.search(r"\| `cue_bandit` \|[^\n]*?\*\*([-0-9.]+)", readme)
    assert row is not None and mean == float(row.group(1))
    assert main(["play", "--agent", "cue_bandit", "--out", str(tmp_path / "p.png"), "--frames", "observation"]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--agent", "nobody"]) == 2
    err = capsys.readouterr().err
    assert "no trained agent 'nobody' in agents/trained/" in err and "cue_bandit" in err and "Traceback" not in err
