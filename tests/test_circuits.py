"""The native PennyLane circuit equals Qiskit's library circuit, gate for gate."""

import jax
import jax.numpy as jnp
import numpy as np
import pennylane as qml
import pytest
from qiskit.circuit.library import real_amplitudes, zz_feature_map
from qiskit.quantum_info import SparsePauliOp, Statevector

from qgpt_jax.quantum.circuits import circular_pairs, n_circuit_weights, seed_circuit


def qiskit_expval(inputs: np.ndarray, weights: np.ndarray) -> float:
    n = len(inputs)
    feature_map = zz_feature_map(n, reps=1, entanglement="circular")
    ansatz = real_amplitudes(n, reps=2, entanglement="circular")
    circuit = feature_map.compose(ansatz)
    binding = dict(zip(feature_map.parameters, inputs, strict=True))
    binding.update(zip(ansatz.parameters, weights, strict=True))
    state = Statevector(circuit.assign_parameters(binding))
    return float(np.real(state.expectation_value(SparsePauliOp("Z" * n))))


@pytest.fixture(scope="module", params=[4, 5])
def n_qubits(request):
    return request.param


def test_circular_pairs_match_qiskit():
    assert circular_pairs(2) == [(0, 1)]
    assert circular_pairs(4) == [(3, 0), (0, 1), (1, 2), (2, 3)]


def test_matches_qiskit_statevector(n_qubits):
    rng = np.random.default_rng(n_qubits)
    qnode = qml.QNode(seed_circuit, qml.device("default.qubit", wires=n_qubits), interface="jax")
    for _ in range(5):
        inputs = rng.uniform(-1, 1, n_qubits)
        weights = rng.normal(0, 1, n_circuit_weights(n_qubits))
        ours = float(qnode(jnp.asarray(inputs, jnp.float32), jnp.asarray(weights, jnp.float32)))
        assert ours == pytest.approx(qiskit_expval(inputs, weights), abs=1e-5)


def test_broadcast_batch_matches_single_calls(n_qubits):
    rng = np.random.default_rng(0)
    qnode = qml.QNode(seed_circuit, qml.device("default.qubit", wires=n_qubits), interface="jax")
    inputs = jnp.asarray(rng.uniform(-1, 1, (6, n_qubits)), jnp.float32)
    weights = jnp.asarray(rng.normal(0, 1, n_circuit_weights(n_qubits)), jnp.float32)
    batched = jax.jit(qnode)(inputs, weights)
    assert batched.shape == (6,)
    singles = jnp.stack([qnode(x, weights) for x in inputs])
    np.testing.assert_allclose(batched, singles, atol=1e-6)
