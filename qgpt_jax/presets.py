"""Named configurations: the numbers of every preset, each with where they come from.

A preset is data, not code: a name, a line saying where its numbers come from (shown by
``--help`` and kept with each preset in the README), and the values of fields of
``ModelConfig`` and ``TrainConfig`` (each class takes the fields it owns, in
``qgpt_jax.config``). To add one, add a ``Preset`` to ``PRESETS``; every entry point's
``--preset`` and the bench's ``--sweep preset=...`` accept it from then on.

This module imports nothing of the package, so that ``qgpt_jax.config`` (the lowest layer) can
read it.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

FINAL_EVAL_TOKENS = 120_000
"""Tokens per split of the presets' final loss estimate: the whole validation split of
tiny-shakespeare (111,540 characters), and an evenly spread 12% of the training split."""


@dataclass(frozen=True)
class Preset:
    """One named configuration."""

    name: str
    source: str
    """Where the numbers come from, in one line."""
    values: Mapping[str, Any]
    """Field values of ``ModelConfig`` and ``TrainConfig``; a field not named keeps its default."""

    def __post_init__(self):
        object.__setattr__(self, "values", types.MappingProxyType(dict(self.values)))


# nanoGPT's shakespeare-char settings (karpathy/nanoGPT, config/train_shakespeare_char.py and
# train.py's defaults): warmup, cosine decay to a tenth, clipping, beta2 0.99, weight decay 0.1.
_NANOGPT_SCHEDULE = types.MappingProxyType(
    dict(
        learning_rate=1e-3,
        min_learning_rate=1e-4,
        warmup_iters=100,
        lr_schedule="cosine",
        grad_clip=1.0,
        beta2=0.99,
        weight_decay=0.1,
        weight_decay_on="matrices",
        eval_interval=250,
    )
)

_PRESETS = (
    Preset(
        "original",
        "the original project's reported run (its results.md)",
        dict(
            n_embd=16,
            n_head=2,
            n_layer=2,
            block_size=8,
            dropout=0.1,
            batch_size=4,
            learning_rate=1e-3,
            max_iters=1000,
            eval_iters=20,
            eval_interval=100,
            final_eval_tokens=FINAL_EVAL_TOKENS,
        ),
    ),
    Preset(
        "original-large",
        "the original project's later defaults (its README)",
        dict(
            n_embd=32,
            n_head=4,
            n_layer=3,
            block_size=16,
            dropout=0.1,
            batch_size=12,
            learning_rate=2e-3,
            max_iters=1000,
            eval_iters=20,
            eval_interval=100,
            final_eval_tokens=FINAL_EVAL_TOKENS,
        ),
    ),
    Preset(
        "small",
        "ours: 0.8M parameters, compute-bound on a CPU (the cost curves' top end)",
        dict(
            n_embd=128,
            n_head=4,
            n_layer=4,
            block_size=64,
            dropout=0.1,
            batch_size=32,
            learning_rate=1e-3,
            max_iters=5000,
            eval_iters=20,
            eval_interval=250,
            final_eval_tokens=FINAL_EVAL_TOKENS,
        ),
    ),
    Preset(
        "nanogpt-cpu",
        "nanoGPT's README command for shakespeare-char on a CPU, with its config's schedule",
        dict(
            n_embd=128,
            n_head=4,
            n_layer=4,
            block_size=64,
            dropout=0.0,
            batch_size=12,
            max_iters=2000,
            eval_iters=20,
            final_eval_tokens=FINAL_EVAL_TOKENS,
            **_NANOGPT_SCHEDULE,
        ),
    ),
    Preset(
        "nanogpt-gpu",
        "nanoGPT's config/train_shakespeare_char.py, for a GPU (nanoGPT reports val 1.47)",
        dict(
            n_embd=384,
            n_head=6,
            n_layer=6,
            block_size=256,
            dropout=0.2,
            batch_size=64,
            max_iters=5000,
            eval_iters=200,
            final_eval_tokens=FINAL_EVAL_TOKENS,
            **_NANOGPT_SCHEDULE,
        ),
    ),
    Preset(
        "tiny",
        "ours: tests and smoke runs",
        dict(
            n_embd=8,
            n_head=2,
            n_layer=1,
            block_size=8,
            dropout=0.0,
            batch_size=2,
            learning_rate=1e-2,
            max_iters=30,
            eval_iters=2,
            eval_interval=10,
            final_eval_tokens=64,
        ),
    ),
)

PRESETS: Mapping[str, Preset] = types.MappingProxyType({p.name: p for p in _PRESETS})
"""Every preset by name."""


def presets_help() -> str:
    """One line per preset for ``--help``: its name, size and source."""
    lines = []
    for preset in PRESETS.values():
        v = preset.values
        size = f"{v['n_layer']}x{v['n_head']}x{v['n_embd']}, block {v['block_size']}"
        lines.append(f"{preset.name} ({size}): {preset.source}")
    return "; ".join(lines)
