"""Training any cell (issue 14): initializations, one update against PyTorch, evaluation, resume."""

from __future__ import annotations

import numpy as np
import pytest

from dynsys.errors import DynsysError
from dynsys.training import StepOptions, TrainConfig, evaluate, get_task, initialize, train, training_step
from dynsys.training.cells import (
    CELLS,
    build_map,
    cell_inits,
    cell_weight_names,
    default_init,
    init_weights,
)


def _stack(ws):
    return {k: np.stack([w[k] for w in ws]) for k in ws[0]}


# -- initializations ---------------------------------------------------------------------------
def test_rnn_cell_draws_exactly_what_initialize_draws():
    """The eq. 2 cell's weights are the paper's initializations, same draws (Fig. 7 unchanged)."""
    for init in ("sigmoid", "basic_tanh", "smart_tanh", "orthogonal", "identity"):
        w = init_weights("rnn", init, 12, 3, 2, np.random.default_rng([4, 0]))
        ref = initialize(init, 12, 3, 2, rng=np.random.default_rng([4, 0]))
        for k in cell_weight_names("rnn"):
            np.testing.assert_array_equal(w[k], getattr(ref, k))


def test_gated_initializations():
    n, m, k = 40, 3, 2
    s = 1 / np.sqrt(n)
    w = init_weights("gru", "pytorch", n, m, k, 0)
    assert w["weight_ih"].shape == (3 * n, m) and w["weight_hh"].shape == (3 * n, n)
    for a in w.values():  # torch's reset_parameters: U(-1/sqrt(n), 1/sqrt(n)) everywhere
        assert np.all(np.abs(a) <= s) and (a.size < 50 or np.abs(a).max() > 0.9 * s)
    w = init_weights("lstm", "forget_bias", n, m, k, 0)
    np.testing.assert_array_equal(w["bias_ih"][n : 2 * n] + w["bias_hh"][n : 2 * n], np.ones(n))
    assert np.all(np.abs(w["bias_ih"][:n]) <= s)  # the other gates keep torch's default
    for cell, G in (("gru", 3), ("lstm", 4)):
        w = init_weights(cell, "orthogonal", n, m, k, 1)
        for g in range(G):
            Q = w["weight_hh"][g * n : (g + 1) * n]
            np.testing.assert_allclose(Q @ Q.T, np.eye(n), atol=1e-12)
    np.testing.assert_array_equal(init_weights("lstm", "orthogonal", n, m, k, 1)["bias_ih"][n : 2 * n], 1.0)
    irnn = init_weights("rnn", "irnn", n, m, k, 0)
    np.testing.assert_array_equal(irnn["W_rec"], np.eye(n))
    assert np.std(irnn["W_in"]) < 0.002 and build_map("rnn", irnn, "relu").activation.name == "relu"


def test_every_cell_builds_its_map_with_every_init():
    for cell in CELLS:
        for init in cell_inits(cell):
            w = init_weights(cell, init, 5, 2, 3, 0)
            assert tuple(w) == cell_weight_names(cell)
            m = build_map(cell, w, "relu" if init == "irnn" else "tanh")
            assert tuple(m.weight_names) == cell_weight_names(cell)
            assert m.input_dim == 2


def test_cell_config_validation():
    assert TrainConfig(cell="gru").inits == (default_init("gru"),)
    assert TrainConfig(cell="lstm").methods == ("msgd-c",) and TrainConfig().methods == ("msgd-cr",)
    with pytest.raises(DynsysError, match=r"^methods: msgd-cr .* cell 'gru'"):
        TrainConfig(cell="gru", methods=("msgd-cr",))
    with pytest.raises(DynsysError, match=r"^inits must be one of pytorch, orthogonal for cell 'gru'"):
        TrainConfig(cell="gru", inits=("smart_tanh",))
    with pytest.raises(DynsysError, match=r"^cell must be one of"):
        TrainConfig(cell="transformer")
    with pytest.raises(DynsysError, match=r"^inits must be one of"):
        TrainConfig(inits=("pytorch",))
    # the eq. 2 cell is the default and is not written: every earlier config keeps its hash
    assert "cell" not in TrainConfig(inits="irnn", methods="msgd-c").to_dict()
    assert TrainConfig.from_dict(TrainConfig(cell="gru").to_dict()).cell == "gru"


