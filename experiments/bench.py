"""Benchmark training throughput of each model on each quantum device, plus raw Aer throughput;
with ``--sweep``, cost curves over a config field or a list of presets.

Examples:
    python -m experiments.bench --devices default.qubit,aer,qiskit.aer --seconds 20 --out runs/bench
    python -m experiments.bench --sweep n_qubits=4,6,8,10,12,14,16 --devices default.qubit,aer
    python -m experiments.bench --sweep preset=original,original-large,small --models classical
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
    overrides_for,
    setup_runtime,
)


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="python -m experiments.bench",
        description="Measure training tokens/s (compile excluded), circuits/s and FLOP/s (XLA's "
        "cost analysis, against a matmul peak measured in the same process) for each model and "
        "device in one process, and the bindings/s of a bare Aer job of the same circuit. A "
        "device that runs circuits on the host is first timed on one circuit call; a model whose "
        "single step would exceed --seconds is not trained but estimated and marked over budget. "
        "Writes OUT/bench.json, OUT/bench.md and OUT/bench.png (with --sweep, OUT/sweep.png).",
    )
    add_preset_flag(parser)
    parser.add_argument(
        "--models",
        default="classical,original,enhance",
        help="comma-separated head kinds (default: classical,original,enhance)",
    )
    parser.add_argument(
        "--devices",
        default="default.qubit,lightning.qubit,aer,qgpt.aer,qiskit.aer",
        help="comma-separated quantum devices (default: all five)",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=10.0,
        help="training time budget per entry after compiling; an entry whose single step would "
        "take longer is estimated instead of trained (default 10)",
    )
    parser.add_argument(
        "--sweep",
        metavar="FIELD=V1,V2,...",
        help="measure every model and device at each value of a config field (e.g. "
        "n_qubits=4,6,8,10,12,14,16 or n_embd=16,32,64,128) or of preset "
        "(preset=original,original-large,small), and plot tokens/s against it on log axes "
        "with the growth of each line and where one device overtakes another",
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
    import functools

    from qgpt_jax.bench import benchmark
    from qgpt_jax.config import DeviceConfig, ModelConfig, TrainConfig
    from qgpt_jax.data import load_dataset
    from qgpt_jax.study import parse_models
    from qgpt_jax.sweep import Sweep

    sweep = Sweep.parse(args.sweep) if args.sweep else None
    model_overrides = overrides_for(ModelConfig, args) | overrides_for(DeviceConfig, args)
    train_overrides = overrides_for(TrainConfig, args)

    def configs(value):
        if sweep is None:
            return configs_from_args(args)
        return sweep.configs(value, args.preset, model_overrides, train_overrides)

    out = Path(args.out)
    benchmark(
        parse_models(args.models),
        [d.strip() for d in args.devices.split(",") if d.strip()],
        configs,
        functools.cache(lambda block_size: load_dataset(args.data, block_size=block_size)),
        preset=args.preset,
        seconds=args.seconds,
        max_steps=args.max_steps,
        sweep=sweep,
        seeds=tuple(range(args.seeds_together)) if args.seeds_together > 0 else (),
        mesh=mesh,
        out=out,
    )
    print(f"wrote {out / 'bench.md'}, {out / 'bench.json'} and the plots in {out}")


if __name__ == "__main__":
    main()
