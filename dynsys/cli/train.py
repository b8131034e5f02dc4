"""``dynsys train``: train one network (``--cell``: RNN, residual, LN, GRU, LSTM) on a
pathological task with MSGD, MSGD-C or MSGD-CR (the RNN only).

The run folder (``--out``) holds ``checkpoint.npz`` (weights, optimizer and data-generator states,
the log), and at the end ``weights.npz`` (loadable by every ``--weights`` option) and
``history.npz`` / ``history.json`` (the evaluation log). Ctrl-C saves a checkpoint; running the
same command again resumes bit for bit; a larger ``--updates`` extends a finished run.
"""

from __future__ import annotations

NAME = "train"
HELP = "train an RNN, GRU or LSTM on a pathological task (MSGD / MSGD-C / MSGD-CR), resumable"

#: TrainConfig's field names -> this command's options (for error messages)
OPTION_NAMES = {"n_hidden": "--hidden", "inits": "--init", "methods": "--method", "seeds": "--seed"}


def _length(text: str):
    from ..errors import DynsysError

    try:
        if ":" in text:
            lo, hi = (int(v) for v in text.split(":"))
            return (lo, hi)
        return int(text)
    except ValueError:
        raise DynsysError(f"--length must be an integer L or a range LO:HI, got {text!r}") from None


def add_arguments(p):
    from ..training.cells import CELLS, cell_inits, default_init
    from ..training.config import METHODS, OPTIMIZERS, SUCCESS_RULES, TrainConfig
    from ..training.tasks import task_names
    from ._common import library_default

    def default(name):
        return library_default(TrainConfig, name)

    p.add_argument("--task", required=True, help=f"one of {', '.join(task_names())}")
    p.add_argument("--length", required=True, help="sequence length L, or LO:HI for variable lengths")
    p.add_argument(
        "--cell",
        choices=CELLS,
        default=default("cell"),
        help="recurrent cell (default %(default)s, the paper's eq. 2 RNN)",
    )
    inits = "; ".join(f"{c}: {', '.join(cell_inits(c))} (default {default_init(c)})" for c in CELLS)
    p.add_argument("--init", default=None, help=f"initialization of the cell, {inits}")
    p.add_argument(
        "--method",
        choices=METHODS,
        default=None,
        help="training method (default msgd-cr for the rnn cell, msgd-c for the others)",
    )
    p.add_argument(
        "--updates", type=int, default=default("updates"), help="update budget (default %(default)s)"
    )
    p.add_argument(
        "--seed",
        type=int,
        default=default("seeds")[0],
        help="seed of the weights and the data (default %(default)s)",
    )
    p.add_argument("--out", default=None, help="run folder (default runs/TASK-L-INIT-METHOD-sSEED)")
    p.add_argument(
        "--hidden", type=int, default=default("n_hidden"), help="hidden units (default %(default)s)"
    )
    p.add_argument("--batch", type=int, default=default("batch"), help="minibatch size (default %(default)s)")
    p.add_argument("--lr", type=float, default=default("lr"), help="learning rate (default %(default)s)")
    p.add_argument(
        "--clip", type=float, default=default("clip"), help="clipping threshold (default %(default)s)"
    )
    p.add_argument(
        "--alpha",
        type=float,
        default=default("alpha"),
        help="weight of Omega for msgd-cr (default %(default)s)",
    )
    p.add_argument(
        "--optimizer",
        choices=OPTIMIZERS,
        default=default("optimizer"),
        help="optimizer of each update (default %(default)s, the paper's)",
    )
    p.add_argument(
        "--eval-every",
        type=int,
        default=default("eval_every"),
        help="updates between evaluations (default %(default)s)",
    )
    p.add_argument(
        "--eval-sequences",
        type=int,
        default=default("eval_sequences"),
        help="fresh sequences per evaluation (default %(default)s)",
    )
    p.add_argument(
        "--confirm-sequences",
        type=int,
        default=default("confirm_sequences"),
        help="sequences that confirm a success (default %(default)s, the paper)",
    )
    p.add_argument(
        "--check-every",
        type=int,
        default=default("check_every"),
        help="updates between cheap success checks (screen, then confirm; 0 = none, default; 20 = the "
        "authors' cadence)",
    )
    p.add_argument(
        "--check-sequences",
        type=int,
        default=default("check_sequences"),
        help="fresh sequences a check screens (default %(default)s)",
    )
    p.add_argument(
        "--success",
        choices=SUCCESS_RULES,
        default=default("success"),
        help="the success rule that stops the run (default %(default)s): 1pct = under 1%% wrong sequences "
        "(the paper), zero = none wrong (the authors' code); both are always recorded",
    )
    p.add_argument(
        "--checkpoint-every",
        type=int,
        default=default("checkpoint_every"),
        help="updates between checkpoints (default %(default)s)",
    )
    p.add_argument(
        "--monitor",
        action="store_true",
        help="watch the attractor landscape as the run goes (fixed points and 2-cycles under every input "
        "symbol, their bifurcations, basin crossings of probe sequences) into OUT/monitor.jsonl; "
        "test it with dynsys monitor OUT",
    )
    p.add_argument(
        "--monitor-every",
        type=int,
        default=None,
        help="updates between monitor rows (default 25; implies --monitor)",
    )
    p.add_argument(
        "--monitor-inline",
        action="store_true",
        help="compute the monitor's rows in the training process (default: in a worker process beside "
        "it when a second CPU is free; the rows are the same; implies --monitor)",
    )
    p.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(args) -> int:
    from pathlib import Path

    from .. import io
    from ..io.files import check_writable_dir
    from ..training.config import TrainConfig
    from ..training.history import EVAL_FIELDS
    from ..training.trainer import train
    from ._common import print_json

    length = _length(args.length)
    cfg = TrainConfig(  # validates every field: nothing is printed or written before this
        task=args.task,
        length=length,
        n_hidden=args.hidden,
        batch=args.batch,
        updates=args.updates,
        lr=args.lr,
        cell=args.cell,
        inits=None if args.init is None else (args.init,),
        methods=None if args.method is None else (args.method,),
        seeds=(args.seed,),
        clip=args.clip,
        alpha=args.alpha,
        optimizer=args.optimizer,
        eval_every=args.eval_every,
        eval_sequences=args.eval_sequences,
        confirm_sequences=args.confirm_sequences,
        check_every=args.check_every,
        check_sequences=args.check_sequences,
        success=args.success,
        checkpoint_every=args.checkpoint_every,
    )
    monitor = None
    if args.monitor or args.monitor_every is not None or args.monitor_inline:
        from ..training.monitor import MonitorConfig

        monitor = MonitorConfig() if args.monitor_every is None else MonitorConfig(every=args.monitor_every)
    lname = f"{length[0]}-{length[1]}" if isinstance(length, tuple) else str(length)
    out = Path(args.out or f"runs/{cfg.task}-{lname}-{cfg.inits[0]}-{cfg.methods[0]}-s{args.seed}")
    check_writable_dir(out, "--out")
    hist = train(
        cfg,
        out,
        resume=not args.fresh,
        progress=not args.no_progress,
        monitor=monitor,
        monitor_background=False if args.monitor_inline else None,
    )
    io.save_weights(out / "weights.npz", hist.member_map(0))
    arrays = {"eval_updates": hist.eval_updates}
    for k in EVAL_FIELDS:  # the per-evaluation logs of the (single) member
        arrays[k] = getattr(hist, k)[:, 0]
    meta = {
        "config": cfg.to_dict(),
        "solved_at": int(hist.solved_at[0]),
        "zero_error_at": int(hist.zero_error_at[0]),
        "reached_at": {r: int(v[0]) for r, v in hist.reached_at.items()},
        "nonfinite_updates": int(hist.nonfinite_count[0]),
        "updates_done": int(hist.updates_done[0]),
        **io.provenance(),
    }
    io.save_result(out / "history", arrays, meta)
    last = {
        k: float(arrays[k][-1]) if arrays[k].size else None
        for k in ("error", "loss", "grad_norm", "rho", "lambda1")
    }
    summary = {
        "out": str(out),
        "solved": bool(hist.solved_at[0] >= 0),
        "solved_at": int(hist.solved_at[0]),
        "zero_error_at": int(hist.zero_error_at[0]),
        "reached_at": {r: int(v[0]) for r, v in hist.reached_at.items()},
        "updates_done": int(hist.updates_done[0]),
        "nonfinite_updates": int(hist.nonfinite_count[0]),
        "final": last,
    }
    if monitor is not None:
        summary["monitor"] = {"record": str(out / "monitor.jsonl"), "rows": len(hist.monitor or [])}
    if args.json:
        print_json(summary)
        return 0
    print(_text_summary(cfg, summary))
    return 0


