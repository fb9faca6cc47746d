"""What the attention circuit costs on hardware: width, depth and two-qubit gates after transpiling.

Depth and two-qubit gate count decide how much noise a real device adds, so they are reported for
the transpiled circuit: for a fake IBM backend (its basis gates and coupling map, routing swaps
included), else for a generic all-to-all device with the IBM basis ``rz, sx, x, cx``.
"""

from __future__ import annotations

import numpy as np

GENERIC_BASIS = ["rz", "sx", "x", "cx"]


def circuit_resources(n_qubits: int, noise: str | None = None) -> dict:
    """``width`` (logical qubits), ``depth``, ``two_qubit_gates`` and ``parameters`` (gate angles,
    each a function of the inputs or the weights) of the transpiled circuit."""
    from qiskit import transpile

    from qgpt_jax.quantum.aer import record_circuit, transpiled_circuit
    from qgpt_jax.quantum.circuits import n_circuit_weights

    gates, params = record_circuit(np.zeros((1, n_qubits)), np.zeros(n_circuit_weights(n_qubits)),
                                   n_qubits)
    if noise is None:
        circuit, _, _ = transpiled_circuit(gates, n_qubits)
        circuit = transpile(circuit, basis_gates=GENERIC_BASIS, seed_transpiler=0)
    else:
        circuit, _, _ = transpiled_circuit(gates, n_qubits, noise)
    return {
        "width": n_qubits,
        "depth": circuit.depth(),
        "two_qubit_gates": sum(1 for inst in circuit.data if inst.operation.num_qubits == 2),
        "parameters": len(params),
    }
