import numpy as np
import pytest

from dynsys.errors import DynsysError
from dynsys.io import from_torch_rnn, load_weights
from dynsys.maps import iterate

torch = pytest.importorskip("torch")


def _check_matches_torch(rnn, net, lin=None, *, cell=False):
    """dynsys's map reproduces the module's forward pass (float64) to 1e-12."""
    torch.manual_seed(3)
    T, B, m, n = 25, 4, rnn.input_dim, rnn.dim
    u = torch.randn(T, B, m, dtype=torch.float64)
    with torch.no_grad():
        if cell:
            h, outs = torch.zeros(B, n, dtype=torch.float64), []
            for t in range(T):
                h = net(u[t], h)
                outs.append(h)
            out = torch.stack(outs)
        else:
            out, _ = net(u, torch.zeros(1, B, n, dtype=torch.float64))
    # h_0 = 0 corresponds to any x_0 with σ(x_0) = 0, e.g. x_0 = 0 for tanh and relu
    traj = iterate(rnn, np.zeros((B, n)), u.numpy())
    np.testing.assert_allclose(rnn.hidden(traj.states[1:]), out.numpy(), rtol=1e-12, atol=1e-13)
    if lin is not None:
        with torch.no_grad():
            y = lin(out)
        np.testing.assert_allclose(rnn.readout(traj.states[1:]), y.numpy(), rtol=1e-12, atol=1e-13)
    return out


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_torch_rnn_hidden_states_equal_sigma_of_map_states(nonlinearity):
    torch.manual_seed(0)
    net = torch.nn.RNN(3, 7, nonlinearity=nonlinearity, batch_first=False).double()
    lin = torch.nn.Linear(7, 2).double()
    rnn = from_torch_rnn(net, lin)
    assert rnn.activation.name == nonlinearity
    out = _check_matches_torch(rnn, net, lin)
    if nonlinearity == "relu":  # the test can tell relu from tanh: some units are cut at zero
        assert (out.numpy() == 0).mean() > 0.2
    sd = from_torch_rnn(net.state_dict(), lin.state_dict(), nonlinearity=nonlinearity)
    assert sd.activation.name == nonlinearity
    np.testing.assert_array_equal(sd.W_rec, rnn.W_rec)
    np.testing.assert_array_equal(sd.b, rnn.b)
    assert from_torch_rnn(net, nonlinearity=nonlinearity).activation.name == nonlinearity
    other = "tanh" if nonlinearity == "relu" else "relu"
    with pytest.raises(
        DynsysError, match=f"nonlinearity='{other}' contradicts the RNN's own '{nonlinearity}'"
    ):
        from_torch_rnn(net, nonlinearity=other)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_cell_module_and_state_dict(tmp_path, nonlinearity):
    torch.manual_seed(2)
    cell = torch.nn.RNNCell(3, 5, nonlinearity=nonlinearity).double()
    rnn = from_torch_rnn(cell)
    assert rnn.activation.name == nonlinearity and rnn.dim == 5 and rnn.input_dim == 3
    _check_matches_torch(rnn, cell, cell=True)
    torch.save(cell.state_dict(), tmp_path / "cell.pt")
    back = load_weights(tmp_path / "cell.pt", activation=nonlinearity)
    np.testing.assert_array_equal(back.W_rec, rnn.W_rec)
    np.testing.assert_array_equal(back.b, rnn.b)
    assert back.activation.name == nonlinearity


def test_bias_free_rnn_has_zero_bias():
    net = torch.nn.RNN(2, 4, bias=False).double()
    rnn = from_torch_rnn(net)
    np.testing.assert_array_equal(rnn.b, np.zeros(4))
    _check_matches_torch(rnn, net)


def test_modules_that_are_not_one_elman_layer_are_refused():
    with pytest.raises(
        DynsysError,
        match=r"^rnn: the RNN holds a 2-layer nn.RNN; from_torch_rnn returns one layer \(an RNNMap\): "
        "from_torch imports the whole stack as a StackedMap$",
    ):
        from_torch_rnn(torch.nn.RNN(3, 5, num_layers=2))
    with pytest.raises(DynsysError, match="is bidirectional, which is not a causal map"):
        from_torch_rnn(torch.nn.RNN(3, 5, bidirectional=True))
    with pytest.raises(DynsysError, match="only Elman RNNs .* got mode LSTM; from_torch imports it"):
        from_torch_rnn(torch.nn.LSTM(3, 5))
    with pytest.raises(DynsysError, match="only Elman cells .* got GRUCell; from_torch imports it"):
        from_torch_rnn(torch.nn.GRUCell(3, 5))
    with pytest.raises(DynsysError, match="must be a torch.nn.RNN"):
        from_torch_rnn(object())
    with pytest.raises(TypeError):  # the `layer` parameter is gone
        from_torch_rnn(torch.nn.RNN(3, 5), layer=0)


