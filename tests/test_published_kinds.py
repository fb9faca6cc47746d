"""The published designs as attention kinds (qkv, qasa, orthogonal; quixer for causality): parameter
counts, circuits, causality.

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
from qgpt_jax.quantum import circuits
from qgpt_jax.quantum.circuits import (
    ANGLE_ENCODED_Z,
    ORTHOGONAL_OVERLAP,
    ORTHOGONAL_VALUE,
    angle_encoded_state,
)
from qgpt_jax.quantum.devices import CircuitExecutor, executor_scope
from qgpt_jax.study import study_models

PUBLISHED = ("qkv", "qasa", "orthogonal")


def tiny(kind: str, **overrides) -> ModelConfig:
    values = dict(attention=kind, vocab_size=11, n_qubits=3, block_size=5)
    return ModelConfig.from_preset("tiny", **{**values, **overrides})


def per_head_params(kind: str, C: int, n: int, hs: int) -> int:
    """The module docstrings' formulas."""
    return {
        "qkv": 3 * C * n + 3 * 3 * n + n * hs + hs,
        "qasa": 2 * C * hs + C * n + 3 * n + n * hs + hs,
        "orthogonal": 3 * C * n + n * (n - 1) + n * hs + hs,
        "orthogonal-surrogate": 3 * C * n + 2 * n * n + n * hs + hs,
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
    heads = config.n_layer * config.n_quantum_heads
    expected = classical + heads * (per_head_params(kind, C, n, hs) - 3 * C * hs)
    assert count_params(init(config, jax.random.key(0))) == expected
    surrogate = dataclasses.replace(config, attention=kind + "-surrogate")
    if not KINDS[kind].same_surrogate_params:
        expected = classical + heads * (per_head_params(kind + "-surrogate", C, n, hs) - 3 * C * hs)
    assert count_params(init(surrogate, jax.random.key(0))) == expected


def test_the_published_kinds_enter_the_study_with_their_controls():
    for kind in PUBLISHED:
        assert kind in study_models() and kind + "-surrogate" in study_models()
    assert KINDS["qkv"].circuit is KINDS["qasa"].circuit is ANGLE_ENCODED_Z
    assert KINDS["orthogonal"].circuit is ORTHOGONAL_OVERLAP
    config = tiny("qkv")
    # 1 layer x 2 quantum heads x 3 projections x 2 x 5 tokens; qasa: the value only;
    # orthogonal: 15 causal pairs and 5 values per sequence.
    assert circuits_per_forward(config, 2, 5) == 1 * 2 * 3 * 2 * 5
    assert circuits_per_forward(tiny("qasa"), 2, 5) == 1 * 2 * 2 * 5
    assert circuits_per_forward(tiny("orthogonal"), 2, 5) == 1 * 2 * 2 * (15 + 5)


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
    ("quixer", "default.qubit"), ("quixer-surrogate", "default.qubit"),  # reads states
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


# --- orthogonal: the circuits are n x n orthogonal matrices on unary states ---------------------


UNARY = [2 ** (4 - 1 - i) for i in range(4)]  # basis index of e_i (qubit i set) on 4 wires


@pytest.fixture()
def rbs_weights():
    return jnp.asarray(np.random.default_rng(0).normal(0, 0.7, circuits.n_rbs_angles(4)),
                       jnp.float32)


def test_the_orthogonal_layer_is_its_matrix_on_unary_states(rbs_weights):
    unitary = qml.matrix(circuits.orthogonal_layer, wire_order=range(4))(rbs_weights, 4)
    matrix = circuits.orthogonal_matrix(rbs_weights, 4)
    np.testing.assert_allclose(unitary[np.ix_(UNARY, UNARY)], matrix, atol=1e-6)
    np.testing.assert_allclose(matrix.T @ matrix, np.eye(4), atol=1e-6)
    rest = np.setdiff1d(np.arange(16), UNARY)
    assert np.abs(unitary[np.ix_(rest, UNARY)]).max() < 1e-6  # unary states stay unary


def test_the_loader_prepares_the_unit_vector():
    x = np.random.default_rng(1).normal(size=(6, 4)).astype(np.float32)
    x[0] = [0.0, 0.0, -1.0, 0.0]  # a vector with zero tails
    unit = x / np.linalg.norm(x, axis=-1, keepdims=True)
    angles = circuits.loader_angles(jnp.asarray(unit))
    np.testing.assert_allclose(circuits.loaded_vector(angles), unit, atol=1e-6)

    def loaded(angles):
        qml.PauliX(wires=0)
        circuits.load_unary(angles, 4)
        return qml.state()

    state = qml.QNode(loaded, qml.device("default.qubit", wires=4))(angles)
    np.testing.assert_allclose(np.asarray(state)[:, UNARY], unit, atol=1e-6)


def test_the_overlap_is_the_squared_bilinear_form(rbs_weights):
    q, k = np.random.default_rng(2).normal(size=(2, 5, 4)).astype(np.float32)
    q, k = (v / np.linalg.norm(v, axis=-1, keepdims=True) for v in (q, k))
    inputs = jnp.concatenate([circuits.loader_angles(q), circuits.loader_angles(k)], -1)
    matrix = np.asarray(circuits.orthogonal_matrix(rbs_weights, 4))
    expected = np.einsum("pi,ij,pj->p", q, matrix, k) ** 2
    for device in ("default.qubit", "lightning.qubit", "aer", "qgpt.aer"):
        overlap = CircuitExecutor(4, device, circuit=ORTHOGONAL_OVERLAP)(inputs, rbs_weights)
        np.testing.assert_allclose(overlap, expected, atol=1e-5)
    values = CircuitExecutor(4, circuit=ORTHOGONAL_VALUE)(circuits.loader_angles(k), rbs_weights)
    np.testing.assert_allclose(values, 1 - 2 * (k @ matrix.T) ** 2, atol=1e-5)


@pytest.mark.parametrize("circuit", [ORTHOGONAL_OVERLAP, ORTHOGONAL_VALUE], ids=lambda c: c.name)
def test_orthogonal_compact_forms_equal_the_gates(circuit, rbs_weights):
    rng = np.random.default_rng(3)
    inputs = jnp.asarray(rng.uniform(-2, 2, (7, circuit.n_inputs(4))), jnp.float32)
    device = qml.device("default.qubit", wires=4)
    compact = qml.QNode(circuit.qfunc(4, compact=True), device)(inputs, rbs_weights)
    gates = qml.QNode(circuit.qfunc(4), device)(inputs, rbs_weights)
    np.testing.assert_allclose(np.stack(compact, -1) if isinstance(compact, list) else compact,
                               np.stack(gates, -1) if isinstance(gates, list) else gates,
                               atol=1e-5)
