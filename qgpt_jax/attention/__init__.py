"""The attention kinds: one module each, registered here by one line.

To add a kind, write ``qgpt_jax/attention/<name>.py`` defining its head and ``KIND =
AttentionKind(...)`` (see ``base.py``), and add its module name to ``KIND_MODULES`` (a kind in a
module of your own: ``register_module("package.module")``). Its classical surrogate
(``<name>-surrogate``) is derived from it. Everything else (configuration checks, model,
optimizer, circuit counts, resource report, hardware estimate, evaluation, the study, ``--help``)
asks ``kind_of(config)`` or ``KINDS`` when it runs, so a kind registered later is everywhere too.

``validated(config)`` is the check of a ``ModelConfig`` against its kind and device: the model
runs it before it is built (``qgpt_jax.model``), and an entry point runs it where a configuration
comes in (flags, a checkpoint, a device setting), so that a bad one fails before any work starts.
"""

from __future__ import annotations

import contextlib
import importlib

from qgpt_jax.attention.base import SURROGATE_SUFFIX, AttentionKind
from qgpt_jax.errors import ConfigError
from qgpt_jax.quantum import devices

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
    """The kind of ``config``'s attention heads (whether it runs circuits, whether it is causal,
    its quantum parameters, its check of a configuration): the one place every module asks."""
    kind = KINDS.get(config.attention)
    if kind is None:
        raise ConfigError(
            f"unknown attention kind {config.attention!r}; choose one of: {', '.join(KINDS)}"
        )
    return kind


def validated(config):
    """``config`` itself once its kind and device accept it, else a one-line ``ConfigError``:
    the kind is registered, the device exists and is installed, shots and noise are available
    there, and a kind reading state vectors gets a device that returns them."""
    kind_of(config).validate(config)
    return config


@contextlib.contextmanager
def executor_scope(config):
    """The run's circuit executors (``quantum.devices.executor_scope``) for a kind that runs
    circuits; ``None`` for one that runs none (classical heads, a surrogate)."""
    if not kind_of(config).runs_circuits:
        yield None
        return
    with devices.executor_scope(config) as executors:
        yield executors


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
    "executor_scope",
    "kind_of",
    "kinds_help",
    "register",
    "register_module",
    "validated",
]