def _fmt(v, spec=".4g"):
    import math

    return "n/a" if v is None or not math.isfinite(v) else format(v, spec)


def _text_summary(cfg, s) -> str:
    """The run in a few readable lines (``--json`` gives the same as JSON)."""
    f = s["final"]
    rule = {"1pct": "under 1 % wrong", "zero": "no wrong sequence"}.get(cfg.success, cfg.success)
    if s["solved"]:
        verdict = (
            f"solved at update {s['solved_at']} ({rule}, confirmed on {cfg.confirm_sequences} sequences)"
        )
    else:
        verdict = f"not solved in {s['updates_done']} updates ({rule} needed)"
    err = "n/a" if f["error"] is None else f"{100 * f['error']:.2f} %"
    lines = [
        f"{cfg.task}, L = {cfg.length}, {cfg.n_hidden} units, init {cfg.inits[0]}, {cfg.methods[0]}: {verdict}",
        f"  last evaluation: error {err}, loss {_fmt(f['loss'])}, |grad| {_fmt(f['grad_norm'])}, "
        f"ρ(W_rec) {_fmt(f['rho'])}, λ₁ {_fmt(f['lambda1'])}",
    ]
    first = {r: (f"update {u}" if u >= 0 else "not reached") for r, u in s["reached_at"].items()}
    lines.append(f"  first success: under 1 % wrong {first['1pct']}; no wrong sequence {first['zero']}")
    if s["nonfinite_updates"]:
        lines.append(f"  {s['nonfinite_updates']} update(s) had non-finite gradients")
    lines.append(f"  saved {s['out']}/weights.npz, history.npz, history.json, checkpoint.npz")
    if "monitor" in s:
        lines.append(
            f"  monitor: {s['monitor']['rows']} rows in {s['monitor']['record']} (dynsys monitor {s['out']})"
        )
    return "\n".join(lines)
