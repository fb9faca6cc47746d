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

    gates, params = record_circuit(
        np.zeros((1, n_qubits)), np.zeros(n_circuit_weights(n_qubits)), n_qubits
    )
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


HARDWARE_SHOTS_PER_S = 4_000
"""Assumed QPU sampling rate: about 250 us per shot including reset and readout, no queueing."""
HARDWARE_SHOTS_PER_CIRCUIT = 1_024
"""Shots assumed per circuit execution when the simulated run used exact expectation values."""


def shifted_angles(attention: str, n_qubits: int) -> int:
    """Gate angles a parameter-shift gradient must shift for one head kind.

    ``seed`` heads have no input gradient (only the 3n ansatz angles); ``enhance`` heads also
    differentiate the feature-map angles (n single-qubit plus one per circular pair).
    """
    from qgpt_jax.quantum.circuits import circular_pairs, n_circuit_weights

    ansatz = n_circuit_weights(n_qubits)
    if attention == "original":
        return ansatz
    return ansatz + n_qubits + len(circular_pairs(n_qubits))


def hardware_estimate(mc, tc) -> dict:
    """Circuit executions and shots per training step and per run if trained on a QPU.

    A QPU computes gradients by parameter shift: each circuit of a step costs one execution plus
    two per shifted angle. Evaluation batches cost forward executions only.
    """
    from qgpt_jax.model import circuits_per_forward

    forward = circuits_per_forward(mc, tc.batch_size, mc.block_size)
    per_step = forward * (1 + 2 * shifted_angles(mc.attention, mc.n_qubits))
    n_evals = tc.max_iters // tc.eval_interval + 1 + (tc.max_iters % tc.eval_interval > 0)
    per_run = per_step * tc.max_iters + forward * 2 * tc.eval_iters * n_evals
    shots = mc.shots or HARDWARE_SHOTS_PER_CIRCUIT
    return {
        "circuits_per_forward": forward,
        "executions_per_step": per_step,
        "shots_per_step": per_step * shots,
        "executions_per_run": per_run,
        "shots_per_run": per_run * shots,
        "hours_per_run": per_run * shots / HARDWARE_SHOTS_PER_S / 3600,
        "assumption": f"{shots:,} shots per circuit, {HARDWARE_SHOTS_PER_S:,} shots/s on one QPU, "
        "parameter-shift gradients, no queueing or transpilation time",
    }
