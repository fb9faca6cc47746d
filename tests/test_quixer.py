"""Quixer (qgpt_jax.attention.quixer): parameters, circuits, devices refused (its causality is in
test_published_kinds.py), and the post-selected LCU circuit a QPU would run (qgpt_jax.quantum.lcu)
against the head's arithmetic."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pennylane as qml
import pytest

from qgpt_jax.attention import KINDS, circuits_per_forward, validated
from qgpt_jax.attention.quixer import (
    SUCCESS_PROBABILITY,
    pauli_expectations,
    post_selected_state,
    prefix_mixture,
    token_inputs,
)
from qgpt_jax.config import ModelConfig, TrainConfig
from qgpt_jax.errors import ConfigError
from qgpt_jax.model import GPT, count_params, init, sown
from qgpt_jax.quantum.circuits import (
    QUIXER_DEGREE,
    QUIXER_TOKEN,
    choi_unitaries,
    sim14_gates,
    sim14_matrix,
)
from qgpt_jax.quantum.devices import CircuitExecutor, executor_scope
from qgpt_jax.quantum.lcu import index_qubits, post_selected_data, quixer_lcu_circuit
from qgpt_jax.study import parse_models


def tiny(kind: str = "quixer", **overrides) -> ModelConfig:
    values = dict(attention=kind, vocab_size=11, n_qubits=3, block_size=5)
    return ModelConfig.from_preset("tiny", **{**values, **overrides})


def per_head_params(C: int, n: int, hs: int, block_size: int) -> int:
    """The module docstring's formula."""
    return 4 * n * C + 4 * n + 2 * block_size + QUIXER_DEGREE + 1 + 4 * n + 3 * n * hs + hs


@pytest.mark.parametrize("kind", ["quixer", "quixer-surrogate"])
def test_parameter_count_follows_the_formula_at_an_unusual_size(kind):
    config = ModelConfig.from_preset(
        "tiny", attention=kind, vocab_size=13, n_embd=12, n_head=3, n_layer=2, n_qubits=2,
        quantum_heads=2, block_size=7,
    )  # fmt: skip
    C, n, hs = config.n_embd, config.n_qubits, config.head_size
    classical = count_params(
        init(dataclasses.replace(config, attention="classical"), jax.random.key(0))
    )
    heads = config.n_layer * config.n_quantum_heads
    expected = classical + heads * (per_head_params(C, n, hs, 7) - 3 * C * hs)
    assert count_params(init(config, jax.random.key(0))) == expected


def test_it_enters_the_study_with_its_controls_and_counts_its_columns():
    assert {"quixer", "quixer-surrogate", "classical-matched:quixer"} <= set(parse_models("study"))
    # one Choi state per token and one for V: 2 x 5 + 1, 1 layer x 2 heads
    assert circuits_per_forward(tiny(), 2, 5) == 1 * 2 * (2 * 5 + 1)


@pytest.mark.parametrize("device", ["aer", "lightning.qubit", "qiskit.aer", "qgpt.aer"])
def test_devices_without_states_are_refused_with_the_reason(device):
    with pytest.raises(ConfigError, match="reads state vectors.*use --device default.qubit"):
        validated(tiny().on(device=device))


def test_the_surrogate_runs_on_any_device_setting():
    assert validated(tiny("quixer-surrogate").on(device="aer")).attention == "quixer-surrogate"


@pytest.fixture(scope="module")
def token_rows():
    rng = np.random.default_rng(0)
    angles = jnp.asarray(rng.uniform(0, 2 * np.pi, (1, 2, 12)), jnp.float32)
    feedforward = jnp.asarray(rng.uniform(0, 2 * np.pi, 12), jnp.float32)
    return token_inputs(angles, feedforward)  # (2 + 1, 12)


def test_the_compact_choi_states_equal_the_gates_in_value_and_gradient(token_rows):
    """The gate-by-gate QNode on 2n wires is the reference where no other device reads states."""
    compact = CircuitExecutor(3, circuit=QUIXER_TOKEN)  # default.qubit: the compact form
    gates = qml.QNode(QUIXER_TOKEN.qfunc(3), qml.device("default.qubit", wires=6),
                      interface="jax")  # fmt: skip
    no_weights = jnp.zeros((0,))
    np.testing.assert_allclose(compact(token_rows, no_weights), gates(token_rows, no_weights),
                               atol=1e-5)  # fmt: skip

    def loss(run, angles):
        return jnp.sum(jnp.abs(run(angles, no_weights)[:, :20]) ** 2 * jnp.arange(20.0))

    compact_grad = jax.grad(lambda a: loss(compact, a))(token_rows)
    np.testing.assert_allclose(compact_grad, jax.grad(lambda a: loss(gates, a))(token_rows),
                               atol=1e-4)  # fmt: skip


def test_the_choi_state_holds_the_ansatz_unitary(token_rows):
    states = CircuitExecutor(3, circuit=QUIXER_TOKEN)(token_rows, jnp.zeros((0,)))
    unitaries = choi_unitaries(states, 3)
    for angles, unitary in zip(token_rows, unitaries, strict=True):
        expected = qml.matrix(lambda a=angles: sim14_gates(a, 3), wire_order=range(3))()
        np.testing.assert_allclose(unitary, expected, atol=1e-5)
        np.testing.assert_allclose(unitary @ unitary.conj().T, np.eye(8), atol=1e-5)


