"""Train classical and quantum models on tiny-shakespeare and write a comparison report.

Example:
    python -m experiments.compare --models classical,enhance --seeds 0,1,2 --out runs/compare
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from qgpt_jax.cli import (
    add_config_flags,
    add_preset_flag,
    configs_from_args,
    main_guard,
    setup_runtime,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.compare",
        description="Train each model once per seed on the same batches, then write "
        "OUT/results.md, OUT/results.json, OUT/loss_curves.png and a checkpoint per run.",
    )
    add_preset_flag(parser)
    parser.add_argument(
        "--models",
        default="classical,seed,enhance",
        help="comma-separated head kinds: classical, seed (the original's quantum head), "
        "enhance (causal per-token quantum head) (default: all three)",
    )
    parser.add_argument(
        "--seeds", default="0,1,2", help="comma-separated seeds, one run each (default: 0,1,2)"
    )
    parser.add_argument(
        "--data", help="path to the corpus (default: $QGPT_DATA, the cache, or a download)"
    )
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
        help="greedy sample length per run, as the seed's 120 (default); each token is a forward "
        "pass, so lower it for slow quantum devices",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    add_config_flags(parser, skip=("attention", "vocab_size"))
    return parser


@main_guard
def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    setup_runtime()
    from qgpt_jax.compare import compare, parse_models, parse_seeds, summary_line
    from qgpt_jax.data import load_dataset
    from qgpt_jax.errors import ConfigError

    models, seeds = parse_models(args.models), parse_seeds(args.seeds)
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
    )
    for model, stats in results["summary"].items():
        print(summary_line(model, stats))
    print(f"report: {out / 'results.md'}")


if __name__ == "__main__":
    main()
