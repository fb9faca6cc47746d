"""Benchmark training throughput of each model on each quantum device, plus raw Aer throughput.

Example:
    python -m experiments.bench --devices default.qubit,aer,qiskit.aer --seconds 20 --out runs/bench
"""

from __future__ import annotations

import argparse
from pathlib import Path

from qgpt_jax.cli import (
    ArgumentParser,
    add_config_flags,
    add_engine_flags,
    add_preset_flag,
    configs_from_args,
    main_guard,
    setup_runtime,
)


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="python -m experiments.bench",
        description="Measure training tokens/s (compile excluded) and circuits/s for each model "
        "and device in one process, and the bindings/s of a bare Aer job of the same circuit. "
        "Writes OUT/bench.json and OUT/bench.png.",
    )
    add_preset_flag(parser)
    parser.add_argument(
        "--models",
        default="classical,original,enhance",
        help="comma-separated head kinds (default: classical,original,enhance)",
    )
    parser.add_argument(
        "--devices",
        default="default.qubit,lightning.qubit,aer,qiskit.aer",
        help="comma-separated quantum devices (default: all four)",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=15.0,
        help="training time budget per entry after compiling (default 15)",
    )
    parser.add_argument(
        "--max-steps", type=int, default=1000, help="most training steps per entry (default 1000)"
    )
    parser.add_argument(
        "--seeds-together",
        type=int,
        default=1,
        metavar="N",
        help="train N seeds of each model as one program (tokens/s counts all of them; default 1)",
    )
    parser.add_argument("--data", help="path to the corpus")
    parser.add_argument("--out", default="runs/bench", help="output folder (default runs/bench)")
    add_engine_flags(parser)
    add_config_flags(parser, skip=("attention", "vocab_size"))
    return parser


@main_guard
def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    mesh = setup_runtime(args)
    import dataclasses

    from qgpt_jax.bench import plot_bench, run_bench
    from qgpt_jax.compare import ensure_writable
    from qgpt_jax.data import load_dataset
    from qgpt_jax.errors import ConfigError
    from qgpt_jax.report import atomic_write_json, environment
    from qgpt_jax.study import parse_models

    models = parse_models(args.models)
    devices = [d.strip() for d in args.devices.split(",") if d.strip()]
    mc, tc = configs_from_args(args)
    for device in devices:  # validate every device before spending time on any
        dataclasses.replace(mc, attention="enhance").on(device=device)
    if args.seconds <= 0 or args.max_steps <= 0 or args.seeds_together <= 0:
        raise ConfigError("--seconds, --max-steps and --seeds-together must be positive")
    out = Path(args.out)
    ensure_writable(out)
    dataset = load_dataset(args.data, block_size=mc.block_size)
    entries = run_bench(
        models,
        devices,
        mc,
        tc,
        dataset,
        seconds=args.seconds,
        max_steps=args.max_steps,
        seeds=tuple(range(args.seeds_together)),
        mesh=mesh,
    )
    atomic_write_json(
        out / "bench.json",
        {
            "preset": args.preset,
            "model": mc.to_dict(),
            "train": tc.to_dict(),
            "environment": environment(),
            "entries": entries,
        },
    )
    plot_bench(entries, out / "bench.png")
    print(f"wrote {out / 'bench.json'} and {out / 'bench.png'}")


if __name__ == "__main__":
    main()
