"""The published designs as attention kinds (qkv, qasa): parameter counts, circuits, causality.

Their values and gradients across devices are checked with the other kinds in test_attention.py.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pennylane as qml
import pytest

from qgpt_jax.attention import KINDS, circuits_per_forward
from qgpt_jax.config import ModelConfig
from qgpt_jax.model import GPT, count_params, init
from qgpt_jax.quantum.circuits import ANGLE_ENCODED_Z, angle_encoded_state
from qgpt_jax.quantum.devices import CircuitExecutor, executor_scope
from qgpt_jax.study import STUDY_MODELS

PUBLISHED = ("qkv", "qasa")


def tiny(kind: str, **overrides) -> ModelConfig:
    values = dict(attention=kind, vocab_size=11, n_qubits=3, block_size=5)
    return ModelConfig.from_preset("tiny", **{**values, **overrides})


def per_head_params(kind: str, C: int, n: int, hs: int) -> int:
    """The module docstrings' formulas."""
    return {
        "qkv": 3 * C * n + 3 * 3 * n + n * hs + hs,
        "qasa": 2 * C * hs + C * n + 3 * n + n * hs + hs,
    }[kind]


@pytest.mark.parametrize("kind", PUBLISHED)
def test_parameter_count_follows_the_formula_at_an_unusual_size(kind):
    config = ModelConfig.from_preset(
        "tiny", attention=kind, vocab_size=13, n_embd=12, n_head=3, n_layer=2, n_qubits=5,
        quantum_heads=2,
    )  # fmt: skip
    C, n, hs = config.n_embd, config.n_qubits, config.head_size
    classical = count_params(
        init(dataclasses.replace(config, attention="classical"), jax.random.key(0))
    )
    per_head = per_head_params(kind, C, n, hs)
    expected = classical + config.n_layer * config.n_quantum_heads * (per_head - 3 * C * hs)
    assert count_params(init(config, jax.random.key(0))) == expected
    surrogate = dataclasses.replace(config, attention=kind + "-surrogate")
    assert count_params(init(surrogate, jax.random.key(0))) == expected


def test_the_published_kinds_enter_the_study_with_their_controls():
    for kind in PUBLISHED:
        assert kind in STUDY_MODELS and kind + "-surrogate" in STUDY_MODELS
        assert KINDS[kind].circuit is ANGLE_ENCODED_Z
    config = tiny("qkv")
    # 1 layer x 2 quantum heads x 3 projections x 2 x 5 tokens; qasa: the value only.
    assert circuits_per_forward(config, 2, 5) == 1 * 2 * 3 * 2 * 5
    assert circuits_per_forward(tiny("qasa"), 2, 5) == 1 * 2 * 2 * 5


def test_angle_encoded_state_is_the_rx_layer():
    x = np.array([0.3, -1.2, 2.0])

    def rx_layer():
        for i, angle in enumerate(x):
            qml.RX(angle, wires=i)
        return qml.state()

    expected = qml.QNode(rx_layer, qml.device("default.qubit", wires=3))()
    np.testing.assert_allclose(angle_encoded_state(jnp.asarray(x), 3), expected, atol=1e-6)


def test_compact_form_equals_the_gates():
    rng = np.random.default_rng(0)
    angles = jnp.asarray(rng.uniform(-3, 3, (7, 4)), jnp.float32)
    weights = jnp.asarray(rng.normal(0, 0.5, 12), jnp.float32)
    compact = CircuitExecutor(4, circuit=ANGLE_ENCODED_Z)  # default.qubit: the compact form
    gates = qml.QNode(ANGLE_ENCODED_Z.qfunc(4), qml.device("default.qubit", wires=4))
    np.testing.assert_allclose(compact(angles, weights), jnp.stack(gates(angles, weights), -1),
                               atol=1e-5)


CAUSALITY_CASES = [
    *((kind, device) for kind in PUBLISHED for device in ("default.qubit", "aer")),
    *((kind + "-surrogate", "default.qubit") for kind in PUBLISHED),  # runs no circuit
]


@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("kind, device", CAUSALITY_CASES)
def test_changing_token_j_changes_no_output_before_j(kind, device, training):
    config = tiny(kind, dropout=0.2).on(device=device)
    params = init(config, jax.random.key(0))
    idx = jnp.array([[1, 2, 3, 4, 5]])
    changed = idx.at[0, 3].set(9)
    rngs = {"dropout": jax.random.key(7)}  # the same dropout masks for both inputs
    with executor_scope(config):
        apply = jax.jit(
            lambda i: GPT(config).apply({"params": params}, i, deterministic=not training,
                                        rngs=rngs)
        )
        a, b = apply(idx), apply(changed)
    np.testing.assert_array_equal(a[:, :3], b[:, :3])
    assert not np.allclose(a[:, 3:], b[:, 3:])
