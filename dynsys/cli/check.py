"""``dynsys check``: the vanishing/exploding certificate of eq. 6–7 for a weights file."""

from __future__ import annotations

NAME = "check"
HELP = "gradient conditions λ₁ vs 1/γ (eq. 6–7), empirical Jacobian-product rates, top Lyapunov exponent"

#: library parameter names -> this command's options (for error messages)
OPTION_NAMES = {"rng": "--seed"}
DESCRIPTION = (
    "Certificate of Pascanu et al. (2013), eq. 6–7, for the recurrent weights in an .npz file: "
    "λ₁ (largest singular value), spectral radius, γ, η = λ₁γ and the verdict; empirical "
    "Jacobian-product norms along trajectories driven by sampled N(0, 1) inputs and their fitted "
    "per-step rate; the largest Lyapunov exponent along the same kind of trajectories."
)


def add_arguments(p):
    from ..analysis.conditions import check_conditions
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
    p.add_argument("--seed", type=int, default=0, help="seed for the sampled inputs and states")
    p.add_argument("--no-evidence", action="store_true", help="skip the sampled trajectories and Lyapunov")


def run(args) -> int:

    from .._validate import check_positive_int, check_rng
    from ..analysis.conditions import check_conditions
    from ..analysis.lyapunov import LARGE_N, sampled_lyapunov
    from ..symbolic import certificate, derive_gamma
    from ._common import load_map, print_json

    steps = check_positive_int(args.steps, "--steps")
    seqs = check_positive_int(args.sequences, "--sequences")
    rnn = load_map(args)
    rng = check_rng(args.seed, "--seed")
    if rnn.dim > LARGE_N:  # large n: fewer sketched trajectories so that the answer takes seconds
        seqs = min(seqs, 4)
    res = check_conditions(
        rnn, tol=args.tol, evidence=not args.no_evidence, steps=steps, sequences=seqs, rng=rng
    )
    max_lyap, lyap = None, None
    if not args.no_evidence:
        lsteps = (
            None
            if args.lyapunov_steps is None
            else check_positive_int(args.lyapunov_steps, "--lyapunov-steps")
        )
        spec = sampled_lyapunov(rnn, steps=lsteps, sequences=seqs, rng=rng)
        max_lyap = float(spec.mean[0])
        lyap = {
            "top": spec.mean.tolist(),
            "steps": spec.steps,
            "transient": spec.transient,
            "converged": spec.converged,
            "change": spec.change,
            "inputs": "gaussian N(0,1)" if rnn.input_dim else "none (autonomous)",
        }
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
    if max_lyap is not None:
        print(
            f"  largest Lyapunov exponent: {max_lyap:.4g}/step ({lyap['inputs']}, "
            f"{lyap['steps']} steps, {'converged' if lyap['converged'] else 'not converged'})"
        )
    return 0
