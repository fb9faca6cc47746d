"""Generate text from a saved run: sampled as nanoGPT's ``sample.py`` samples (temperature 0.8,
top-k 200, seeded), or greedy with ``--greedy`` (the original project's decoding).

Example:
    python -m experiments.generate --checkpoint runs/cmp/checkpoints/classical-seed0 "ROMEO:"
"""

from __future__ import annotations

import argparse

from qgpt_jax.cli import FLAG_HELP, ArgumentParser, main_guard, setup_runtime

SAMPLE_TEMPERATURE = 0.8
SAMPLE_TOP_K = 200


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="python -m experiments.generate",
        description="Continue a prompt with a trained model (evaluation mode, no dropout).",
    )
    parser.add_argument(
        "prompt",
        nargs="?",
        default="\n",
        help="text to continue (default: a newline, as the original)",
    )
    parser.add_argument(
        "--checkpoint",
        required=True,
        help="a run's checkpoint folder (or its checkpoint.msgpack file)",
    )
    parser.add_argument("--tokens", type=int, default=200, help="new tokens (default 200)")
    decoding = parser.add_mutually_exclusive_group()
    decoding.add_argument(
        "--greedy",
        action="store_true",
        help="always take the likeliest token (the original's decoding; a briefly trained model "
        "then repeats itself)",
    )
    decoding.add_argument("--sample", action="store_true", help="sample (the default)")
    parser.add_argument(
        "--temperature",
        type=float,
        default=SAMPLE_TEMPERATURE,
        help=f"sampling temperature (default {SAMPLE_TEMPERATURE}, as nanoGPT)",
    )
    parser.add_argument(
        "--top-k",
        type=int,
        default=SAMPLE_TOP_K,
        help=f"sample from the k likeliest tokens (default {SAMPLE_TOP_K}, as nanoGPT; at most "
        "the vocabulary)",
    )
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    run = parser.add_argument_group(
        "where the quantum heads run (default: as the checkpoint was trained)"
    )
    run.add_argument("--device", help=FLAG_HELP["device"])
    run.add_argument("--shots", type=int, help="samples per circuit on Aer devices (default exact)")
    run.add_argument("--noise", help="fake IBM backend whose noise model Aer uses, e.g. manila")
    run.add_argument("--threads", type=int, dest="aer_threads", help="threads for Aer")
    run.add_argument("--backend", help=FLAG_HELP["backend"])
    return parser


@main_guard
def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    setup_runtime()
    import jax

    from qgpt_jax.attention import kind_of, validated
    from qgpt_jax.checkpoint import load_checkpoint
    from qgpt_jax.engine import quantum_failures_are_fatal
    from qgpt_jax.errors import ConfigError
    from qgpt_jax.generate import generate

    if args.tokens < 0:
        raise ConfigError(f"--tokens must be >= 0, got {args.tokens}")
    config, params, tokenizer = load_checkpoint(args.checkpoint)
    how = {
        name: getattr(args, name)
        for name in ("device", "shots", "noise", "aer_threads", "backend")
        if getattr(args, name) is not None
    }
    if how:
        if not kind_of(config).runs_circuits:
            raise ConfigError(
                f"the checkpoint holds a classical model; --{next(iter(how)).replace('_', '-')} "
                "only applies to quantum heads"
            )
        if "device" in how and how["device"] != config.device:
            # shots, noise and backend of the training device may not exist on the new one
            how = {"shots": None, "noise": None, "backend": None, **how}
        config = validated(config.on(**how))  # validates device, shots and noise
    prompt = tokenizer.encode(args.prompt)
    key = None if args.greedy else jax.random.key(args.seed)
    # nanoGPT's top-k 200 means every token of a small vocabulary; below 1 is an error there
    top_k = min(args.top_k, config.vocab_size) if args.top_k >= 1 else args.top_k
    with quantum_failures_are_fatal(config):
        tokens = generate(
            config, params, prompt, args.tokens, key=key, temperature=args.temperature, top_k=top_k
        )
    print(tokenizer.decode(tokens))


if __name__ == "__main__":
    main()
