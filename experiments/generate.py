"""Generate text from a saved run.

Example:
    python -m experiments.generate --checkpoint runs/cmp/checkpoints/classical-seed0 "ROMEO:"
"""

from __future__ import annotations

import argparse

from qgpt_jax.cli import ArgumentParser, main_guard, setup_runtime


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="python -m experiments.generate",
        description="Continue a prompt with a trained model (evaluation mode, no dropout).",
    )
    parser.add_argument(
        "prompt", nargs="?", default="\n", help="text to continue (default: a newline, as the seed)"
    )
    parser.add_argument(
        "--checkpoint",
        required=True,
        help="a run's checkpoint folder (or its checkpoint.msgpack file)",
    )
    parser.add_argument("--tokens", type=int, default=200, help="new tokens (default 200)")
    parser.add_argument("--sample", action="store_true", help="sample instead of greedy decoding")
    parser.add_argument(
        "--temperature", type=float, default=1.0, help="sampling temperature (default 1.0)"
    )
    parser.add_argument("--top-k", type=int, default=None, help="sample from the k likeliest")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    run = parser.add_argument_group(
        "where the quantum heads run (default: as the checkpoint was trained)"
    )
    run.add_argument(
        "--device", help="default.qubit, lightning.qubit, qiskit.aer or aer (the batched Aer path)"
    )
    run.add_argument("--shots", type=int, help="samples per circuit on Aer devices (default exact)")
    run.add_argument("--noise", help="fake IBM backend whose noise model Aer uses, e.g. manila")
    run.add_argument("--threads", type=int, dest="aer_threads", help="threads for Aer")
    return parser


@main_guard
def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    setup_runtime()
    import jax

    from qgpt_jax.checkpoint import load_checkpoint
    from qgpt_jax.errors import ConfigError
    from qgpt_jax.generate import generate

    if args.tokens < 0:
        raise ConfigError(f"--tokens must be >= 0, got {args.tokens}")
    config, params, tokenizer = load_checkpoint(args.checkpoint)
    how = {
        name: getattr(args, name)
        for name in ("device", "shots", "noise", "aer_threads")
        if getattr(args, name) is not None
    }
    if how:
        if not config.is_quantum:
            raise ConfigError(
                f"the checkpoint holds a classical model; --{next(iter(how)).replace('_', '-')} "
                "only applies to quantum heads"
            )
        if "device" in how and how["device"] != config.device and "shots" not in how:
            how["shots"] = None  # shots of the training device may not exist on the new one
        if "device" in how and how["device"] != config.device and "noise" not in how:
            how["noise"] = None
        config = config.on(**how)  # validates device, shots and noise
    prompt = tokenizer.encode(args.prompt)
    key = jax.random.key(args.seed) if args.sample else None
    tokens = generate(
        config, params, prompt, args.tokens, key=key, temperature=args.temperature, top_k=args.top_k
    )
    print(tokenizer.decode(tokens))


if __name__ == "__main__":
    main()
