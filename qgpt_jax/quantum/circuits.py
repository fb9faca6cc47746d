"""The quantum attention circuit, written natively in PennyLane operations.

It reproduces Qiskit's library circuits gate for gate (``tests/test_circuits.py`` compares it with
``qiskit.quantum_info.Statevector`` on random inputs and weights):

* ``zz_feature_map(n, reps=1, entanglement="circular")``: H and P(2 x_i) on every qubit, then for
  every circular pair (i, j): CX(i, j), P(2 (pi - x_i)(pi - x_j)) on j, CX(i, j);
* ``real_amplitudes(n, reps=2, entanglement="circular")``: an RY layer, then ``reps`` times a
  circular CX ladder followed by an RY layer (3n angles, in Qiskit's parameter order);
* measured as the expectation value of Z on every qubit, Z x Z x ... x Z.

Inputs may carry a leading batch dimension (PennyLane parameter broadcasting), so one QNode call
evaluates a whole batch of circuits.
"""

from __future__ import annotations

import math

import pennylane as qml

ANSATZ_REPS = 2


def circular_pairs(n_qubits: int) -> list[tuple[int, int]]:
    """Qiskit's "circular" entanglement: (n-1, 0) then the linear chain; for two qubits, (0, 1)."""
    chain = [(i, i + 1) for i in range(n_qubits - 1)]
    return chain if n_qubits == 2 else [(n_qubits - 1, 0), *chain]


def n_circuit_weights(n_qubits: int) -> int:
    return (ANSATZ_REPS + 1) * n_qubits


def zz_feature_map(x, n_qubits: int) -> None:
    """Qiskit's ZZ feature map (reps=1, circular), on angles ``x`` of shape ``(..., n)``."""
    for i in range(n_qubits):
        qml.Hadamard(wires=i)
        qml.PhaseShift(2.0 * x[..., i], wires=i)
    for i, j in circular_pairs(n_qubits):
        qml.CNOT(wires=[i, j])
        qml.PhaseShift(2.0 * (math.pi - x[..., i]) * (math.pi - x[..., j]), wires=j)
        qml.CNOT(wires=[i, j])


def real_amplitudes(weights, n_qubits: int) -> None:
    """Qiskit's RealAmplitudes ansatz (reps=2, circular) with ``3n`` angles."""
    for i in range(n_qubits):
        qml.RY(weights[i], wires=i)
    for rep in range(1, ANSATZ_REPS + 1):
        for i, j in circular_pairs(n_qubits):
            qml.CNOT(wires=[i, j])
        for i in range(n_qubits):
            qml.RY(weights[rep * n_qubits + i], wires=i)


def parity_observable(n_qubits: int):
    return qml.prod(*(qml.Z(i) for i in range(n_qubits)))


def seed_circuit(inputs, weights):
    """Feature map on ``inputs`` (``(n,)`` or ``(N, n)``), ansatz on ``weights``, <Z...Z>."""
    n_qubits = inputs.shape[-1]
    zz_feature_map(inputs, n_qubits)
    real_amplitudes(weights, n_qubits)
    return qml.expval(parity_observable(n_qubits))
