"""Gradient flow through time: ‖∂x_t/∂x_k‖ against t − k (paper eq. 5–7).

Random 50-unit tanh and sigmoid RNNs with W_rec rescaled so that η = λ₁γ takes the values
{0.5, 0.9, 1.0, 1.1, 1.5}, driven by Gaussian inputs. For each network the norms of the Jacobian
products of eq. 5 are measured for every k ≤ t along the trajectories, and compared with the bound
‖∂x_t/∂x_k‖ ≤ η^{t−k} of eq. 7 (a guarantee of vanishing when η < 1).
"""

from __future__ import annotations

import numpy as np

from dynsys.activations import get_activation
from dynsys.gradients import jacobian_product_norms
from dynsys.io import save_figure
from dynsys.maps import RNNMap, iterate
from dynsys.runs import Experiment

ETAS = (0.5, 0.9, 1.0, 1.1, 1.5)
ACTS = ("tanh", "sigmoid")


def _network(activation, eta, n, m, drive, rng):
    # a scaled random orthogonal matrix: every singular value (and |eigenvalue|) equals λ₁ = η/γ,
    # so near the operating point x ≈ 0 (where σ′ = γ) the products grow or shrink like η^{t−k}
    Q, R = np.linalg.qr(rng.normal(size=(n, n)))
    gamma = float(get_activation(activation).gamma)
    W = Q * np.sign(np.diag(R)) * (eta / gamma)
    W_in = rng.normal(0, drive / np.sqrt(m), (n, m))
    b = np.zeros(n) if activation == "tanh" else -0.5 * W.sum(axis=1)  # centre σ(x) ≈ 1/2
    return RNNMap(W, W_in, b, activation)


def compute(cfg, ctx):
    rng = np.random.default_rng(cfg["seed"])
    n, m, T, B, burn = cfg["n"], cfg["m"], cfg["T"], cfg["batch"], cfg["burn_in"]
    lags = np.arange(0, T - burn + 1)
    arrays = {"lags": lags}
    metrics = {"cases": []}
    jobs = [(a, e) for a in ACTS for e in ETAS]
    for act, eta in ctx.progress(jobs, desc="gradient flow"):
        rnn = _network(act, eta, n, m, cfg["drive"], rng)
        u = rng.normal(size=(T, B, m))
        traj = iterate(rnn, rng.normal(0, cfg["drive"], size=(B, n)), u)
        norms = jacobian_product_norms(rnn, traj.states, u)  # (T+1, T+1, B)
        logn = np.log10(np.maximum(norms, 1e-300))
        mean = np.empty(lags.size)
        lo = np.empty(lags.size)
        hi = np.empty(lags.size)
        for i, lag in enumerate(lags):
            ks = np.arange(burn, T - lag + 1)
            vals = logn[ks + lag, ks].ravel()
            mean[i], lo[i], hi[i] = vals.mean(), np.percentile(vals, 10), np.percentile(vals, 90)
        # the eq. 7 bound for every (t, k, b) with k ≤ t
        t_idx, k_idx = np.tril_indices(T + 1)
        ratio = norms[t_idx, k_idx] / (eta ** (t_idx - k_idx))[:, None]
        slope = np.polyfit(lags[1:], mean[1:], 1)[0]  # fitted log10 rate per step
        key = f"{act}_{eta:g}"
        arrays[f"{key}_mean"], arrays[f"{key}_lo"], arrays[f"{key}_hi"] = mean, lo, hi
        metrics["cases"].append(
            {
                "activation": act,
                "eta": eta,
                "lambda1": float(np.linalg.norm(rnn.W_rec, 2)),
                "fitted_rate_per_step": float(10**slope),
                "max_norm_over_bound": float(ratio.max()),
                "bound_holds": bool(ratio.max() <= 1 + 1e-10),
                "pairs_checked": int(ratio.size),
            }
        )
    metrics["bound_holds_everywhere"] = all(c["bound_holds"] for c in metrics["cases"])
    return arrays, metrics


def draw(arrays, meta, figdir):
    from dynsys.plotting.gradients import gradient_flow_figure

    lags = arrays["lags"]
    res = {
        a: [(lags, arrays[f"{a}_{e:g}_mean"], arrays[f"{a}_{e:g}_lo"], arrays[f"{a}_{e:g}_hi"]) for e in ETAS]
        for a in ACTS
    }
    fig = gradient_flow_figure(res, ETAS, ACTS, lag_max=int(lags[-1]))
    save_figure(fig, figdir / "gradient_flow")
    return ["gradient_flow"]


def report(arrays, meta):
    rows = [
        "| activation | λ₁γ | λ₁ | fitted rate per step | max ‖∂x_t/∂x_k‖ / η^{t−k} | bound holds |",
        "|---|---|---|---|---|---|",
    ]
    for c in meta["metrics"]["cases"]:
        rows.append(
            f"| {c['activation']} | {c['eta']:g} | {c['lambda1']:.4g} | {c['fitted_rate_per_step']:.4f} | "
            f"{c['max_norm_over_bound']:.3g} | {'yes' if c['bound_holds'] else '**no**'} "
            f"({c['pairs_checked']} pairs) |"
        )
    held = meta["metrics"]["bound_holds_everywhere"]
    rows.append("")
    rows.append(
        f"The bound of eq. 7 held for every (t, k, sequence): **{'yes' if held else 'no'}**. "
        "Below λ₁γ = 1 the measured norms decay at least as fast as η^{t−k} (vanishing is guaranteed). "
        "Above it the norms first grow, then saturation of σ (σ′ < γ away from 0) caps the growth: "
        "λ₁γ > 1 is necessary, not sufficient, for exploding gradients."
    )
    return "\n".join(rows)


EXPERIMENT = Experiment(
    name="gradient_flow",
    title="Gradient flow: ‖∂x_t/∂x_k‖ against t − k for λ₁γ around 1 (eq. 5–7)",
    checks="the Jacobian products of eq. 5 measured along weakly driven trajectories of 50-unit tanh and "
    "sigmoid RNNs (W_rec a scaled random orthogonal matrix, so λ₁ = ρ = η/γ), against the bound "
    "‖∂x_t/∂x_k‖ ≤ (λ₁γ)^{t−k} of eq. 7; the bound is nearly attained near x = 0 where σ′ = γ.",
    profiles={
        "default": {"seed": 1, "n": 50, "m": 5, "T": 60, "batch": 6, "burn_in": 10, "drive": 0.1},
        "paper": {"seed": 1, "n": 50, "m": 5, "T": 200, "batch": 32, "burn_in": 20, "drive": 0.1},
    },
    compute=compute,
    draw=draw,
    report=report,
    order=10,
)
