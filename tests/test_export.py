"""``snnrl export``: a shipped agent, a converted network and a bare checkpoint to NIR, and its option errors."""

from __future__ import annotations

import sys

import pytest
import torch

from snnrl.cli import main, make_parser

nir = pytest.importorskip("nir")

from snnrl.nir import read_nir  # noqa: E402


def _same_state(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]) if isinstance(sa[key], torch.Tensor) else sa[key] == sb[key], key


def test_export_a_shipped_agent_with_approximate(tmp_path, capsys):
    from snnrl.pipeline.agent import trained_agent
    from snnrl.policy import load_policy

    out = tmp_path / "nir" / "cue_bandit.nir"
    assert main(["export", "--agent", "cue_bandit", "--format", "nir", "--out", str(out), "--approximate"]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}: NIR graph of 2 layers and 2 connections" in printed
    assert "approximated: layer 'A': refractory period 5.0 ms: dropped" in printed
    assert "approximated: connection 'X->A': learning rule MSTDPET" in printed
    graph = nir.read(out)
    assert type(graph.nodes["A"]).__name__ == "LIF" and "output" in graph.nodes  # the policy's output layer
    _same_state(read_nir(out), load_policy(trained_agent("cue_bandit"))[0].network)


def test_export_a_converted_network_exactly(tmp_path, capsys):
    from snnrl.checkpoint import save_checkpoint
    from snnrl.integrations.sb3 import convert_modules

    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    net = convert_modules(mlp, torch.randn(32, 4), segments=2).network
    save_checkpoint(net, tmp_path / "snn.safetensors")
    out = tmp_path / "snn.nir"
    assert main(["export", "--checkpoint", str(tmp_path / "snn.safetensors"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "in_order propagation" in printed and "approximated" not in printed
    _same_state(read_nir(out), net)


def test_export_a_converted_rl_zoo_agent(tmp_path, capsys):
    """`snnrl convert` then `snnrl export` on the RL Zoo's PPO CartPole (shared data; skipped without it)."""
    import os
    from pathlib import Path

    pytest.importorskip("stable_baselines3")
    from snnrl.checkpoint import load_checkpoint

    shared = Path(os.environ.get("SNNRL_SHARED_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data"))
    model = shared / "sb3-zoo" / "ppo-CartPole-v1.zip"
    if not model.exists():
        pytest.skip(f"{model} is absent (set SNNRL_SHARED_DATA to the shared data folder)")
    assert main(["convert", "--model", str(model), "--env", "cartpole", "--episodes", "0", "--calibration", "200",
                 "--out", str(tmp_path)]) == 0
    out = tmp_path / "ppo.nir"
    assert main(["export", "--checkpoint", str(tmp_path / "snn.safetensors"), "--out", str(out)]) == 0
    assert "approximated" not in capsys.readouterr().out  # reset by subtraction has an exact NIR form
    _same_state(read_nir(out), load_checkpoint(tmp_path / "snn.safetensors").network)


@pytest.mark.parametrize(("args", "message"), [
    (["--agent", "nobody"], "no trained agent 'nobody'"),
    (["--checkpoint", "{tmp}/none.safetensors"], "no checkpoint at"),
    (["--checkpoint", "{tmp}/junk.safetensors"], "junk.safetensors"),
    (["--agent", "cue_bandit"], "NIR cannot express layer 'A': refractory period 5.0 ms; connection 'X->A': "
                                "learning rule MSTDPET. With approximate=True (snnrl export --approximate)"),
    (["--agent", "cue_bandit", "--approximate", "--output", "Q"], "outputs: 'Q' is not a non-input layer"),
])
def test_bad_input_gives_one_line_and_exit_2(tmp_path, capsys, args, message):
    (tmp_path / "junk.safetensors").write_bytes(b"not a checkpoint")
    argv = ["export", *[a.format(tmp=tmp_path) for a in args], "--out", str(tmp_path / "x.nir")]
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("snnrl export: ") and message in err[0], captured.err
    assert "Traceback" not in captured.err and not (tmp_path / "x.nir").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--agent", "cue_bandit", "--out", "x.nir", "--format", "onnx"], "invalid choice: 'onnx'"),
    (["--agent", "cue_bandit"], "the following arguments are required: --out"),
    (["--out", "x.nir"], "one of the arguments --checkpoint --agent is required"),
    (["--agent", "cue_bandit", "--checkpoint", "x", "--out", "x.nir"], "not allowed with argument"),
])
def test_bad_options_are_rejected_by_the_parser(capsys, args, message):
    with pytest.raises(SystemExit) as info:
        main(["export", *args])
    assert info.value.code == 2 and message in capsys.readouterr().err


def test_without_nir_the_extra_is_named(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "nir", None)
    assert main(["export", "--agent", "cue_bandit", "--approximate", "--out", str(tmp_path / "x.nir")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("snnrl export: NIR export needs the nir package") and "pip install 'snnrl[nir]'" in err


def test_help_documents_every_option():
    sub = next(a for a in make_parser()._actions if a.dest == "command")
    parser = sub.choices["export"]
    text = parser.format_help()
    for action in parser._actions:
        for opt in action.option_strings:
            assert opt in text
        if action.dest != "help":
            assert action.help, f"export {action.dest} has no help"