def test_state_dict_arguments_are_checked():
    net = torch.nn.RNN(3, 5)
    with pytest.raises(DynsysError, match="unknown nonlinearity 'gelu'"):
        from_torch_rnn(net.state_dict(), nonlinearity="gelu")
    with pytest.raises(DynsysError, match=r"^rnn: a PyTorch state dict does not record the nonlinearity"):
        from_torch_rnn(net.state_dict())
    with pytest.raises(DynsysError, match="holds a 3-layer nn.RNN"):
        from_torch_rnn(torch.nn.RNN(3, 5, num_layers=3).state_dict(), nonlinearity="tanh")
    with pytest.raises(DynsysError, match="looks like an LSTM"):
        from_torch_rnn(torch.nn.LSTM(3, 5).state_dict(), nonlinearity="tanh")


class _Model(torch.nn.Module):
    def __init__(self, rnn):
        super().__init__()
        self.rnn = rnn
        self.fc = torch.nn.Linear(rnn.hidden_size, 3)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_load_torch_state_dict_file(tmp_path, nonlinearity):
    torch.manual_seed(1)
    model = _Model(torch.nn.RNN(2, 6, nonlinearity=nonlinearity)).double()
    torch.save(model.state_dict(), tmp_path / "m.pt")
    rnn = load_weights(tmp_path / "m.pt", activation=nonlinearity)
    assert rnn.activation.name == nonlinearity
    np.testing.assert_array_equal(rnn.W_rec, model.rnn.weight_hh_l0.detach().numpy())
    np.testing.assert_array_equal(rnn.W_out, model.fc.weight.detach().numpy())
    assert rnn.W_out.shape == (3, 6) and rnn.input_dim == 2
    _check_matches_torch(rnn, model.rnn, model.fc)


def _save(tmp_path, state, name="model.pt"):
    torch.save(state, tmp_path / name)
    return tmp_path / name


def _refused(path, match, activation="tanh"):
    with pytest.raises(DynsysError) as exc:
        load_weights(path, activation=activation, name="--weights")
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith("--weights: ")
    assert match in msg, msg
    return msg


def test_bad_state_dict_files(tmp_path):
    (tmp_path / "bad.pt").write_bytes(b"garbage")
    _refused(tmp_path / "bad.pt", "as a tensor-only state dict")
    one = "must hold exactly one recurrent network (nn.RNN, nn.GRU or nn.LSTM; found"
    _refused(_save(tmp_path, {"x": torch.zeros(2)}), f"{one} none; keys: x)")
    two = {"enc.weight_hh_l0": torch.eye(2), "dec.weight_hh_l0": torch.eye(2)}
    _refused(_save(tmp_path, two), f"{one} 2: dec, enc;")
    _refused(_save(tmp_path, [torch.zeros(2)]), "holds a list, expected a state dict")


def test_bidirectional_state_dicts_are_refused(tmp_path):
    # (stacked ones load: tests/io/test_from_torch.py)
    msg = _refused(
        _save(tmp_path, _Model(torch.nn.RNN(2, 4, bidirectional=True)).state_dict()), "bidirectional"
    )
    assert msg == (
        f"--weights: {tmp_path / 'model.pt'} holds a bidirectional recurrent network (*_reverse keys), "
        "which is not a causal map x_t = F(x_{t-1}, u_t); refused"
    )
    _refused(
        _save(tmp_path, torch.nn.GRU(2, 4, num_layers=2, bidirectional=True).state_dict()), "bidirectional"
    )


def test_missing_keys_are_listed(tmp_path):
    only_hh = {"weight_hh_l0": torch.eye(4)}
    each = "(each layer of an nn.RNN, GRU or LSTM has weight_ih and weight_hh; found:"
    _refused(_save(tmp_path, only_hh), f"lacks weight_ih_l0 {each} weight_hh_l0)")
    only_ih = {"rnn.weight_ih_l0": torch.ones(4, 2), "rnn.bias_ih_l0": torch.ones(4)}
    _refused(_save(tmp_path, only_ih), f"lacks weight_hh_l0 {each} bias_ih_l0, weight_ih_l0)")
    # a missing middle layer of a stack
    gap = {k: v for k, v in torch.nn.GRU(2, 3, num_layers=3).state_dict().items() if not k.endswith("_l1")}
    _refused(_save(tmp_path, gap), "lacks weight_hh_l1, weight_ih_l1 (each layer")
    many = {"weight_ih_l0": torch.ones(4, 2), **{f"bias_hh_l{i}": torch.ones(4) for i in range(1)}}
    many.update({f"weight_ih_l0_extra{i}": torch.ones(1) for i in range(20)})  # not RNN keys
    msg = _refused(_save(tmp_path, many), "lacks weight_hh_l0")
    assert "... (" in msg and len(msg) < 400  # a long list of keys is cut


