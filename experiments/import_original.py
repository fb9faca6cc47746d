"""Convert a PyTorch checkpoint of the original Qiskit GPT Nano into a qgpt-jax checkpoint.

Example:
    python -m experiments.import_original original_quantum.pt --out runs/imported --data input.txt
"""

from __future__ import annotations

import argparse
from pathlib import Path

from qgpt_jax.cli import ArgumentParser, main_guard, setup_runtime


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="python -m experiments.import_original",
        description="Read a checkpoint saved by the original PyTorch project (torch.save of "
        "model_state_dict, vocab_size, model_type, meta) and write OUT/checkpoint.msgpack. "
        "Classical models import as attention=classical, quantum models as attention=original, "
        "which reproduces the original's logits. Needs torch: pip install 'qgpt-jax[torch]'. "
        "The file is unpickled, which can run code: only import checkpoints you trust.",
    )
    parser.add_argument("checkpoint", help="path of the PyTorch checkpoint (.pt/.pth)")
    parser.add_argument(
        "--out", required=True, help="output folder (or .msgpack file) for the converted checkpoint"
    )
    parser.add_argument(
        "--data",
        help="corpus the model was trained on; its sorted characters "
        "are the vocabulary. Needed only when the checkpoint's meta records no "
        "vocabulary (chars/itos/stoi)",
    )
    return parser


@main_guard
def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    setup_runtime()
    from qgpt_jax.checkpoint import save_checkpoint
    from qgpt_jax.interop import import_original_checkpoint

    config, params, tokenizer = import_original_checkpoint(args.checkpoint, data=args.data)
    metadata = {"imported_from": str(Path(args.checkpoint).resolve())}
    target = save_checkpoint(args.out, config, params, tokenizer, metadata=metadata)
    print(
        f"imported {args.checkpoint} (attention={config.attention}, n_layer={config.n_layer}, "
        f"n_head={config.n_head}, n_embd={config.n_embd}, vocab {tokenizer.vocab_size})"
    )
    print(f"checkpoint: {target}")


if __name__ == "__main__":
    main()
