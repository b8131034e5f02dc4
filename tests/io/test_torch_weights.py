import numpy as np
import pytest

from dynsys.errors import DynsysError
from dynsys.io import from_torch_rnn
from dynsys.maps import iterate

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_torch_rnn_hidden_states_equal_sigma_of_map_states(nonlinearity):
    torch.manual_seed(0)
    net = torch.nn.RNN(3, 7, nonlinearity=nonlinearity, batch_first=False).double()
    lin = torch.nn.Linear(7, 2).double()
    u = torch.randn(25, 4, 3, dtype=torch.float64)
    h0 = torch.zeros(1, 4, 7, dtype=torch.float64)
    with torch.no_grad():
        out, _ = net(u, h0)
        y = lin(out)
    rnn = from_torch_rnn(net, lin)
    # h_0 = 0 corresponds to any x_0 with σ(x_0) = 0, e.g. x_0 = 0 for tanh and relu
    traj = iterate(rnn, np.zeros((4, 7)), u.numpy())
    np.testing.assert_allclose(rnn.hidden(traj.states[1:]), out.numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(rnn.readout(traj.states[1:]), y.numpy(), rtol=1e-12, atol=1e-13)
    sd = from_torch_rnn(net.state_dict(), lin.state_dict(), nonlinearity=nonlinearity)
    np.testing.assert_array_equal(sd.W_rec, rnn.W_rec)
    np.testing.assert_array_equal(sd.b, rnn.b)


def test_second_layer_and_errors():
    net = torch.nn.RNN(3, 5, num_layers=2).double()
    m = from_torch_rnn(net, layer=1)
    assert m.dim == 5 and m.input_dim == 5
    with pytest.raises(DynsysError, match="layer=2 not found; the state dict has layers 0, 1"):
        from_torch_rnn(net, layer=2)
    with pytest.raises(DynsysError, match="bidirectional"):
        from_torch_rnn(torch.nn.RNN(3, 5, bidirectional=True))
    with pytest.raises(DynsysError, match="only Elman RNNs"):
        from_torch_rnn(torch.nn.LSTM(3, 5))
    with pytest.raises(DynsysError, match="unknown nonlinearity 'gelu'"):
        from_torch_rnn(net.state_dict(), nonlinearity="gelu")
    with pytest.raises(DynsysError, match="must be a torch.nn.RNN"):
        from_torch_rnn(object())


def test_load_torch_state_dict_file(tmp_path, run_cli):
    from dynsys.io import load_weights

    torch.manual_seed(1)

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.RNN(2, 6)
            self.fc = torch.nn.Linear(6, 3)

    model = Model()
    torch.save(model.state_dict(), tmp_path / "m.pt")
    rnn = load_weights(tmp_path / "m.pt")
    np.testing.assert_allclose(rnn.W_rec, model.rnn.weight_hh_l0.detach().double().numpy())
    np.testing.assert_allclose(rnn.W_out, model.fc.weight.detach().double().numpy())
    assert rnn.W_out.shape == (3, 6) and rnn.input_dim == 2
    (tmp_path / "bad.pt").write_bytes(b"garbage")
    with pytest.raises(DynsysError, match="cannot read .* as a tensor-only state dict"):
        load_weights(tmp_path / "bad.pt")
    torch.save({"x": torch.zeros(2)}, tmp_path / "none.pt")
    with pytest.raises(DynsysError, match="exactly one nn.RNN"):
        load_weights(tmp_path / "none.pt")
