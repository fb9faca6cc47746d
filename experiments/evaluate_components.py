"""Classical vs quantum head on deterministic inputs, and a model's loss with its quantum part off.

Examples:
    python -m experiments.evaluate_components --attention qsann
    python -m experiments.evaluate_components --checkpoint runs/cmp/checkpoints/enhance-seed0
"""

from __future__ import annotations

import argparse

from qgpt_jax.cli import (
    ArgumentParser,
    add_config_flags,
    add_preset_flag,
    main_guard,
    overrides_for,
    setup_runtime,
)
from qgpt_jax.config import DeviceConfig, ModelConfig


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="python -m experiments.evaluate_components",
        description="Compare an attention kind's head with a classical head and with its "
        "classical surrogate on the same deterministic input (shapes, mean absolute difference, "
        "median time per call), then the model's validation loss estimate (the preset's "
        "eval_iters batches), with its circuits' contribution on and off where the kind has "
        "such a switch (quantum_scale = 0 for original and enhance).",
    )
    add_preset_flag(parser)
    parser.add_argument(
        "--checkpoint", help="evaluate a trained quantum model instead of a freshly initialised one"
    )
    parser.add_argument(
        "--data", help="corpus for the fixed batch (default: $QGPT_DATA, cache, download)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for inputs and init")
    parser.add_argument("--json", help="also write the results to this JSON file")
    add_config_flags(parser, classes=(ModelConfig, DeviceConfig))
    return parser


def _print_report(result: dict) -> None:
    """The results in the few lines a reader scans; the JSON file keeps every figure."""
    heads, model = result["heads"], result["model"]
    print(f"attention kind {result['attention']} on {result['device']}")
    print(f"input {heads['input_shape']} -> head output {heads['output_shape']}")
    own = heads["seconds_per_call"][result["attention"]]
    for name in heads["heads"]:
        if name != result["attention"]:
            print(
                f"mean |{result['attention']} - {name}| head output: "
                f"{heads['mean_abs_difference'][name]:.6f}"
            )
    print(
        "median time per call: "
        + ", ".join(f"{n} {t * 1e6:.1f} us" for n, t in heads["seconds_per_call"].items())
        + f" ({result['attention']} {own / heads['seconds_per_call']['classical']:.1f}x classical)"
    )
    line = f"validation loss ({model['eval_batches']} batches): {model['val_loss']:.5f}"
    if model["switch"]:
        line += (
            f", circuits' contribution off {model['val_loss_off']:.5f} "
            f"(difference {model['difference']:+.5f})"
        )
    print(line)


@main_guard
def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    setup_runtime()
    from pathlib import Path

    from qgpt_jax.evaluation import evaluate_components_for
    from qgpt_jax.storage import atomic_write_json

    result = evaluate_components_for(
        preset=args.preset,
        checkpoint=args.checkpoint,
        data=args.data,
        seed=args.seed,
        model_overrides=overrides_for(ModelConfig, args),
        device_overrides=overrides_for(DeviceConfig, args),
    )
    _print_report(result)
    if args.json:
        atomic_write_json(Path(args.json), result)


if __name__ == "__main__":
    main()
