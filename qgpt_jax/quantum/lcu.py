"""Quixer's post-selected circuit for hardware: P(M_t)|0> by a linear combination of unitaries.

The head (``qgpt_jax.attention.quixer``) simulates P(M_t)|0> term by term; a QPU would run this
circuit instead, once per position and measurement setting, and keep the shots whose ancillas
all read 0. Its registers, in Qiskit's order (data qubits first, so the post-selected data state
is the first 2^n amplitudes of the state vector):

- ``data`` (n): the token unitaries and then the feed-forward ansatz V act here;
- ``index_1 .. index_d`` (ceil(log2 T) each): one register per power of M; PREP loads
  sqrt(|b_j| / ||b||_1) on it, SELECT applies U_j where it reads j (with b_j's phase), PREP^-1
  folds it back, so its all-zero outcome leaves M / ||b||_1 on the data;
- ``degree`` (d, a thermometer code): |0..0>, |10..0>, |110..0>, ... carry the powers 0, 1, 2,
  ... with amplitudes sqrt(|c_k| / ||c||_1) (signs as a diagonal phase); power k's SELECT is
  controlled on its k-th qubit, so its all-zero outcome leaves P(M) / ||c||_1 on the data.

Kept shots happen with probability ``||P(M_t)|0>||^2`` (the head's ``success_probability``):
each kept shot costs 1 / p shots on average. The test checks the post-selected state of this
circuit against the head's own arithmetic.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from qgpt_jax.quantum.circuits import QUIXER_DEGREE, sim14_rings


def sim14_qiskit(circuit, angles, qubits) -> None:
    """Ansatz 14 on ``angles`` (4n,) over ``qubits``, as ``circuits.sim14_gates`` orders it."""
    n = len(qubits)
    first, second = sim14_rings(n)
    for offset, ring in ((0, first), (2 * n, second)):
        for i in range(n):
            circuit.ry(float(angles[offset + i]), qubits[i])
        for k, (control, target) in enumerate(ring):
            circuit.crx(float(angles[offset + n + k]), qubits[control], qubits[target])


def index_qubits(length: int) -> int:
    return max(1, math.ceil(math.log2(length)))


def quixer_lcu_circuit(token_angles, mix, polynomial, feedforward):
    """The circuit whose all-zero ancilla outcome leaves V P(M)|0> / (||c||_1 ||b||_1^k ...)
    on the data qubits.

    ``token_angles`` (T, 4n): the window's token angles; ``mix`` (T,) complex: b_j for the
    prefix the position sees (zero after it); ``polynomial`` (d + 1,) real c; ``feedforward``
    (4n,) the angles of V.
    """
    from qiskit import QuantumCircuit, QuantumRegister
    from qiskit.circuit.library import DiagonalGate, StatePreparation

    token_angles = np.asarray(token_angles, np.float64)
    mix, polynomial = np.asarray(mix, np.complex128), np.asarray(polynomial, np.float64)
    length, n = token_angles.shape[0], token_angles.shape[1] // 4
    degree = len(polynomial) - 1
    m = index_qubits(length)
    data = QuantumRegister(n, "data")
    indices = [QuantumRegister(m, f"index_{k + 1}") for k in range(degree)]
    thermometer = QuantumRegister(degree, "degree")
    circuit = QuantumCircuit(data, *indices, thermometer)

    # PREP of the polynomial: amplitude sqrt(|c_k| / ||c||_1) on the thermometer code of k.
    codes = [sum(1 << i for i in range(k)) for k in range(degree + 1)]  # little-endian bits
    amplitudes = np.zeros(2**degree)
    amplitudes[codes] = np.sqrt(np.abs(polynomial) / np.abs(polynomial).sum())
    prep_degree = StatePreparation(amplitudes)
    signs = np.ones(2**degree)
    signs[codes] = np.where(polynomial < 0, -1.0, 1.0)
    circuit.append(prep_degree, thermometer)
    circuit.append(DiagonalGate(list(signs)), thermometer)

    magnitudes = np.zeros(2**m)
    magnitudes[:length] = np.sqrt(np.abs(mix) / np.abs(mix).sum())
    prep_index = StatePreparation(magnitudes)
    for k, index in enumerate(indices):
        power = thermometer[k]
        circuit.append(prep_index, index)
        for j in range(length):
            if mix[j] == 0:
                continue  # outside the prefix: its amplitude is zero
            token = QuantumCircuit(n, name=f"U_{j}")
            sim14_qiskit(token, token_angles[j], list(range(n)))
            # controls: the index register reads j and the power's qubit is set
            controlled = token.to_gate().control(m + 1, ctrl_state=(1 << m) | j)
            circuit.append(controlled, [*index, power, *data])
            phase = float(np.angle(mix[j]))
            if phase != 0.0:
                circuit.mcp(phase, [*index], power, ctrl_state=j)
        circuit.append(prep_index.inverse(), index)
    circuit.append(prep_degree.inverse(), thermometer)
    sim14_qiskit(circuit, feedforward, list(data))
    return circuit


def post_selected_data(circuit, n_qubits: int) -> np.ndarray:
    """The data state of ``circuit``'s all-zero ancilla outcome, unnormalised, in PennyLane's
    order (wire 0 the most significant bit): (2^n,)."""
    from qiskit.quantum_info import Statevector

    amplitudes = np.asarray(Statevector(circuit).data)[: 2**n_qubits]  # ancillas all zero
    return amplitudes.reshape((2,) * n_qubits).transpose(range(n_qubits - 1, -1, -1)).ravel()


@functools.cache
def hardware_resources(n_qubits: int, length: int) -> dict:
    """Width, transpiled depth and two-qubit gates of the LCU circuit of the last position of a
    full window of ``length`` tokens (the largest: every token in its prefix), on random angles
    and coefficients; ``parameters`` counts its token and feed-forward angles."""
    from qiskit import transpile

    from qgpt_jax.quantum.resources import GENERIC_BASIS

    rng = np.random.default_rng(0)
    n = n_qubits
    circuit = quixer_lcu_circuit(
        rng.uniform(0, 2 * np.pi, (length, 4 * n)),
        rng.uniform(0.1, 1, length) * np.exp(1j * rng.uniform(0, 2 * np.pi, length)),
        rng.uniform(0.1, 1, QUIXER_DEGREE + 1),
        rng.uniform(0, 2 * np.pi, 4 * n),
    )
    transpiled = transpile(circuit, basis_gates=list(GENERIC_BASIS), seed_transpiler=0)
    return {
        "circuit": "quixer-lcu",
        "width": circuit.num_qubits,
        "depth": transpiled.depth(),
        "two_qubit_gates": sum(1 for inst in transpiled.data if inst.operation.num_qubits == 2),
        "parameters": QUIXER_DEGREE * length * 4 * n + 4 * n,
    }