def test_the_surrogate_unitary_has_no_entangling_gate(token_rows):
    """Every CRX an RX: the unitary is a Kronecker product of one-qubit unitaries."""
    product = sim14_matrix(token_rows, 3, entangling=False)[0]
    entangled = sim14_matrix(token_rows, 3)[0]
    blocks = product.reshape(2, 4, 2, 4).transpose(0, 2, 1, 3).reshape(4, 16)
    assert np.linalg.matrix_rank(np.asarray(blocks), tol=1e-4) == 1  # operator Schmidt rank 1
    blocks = entangled.reshape(2, 4, 2, 4).transpose(0, 2, 1, 3).reshape(4, 16)
    assert np.linalg.matrix_rank(np.asarray(blocks), tol=1e-4) > 1


def test_every_parameter_gets_a_gradient_under_jit():
    config = tiny()
    params = init(config, jax.random.key(0))
    idx = jax.random.randint(jax.random.key(1), (2, 5), 0, 11)
    with executor_scope(config):
        grads = jax.jit(jax.grad(lambda p: jnp.mean(GPT(config).apply({"params": p}, idx) ** 2)))(
            params
        )
    heads = grads["block_0"]["sa"]["quantum_heads"]
    for name in KINDS["quixer"].quantum_params:
        leaves = jax.tree_util.tree_leaves(heads[name])
        assert leaves and all(np.abs(leaf).max() > 0 for leaf in leaves), name


def test_pauli_expectations_match_pennylane():
    state = np.random.default_rng(3).normal(size=8) + 1j * np.random.default_rng(4).normal(size=8)
    state /= np.linalg.norm(state)

    @qml.qnode(qml.device("default.qubit", wires=3))
    def read():
        qml.StatePrep(state, wires=range(3))
        return [qml.expval(P(i)) for P in (qml.PauliX, qml.PauliY, qml.PauliZ) for i in range(3)]

    np.testing.assert_allclose(pauli_expectations(jnp.asarray(state), 3), read(), atol=1e-6)


def test_the_success_probability_is_sown_per_position_and_is_a_probability():
    config = tiny()
    params = init(config, jax.random.key(0))
    with executor_scope(config):
        kept = sown(config, params, jnp.array([[1, 2, 3, 4, 5]]), SUCCESS_PROBABILITY)
    assert kept.shape == (1 * 2 * 5,)  # layers x heads x positions
    assert np.all((kept > 0) & (kept <= 1 + 1e-6))


# --- the post-selected LCU circuit ------------------------------------------------------------


def unitary(angles, n):
    return sim14_matrix(angles[None], n)[0]  # [x, s] = <x|U|s>


@pytest.mark.parametrize("n, length", [(2, 3), (3, 3), (2, 5)])
def test_the_lcu_circuit_post_selects_the_heads_state(n, length):
    rng = np.random.default_rng(n * 10 + length)
    angles = jnp.asarray(rng.uniform(0, 2 * np.pi, (length, 4 * n)), jnp.float32)
    feedforward = jnp.asarray(rng.uniform(0, 2 * np.pi, 4 * n), jnp.float32)
    mix = jnp.asarray(rng.uniform(0, 1, (length, 2)), jnp.float32)
    poly = jnp.asarray(rng.uniform(-1, 1, QUIXER_DEGREE + 1), jnp.float32)
    unitaries = jnp.stack([unitary(a, n) for a in angles])[None]  # (1, T, D, D)
    states = post_selected_state(unitaries, prefix_mixture(mix, length), poly)[0]
    ffn = np.asarray(unitary(feedforward, n))
    b = np.asarray(mix[:, 0]) + 1j * np.asarray(mix[:, 1])
    for t in range(length):
        prefix = np.where(np.arange(length) <= t, b, 0)
        circuit = quixer_lcu_circuit(angles, prefix, poly, feedforward)
        assert circuit.num_qubits == n + QUIXER_DEGREE * (index_qubits(length) + 1)
        kept = post_selected_data(circuit, n)
        np.testing.assert_allclose(kept, ffn @ np.asarray(states[t]), atol=1e-5)
        # the kept shots' share is the head's success probability
        np.testing.assert_allclose(np.sum(np.abs(kept) ** 2),
                                   np.sum(np.abs(states[t]) ** 2), atol=1e-5)  # fmt: skip


def test_the_hardware_estimate_uses_the_lcu_circuit(dataset):
    from qgpt_jax.compare import quantum_resources

    mc = tiny(vocab_size=dataset.tokenizer.vocab_size)
    tc = TrainConfig.from_preset("tiny", max_iters=4, eval_interval=2, final_eval_tokens=64)
    resources = quantum_resources(mc, tc, dataset)
    assert resources["circuit"] == "quixer-lcu" and "post-selected" in resources["note"]
    assert resources["width"] == 3 + QUIXER_DEGREE * (index_qubits(5) + 1)
    assert resources["two_qubit_gates"] > 100 and resources["depth"] > 100
    # X, Y and Z of every position: 1 layer x 2 heads x 3 settings x batch x block
    assert resources["circuits_per_forward"] == 2 * 3 * tc.batch_size * 5
    assert resources["executions_per_step"] > 100 * resources["circuits_per_forward"]


def test_the_bench_leaves_out_the_devices_it_cannot_run_on():
    from qgpt_jax.bench import bench_plan

    notes = []
    plan = bench_plan(["quixer", "qasa"], ["default.qubit", "aer"], tiny(), notes.append)
    assert [(model, config.device) for model, config in plan] == [
        ("quixer", "default.qubit"), ("qasa", "default.qubit"), ("qasa", "aer"),
    ]
    assert notes == ["quixer on aer: skipped, aer returns no states to read"]
