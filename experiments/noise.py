"""A trained checkpoint's loss when its quantum heads run with shots and hardware noise.

Examples:
    python -m experiments.noise --checkpoint runs/study/checkpoints/qsann-seed0
    python -m experiments.noise --checkpoint DIR --on default.qubit --on aer:shots=4096
    python -m experiments.noise --checkpoint DIR --on ibm.runtime:shots=1024,backend=fake_manila
"""

from __future__ import annotations

import argparse

from qgpt_jax.cli import ArgumentParser, add_preset_flag, main_guard, setup_runtime
from qgpt_jax.evaluation import DEFAULT_SETTINGS, SETTING_FORMAT


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="python -m experiments.noise",
        description="Load a trained checkpoint and estimate its train and validation loss with "
        "its quantum heads run under each device setting, every setting on the same batches "
        "(the preset's eval_iters batches of each split that a compare run with --seed draws "
        "for its step-0 estimate): what sampling and a real backend's noise would cost the "
        "trained model.",
    )
    parser.add_argument(
        "--checkpoint", required=True, help="a run's checkpoint folder of a quantum model"
    )
    parser.add_argument(
        "--on",
        action="append",
        metavar=SETTING_FORMAT,
        help="a device setting, repeatable (default: "
        + ", ".join(DEFAULT_SETTINGS)
        + "); noise names a fake IBM backend whose noise Aer simulates, such as manila or "
        "nairobi; backend names the IBM Runtime backend of device ibm.runtime: fake_manila, "
        "fake_torino, ... (Runtime's local testing mode) or one of your account's",
    )
    add_preset_flag(parser)
    parser.add_argument(
        "--eval-iters", type=int, help="batches per split (default: the preset's eval_iters)"
    )
    parser.add_argument("--data", help="corpus (default: $QGPT_DATA, the cache, or a download)")
    parser.add_argument("--seed", type=int, default=0, help="which run's batches (default 0)")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    parser.epilog = (
        "exit codes: 0 done; 2 bad input; 3 a quantum head could not run (an IBM Runtime "
        "account, backend or job included). The --json rows record the Runtime job ids."
    )
    return parser


@main_guard
def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    setup_runtime()
    import dataclasses
    from pathlib import Path

    from qgpt_jax.attention import kind_of, validated
    from qgpt_jax.checkpoint import load_checkpoint
    from qgpt_jax.config import TrainConfig
    from qgpt_jax.data import load_dataset
    from qgpt_jax.errors import ConfigError
    from qgpt_jax.evaluation import losses_on_devices, parse_setting
    from qgpt_jax.storage import atomic_write_json

    settings = [parse_setting(text) for text in args.on or DEFAULT_SETTINGS]
    config, params, tokenizer = load_checkpoint(args.checkpoint)
    if not kind_of(config).runs_circuits:
        raise ConfigError(
            f"the checkpoint holds a {config.attention} model, which runs no circuit; pass one "
            "of a quantum kind"
        )
    for setting in settings:  # every setting is checked before any work
        validated(config.on(**setting))
    tc = TrainConfig.from_preset(args.preset)
    if args.eval_iters is not None:
        if args.eval_iters < 1:
            raise ConfigError(f"--eval-iters must be at least 1, got {args.eval_iters}")
        tc = dataclasses.replace(tc, eval_iters=args.eval_iters)
    dataset = load_dataset(args.data, block_size=config.block_size, tokenizer=tokenizer)
    print(f"{config.attention} checkpoint {args.checkpoint}, {tc.eval_iters} batches per split")
    header = ("device", "shots", "noise", "train", "val", "circuits", "s")
    print(" ".join(f"{h:>{w}}" for h, w in zip(header, (16, 7, 12, 8, 8, 10, 7), strict=True)))

    def show(row: dict) -> None:
        noise = row["noise"] or row["backend"] or "none"
        print(
            f"{row['device']:>16} {row['shots'] or 'exact':>7} {noise:>12} "
            f"{row['train_loss']:>8.4f} {row['val_loss']:>8.4f} {row['circuit_executions']:>10,} "
            f"{row['seconds']:>7.1f}"
        )
        if "ibm_runtime" in row:
            runtime = row["ibm_runtime"]
            print(
                f"{'':>16} IBM Runtime on {runtime['backend']}: {runtime['jobs']:,} jobs, "
                f"{runtime['pubs']:,} PUBs, {runtime['shots']:,} shots"
            )

    rows = losses_on_devices(config, tc, params, dataset, settings, args.seed, log=show)
    if args.json:
        atomic_write_json(
            Path(args.json),
            {"checkpoint": str(args.checkpoint), "attention": config.attention, "rows": rows},
        )


if __name__ == "__main__":
    main()
