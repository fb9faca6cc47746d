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


@main_guard
def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    setup_runtime()
    import dataclasses
    from pathlib import Path

    import jax

    from qgpt_jax.attention import validated
    from qgpt_jax.checkpoint import load_checkpoint
    from qgpt_jax.config import TrainConfig
    from qgpt_jax.data import load_dataset
    from qgpt_jax.errors import ConfigError
    from qgpt_jax.evaluation import evaluate_components
    from qgpt_jax.model import init
    from qgpt_jax.storage import atomic_write_json

    key = jax.random.key(args.seed)
    tokenizer = None
    if args.checkpoint:
        config, params, tokenizer = load_checkpoint(args.checkpoint)
        if config.attention == "classical":
            raise ConfigError(
                "the checkpoint holds a classical model; pass one of a quantum or surrogate kind"
            )
        given = overrides_for(ModelConfig, args)
        how = overrides_for(DeviceConfig, args)  # where it runs may change
        clash = {k: v for k, v in given.items() if getattr(config, k) != v}
        if clash:
            name, value = next(iter(clash.items()))
            raise ConfigError(
                f"the checkpoint was trained with {name}={getattr(config, name)!r}, not {value!r}; "
                f"drop --{name.replace('_', '-')} (a checkpoint runs with its own architecture)"
            )
        config = validated(config.on(**how))
    else:
        overrides = {**overrides_for(ModelConfig, args), **overrides_for(DeviceConfig, args)}
        overrides.setdefault("attention", "enhance")
        config = ModelConfig.from_preset(args.preset, **overrides)
        if config.attention == "classical":
            raise ConfigError("--attention must be a quantum or surrogate kind, not classical")
    dataset = load_dataset(args.data, block_size=config.block_size, tokenizer=tokenizer)
    if not args.checkpoint:
        config = dataclasses.replace(config, vocab_size=dataset.tokenizer.vocab_size)
        params = init(config, key)
    tc = TrainConfig.from_preset(args.preset)
    result = evaluate_components(config, tc, params, dataset, key, seed=args.seed)

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
    if args.json:
        atomic_write_json(Path(args.json), result)


if __name__ == "__main__":
    main()
