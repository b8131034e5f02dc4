"""``dynsys check``: the vanishing/exploding certificate of eq. 6–7 for a weights file.

For a map of the form of eq. 2 (an RNN) the certificate λ₁ vs 1/γ; for any other map (a GRU or
LSTM cell, ...) the empirical Jacobian-product verdict, the one-line reason eq. 6–7 are not
stated and, for a gated cell, the bound that holds instead
(:func:`~dynsys.analysis.conditions.conditions_report`).
"""

from __future__ import annotations

NAME = "check"
HELP = (
    "gradient conditions λ₁ vs 1/γ (eq. 6–7; the bound γ_GRU/γ_LSTM for gated cells), empirical "
    "Jacobian-product rates, top Lyapunov exponent"
)

#: library parameter names -> this command's options (for error messages)
OPTION_NAMES = {"rng": "--seed"}
DESCRIPTION = (
    "Certificate of Pascanu et al. (2013), eq. 6–7, for the recurrent weights in an .npz file: "
    "λ₁ (largest singular value), spectral radius, γ, η = λ₁γ and the verdict; empirical "
    "Jacobian-product norms along trajectories driven by sampled N(0, 1) inputs and their fitted "
    "per-step rate; the largest Lyapunov exponent along the same kind of trajectories. "
    "For any other map (GRU, LSTM, residual or layer-normalized RNN, ...) eq. 6–7 are not stated "
    "and the output says why in one line, with the empirical verdict from Jacobian products along "
    "sampled trajectories (inputs drawn uniformly from |u_j| <= --input-radius). For a GRU or LSTM "
    "it also states the bounds that hold over the invariant state box and those inputs: "
    "‖∂x_t/∂x_k‖ ≤ κγ^(t−k), γ < 1 sufficient for vanishing; for a GRU the analogue of eq. 6–7, "
    "μ < 1 sufficient for vanishing and μ > 1 necessary for exploding (paper_notes.md, "
    "'Conditions for gated cells')."
)


def add_arguments(p):
    from ..analysis import check_conditions, conditions_report
    from ._common import add_weights_argument, library_default

    add_weights_argument(p)
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print one JSON object")
    out.add_argument("--latex", action="store_true", help="print the certificate as LaTeX")
    p.add_argument(
        "--steps",
        type=int,
        default=library_default(check_conditions, "steps"),
        help="trajectory length for the evidence (default %(default)s)",
    )
    p.add_argument(
        "--sequences",
        type=int,
        default=library_default(check_conditions, "sequences"),
        help="sampled trajectories (default %(default)s)",
    )
    p.add_argument(
        "--lyapunov-steps",
        type=int,
        default=None,
        help="steps for the Lyapunov estimate (default 1000; 100 for n > 300)",
    )
    p.add_argument(
        "--tol",
        type=float,
        default=library_default(check_conditions, "tol"),
        help="width of the 'boundary' band around λ₁γ = 1 (default %(default)s)",
    )
    p.add_argument(
        "--input-radius",
        type=float,
        default=library_default(conditions_report, "input_radius"),
        help="gated cells and other maps: the bound and the evidence cover inputs |u_j| <= R "
        "(default %(default)s; 0: the zero input). An RNN's evidence uses N(0, 1) inputs",
    )
    p.add_argument("--seed", type=int, default=0, help="seed for the sampled inputs and states")
    p.add_argument("--no-evidence", action="store_true", help="skip the sampled trajectories and Lyapunov")


def run(args) -> int:

    from .._validate import check_positive_int, check_rng
    from ..analysis.conditions import check_conditions
    from ..analysis.lyapunov import LARGE_N
    from ..symbolic import certificate, derive_gamma
    from ._common import load_map, print_json

    steps = check_positive_int(args.steps, "--steps")
    seqs = check_positive_int(args.sequences, "--sequences")
    rnn = load_map(args)
    rng = check_rng(args.seed, "--seed")
    if rnn.dim > LARGE_N:  # large n: fewer sketched trajectories so that the answer takes seconds
        seqs = min(seqs, 4)
    if rnn.as_rnn() is None:
        return _run_other(args, rnn, steps, seqs, rng)
    res = check_conditions(
        rnn, tol=args.tol, evidence=not args.no_evidence, steps=steps, sequences=seqs, rng=rng
    )
    max_lyap, lyap = (None, None) if args.no_evidence else _lyapunov(args, rnn, seqs, rng)
    # γ from the sympy expression, checked vs the stored one (the LaTeX output does not show it)
    derived = None if args.latex else derive_gamma(rnn.activation)
    if args.json:
        out = res.as_dict()
        out["gamma_symbolic"] = str(derived.gamma)
        out["gamma_symbolic_matches"] = derived.matches
        out["max_lyapunov"] = max_lyap
        out["lyapunov"] = lyap
        out["weights"] = str(args.weights)
        print_json(out)
        return 0
    cert = certificate(
        rnn.W_rec, rnn.activation, tol=args.tol, lambda1=res.lambda1, spectral_radius=res.spectral_radius
    )
    if args.latex:
        print(cert.latex())
        return 0
    print(cert.text())
    print(
        f"  γ derived symbolically (critical points of σ′ and limits): {derived.gamma} "
        f"({'matches' if derived.matches else 'DIFFERS FROM'} the stored value {rnn.activation.gamma})"
    )
    if res.evidence is not None:
        e = res.evidence
        print(
            f"  evidence: {e.sequences} trajectories of {e.steps} steps driven by sampled inputs "
            f"({e.method} norms): fitted rate {e.rate:.4g}/step vs bound log η = {e.bound_rate:.4g}; "
            f"bound {'held' if e.bound_held else 'VIOLATED'}"
        )
    _print_lyapunov(max_lyap, lyap)
    return 0


