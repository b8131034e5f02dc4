"""from_torch: PyTorch's recurrent modules, cells and state dicts as dynsys maps (issue 14).

Against PyTorch itself (float64): the maps reproduce the modules' outputs and final states over a
sequence to 1e-12 for nn.RNN (tanh, relu), nn.GRU and nn.LSTM with 1–3 layers and for the
cells; BPTT through the imported stacks equals torch autograd to 1e-10; the state dicts
round-trip (module → map → state dict → module, and module → .pt → load_weights).
"""

from __future__ import annotations

import numpy as np
import pytest

from dynsys.errors import DynsysError
from dynsys.gradients import ReadoutLoss, bptt
from dynsys.io import from_torch, load_weights, to_torch_state_dict
from dynsys.maps import iterate

torch = pytest.importorskip("torch")

MODULES = {"rnn-tanh": torch.nn.RNN, "rnn-relu": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}
CELLS = {
    "rnn-tanh": torch.nn.RNNCell,
    "rnn-relu": torch.nn.RNNCell,
    "gru": torch.nn.GRUCell,
    "lstm": torch.nn.LSTMCell,
}
MAP_OF = {"rnn-tanh": "RNNMap", "rnn-relu": "RNNMap", "gru": "GRUMap", "lstm": "LSTMMap"}


def make_module(kind, m=3, n=4, layers=1, seed=0, **kw):
    torch.manual_seed(seed)
    extra = {"nonlinearity": kind[4:]} if kind.startswith("rnn") else {}
    return MODULES[kind](m, n, num_layers=layers, **extra, **kw).double()


def layer_maps(mp):
    return list(mp.layers) if hasattr(mp, "layers") else [mp]


def torch_initial(kind, L, B, n, g):
    """Random torch initial states and the dynsys state that is the same: h = σ(x) for nn.RNN."""
    h0 = g.uniform(-0.9, 0.9, (L, B, n))
    if kind == "rnn-relu":
        h0 = np.abs(h0)  # relu's h is ≥ 0; x_0 = h_0 has σ(x_0) = h_0
    c0 = g.uniform(-1.5, 1.5, (L, B, n))
    blocks = []
    for l in range(L):
        x = {"rnn-tanh": np.arctanh(h0[l]), "rnn-relu": h0[l], "gru": h0[l]}.get(kind)
        blocks.append(np.concatenate([h0[l], c0[l]], axis=-1) if kind == "lstm" else x)
    state = (torch.tensor(h0), torch.tensor(c0)) if kind == "lstm" else torch.tensor(h0)
    return state, np.concatenate(blocks, axis=-1)


