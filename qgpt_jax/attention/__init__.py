"""The attention kinds: one module each, registered here by one line.

To add a kind, write ``qgpt_jax/attention/<name>.py`` defining its head and ``KIND =
AttentionKind(...)`` (see ``base.py``), and add its module name to ``KIND_MODULES`` (a kind in a
module of your own: ``register_module("package.module")``). Its classical surrogate
(``<name>-surrogate``) is derived from it. Everything else (configuration, model, optimizer,
circuit counts, resource report, hardware estimate, evaluation, the study, ``--help``) asks
``KINDS`` when it runs, so a kind registered later is everywhere too.
"""

from __future__ import annotations

import importlib

from qgpt_jax.attention.base import SURROGATE_SUFFIX, AttentionKind

KIND_MODULES = (
    "classical",
    "original",
    "enhance",
    "qsann",
    "kernel",
    "qkv",
    "qasa",
    "orthogonal",
    "quixer",
)


KINDS: dict[str, AttentionKind] = {}
"""Every attention kind by name, surrogates included."""


def register(kind: AttentionKind) -> None:
    """Add ``kind`` (and, if it runs a circuit, its classical surrogate) to ``KINDS``."""
    KINDS[kind.name] = kind
    if kind.circuit is not None:
        surrogate = kind.surrogate()
        KINDS[surrogate.name] = surrogate


def register_module(module: str) -> AttentionKind:
    """Import ``module`` and register the ``KIND`` it defines."""
    kind = importlib.import_module(module).KIND
    register(kind)
    return kind


for _module in KIND_MODULES:
    register_module(f"qgpt_jax.attention.{_module}")


def kind_of(config) -> AttentionKind:
    return KINDS[config.attention]


def circuits_per_forward(config, batch: int, length: int) -> int:
    """Circuit executions one forward pass of the model makes on a (batch, length) input, on
    ``config``'s device (0 for kinds that run no circuit)."""
    kind = kind_of(config)
    if not kind.runs_circuits:
        return 0
    return config.n_layer * config.n_quantum_heads * kind.circuits_per_head(config, batch, length)


def kinds_help() -> str:
    """One line per kind, for ``--help`` (the surrogates in one sentence)."""
    own = "; ".join(f"{n}: {k.help}" for n, k in KINDS.items() if k.surrogate_of is None)
    return (
        f"{own}; and KIND{SURROGATE_SUFFIX} for each quantum kind: the same head with each "
        "circuit replaced by a classical product-state function of the same inputs, outputs "
        "and number of weights"
    )


__all__ = [
    "KINDS",
    "SURROGATE_SUFFIX",
    "AttentionKind",
    "circuits_per_forward",
    "kind_of",
    "kinds_help",
    "register",
    "register_module",
]
