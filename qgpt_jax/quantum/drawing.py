"""Pictures of the attention circuit, drawn from the same QNode the heads run."""

from __future__ import annotations

import pennylane as qml
from pennylane import numpy as pnp

from qgpt_jax.quantum.circuits import n_circuit_weights, original_circuit


def draw_circuit(n_qubits: int):
    """``(text, matplotlib figure)`` of the circuit with symbolic-looking example parameters."""
    import matplotlib

    matplotlib.use("Agg")
    qnode = qml.QNode(original_circuit, qml.device("default.qubit", wires=n_qubits))
    inputs = pnp.linspace(0.1, 0.4, n_qubits)
    weights = pnp.linspace(0.01, 0.12, n_circuit_weights(n_qubits))
    text = qml.draw(qnode, decimals=2, max_length=120)(inputs, weights)
    figure, _ = qml.draw_mpl(qnode, decimals=2, style="pennylane")(inputs, weights)
    return text, figure
