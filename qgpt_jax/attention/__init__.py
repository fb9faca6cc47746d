"""The attention kinds: one module each, registered here by one line.

To add a kind, write ``qgpt_jax/attention/<name>.py`` defining its head and ``KIND =
AttentionKind(...)`` (see ``base.py``), and add its module name to ``KIND_MODULES``. Its classical
surrogate (``<name>-surrogate``) is derived from it. Everything else (configuration, model,
optimizer, circuit counts, resource report, evaluation, ``--help``) reads ``KINDS``.
"""

from __future__ import annotations

import importlib

from qgpt_jax.attention.base import SURROGATE_SUFFIX, AttentionKind

KIND_MODULES = ("classical", "original", "enhance", "qsann", "kernel", "qkv", "qasa", "orthogonal")


def _registry() -> dict[str, AttentionKind]:
    kinds = {}
    for module in KIND_MODULES:
        kind = importlib.import_module(f"qgpt_jax.attention.{module}").KIND
        kinds[kind.name] = kind
        if kind.circuit is not None:
            surrogate = kind.surrogate()
            kinds[surrogate.name] = surrogate
    return kinds


KINDS: dict[str, AttentionKind] = _registry()
QUANTUM_KINDS = tuple(name for name, kind in KINDS.items() if kind.runs_circuits)


def kind_of(config) -> AttentionKind:
    return KINDS[config.attention]


def circuits_per_forward(config, batch: int, length: int) -> int:
    """Circuit executions one forward pass of the model makes on a (batch, length) input, on
    ``config``'s device (0 for kinds that run no circuit)."""
    kind = kind_of(config)
    if not kind.runs_circuits:
        return 0
    return config.n_layer * config.n_quantum_heads * kind.circuits_per_head(config, batch, length)


def quantum_param_names() -> frozenset[str]:
    """Parameter names that feed a circuit (or a surrogate's stand-in for one), in any kind."""
    return frozenset(name for kind in KINDS.values() for name in kind.quantum_params)


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
    "QUANTUM_KINDS",
    "SURROGATE_SUFFIX",
    "AttentionKind",
    "circuits_per_forward",
    "kind_of",
    "kinds_help",
    "quantum_param_names",
]
