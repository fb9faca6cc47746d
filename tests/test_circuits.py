"""The native PennyLane circuit equals Qiskit's library circuit, gate for gate."""

import jax
import jax.numpy as jnp
import numpy as np
import pennylane as qml
import pytest
from qiskit.circuit.library import real_amplitudes, zz_feature_map
from qiskit.quantum_info import SparsePauliOp, Statevector

from qgpt_jax.quantum.circuits import (
    ATTENTION,
    ATTENTION_Z,
    KERNEL_STATE,
    circular_pairs,
    n_circuit_weights,
    original_circuit,
)


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
    device = qml.device("default.qubit", wires=n_qubits)
    qnode = qml.QNode(original_circuit, device, interface="jax")
    for _ in range(5):
        inputs = rng.uniform(-1, 1, n_qubits)
        weights = rng.normal(0, 1, n_circuit_weights(n_qubits))
        ours = float(qnode(jnp.asarray(inputs, jnp.float32), jnp.asarray(weights, jnp.float32)))
        assert ours == pytest.approx(qiskit_expval(inputs, weights), abs=1e-5)


def test_broadcast_batch_matches_single_calls(n_qubits):
    rng = np.random.default_rng(0)
    device = qml.device("default.qubit", wires=n_qubits)
    qnode = qml.QNode(original_circuit, device, interface="jax")
    inputs = jnp.asarray(rng.uniform(-1, 1, (6, n_qubits)), jnp.float32)
    weights = jnp.asarray(rng.normal(0, 1, n_circuit_weights(n_qubits)), jnp.float32)
    batched = jax.jit(qnode)(inputs, weights)
    assert batched.shape == (6,)
    singles = jnp.stack([qnode(x, weights) for x in inputs])
    np.testing.assert_allclose(batched, singles, atol=1e-6)


@pytest.mark.parametrize("circuit", [ATTENTION, ATTENTION_Z, KERNEL_STATE], ids=lambda c: c.name)
def test_compact_form_is_the_same_circuit(circuit, n_qubits):
    """The in-graph form (state preparation, one unitary) against the gates, values to 1e-5 and
    gradients to 1e-4, jitted, in double precision (in single precision the feature map's slopes
    of ~100 leave ~1e-4 of rounding); the attention circuit's also against Qiskit's Statevector."""
    rng = np.random.default_rng(1)
    device = qml.device("default.qubit", wires=n_qubits)
    results = []
    with jax.enable_x64(True):
        inputs = jnp.asarray(rng.uniform(-1, 1, (5, n_qubits)))
        weights = jnp.asarray(rng.normal(0, 1, n_circuit_weights(n_qubits)))
        for compact in (False, True):
            qnode = qml.QNode(circuit.qfunc(n_qubits, compact), device, interface="jax")

            def total(x, w, qnode=qnode):
                out = qnode(x, w)
                out = jnp.stack(out) if isinstance(out, list) else out
                mix = jnp.arange(1, out.size + 1).reshape(out.shape) / out.size
                return jnp.sum(jnp.real(out) * mix + jnp.imag(out) * mix[..., ::-1])

            results.append((jax.jit(qnode)(inputs, weights),
                            jax.jit(jax.grad(total, argnums=(0, 1)))(inputs, weights)))
    (gates, gates_grad), (compact, compact_grad) = results
    np.testing.assert_allclose(np.asarray(compact), np.asarray(gates), atol=1e-5)
    for a, b in zip(compact_grad, gates_grad, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4)
    if circuit is ATTENTION:
        expected = [qiskit_expval(np.asarray(x), np.asarray(weights)) for x in inputs]
        np.testing.assert_allclose(compact, expected, atol=1e-5)


def test_the_device_switch_compiles_the_compact_form_only_in_graph():
    from qgpt_jax.quantum.circuits import COMPACT_MAX_QUBITS
    from qgpt_jax.quantum.devices import CircuitExecutor

    def recorded(device, n_qubits):
        inputs, weights = jnp.zeros((3, n_qubits)), jnp.zeros(n_circuit_weights(n_qubits))
        executor = CircuitExecutor(n_qubits, device)
        if device == "lightning.qubit":  # the batched Lightning path records Lightning's gates
            return list(executor.runner.program(inputs, weights)[0].gates[0])
        return [op.name for op in qml.workflow.construct_tape(executor._run)(
            inputs, weights).operations]

    assert recorded("default.qubit", 4) == ["StatePrep", "QubitUnitary"]
    # Past the size where a dense 2^n x 2^n unitary stops paying, the gates run.
    assert "Hadamard" in recorded("default.qubit", COMPACT_MAX_QUBITS + 1)
    lightning = recorded("lightning.qubit", 4)
    assert len(lightning) > 30 and "Hadamard" in lightning