def final_blocks(kind, mp, x):
    """Per layer, what torch returns as h_n[l] (and c_n[l]) from the dynsys state x."""
    out, o = [], 0
    for layer in layer_maps(mp):
        block = x[..., o : o + layer.dim]
        out.append((layer.hidden(block), block[..., layer.dim // 2 :] if kind == "lstm" else None))
        o += layer.dim
    return out


@pytest.mark.parametrize(
    ("kind", "layers"),
    [(k, 1) for k in MODULES]
    + [("rnn-tanh", 2), ("rnn-relu", 3), ("gru", 2), ("gru", 3), ("lstm", 2), ("lstm", 3)],
)
def test_the_map_reproduces_the_module_over_a_sequence(kind, layers):
    g = np.random.default_rng(1)
    T, B, m, n = 20, 4, 3, 5
    net = make_module(kind, m, n, layers)
    lin = torch.nn.Linear(n, 2).double()
    mp = from_torch(net, lin)
    assert type(mp).__name__ == ("StackedMap" if layers > 1 else MAP_OF[kind])
    assert [type(layer).__name__ for layer in layer_maps(mp)] == [MAP_OF[kind]] * layers
    assert mp.input_dim == m and mp.dim == layers * n * (2 if kind == "lstm" else 1)
    u = g.standard_normal((T, B, m))
    state0, x0 = torch_initial(kind, layers, B, n, g)
    with torch.no_grad():
        out, last = net(torch.tensor(u), state0)
        y = lin(out)
    traj = iterate(mp, x0, u)
    np.testing.assert_allclose(mp.hidden(traj.states[1:]), out.numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(mp.readout(traj.states[1:]), y.numpy(), rtol=1e-12, atol=1e-13)
    h_n, c_n = last if kind == "lstm" else (last, None)
    for l, (h, c) in enumerate(final_blocks(kind, mp, traj.states[-1])):
        np.testing.assert_allclose(h, h_n[l].numpy(), rtol=1e-12, atol=1e-13)
        if c is not None:
            np.testing.assert_allclose(c, c_n[l].numpy(), rtol=1e-12, atol=1e-13)
    if kind == "rnn-relu":  # the test can tell relu from tanh: some units are cut at zero
        assert (out.numpy() == 0).mean() > 0.1


@pytest.mark.parametrize("kind", sorted(CELLS))
def test_cells(kind):
    g = np.random.default_rng(2)
    B, m, n = 6, 3, 4
    torch.manual_seed(3)
    extra = {"nonlinearity": kind[4:]} if kind.startswith("rnn") else {}
    cell = CELLS[kind](m, n, **extra).double()
    mp = from_torch(cell)
    assert type(mp).__name__ == MAP_OF[kind] and mp.input_dim == m
    state, x = torch_initial(kind, 1, B, n, g)
    state = tuple(s[0] for s in state) if kind == "lstm" else state[0]
    for _ in range(5):
        u = g.standard_normal((B, m))
        with torch.no_grad():
            state = cell(torch.tensor(u), state)
        x = mp.step(x, u)
        h = state[0] if kind == "lstm" else state
        np.testing.assert_allclose(mp.hidden(x), h.numpy(), rtol=1e-12, atol=1e-13)
        if kind == "lstm":
            np.testing.assert_allclose(x[:, n:], state[1].numpy(), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("kind", ["rnn-tanh", "gru", "lstm"])
def test_bias_free_and_batch_first_modules(kind):
    g = np.random.default_rng(4)
    net = make_module(kind, 2, 3, layers=2, bias=False, batch_first=True)
    mp = from_torch(net)
    for layer in layer_maps(mp):
        for name in ("b",) if kind.startswith("rnn") else ("bias_ih", "bias_hh"):
            np.testing.assert_array_equal(layer.get_param(name), 0.0)
    u = g.standard_normal((3, 7, 2))  # (B, T, m): batch first
    with torch.no_grad():
        out, _ = net(torch.tensor(u))
    traj = iterate(mp, np.zeros((3, mp.dim)), np.swapaxes(u, 0, 1))
    np.testing.assert_allclose(
        mp.hidden(traj.states[1:]), np.swapaxes(out.numpy(), 0, 1), rtol=1e-12, atol=1e-13
    )


@pytest.mark.parametrize(
    ("kind", "layers"), [("rnn-tanh", 2), ("rnn-relu", 3), ("gru", 2), ("lstm", 2), ("lstm", 1)]
)
def test_bptt_through_the_imported_network_equals_torch_autograd(kind, layers):
    g = np.random.default_rng(6)
    T, B, m, n, k = 8, 3, 2, 4, 3
    net = make_module(kind, m, n, layers, seed=7)
    lin = torch.nn.Linear(n, k).double()
    mp = from_torch(net, lin)
    u = g.standard_normal((T, B, m))
    labels = g.integers(0, k, (T, B))
    state0, x0 = torch_initial(kind, layers, B, n, g)
    res = bptt(mp, u, ReadoutLoss(labels, "softmax", "all"), x0=x0)
    # torch: the same loss (summed over steps, averaged over the batch), its autograd gradients
    leaves = [s.clone().requires_grad_(True) for s in (state0 if kind == "lstm" else (state0,))]
    out, _ = net(torch.tensor(u), tuple(leaves) if kind == "lstm" else leaves[0])
    y = lin(out)
    total = sum(
        torch.nn.functional.cross_entropy(y[t], torch.tensor(labels[t]), reduction="sum") / B
        for t in range(T)
    )
    params = dict(net.named_parameters()) | {f"fc.{p}": v for p, v in lin.named_parameters()}
    found = torch.autograd.grad(total, [*params.values(), *leaves])
    grads, state_grads = dict(zip(params, found[: len(params)])), found[len(params) :]
    assert res.loss == pytest.approx(float(total.detach()), rel=1e-13)
    suffix = (lambda l: f"_l{l}") if layers > 1 else (lambda l: "")
    for l in range(layers):
        if kind.startswith("rnn"):  # eq. 2's names; b = b_ih + b_hh gets the gradient of either
            pairs = {"W_rec": "weight_hh", "W_in": "weight_ih", "b": "bias_ih"}
            np.testing.assert_allclose(
                grads[f"bias_ih_l{l}"].numpy(), grads[f"bias_hh_l{l}"].numpy(), rtol=1e-14, atol=1e-16
            )
        else:
            pairs = {p: p for p in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
        for mine, theirs in pairs.items():
            want = grads[f"{theirs}_l{l}"].numpy()
            np.testing.assert_allclose(
                res.grads[mine + suffix(l)], want, rtol=1e-10, atol=1e-12, err_msg=mine
            )
    np.testing.assert_allclose(res.grads["W_out"], grads["fc.weight"].numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(res.grads["b_out"], grads["fc.bias"].numpy(), rtol=1e-10, atol=1e-12)
    # ∂E/∂x_0 against torch's ∂E/∂h_0 (and ∂E/∂c_0): h = σ(x) for an Elman layer
    dh0 = state_grads[0].numpy()
    o, d0 = 0, res.deltas[0]
    for l, layer in enumerate(layer_maps(mp)):
        block = d0[:, o : o + layer.dim]
        if kind == "lstm":
            np.testing.assert_allclose(block[:, :n], dh0[l], rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(block[:, n:], state_grads[1].numpy()[l], rtol=1e-10, atol=1e-12)
        else:
            want = dh0[l] * (
                layer.hidden_vjp(x0[:, o : o + n], np.ones(n)) if kind.startswith("rnn") else 1.0
            )
            np.testing.assert_allclose(block, want, rtol=1e-10, atol=1e-12)
        o += layer.dim


@pytest.mark.parametrize(("kind", "layers"), [("rnn-tanh", 1), ("rnn-relu", 2), ("gru", 3), ("lstm", 2)])
def test_state_dicts_round_trip(tmp_path, kind, layers):
    g = np.random.default_rng(8)
    net = make_module(kind, 3, 4, layers, seed=9)
    mp = from_torch(net)
    sd = to_torch_state_dict(mp)
    theirs = {k: v.detach().numpy() for k, v in net.state_dict().items()}
    assert sorted(sd) == sorted(theirs)
    for key, value in theirs.items():
        if kind.startswith("rnn") and key.startswith("bias"):  # only b_ih + b_hh is the map's
            continue
        np.testing.assert_array_equal(sd[key], value, err_msg=key)
    for l in range(layers):
        if kind.startswith("rnn"):
            np.testing.assert_allclose(
                sd[f"bias_ih_l{l}"], theirs[f"bias_ih_l{l}"] + theirs[f"bias_hh_l{l}"], rtol=1e-15
            )
            np.testing.assert_array_equal(sd[f"bias_hh_l{l}"], 0.0)
    # ... into a fresh module: the same outputs
    back = make_module(kind, 3, 4, layers, seed=10)
    back.load_state_dict({k: torch.tensor(v) for k, v in sd.items()})
    u = torch.tensor(g.standard_normal((6, 2, 3)))
    with torch.no_grad():
        np.testing.assert_allclose(back(u)[0].numpy(), net(u)[0].numpy(), rtol=1e-13, atol=1e-14)
    # module -> .pt (a model with a prefix and a readout) -> load_weights: the same map
    model = torch.nn.Module()
    model.rnn, model.fc = net, torch.nn.Linear(4, 2).double()
    torch.save(model.state_dict(), tmp_path / "model.pt")
    act = kind[4:] if kind.startswith("rnn") else None
    loaded = load_weights(tmp_path / "model.pt", activation=act)
    direct = from_torch(net, model.fc)
    from_mapping = from_torch(model.state_dict(), nonlinearity=act)  # the readout found as in a file
    assert loaded.param_names == direct.param_names == from_mapping.param_names
    for name in direct.weight_names:
        np.testing.assert_array_equal(loaded.get_param(name), direct.get_param(name), err_msg=name)
        np.testing.assert_array_equal(from_mapping.get_param(name), direct.get_param(name), err_msg=name)


@pytest.mark.parametrize("kind", sorted(CELLS))
def test_cell_state_dicts_round_trip(tmp_path, kind):
    torch.manual_seed(11)
    extra = {"nonlinearity": kind[4:]} if kind.startswith("rnn") else {}
    cell = CELLS[kind](3, 4, **extra).double()
    mp = from_torch(cell)
    sd = to_torch_state_dict(mp, cell=True)
    assert sorted(sd) == sorted(cell.state_dict())
    back = CELLS[kind](3, 4, **extra).double()
    back.load_state_dict({k: torch.tensor(v) for k, v in sd.items()})
    u = torch.randn(5, 3, dtype=torch.float64)
    with torch.no_grad():
        a, b = cell(u), back(u)
    for p, q in zip(a if kind == "lstm" else [a], b if kind == "lstm" else [b]):
        np.testing.assert_allclose(q.numpy(), p.numpy(), rtol=1e-13, atol=1e-14)
    torch.save(cell.state_dict(), tmp_path / "cell.pt")
    loaded = load_weights(tmp_path / "cell.pt", activation=kind[4:] if kind.startswith("rnn") else None)
    for name in mp.weight_names:
        np.testing.assert_array_equal(loaded.get_param(name), mp.get_param(name))


def test_modules_that_are_not_causal_maps_are_refused():
    for cls in (torch.nn.RNN, torch.nn.GRU, torch.nn.LSTM):
        name = cls.__name__
        with pytest.raises(
            DynsysError,
            match=rf"^module: the {name} is bidirectional, which is not a causal map x_t = F\(x_\{{t-1\}}, u_t\); refused$",
        ):
            from_torch(cls(3, 4, num_layers=2, bidirectional=True))
        with pytest.raises(DynsysError, match="bidirectional recurrent network"):
            from_torch(
                cls(3, 4, bidirectional=True).state_dict(), nonlinearity="tanh" if name == "RNN" else None
            )
    with pytest.raises(DynsysError, match=r"^module: the LSTM has proj_size=2: its h is a projection"):
        from_torch(torch.nn.LSTM(3, 4, proj_size=2))
    with pytest.raises(DynsysError, match=r"holds an LSTM with projections \(proj_size > 0: weight_hr_l0\)"):
        from_torch(torch.nn.LSTM(3, 4, proj_size=2).state_dict())


def test_arguments_are_checked():
    gru, rnn = torch.nn.GRU(3, 4), torch.nn.RNN(3, 4, nonlinearity="relu")
    with pytest.raises(
        DynsysError,
        match=r"^module must be a torch.nn.RNN, nn.GRU, nn.LSTM, one of their cells or a state dict, got Linear "
        r"\(for a model that holds one, pass model.state_dict\(\): its readout is found beside it\)$",
    ):
        from_torch(torch.nn.Linear(3, 4))
    with pytest.raises(DynsysError, match=r"^module: nonlinearity='tanh' contradicts the RNN's own 'relu'$"):
        from_torch(rnn, nonlinearity="tanh")
    assert from_torch(rnn, nonlinearity="relu").activation.name == "relu"
    with pytest.raises(
        DynsysError, match=r"^module: nonlinearity='tanh' applies to an Elman nn.RNN, but this is a GRU"
    ):
        from_torch(gru, nonlinearity="tanh")
    with pytest.raises(DynsysError, match=r"^module: a PyTorch state dict does not record the nonlinearity"):
        from_torch(rnn.state_dict())
    with pytest.raises(
        DynsysError,
        match=r"^module: an nn.RNN's nonlinearity is 'tanh' or 'relu', got nonlinearity 'sigmoid'$",
    ):
        from_torch(rnn.state_dict(), nonlinearity="sigmoid")
    with pytest.raises(
        DynsysError, match=r"^module: nonlinearity='relu' applies to an Elman nn.RNN, but this is an LSTM"
    ):
        from_torch(torch.nn.LSTMCell(3, 4).state_dict(), nonlinearity="relu")
    # the readout
    with pytest.raises(
        DynsysError,
        match=r"^module: the GRU: W_out must have shape \(k, 4\) to read the hidden state, got \(2, 3\)$",
    ):
        from_torch(gru, torch.nn.Linear(3, 2))
    with pytest.raises(DynsysError, match="to read the last layer's hidden state"):
        from_torch(torch.nn.GRU(3, 4, num_layers=2), {"weight": np.ones((2, 3))})
    with pytest.raises(
        DynsysError, match=r"^readout: unknown key\(s\) scale; a linear readout has weight and bias$"
    ):
        from_torch(gru, {"weight": np.ones((2, 4)), "scale": np.ones(1)})
    with pytest.raises(DynsysError, match="readout must be a torch.nn.Linear or a mapping"):
        from_torch(gru, torch.nn.ReLU())
    # a state dict with a readout given apart: other keys are refused, not ignored
    model = {**{f"rnn.{k}": v for k, v in gru.state_dict().items()}, "fc.weight": torch.ones(2, 4)}
    with pytest.raises(DynsysError, match=r"unknown key\(s\) fc.weight beside the recurrent network;"):
        from_torch(model, {"weight": np.ones((2, 4))})
    assert from_torch(model).W_out.shape == (2, 4)
    # maps that are no torch module
    from dynsys.maps import RNNMap, UnitMap
    from dynsys.maps.stacked import StackedMap

    with pytest.raises(DynsysError, match=r"this RNNMap's is 'sigmoid'"):
        to_torch_state_dict(RNNMap(np.eye(2), activation="sigmoid"))
    mixed = StackedMap([from_torch(torch.nn.GRU(3, 4)), from_torch(torch.nn.LSTM(4, 4))])
    with pytest.raises(
        DynsysError, match="layer 1 is an LSTM of 4 units, layer 0 a GRU of 4: one torch module"
    ):
        to_torch_state_dict(mixed)
    with pytest.raises(DynsysError, match="cell=True needs a one-layer map, this one has 2 layers"):
        to_torch_state_dict(from_torch(torch.nn.GRU(3, 4, num_layers=2)), cell=True)
    with pytest.raises(DynsysError, match="got LogisticMap"):
        from dynsys.maps import LogisticMap

        to_torch_state_dict(LogisticMap(3.5))
    assert sorted(to_torch_state_dict(UnitMap(w=2.0, b=0.1, activation="tanh"))) == [
        "bias_hh_l0", "bias_ih_l0", "weight_hh_l0", "weight_ih_l0",
    ]  # fmt: skip


def _save(tmp_path, state, name="net.pt"):
    torch.save(state, tmp_path / name)
    return tmp_path / name


def test_every_cli_command_reads_gated_and_stacked_state_dicts(tmp_path, run_cli):
    torch.manual_seed(12)
    lstm2 = _save(tmp_path, torch.nn.LSTM(2, 3, num_layers=2).state_dict(), "lstm2.pt")
    rnn2 = _save(tmp_path, torch.nn.RNN(2, 3, num_layers=2).state_dict(), "rnn2.pt")
    code, out, err = run_cli(
        "check", "--weights", lstm2, "--steps", "10", "--sequences", "2", "--lyapunov-steps", "20"
    )
    assert code == 0 and "StackedMap" in out, err
    code, out, err = run_cli(
        "bifurcation", "--weights", lstm2, "--param", "bias_hh_l1[0]", "--range", "-0.5", "0.5", "--json"
    )
    assert code == 0 and '"branches"' in out, err
    code, out, err = run_cli(
        "check",
        "--weights",
        rnn2,
        "--activation",
        "relu",
        "--steps",
        "10",
        "--sequences",
        "2",
        "--lyapunov-steps",
        "20",
    )
    assert code == 0, err
    # an Elman state dict needs --activation, a gated one refuses it: one line each
    for path, args, match in (
        (rnn2, (), "does not record the nonlinearity"),
        (lstm2, ("--activation", "tanh"), "applies to an Elman nn.RNN, but this is an LSTM"),
    ):
        code, out, err = run_cli("check", "--weights", path, *args)
        assert code == 2 and out == "" and err.count("\n") == 1 and match in err, err
    # fixed-points takes any map; basins on a 12-dim state needs its plane (one line)
    code, out, err = run_cli("fixed-points", "--weights", lstm2, "--starts", "16")
    assert code == 0 and "StackedMap (state dim 12)" in out, err
    code, out, err = run_cli("basins", "--weights", lstm2)
    assert code == 2 and out == "" and err.count("\n") == 1 and "--plane" in err, err
    code, out, err = run_cli(
        "fixed-points", "--weights", _save(tmp_path, torch.nn.RNN(2, 3).state_dict()), "--activation", "tanh"
    )
    assert code == 0, err
