"""Fixed points of a 64-unit tanh RNN: batched Newton (both linear solvers) vs a scipy.optimize.root loop;
slow points and a GRU's fixed points vs a FixedPointFinder-style torch Adam minimizer of q.

Also times the continuation of the paper's Fig. 3 branch (one sigmoid unit, w = 5,
b ∈ [−3.2, −1.8]) including the location of both folds, and how the solvers scale with n.

Run: ``python benchmarks/bench_fixed_points.py`` (single-threaded BLAS and torch; ~4 min, of
which ~35 s train the two flip-flop networks); ``--torch-only`` runs the torch comparison alone.

Where the time goes (n = 64, 1032 starts):

* Newton with exact LU (``linear="lu"``): ~10.7k batched 64×64 LU solves (~34–40 µs each, LAPACK's
  floor; float32 is not faster) are ~65 % of the run. Every start needs ~6 damped Newton
  iterations of global phase before the first root is known (the Jacobians on the way have
  σ_min(J − I) ≈ 0.01–0.07), and stagnating starts are given up (575/1032 converge): ≈ 5× scipy.
* Newton–Krylov (``linear="krylov"``; ``"auto"``, the default, picks it for RNN maps from n = 64):
  no per-start factorization. The direction comes from batched GMRES on ``(J − I) d = −g`` whose
  every step is one GEMM for all starts, right-preconditioned by ``(c W − I)⁻¹`` with ``c`` the
  mean of σ′(x) per start rounded to 16 levels (≤ 16 shared 64×64 inverses per solve), with loose
  Eisenstat–Walker forcing terms (η ≥ 0.7) in the global phase. It takes 1–2 Krylov steps per
  start and iteration; the global phase ends after 4–5 iterations and nearly every start converges
  (1030/1032). Time: GMRES incl. preconditioner ~40 %, line-search map evaluations ~20 %, the rest
  bookkeeping. Without the preconditioner GMRES needs 10–40+ steps here and is slower than LU —
  the shifted-inverse preconditioner is what makes it pay. The last < 32 active starts and GMRES
  misses (rare) use the exact LU.
* The scipy loop: ~2.5 ms per start (MINPACK ``hybr`` + Python callbacks, 629/1032 converge).

Measured (2 runs, 2-core machine shared with other jobs; the sampled starts are drawn in the
periodic box since issue 14): Newton–Krylov 0.063–0.065 s, LU 0.32–0.34 s, scipy 1.45–1.50 s:
**23× scipy** (4.5× for LU), 3 distinct fixed points each. Scaling with 256 starts: Newton–Krylov
is slower than LU for n ≤ 32 (numpy overhead per Krylov step; ``"auto"`` uses LU there), 3.3–5.2×
faster than LU for n = 64–256 and finds more roots at n = 256 (11 vs 3; scipy 4).

**FixedPointFinder-style baseline** (``torch_baseline``): the optimization loop of
FixedPointFinderTorch (Golub & Sussillo 2018) — Adam, lr 0.05 with StepLR(500, 0.7), on the mean
of ``q = ½‖F(x) − x‖²`` over all starts, float32, until every start has ``q < 10⁻¹²`` or
``|Δq| < 10⁻²⁰``, at most 5000 iterations — written here in torch for the same maps: the tanh RNN
as ``tanh(x) Wᵀ + b`` (the same ``q`` as dynsys's), the GRU as the ``nn.GRU`` module itself (as
FixedPointFinder calls it). 1024 starts per network, FixedPointFinder's recipe: states of the
network driven by task sequences plus N(0, 0.5²) noise. Networks: a tanh ``nn.RNN`` and an
``nn.GRU``, 64 units each, trained on the 3-bit flip-flop here (Adam, 1500 / 1000 updates), and an
untrained random tanh RNN of gain 2 (slow points, and starts that never converge). Measured
(3 runs, medians of 3 interleaved repeats each):

* slow points, trained RNN: ``find_slow_points`` 0.65–0.67 s vs Adam 3.2–3.5 s: **4.9–5.3×**.
  dynsys: all 1024 starts end at one of the 27 fixed points (3³: 8 stable, saddles between) to
  residual < 10⁻¹⁰, after 7–10 Levenberg–Marquardt iterations; Adam: 623/1024 starts at
  q < 10⁻¹² after 5000 iterations, 68 distinct end points with q ≤ 10⁻³ (27 of them at dynsys's).
* slow points, random RNN of gain 2: 1.74–1.91 s vs 3.2–3.5 s: **1.8×**. dynsys: 22 fixed points
  and 6 slow points with ``|∇q| ≤ 10⁻¹² |F(x) − x|`` (566 starts at roots, 298 stationary, 160
  stalled, after 24–59 iterations on average); Adam: no start at q < 10⁻¹², median q 2·10⁻³.
  The implementation before issue 14 (one λ per start but all starts iterated to the end) took
  14 s here (0.8 s on the trained network).
* fixed points, GRU: ``find_fixed_points`` 0.41–0.47 s vs Adam 7.0–8.8 s: **15.6–18.9×**. dynsys:
  15 fixed points (5 stable, 10 saddles) to residual 10⁻¹⁵ from the same starts (starts that leave
  the GRU's periodic box by more than its width are given up: without that rule 1.5 s); Adam: no
  start at q < 10⁻¹² (median 3.5·10⁻⁵) after 5000 iterations.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import time  # noqa: E402

import numpy as np  # noqa: E402
from scipy.optimize import root  # noqa: E402

from dynsys.analysis.continuation import continue_branch, locate_bifurcations  # noqa: E402
from dynsys.analysis.equilibria import find_fixed_points, find_slow_points, newton_solve  # noqa: E402
from dynsys.analysis.equilibria.points import dedup as _dedup  # noqa: E402
from dynsys.analysis.equilibria.starts import periodic_box, sampled_starts  # noqa: E402
from dynsys.maps import GRUMap, RNNMap, UnitMap, iterate, parameter_path  # noqa: E402


def _default_starts(m, u, n_starts, rng, steps):
    return sampled_starts(m, u, n_starts, rng, steps, periodic_box(m, u))


N, GAIN, STARTS, SEED = 64, 1.5, 1024, 0
REPEATS = 3


def distinct(x, tol=1e-6):
    return 0 if len(x) == 0 else len(_dedup(np.asarray(x), np.zeros(len(x)), tol))


def scipy_loop(m, starts, jac=True):
    eye = np.eye(m.dim)
    f = lambda x: m.step(x) - x  # noqa: E731
    J = (lambda x: m.jacobian(x) - eye) if jac else None
    sols = []
    for s in starts:
        r = root(f, s, jac=J, method="hybr")
        if r.success and np.linalg.norm(f(r.x)) < 1e-10:
            sols.append(r.x)
    return np.array(sols).reshape(-1, m.dim)


def best_of(fn, repeats):
    best, out = np.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def solve(m, starts, linear):
    return newton_solve(m, starts, linear=linear)


def main():
    rng = np.random.default_rng(SEED)
    W = GAIN * rng.standard_normal((N, N)) / np.sqrt(N)
    m = RNNMap(W)
    starts = _default_starts(m, None, STARTS, np.random.default_rng(SEED), 30)
    print(f"{N}-unit tanh RNN, W_rec = {GAIN}·N(0, 1/n), {len(starts)} starts (half from trajectories)")
    print(
        f"  (medians of {REPEATS} interleaved runs; the machine may be shared, so all sides share its noise)"
    )

    # interleave the sides so that background load hits them alike
    times = {"krylov": [], "lu": [], "scipy": []}
    out = {}
    for _ in range(REPEATS):
        for linear in ("krylov", "lu"):
            t, out[linear] = timed(lambda: solve(m, starts, linear))  # noqa: B023
            times[linear].append(t)
        t, sols = timed(lambda: scipy_loop(m, starts, jac=True))
        times["scipy"].append(t)
    t_med = {k: float(np.median(v)) for k, v in times.items()}
    n_scipy = distinct(sols)
    t_full, fp = best_of(lambda: find_fixed_points(m, starts=starts), 1)
    sub = starts[:128]
    t_nojac, sols_nj = best_of(lambda: scipy_loop(m, sub, jac=False), 1)
    t_nojac_full = t_nojac * len(starts) / len(sub)

    for linear, label in (("krylov", "Newton–Krylov (GMRES)"), ("lu", "Newton, exact LU     ")):
        x, res, conv = out[linear]
        worst = float(np.max(np.linalg.norm(m.step(x[conv]) - x[conv], axis=-1))) if conv.any() else np.nan
        print(
            f"  dynsys {label}: {t_med[linear]:7.3f} s  converged {int(conv.sum()):4d}/{len(starts)}, "
            f"distinct fixed points {distinct(x[conv])}, max residual {worst:.1e}"
        )
    print(
        f"  dynsys find_fixed_points     : {t_full:7.3f} s  (auto solver + dedup + Jacobians/stability), "
        f"{len(fp)} points {fp.stability}, max residual {float(np.max(fp.residual)):.1e}"
    )
    print(
        f"  scipy.optimize.root loop, jac: {t_med['scipy']:7.3f} s  converged {len(sols):4d}/{len(starts)}, "
        f"distinct fixed points {n_scipy}"
    )
    print(
        f"  scipy.optimize.root loop, FD : {t_nojac_full:7.3f} s  (extrapolated from {len(sub)} starts: "
        f"{t_nojac:.3f} s, {len(sols_nj)} converged)"
    )
    for linear in ("krylov", "lu"):
        x, _res, conv = out[linear]
        n_dyn = distinct(x[conv])
        print(
            f"  speed-up of {linear:6s} vs scipy with analytic Jacobian: {t_med['scipy'] / t_med[linear]:5.1f}x "
            f"(target >= 20x), vs scipy with FD Jacobian: {t_nojac_full / t_med[linear]:5.1f}x; distinct "
            f"fixed points {n_dyn} vs scipy {n_scipy} ({'OK' if n_dyn >= n_scipy else 'FEWER'})"
        )
    print(f"  Newton–Krylov vs exact-LU Newton: {t_med['lu'] / t_med['krylov']:5.1f}x")

    # how the three scale with n (same recipe, 256 starts): the scipy loop is dominated by
    # Python/MINPACK overhead at small n and by its O(n³) steps at large n, LU-Newton by its
    # O(n³) solves, Newton–Krylov by O(n²) GEMMs (plus LU for its last few starts)
    print(
        "  scaling (256 starts, medians of 3; scipy once for n >= 128): "
        "n, krylov s, lu s, scipy s, scipy/krylov, lu/krylov, distinct krylov/lu/scipy"
    )
    for n in (16, 32, 64, 128, 256):
        Wn = GAIN * np.random.default_rng(SEED).standard_normal((n, n)) / np.sqrt(n)
        mn = RNNMap(Wn)
        sn = _default_starts(mn, None, 256, np.random.default_rng(SEED), 30)
        tk, tl, ts = [], [], []
        for r in range(REPEATS):
            t, (xk, _r, ck) = timed(lambda: solve(mn, sn, "krylov"))  # noqa: B023
            tk.append(t)
            t, (xl, _r, cl) = timed(lambda: solve(mn, sn, "lu"))  # noqa: B023
            tl.append(t)
            if n < 128 or r == 0:
                t, soln = timed(lambda: scipy_loop(mn, sn, jac=True))  # noqa: B023
                ts.append(t)
        tk, tl, ts = (float(np.median(v)) for v in (tk, tl, ts))
        print(
            f"    {n:3d}  {tk:7.3f}  {tl:7.3f}  {ts:7.3f}  {ts / tk:5.1f}x  {tl / tk:5.1f}x  "
            f"{distinct(xk[ck])}/{distinct(xl[cl])}/{distinct(soln)}"
        )

    # Fig. 3 continuation including both folds
    unit = UnitMap(w=5.0, b=-3.2)
    path = parameter_path(unit, "b")
    x0 = find_fixed_points(unit).states[0]

    def fig3():
        br = continue_branch(path, x0, -3.2, (-3.2, -1.8), direction=+1)
        return br, locate_bifurcations(br)

    t_cont, (br, bifs) = best_of(fig3, 5)
    print(
        f"Fig. 3 continuation (w = 5, b in [-3.2, -1.8]): {t_cont * 1e3:.1f} ms for {len(br)} points and "
        f"{len(bifs)} folds at b = {', '.join(f'{b.param:.12f}' for b in bifs)} (target < 200 ms)"
    )


# ---------------------------------------------------------------------------------------
# FixedPointFinder-style torch baseline: Adam on q (float32), 64-unit flip-flop networks
# ---------------------------------------------------------------------------------------

FF_N, FF_STARTS, FF_NOISE = 64, 1024, 0.5  # FixedPointFinder's flip-flop example: noise_scale 0.5
FF_TRAIN = {"rnn": 1500, "gru": 1000}  # Adam updates (batch 64, T = 100); both reach < 3 % MSE


def train_flip_flop(torch, cell):
    """A 64-unit ``nn.RNN`` (tanh) or ``nn.GRU`` trained on the 3-bit flip-flop, as a dynsys map."""
    from dynsys.training import get_task

    torch.manual_seed(SEED)
    task = get_task("flipflop_3bit")
    net = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU}[cell](3, FF_N)
    readout = torch.nn.Linear(FF_N, 3)
    opt = torch.optim.Adam([*net.parameters(), *readout.parameters()], lr=3e-3)
    rng = np.random.default_rng(SEED)
    for _ in range(FF_TRAIN[cell]):
        batch = task.generate(rng, 100, 64)
        x = torch.tensor(batch.inputs, dtype=torch.float32)
        y = torch.tensor(batch.targets, dtype=torch.float32)
        loss = ((readout(net(x)[0]) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
    w = {k: v.detach().double().numpy() for k, v in net.state_dict().items()}
    if cell == "rnn":  # x_t = W_hh tanh(x_{t-1}) + W_ih u_t + b: h = tanh(x), the same dynamics
        m = RNNMap(w["weight_hh_l0"], w["weight_ih_l0"], w["bias_ih_l0"] + w["bias_hh_l0"])
    else:
        m = GRUMap(w["weight_ih_l0"], w["weight_hh_l0"], w["bias_ih_l0"], w["bias_hh_l0"])
    return m, net, float(loss.detach())


def flip_flop_starts(m, driven=True):
    """FixedPointFinder's starts: states of the network driven by task sequences (or, for an
    untrained network, of its autonomous trajectories from Gaussian states), plus noise."""
    from dynsys.training import get_task

    if driven:
        batch = get_task("flipflop_3bit").generate(np.random.default_rng([SEED, 1]), 100, 64)
        visited = iterate(m, np.zeros((64, m.dim)), inputs=batch.inputs).states[1:]
    else:
        x0 = np.random.default_rng([SEED, 1]).standard_normal((64, m.dim))
        visited = iterate(m, x0, steps=100).states[1:]
    visited = visited.reshape(-1, m.dim)
    g = np.random.default_rng([SEED, 2])
    return visited[g.choice(len(visited), FF_STARTS, replace=False)] + FF_NOISE * g.standard_normal(
        (FF_STARTS, m.dim)
    )


def adam_q(torch, F, x0, max_iters=5000, tol_q=1e-12, tol_dq=1e-20):
    """FixedPointFinder's joint optimization (``FixedPointFinderTorch._run_joint_optimization``):
    Adam (lr 0.05, StepLR every 500 steps × 0.7) on the mean of ``q = ½‖F(x) − x‖²`` over all
    starts, float32, until every start has ``q < tol_q`` or ``|Δq| < tol_dq``, at most
    ``max_iters`` iterations. Returns ``(x, q, iterations)``."""
    x = torch.tensor(x0, dtype=torch.float32, requires_grad=True)
    opt = torch.optim.Adam([x], lr=0.05)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=500, gamma=0.7)
    q_prev = torch.full((x.shape[0],), float("nan"))
    for it in range(1, max_iters + 1):
        opt.zero_grad()
        q = 0.5 * ((x - F(x)) ** 2).sum(dim=1)
        dq = (q - q_prev).abs()
        q.mean().backward()
        opt.step()
        sched.step()
        q_np, dq_np = q.detach().numpy(), dq.detach().numpy()
        if it > 1 and np.all((dq_np < tol_dq) | (q_np < tol_q)):
            break
        q_prev = q.detach()
    return x.detach().numpy().astype(float), q_np.astype(float), it


def _matched(a, b, tol=1e-3):
    """How many of the points ``a`` lie within ``tol`` of one of ``b``."""
    if len(a) == 0 or len(b) == 0:
        return 0
    return int(np.sum(np.linalg.norm(a[:, None] - b[None], axis=-1).min(axis=1) < tol))


def torch_baseline(repeats=REPEATS):
    try:
        import torch
    except ImportError:
        print("torch not installed: no FixedPointFinder-style baseline")
        return
    torch.set_num_threads(1)
    u0 = np.zeros(3)
    t0 = time.perf_counter()
    rnn, _, loss_rnn = train_flip_flop(torch, "rnn")
    gru, gru_net, loss_gru = train_flip_flop(torch, "gru")
    print(
        f"\nFixedPointFinder-style baseline (torch {torch.__version__}, Adam on q, float32, 1 thread) on 64-unit "
        f"3-bit flip-flop networks trained here in {time.perf_counter() - t0:.0f} s (final MSE: tanh RNN "
        f"{loss_rnn:.3f}, GRU {loss_gru:.3f}); {FF_STARTS} starts each: driven states + N(0, {FF_NOISE}²) noise"
    )
    x0_rnn, x0_gru = flip_flop_starts(rnn), flip_flop_starts(gru)
    g = np.random.default_rng(SEED)  # an untrained strong network: slow points, starts that never converge
    chaotic = RNNMap(2.0 * g.standard_normal((FF_N, FF_N)) / np.sqrt(FF_N), b=0.1 * g.standard_normal(FF_N))
    x0_chaos = flip_flop_starts(chaotic, driven=False)
    Wc = torch.tensor(np.asarray(chaotic.W_rec), dtype=torch.float32)
    cc = torch.tensor(np.asarray(chaotic.b), dtype=torch.float32)
    F_chaos = lambda x: torch.tanh(x) @ Wc.T + cc  # noqa: E731
    W = torch.tensor(np.asarray(rnn.W_rec), dtype=torch.float32)
    c = torch.tensor(np.asarray(rnn.b), dtype=torch.float32)  # the input is 0
    F_rnn = lambda x: torch.tanh(x) @ W.T + c  # noqa: E731  (the same map, the same q)
    inp = torch.zeros(1, FF_STARTS, 3)
    F_gru = lambda h: gru_net(inp, h[None])[1][0]  # noqa: E731  (FixedPointFinder calls the module)
    for p in gru_net.parameters():
        p.requires_grad_(False)
    find_slow_points(rnn, u0, starts=x0_rnn[:64])  # warm-up (imports)
    find_fixed_points(gru, u0, starts=x0_gru[:64])
    times = {k: [] for k in ("slow", "slow_torch", "chaos", "chaos_torch", "gru", "gru_torch")}
    for _ in range(repeats):  # interleaved: background load hits every side alike
        t, sp = timed(lambda: find_slow_points(rnn, u0, starts=x0_rnn))
        times["slow"].append(t)
        t, adam_rnn = timed(lambda: adam_q(torch, F_rnn, x0_rnn))
        times["slow_torch"].append(t)
        t, spc = timed(lambda: find_slow_points(chaotic, starts=x0_chaos))
        times["chaos"].append(t)
        t, adam_chaos = timed(lambda: adam_q(torch, F_chaos, x0_chaos))
        times["chaos_torch"].append(t)
        t, fp = timed(lambda: find_fixed_points(gru, u0, starts=x0_gru))
        times["gru"].append(t)
        t, (xg, qg, itg) = timed(lambda: adam_q(torch, F_gru, x0_gru))
        times["gru_torch"].append(t)
    med = {k: float(np.median(v)) for k, v in times.items()}
    spread = {k: f"{min(v):.2f}–{max(v):.2f}" for k, v in times.items()}

    # slow points: dynsys's local minima of q vs where Adam ended
    for key, label, m, res, (xa, qa, ita) in (
        ("slow", "trained tanh RNN  ", rnn, sp, adam_rnn),
        ("chaos", "random RNN, gain 2", chaotic, spc, adam_chaos),
    ):
        u = u0 if m is rnn else None
        slow = ~res.converged
        gq = []
        for x in res.states[slow]:
            r = m.step(x, u) - x
            gq.append(np.linalg.norm(m.vjp(x, u, r) - r) / np.linalg.norm(r))
        keep = qa <= 1e-3
        adam_pts = xa[keep][_dedup(xa[keep], qa[keep], 1e-3)]
        print(
            f"  slow points, {label}: dynsys find_slow_points {med[key]:6.2f} s ({spread[key]}): {len(res)} points "
            f"with q <= 1e-3 ({int(res.converged.sum())} fixed points to residual < 1e-10, {int(slow.sum())} slow "
            f"points with |grad q| / |F(x) - x| <= {max(gq, default=0.0):.0e}); {res.message}"
        )
        print(
            f"{'':34s}torch Adam on q       {med[key + '_torch']:6.2f} s ({spread[key + '_torch']}): {ita} "
            f"iterations, {int(np.sum(qa < 1e-12))}/{FF_STARTS} starts at q < 1e-12, median q {np.median(qa):.1e}, "
            f"{len(adam_pts)} distinct points with q <= 1e-3 ({_matched(adam_pts, res.states)} of them within 1e-3 "
            f"of a dynsys point)"
        )
        print(f"    ratio torch / dynsys: {med[key + '_torch'] / med[key]:5.1f}x (target >= 1x)")

    # fixed points of the GRU
    adam_fp = xg[qg < 1e-12]
    adam_fp = adam_fp[_dedup(adam_fp, np.zeros(len(adam_fp)), 1e-3)] if len(adam_fp) else adam_fp
    counts = {s: fp.stability.count(s) for s in ("stable", "saddle", "unstable")}
    print(
        f"  fixed points, GRU:     dynsys find_fixed_points {med['gru']:6.2f} s ({spread['gru']}): {len(fp)} fixed "
        f"points {counts}, max residual {float(np.max(fp.residual, initial=0)):.0e}; {fp.message}"
    )
    print(
        f"                         torch Adam on q         {med['gru_torch']:6.2f} s ({spread['gru_torch']}): {itg} "
        f"iterations, {int(np.sum(qg < 1e-12))}/{FF_STARTS} starts at q < 1e-12 ({len(adam_fp)} distinct, "
        f"{_matched(adam_fp, fp.states)} of them within 1e-3 of a dynsys point), median q {np.median(qg):.1e}, "
        f"{_matched(fp.states, xg[qg < 1e-6])} of the dynsys points within 1e-3 of an Adam end with q < 1e-6"
    )
    print(f"    ratio torch / dynsys: {med['gru_torch'] / med['gru']:5.1f}x (target >= 10x)")


if __name__ == "__main__":
    import sys

    if "--torch-only" not in sys.argv[1:]:
        main()
    torch_baseline()