# -- one update against PyTorch ----------------------------------------------------------------
def _torch_module(torch, cell, w, m, n):
    Mod = {"gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[cell]
    mod = Mod(m, n, dtype=torch.float64)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(mod, name + "_l0").copy_(torch.tensor(w[name]))
    return mod


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("task_name", ["temporal_order", "addition"])
@pytest.mark.parametrize("clip", [np.inf, 0.05])
def test_one_gated_update_equals_torch(cell, task_name, clip):
    """MSGD / MSGD-C of K = 2 members against nn.GRU/nn.LSTM autograd, clipping and SGD by hand."""
    torch = pytest.importorskip("torch")
    task = get_task(task_name)
    n, lr = 6, 0.1
    ws = [init_weights(cell, default_init(cell), n, task.n_in, task.n_out, s) for s in (0, 1)]
    batch = task.generate(np.random.default_rng(3), 12, 5)
    opts = StepOptions(lr=[lr, lr], clip=[clip, clip], alpha=[0.0, 0.0])
    new, _, info = training_step(_stack(ws), batch.inputs, batch.targets, task, "tanh", opts, cell=cell)
    for i, w in enumerate(ws):
        mod = _torch_module(torch, cell, w, task.n_in, n)
        Wo = torch.tensor(w["W_out"], requires_grad=True)
        bo = torch.tensor(w["b_out"], requires_grad=True)
        out, _ = mod(torch.tensor(batch.inputs))
        T, B = batch.inputs.shape[:2]
        read = [T - 1] if task.read == "last" else list(range(T))
        loss = 0.0
        for j, s in enumerate(read):
            y = out[s] @ Wo.T + bo
            tg = torch.tensor(batch.targets[j])
            if task.output == "softmax":
                loss = loss + torch.nn.functional.cross_entropy(y, tg, reduction="sum") / B
            else:
                loss = loss + ((y - tg) ** 2).sum() / B
        loss = loss * task.loss_scale(T)
        loss.backward()
        grads = {name: getattr(mod, name + "_l0").grad.numpy() for name in ("weight_ih", "weight_hh")}
        grads.update({name: getattr(mod, name + "_l0").grad.numpy() for name in ("bias_ih", "bias_hh")})
        grads["W_out"], grads["b_out"] = Wo.grad.numpy(), bo.grad.numpy()
        norm = np.sqrt(sum(np.sum(g**2) for g in grads.values()))
        scale = min(1.0, clip / norm)
        assert info.loss[i] == pytest.approx(loss.item(), rel=1e-12)
        assert info.norm[i] == pytest.approx(norm, rel=1e-10)
        assert bool(info.clipped[i]) == (norm > clip)
        for name in cell_weight_names(cell):
            np.testing.assert_allclose(new[name][i], w[name] - lr * scale * grads[name], rtol=0, atol=1e-12)


def test_gated_evaluate_equals_torch_forward():
    torch = pytest.importorskip("torch")
    task = get_task("temporal_order")
    n = 7
    ws = [init_weights("lstm", "pytorch", n, task.n_in, task.n_out, s) for s in (0, 1)]
    batch = task.generate(np.random.default_rng(0), 15, 9)
    wrong, loss = evaluate(_stack(ws), task, "tanh", batch.inputs, batch.targets, "lstm")
    for i, w in enumerate(ws):
        out, _ = _torch_module(torch, "lstm", w, task.n_in, n)(torch.tensor(batch.inputs))
        y = out[-1].detach().numpy() @ w["W_out"].T + w["b_out"]
        np.testing.assert_array_equal(wrong[i], y.argmax(-1) != batch.targets[0])
        ref = torch.nn.functional.cross_entropy(torch.tensor(y), torch.tensor(batch.targets[0]))
        assert loss[i] == pytest.approx(float(ref), rel=1e-12)


def test_alpha_is_refused_for_gated_steps():
    task = get_task("temporal_order")
    w = init_weights("gru", "pytorch", 4, task.n_in, task.n_out, 0)
    batch = task.generate(np.random.default_rng(0), 10, 2)
    opts = StepOptions(lr=[0.1], clip=[1.0], alpha=[2.0])
    with pytest.raises(DynsysError, match=r"^alpha must be 0 for cell 'gru'"):
        training_step(_stack([w]), batch.inputs, batch.targets, task, "tanh", opts, cell="gru")


# -- whole runs --------------------------------------------------------------------------------
@pytest.mark.parametrize("cell", ["gru", "residual"])
def test_resume_of_a_cell_run_is_bit_identical(tmp_path, cell):
    if cell == "residual":
        pytest.importorskip("dynsys.maps.modern")
    kw = dict(task="addition", length=10, n_hidden=5, eval_every=10, eval_sequences=50,
              confirm_sequences=0, methods=("msgd", "msgd-c"), seeds=(0, 1), cell=cell)  # fmt: skip
    full = train(TrainConfig(updates=30, **kw), progress=False)
    train(TrainConfig(updates=20, **kw), tmp_path, progress=False)
    resumed = train(TrainConfig(updates=30, **kw), tmp_path, progress=False)
    for k in full.params:
        np.testing.assert_array_equal(resumed.params[k], full.params[k])
    np.testing.assert_array_equal(resumed.error, full.error)
    assert np.isnan(full.rho).all() == (cell == "gru")
    assert type(full.member_map(1)).__name__ == {"gru": "GRUMap", "residual": "ResidualRNNMap"}[cell]


def test_a_gru_learns_the_addition_task_signal():
    """Training lowers the loss well below the predict-the-mean baseline on short sequences."""
    cfg = TrainConfig(task="addition", length=10, n_hidden=16, updates=400, lr=0.1, eval_every=400,
                      eval_sequences=200, confirm_sequences=0, cell="gru", methods="msgd-c", seeds=3)  # fmt: skip
    h = train(cfg, progress=False)
    assert h.loss[-1, 0] < 0.5 * h.loss[0, 0] or h.error[-1, 0] < 0.5
