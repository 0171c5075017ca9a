"""Mirror symmetry as tied synapses: the tie's projection, the partners of a mirrored grid, the
action swap from ALE's names, and an agent whose learning keeps its readout mirror-symmetric."""

import pytest
import torch

from snnrl import Connection, Input, LIFNodes
from snnrl.policy.symmetry import action_swap, mirror_partners


def _conn(n_in=6, n_out=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return Connection(Input(n_in), LIFNodes(n_out), torch.rand(n_in, n_out, generator=g), wmin=-1.0, wmax=1.5)


def test_a_tie_replaces_each_pair_by_its_mean_and_keeps_it_after_updates():
    conn = _conn()
    w0 = conn.weight.detach().clone()
    partner = torch.arange(24).view(6, 4).flip(0)  # (i, j) <-> (5 - i, j)
    conn.set_tie(partner)
    flat0 = w0.view(-1)
    expected = ((flat0 + flat0[partner.view(-1)]) / 2).view(6, 4)
    torch.testing.assert_close(conn.weight.detach(), expected, rtol=0, atol=0)
    conn.apply_update(torch.zeros(6, 4).index_fill_(0, torch.tensor([0]), 0.4))  # only row 0 changes
    w = conn.weight.detach()
    torch.testing.assert_close(w, w.flip(0), rtol=0, atol=0)
    torch.testing.assert_close(w[0], torch.clamp(expected[0] + 0.2, -1.0, 1.5), rtol=0, atol=1e-7)
    conn.set_tie(None)
    conn.apply_update(torch.zeros(6, 4).index_fill_(0, torch.tensor([0]), 0.4))
    assert not torch.equal(conn.weight.detach(), conn.weight.detach().flip(0))


@pytest.mark.parametrize(("partner", "match"), [
    (torch.arange(24).view(4, 6), "int64 tensor of the weight's shape"),
    (torch.arange(24, dtype=torch.int32).view(6, 4), "int64"),
    (torch.arange(1, 25).view(6, 4), r"flat weight indices in \[0, 23\]"),
    (torch.arange(24).roll(1).view(6, 4), r"partner\[partner\[k\]\] == k"),
])
def test_bad_ties_name_what_was_expected(partner, match):
    with pytest.raises(ValueError, match=match):
        _conn().set_tie(partner)


def test_mirror_partners_of_a_grid():
    # 2 x 3 grid, 2 actions (RIGHT, LEFT) x 2 neurons: cell (r, c) -> neuron (a, i) pairs with
    # cell (r, 2 - c) -> neuron (swap(a), i)
    p = mirror_partners((2, 3), "width", [1, 0], neurons_per_action=2)
    assert p.shape == (6, 4)
    n_out = 4
    for r in range(2):
        for c in range(3):
            for a in range(2):
                for i in range(2):
                    k = (r * 3 + c) * n_out + a * 2 + i
                    assert int(p.view(-1)[k]) == (r * 3 + (2 - c)) * n_out + (1 - a) * 2 + i
    flat = p.view(-1)
    assert torch.equal(flat[flat], torch.arange(24))
    h = mirror_partners((2, 3), "height", [0], neurons_per_action=1)
    assert h.view(-1).tolist() == [3, 4, 5, 0, 1, 2]
    with pytest.raises(ValueError, match="mirror axis"):
        mirror_partners((2, 3), "depth", [0])
    with pytest.raises(ValueError, match="involution"):
        mirror_partners((2, 3), "width", [1, 2, 0])


def test_action_swap_from_ale_names():
    assert action_swap(["NOOP", "FIRE", "RIGHT", "LEFT", "RIGHTFIRE", "LEFTFIRE"]) == [0, 1, 3, 2, 5, 4]
    assert action_swap(["RIGHT", "LEFT"]) == [1, 0]
    assert action_swap(["UPRIGHT", "UPLEFT", "UP"]) == [1, 0, 2]
    with pytest.raises(ValueError, match="mirror of action 'RIGHT' is 'LEFT'"):
        action_swap(["NOOP", "RIGHT"])


def test_a_mirror_tied_breakout_agent_stays_symmetric_while_it_learns_and_after_resume(tmp_path):
    pytest.importorskip("ale_py")
    from snnrl.pipeline import load_agent
    from snnrl.pipeline.run import build_trainer

    tr = build_trainer(load_agent("agents/breakout_eprop.toml", ["training.seed=3"]))
    conn = tr.policy.network.connections["X->A"]
    w0 = conn.weight.detach().clone()
    idx = torch.arange(400).view(20, 20).flip(1).reshape(-1)
    tr.learn(1)
    w = conn.weight.detach()
    assert not torch.equal(w, w0)
    torch.testing.assert_close(w[:, :10], w[idx, 10:], rtol=0, atol=0)
    tr.save_checkpoint(tmp_path / "ck.safetensors")
    again = build_trainer(load_agent("agents/breakout_eprop.toml", ["training.seed=3"]))
    again.load_checkpoint(tmp_path / "ck.safetensors")
    assert again.policy.network.connections["X->A"].tie is not None  # ties come from the preset


@pytest.mark.parametrize(
    ("agent", "axis", "pairs"),
    [
        ("pong_eprop", "height", [(0, 1)]),  # RIGHT (up) <-> LEFT (down), upside down
        ("space_invaders_eprop", "width", [(0, 0), (1, 1), (2, 3), (4, 5)]),  # NOOP, FIRE self-tied
    ],
)
def test_the_same_recipe_ties_pong_and_space_invaders_under_their_own_mirror(agent, axis, pairs):
    """The pong_eprop and space_invaders_eprop presets differ from breakout_eprop in their
    environment preset (and reward) only; their ties follow the preset's axis and ALE's names."""
    pytest.importorskip("ale_py")
    from snnrl.pipeline import load_agent
    from snnrl.pipeline.run import build_trainer

    tr = build_trainer(load_agent(f"agents/{agent}.toml", ["training.seed=1"]))
    conn = tr.policy.network.connections["X->A"]
    cells = torch.arange(400).view(20, 20)
    idx = (cells.flip(1) if axis == "width" else cells.flip(0)).reshape(-1)
    w0 = conn.weight.detach().clone()
    tr.learn(1)
    w = conn.weight.detach()
    assert not torch.equal(w, w0)  # it learned, and the ties held
    for a, b in pairs:
        torch.testing.assert_close(w[:, a * 10:(a + 1) * 10], w[idx, b * 10:(b + 1) * 10], rtol=0, atol=0)
    tr.close()


def test_mirror_needs_a_preset_that_declares_it(tmp_path):
    from pathlib import Path

    from snnrl.pipeline import AgentError, load_agent
    from snnrl.pipeline.run import build_trainer

    pytest.importorskip("ale_py")
    text = (Path(__file__).resolve().parents[2] / "envs" / "breakout_mirror.toml").read_text()
    plain = tmp_path / "no_mirror.toml"
    plain.write_text(text.replace('mirror = "width"\n', ""))
    with pytest.raises(AgentError, match=r"mirror = true needs an environment preset that declares its symmetry"):
        build_trainer(load_agent("agents/breakout_eprop.toml", [f"env.preset={plain}"]))
    (tmp_path / "bad.toml").write_text(text.replace('mirror = "width"', 'mirror = "diagonal"'))
    with pytest.raises(AgentError, match=r"'mirror' must be \"width\" or \"height\", got 'diagonal'"):
        build_trainer(load_agent("agents/breakout_eprop.toml", [f"env.preset={tmp_path / 'bad.toml'}"]))
    with pytest.raises(AgentError, match="'cartpole' has none"):
        build_trainer(load_agent("agents/cartpole_eprop.toml", ["policy.mirror=true", "env.preset=cartpole"]))


def test_twins_and_the_partners_through_a_hidden_layer():
    from snnrl.policy.symmetry import mirror_cells, swapped_neurons, tie_partners, twin_neurons

    assert twin_neurons(6).tolist() == [3, 4, 5, 0, 1, 2]
    for bad in (0, 1, 5):
        with pytest.raises(ValueError, match=f"even number of neurons .*got {bad}"):
            twin_neurons(bad)
    # input cell (r, c) -> hidden i pairs with (r, W - 1 - c) -> twin(i); hidden i -> action neuron
    # (a, k) pairs with twin(i) -> (swap(a), k)
    xh = tie_partners(mirror_cells((2, 3), "width"), twin_neurons(4))
    assert int(xh[0, 1]) == 2 * 4 + 3 and int(xh[4, 3]) == 4 * 4 + 1  # (1, 1) is its own mirror
    ha = tie_partners(twin_neurons(4), swapped_neurons([1, 0], 2))
    assert int(ha[0, 0]) == 2 * 4 + 2 and int(ha[3, 3]) == 1 * 4 + 1
    for p in (xh, ha):
        flat = p.view(-1)
        assert torch.equal(flat[flat], torch.arange(flat.numel()))
    assert torch.equal(mirror_partners((2, 3), "width", [1, 0], 2),
                       tie_partners(mirror_cells((2, 3), "width"), swapped_neurons([1, 0], 2)))


def _with_hidden(tmp_path, n_hidden, extra=""):
    """agents/breakout_eprop.toml with a hidden LIF layer H between X and A (fixed X -> H)."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "agents" / "breakout_eprop.toml").read_text()
    text = text.replace('''[[network.layers]]
name = "A"''', f'''[[network.layers]]
name = "H"
type = "LIFNodes"
params = {{ n = {n_hidden}, refrac = 0.0 }}

[[network.layers]]
name = "A"''').replace('''source = "X"
target = "A"''', f'''source = "X"
target = "H"
type = "Connection"
init = {{ dist = "normal", mean = 0.0, std = 3.0 }}
{extra}
[[network.connections]]
source = "H"
target = "A"''').replace("low = 1.0, high = 3.0", "low = 0.0, high = 0.5")
    path = tmp_path / "hidden.toml"
    path.write_text(text)
    return path


def test_a_hidden_layer_between_input_and_readout_is_tied_as_mirrored_twins(tmp_path):
    """With [policy] mirror = true a hidden layer's neurons are twins in two halves: twin i + n/2
    sees the mirrored screen through the same weights, and reaches the swapped actions."""
    pytest.importorskip("ale_py")
    from snnrl.pipeline import AgentError, load_agent
    from snnrl.pipeline.run import build_trainer

    tr = build_trainer(load_agent(str(_with_hidden(tmp_path, 8)), ["training.seed=1"]))
    net = tr.policy.network
    cells = torch.arange(400).view(20, 20).flip(1).reshape(-1)
    twin = torch.tensor([4, 5, 6, 7, 0, 1, 2, 3])
    swap = torch.cat([torch.arange(10, 20), torch.arange(10)])
    wxh = net.connections["X->H"].weight.detach()
    assert torch.equal(wxh, wxh[cells][:, twin]) and float(wxh.std()) > 1.0  # tied at build time
    w0 = net.connections["H->A"].weight.detach().clone()
    tr.learn(1)
    wha = net.connections["H->A"].weight.detach()
    assert not torch.equal(wha, w0)
    torch.testing.assert_close(wha, wha[twin][:, swap], rtol=0, atol=0)
    tr.close()
    with pytest.raises(AgentError, match=r"even number of neurons .*got 7"):
        build_trainer(load_agent(str(_with_hidden(tmp_path, 7))))
    recurrent = '\n[[network.connections]]\nsource = "H"\ntarget = "H"\ntype = "Connection"\n'
    with pytest.raises(AgentError, match="'H' -> 'H' may only connect the input layer 'X' to the output layer 'A'"):
        build_trainer(load_agent(str(_with_hidden(tmp_path, 8, recurrent))))
