"""Train classical and quantum models on tiny-shakespeare and write a comparison report.

Example:
    python -m experiments.compare --models classical,enhance --seeds 0,1,2 --out runs/compare
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from qgpt_jax.attention import kinds_help
from qgpt_jax.cli import (
    ArgumentParser,
    add_config_flags,
    add_engine_flags,
    add_preset_flag,
    configs_from_args,
    main_guard,
    setup_runtime,
)
from qgpt_jax.study import DEFAULT_MARGIN, study_kinds

DEFAULT_MODELS = "classical,original,enhance"
DEFAULT_SEEDS = "0,1,2"


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="python -m experiments.compare",
        description="Train each model once per seed on the same batches, then write "
        "OUT/results.md, OUT/results.json, OUT/loss_curves.png and a checkpoint per run.",
    )
    add_preset_flag(parser)
    add_what_flags(parser)
    add_run_state_flags(parser)
    add_output_flags(parser)
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    add_engine_flags(parser)
    add_config_flags(parser, skip=("attention", "vocab_size"))
    parser.epilog = (
        "exit codes: 0 done; 2 bad input (one line says what and how to fix it); 3 a quantum "
        "head could not run; 4 a training loss became NaN or infinite (the report is written, "
        "marked failed); 130 interrupted (the report so far is written, marked interrupted)"
    )
    return parser


def add_what_flags(parser: argparse.ArgumentParser) -> None:
    """What is trained and how it is judged: models, seeds, the margin."""
    parser.add_argument(
        "--models",
        help="comma-separated models (default: "
        f"{DEFAULT_MODELS}): attention kinds, classical-matched (the classical model resized "
        "to within 1%% of each quantum kind's parameter count, or classical-matched:KIND), or "
        f"study ({', '.join(study_kinds())}, each with classical, classical-matched and its "
        "surrogate). "
        "Kinds: " + kinds_help().replace("%", "%%"),
    )
    parser.add_argument(
        "--seeds",
        help=f"comma-separated seeds, one run each (default: {DEFAULT_SEEDS}); the seeds of a "
        "model train together as one compiled program",
    )
    parser.add_argument(
        "--margin",
        type=float,
        default=None,
        metavar="NATS",
        help=f"the smallest effect of interest, declared before the run: a kind whose paired "
        f"difference to a control lies within +/- NATS (two one-sided tests at 95%%) is "
        f"reported equivalent (default {DEFAULT_MARGIN}; see the README)",
    )
    parser.add_argument(
        "--data", help="path to the corpus (default: $QGPT_DATA, the cache, or a download)"
    )


def add_run_state_flags(parser: argparse.ArgumentParser) -> None:
    """How seeds share the machine and how a killed run continues."""
    parser.add_argument(
        "--seeds-in-parallel",
        type=int,
        metavar="N",
        help="train at most N seeds of a model at once (bounds memory for large models; "
        "default: all of them)",
    )
    parser.add_argument(
        "--ckpt-every",
        type=int,
        metavar="STEPS",
        help="write the whole run state (orbax) into OUT/state/ every STEPS steps, so that "
        "--resume can continue a killed run",
    )
    parser.add_argument(
        "--keep-checkpoints",
        type=int,
        default=2,
        metavar="K",
        help="run checkpoints kept per model (default 2)",
    )
    parser.add_argument(
        "--resume",
        metavar="DIR",
        help="continue the compare run in DIR as it was configured: finished runs are kept, an "
        "interrupted one continues from its newest checkpoint (its losses are bitwise those of "
        "an uninterrupted run)",
    )


def add_output_flags(parser: argparse.ArgumentParser) -> None:
    """Where the report goes and what else a run writes."""
    parser.add_argument(
        "--out", default=None, help="output folder (default: runs/compare-<timestamp>)"
    )
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="also record a jax.profiler trace of one fused chunk of training steps after "
        "compilation into DIR/<model>-seed<N> (open with TensorBoard's profile plugin or "
        "ui.perfetto.dev); the report summarises where the time went",
    )
    parser.add_argument(
        "--sample-tokens",
        type=int,
        default=120,
        help="greedy sample length per run, as the original's 120 (default); each token is a "
        "forward pass, so lower it for slow quantum devices",
    )
    parser.add_argument(
        "--tensorboard",
        metavar="DIR",
        help="also write each run's metrics as TensorBoard event files, one folder per model and "
        "seed (open with tensorboard --logdir DIR)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="write into an output folder that already holds a report (it is replaced)",
    )


def resumed_arguments(args: argparse.Namespace) -> argparse.Namespace:
    """``args`` filled in from the results.json of the run ``--resume`` continues."""
    from qgpt_jax.cli import overrides_for
    from qgpt_jax.compare import load_results
    from qgpt_jax.config import DeviceConfig, ModelConfig, TrainConfig
    from qgpt_jax.errors import ConfigError

    given = [
        *overrides_for(ModelConfig, args),
        *overrides_for(DeviceConfig, args),
        *overrides_for(TrainConfig, args),
    ]
    given += [
        f for f in ("models", "seeds", "seeds_in_parallel", "out", "margin") if getattr(args, f)
    ]
    if given:
        raise ConfigError(
            f"--resume continues the run as it was configured; drop "
            f"{', '.join('--' + g.replace('_', '-') for g in given)}"
        )
    cfg = load_results(Path(args.resume))["config"]
    # Reports before the device split keep the device fields inside "model".
    for name, value in {**cfg["model"], **cfg.get("quantum_device", {}), **cfg["train"]}.items():
        if name != "vocab_size":
            setattr(args, name, value)
    if "final_eval_tokens" not in cfg["train"]:  # reports before schema 4: 20-batch losses
        args.final_eval_tokens = 0
    engine = cfg.get("engine", {})
    args.preset, args.out = cfg["preset"], args.resume
    args.models, args.seeds = ",".join(cfg["models"]), ",".join(map(str, cfg["seeds"]))
    args.seeds_in_parallel = engine.get("seeds_in_parallel")
    args.ckpt_every = args.ckpt_every or engine.get("ckpt_every")
    args.sample_tokens = cfg["sample"]["new_tokens"]
    args.margin = cfg.get("margin")
    return args


@main_guard
def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    mesh = setup_runtime(args)
    from qgpt_jax.compare import compare, parse_seeds
    from qgpt_jax.data import load_dataset
    from qgpt_jax.errors import ConfigError
    from qgpt_jax.reports.comparison import summary_line
    from qgpt_jax.study import parse_models

    if args.resume:
        args = resumed_arguments(args)
    models = parse_models(args.models or DEFAULT_MODELS)
    seeds = parse_seeds(args.seeds or DEFAULT_SEEDS)
    if args.sample_tokens < 0:
        raise ConfigError(f"--sample-tokens must be >= 0, got {args.sample_tokens}")
    mc, tc = configs_from_args(args)
    out = Path(args.out or f"runs/compare-{time.strftime('%Y%m%d-%H%M%S')}")
    dataset = load_dataset(args.data, block_size=mc.block_size)
    results = compare(
        models,
        seeds,
        mc,
        tc,
        dataset,
        out,
        preset=args.preset,
        progress=not args.no_progress,
        profile_dir=args.profile,
        sample_tokens=args.sample_tokens,
        mesh=mesh,
        seeds_in_parallel=args.seeds_in_parallel,
        ckpt_every=args.ckpt_every,
        keep_checkpoints=args.keep_checkpoints,
        resume=bool(args.resume),
        force=args.force,
        tensorboard_dir=args.tensorboard,
        margin=DEFAULT_MARGIN if args.margin is None else args.margin,
    )
    for entry in results["summary"]:
        print(summary_line(entry))
    print(results["conclusion"])
    print(f"report: {out / 'results.md'}")


if __name__ == "__main__":
    main()