def test_projections_bad_shapes_and_unknown_keys_are_refused(tmp_path):
    msg = _refused(_save(tmp_path, torch.nn.LSTM(3, 4, proj_size=2).state_dict()), "projections", None)
    assert "holds an LSTM with projections (proj_size > 0: weight_hr_l0)" in msg and msg.endswith("refused")
    bad = {"weight_hh_l0": torch.ones(4, 3), "weight_ih_l0": torch.ones(4, 2)}
    _refused(
        _save(tmp_path, bad),
        "weight_hh_l0 must have shape (G·n, n) with G = 1 (nn.RNN), 3 (GRU) or 4 (LSTM) gate blocks, "
        "got shape (4, 3)",
    )
    _refused(
        _save(tmp_path, {"weight_hh": torch.ones(10, 5), "weight_ih": torch.ones(10, 2)}), "got shape (10, 5)"
    )
    bad = {"weight_hh_l0": torch.eye(4), "weight_ih_l0": torch.ones(3, 2)}
    _refused(_save(tmp_path, bad), "weight_ih_l0 must have shape (4, m), got (3, 2)")
    bad = {"weight_hh_l0": torch.eye(4), "weight_ih_l0": torch.ones(4, 2), "bias_hh_l0": torch.ones(3)}
    _refused(_save(tmp_path, bad), "bias_hh_l0 must have shape (4,), got (3,)")
    gru = torch.nn.GRU(3, 4).state_dict()
    _refused(
        _save(tmp_path, {**gru, "bias_ih_l0": torch.ones(4)}),
        "bias_ih_l0 must have shape (12,), got (4,)",
        None,
    )
    # a stack whose layers do not chain, or change cell type
    two = torch.nn.GRU(3, 4, num_layers=2).state_dict()
    bad = {**two, "weight_ih_l1": torch.ones(12, 3)}
    msg = _refused(
        _save(tmp_path, bad), "weight_ih_l1 must have shape (12, 4) (layer 1 reads the 4 hidden", None
    )
    lstm = torch.nn.LSTM(4, 4).state_dict()
    bad = {**two, "weight_hh_l1": lstm["weight_hh_l0"], "weight_ih_l1": lstm["weight_ih_l0"]}
    _refused(_save(tmp_path, bad), "weight_hh_l1 has 4 gate block(s) but layer 0 has 3", None)
    # keys of a cell and of a layered module together
    mixed = {**torch.nn.GRUCell(3, 4).state_dict(), **gru}
    _refused(_save(tmp_path, mixed), "mixes the keys of a cell (weight_hh) and of a layered module", None)
    # unknown keys under the network's prefix, or beside it, are listed
    extra = {f"rnn.{k}": v for k, v in gru.items()} | {"rnn.scale": torch.ones(1)}
    _refused(_save(tmp_path, extra), "unknown key(s) scale beside the recurrent network's weights", None)
    model = _Model(torch.nn.GRU(3, 4)).state_dict()
    msg = _refused(
        _save(tmp_path, {**model, "emb.weight": torch.ones(10, 3)}), "unknown key(s) emb.weight", None
    )
    assert "beside the recurrent network and its readout fc; refusing to analyse a part of the network" in msg
    _refused(_save(tmp_path, {**model, "fc.extra": torch.ones(2)}), "unknown key(s) fc.extra beside", None)
    two_heads = {**model, "fc2.weight": torch.ones(2, 4)}
    _refused(
        _save(tmp_path, two_heads),
        "holds 2 candidate readouts of the 4 hidden units (fc.weight, fc2.weight)",
        None,
    )
    narrow = {**gru, "fc.weight": torch.ones(2, 3), "fc.bias": torch.ones(2)}
    _refused(_save(tmp_path, narrow), "unknown key(s) fc.bias, fc.weight beside the recurrent network;", None)
    wrong_bias = {**model, "fc.bias": torch.ones(5)}
    _refused(_save(tmp_path, wrong_bias), "b_out must have shape (3,) to match W_out, got (5,)", None)


def test_gated_state_dicts_take_no_activation(tmp_path):
    for net, kind in ((torch.nn.GRU(3, 4), "a GRU"), (torch.nn.LSTMCell(3, 4), "an LSTM")):
        path = _save(tmp_path, net.state_dict())
        msg = _refused(path, "", activation="tanh")
        assert msg == (
            f"--weights: activation='tanh' applies to an Elman nn.RNN, but this is {kind}, whose "
            "nonlinearities are fixed (sigmoid gates, tanh)"
        )
        assert load_weights(path).dim == (4 if kind == "a GRU" else 8)


def test_a_state_dict_needs_its_nonlinearity(tmp_path):
    path = _save(tmp_path, _Model(torch.nn.RNN(2, 4, nonlinearity="relu")).state_dict())
    msg = _refused(path, "", activation=None)
    assert msg == (
        "--weights: a PyTorch state dict does not record the nonlinearity: give activation "
        "('tanh' or 'relu'; --activation on the command line)"
    )
    _refused(path, "nonlinearity is 'tanh' or 'relu', got activation 'sigmoid'", activation="sigmoid")
    assert load_weights(path, activation="relu").activation.name == "relu"


def test_cli_refuses_a_state_dict_without_activation(tmp_path, run_cli):
    path = _save(tmp_path, torch.nn.RNN(2, 4).state_dict())
    code, out, err = run_cli("check", "--weights", path)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "does not record the nonlinearity" in err and "--activation" in err
    code, out, _ = run_cli("check", "--weights", path, "--activation", "tanh")
    assert code == 0 and out