def _lyapunov(args, m, seqs, rng):
    """The top Lyapunov exponent along sampled trajectories (``(value, details)``)."""
    from .._validate import check_positive_int
    from ..analysis.lyapunov import sampled_lyapunov

    lsteps = (
        None if args.lyapunov_steps is None else check_positive_int(args.lyapunov_steps, "--lyapunov-steps")
    )
    spec = sampled_lyapunov(m, steps=lsteps, sequences=seqs, rng=rng)
    return float(spec.mean[0]), {
        "top": spec.mean.tolist(),
        "steps": spec.steps,
        "transient": spec.transient,
        "converged": spec.converged,
        "change": spec.change,
        "inputs": "gaussian N(0,1)" if m.input_dim else "none (autonomous)",
    }


def _print_lyapunov(max_lyap, lyap) -> None:
    if max_lyap is not None:
        print(
            f"  largest Lyapunov exponent: {max_lyap:.4g}/step ({lyap['inputs']}, "
            f"{lyap['steps']} steps, {'converged' if lyap['converged'] else 'not converged'})"
        )


def _run_other(args, m, steps, seqs, rng) -> int:
    """A map without the eq. 2 form: the empirical verdict, why eq. 6–7 are not stated, the bound
    that holds for a gated cell."""
    from ..analysis.cell_conditions import conditions_report
    from ..errors import DynsysError
    from ._common import print_json

    evidence = not (args.no_evidence or args.latex)  # the LaTeX output shows the bound only
    rep = conditions_report(
        m,
        input_radius=args.input_radius,
        tol=args.tol,
        evidence=evidence,
        steps=steps,
        sequences=seqs,
        rng=rng,
    )
    if args.latex:
        if rep.bound is None:
            raise DynsysError(
                f"--latex: {rep.map} has neither the eq. 6–7 certificate (no eq. 2 form) nor a known bound; "
                "use the text or --json output"
            )
        print(rep.bound.latex())
        return 0
    max_lyap, lyap = _lyapunov(args, m, seqs, rng) if evidence else (None, None)
    if args.json:
        out = rep.as_dict()
        out["max_lyapunov"] = max_lyap
        out["lyapunov"] = lyap
        out["weights"] = str(args.weights)
        print_json(out)
        return 0
    units = "" if rep.bound is None else f"{len(next(iter(rep.bound.gates.values()))[1])} units, "
    print(
        f"Gradient conditions for {rep.map} ({units}state dim {rep.dim}, input dim {rep.input_dim}) "
        f"from {args.weights}"
    )
    print(f"  eq. 6–7 (λ₁ < 1/γ): not stated — {rep.explanation}")
    b = rep.bound
    if b is not None:
        print(
            f"  bounds that hold over {b.region} and {b.inputs} (forward invariant; derivation in "
            'paper_notes.md, "Conditions for gated cells"):'
        )
        for line in b.inequalities():
            print(f"    {line}")
        print(f"    {b.terms()}")
        print(f"    bound verdict: {b.conclusion()}")
    ev = rep.evidence
    if ev is not None:
        held = {
            True: "; the bound held at every measured (t, k)",
            False: "; the bound was VIOLATED",
            None: "",
        }
        print(
            f"  empirical verdict: {rep.empirical_verdict} — fitted rate {ev.rate:.4g}/step of "
            f"log‖∂x_t/∂x_k‖ (|rate| ≤ {rep.rate_tol:g} counts as neutral) over {ev.sequences} trajectories of "
            f"{ev.steps} steps, {rep.sampling} ({ev.method} norms){held[rep.bound_held]}"
        )
    _print_lyapunov(max_lyap, lyap)
    return 0
