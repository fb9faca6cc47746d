"""The quantum attention circuits, written natively in PennyLane operations.

The attention circuit reproduces Qiskit's library circuits gate for gate
(``tests/test_circuits.py`` compares it with ``qiskit.quantum_info.Statevector`` on random inputs
and weights):

* ``zz_feature_map(n, reps=1, entanglement="circular")``: H and P(2 x_i) on every qubit, then for
  every circular pair (i, j): CX(i, j), P(2 (pi - x_i)(pi - x_j)) on j, CX(i, j);
* ``real_amplitudes(n, reps=2, entanglement="circular")``: an RY layer, then ``reps`` times a
  circular CX ladder followed by an RY layer (3n angles, in Qiskit's parameter order);
* measured as the expectation value of Z on every qubit, Z x Z x ... x Z.

Inputs may carry a leading batch dimension (PennyLane parameter broadcasting), so one QNode call
evaluates a whole batch of circuits.

Every attention kind names a ``Circuit``: its gates on (inputs, weights) and what is read out.
All readouts are diagonal in the computational basis (or the state itself), so every device can
compute them, and the Aer path reads them all from one probability vector:

* ``parity``: <Z x ... x Z>, one value (the original circuit);
* ``z``: <Z_i> of every qubit, ``n`` values;
* ``zero``: the probability of |0...0>, one value (a compute-uncompute overlap);
* ``state``: the state vector (simulators that return a differentiable state only).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
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
        qml.RY(weights[..., i], wires=i)
    for rep in range(1, ANSATZ_REPS + 1):
        for i, j in circular_pairs(n_qubits):
            qml.CNOT(wires=[i, j])
        for i in range(n_qubits):
            qml.RY(weights[..., rep * n_qubits + i], wires=i)


def parity_observable(n_qubits: int):
    return qml.prod(*(qml.Z(i) for i in range(n_qubits)))


def original_circuit(inputs, weights):
    """Feature map on ``inputs`` (``(n,)`` or ``(N, n)``), ansatz on ``weights``, <Z...Z>."""
    n_qubits = inputs.shape[-1]
    zz_feature_map(inputs, n_qubits)
    real_amplitudes(weights, n_qubits)
    return qml.expval(parity_observable(n_qubits))


def attention_gates(inputs, weights, n_qubits: int) -> None:
    """The attention circuit's gates: feature map on ``inputs``, ansatz on ``weights``."""
    zz_feature_map(inputs, n_qubits)
    real_amplitudes(weights, n_qubits)


# Compact forms, for simulators that compile the circuit into the program (default.qubit): the
# same unitaries in three operations instead of ~40 gates, each gate being several XLA operations
# on a tiny state. After its Hadamards the ZZ feature map is diagonal: it multiplies basis state
# b by exp(i (sum_i 2 x_i b_i + sum_(i,j) 2 (pi - x_i)(pi - x_j) (b_i xor b_j))), so its state is
# one matrix product and an exponential; the ansatz depends on the weights only and is one 2^n x
# 2^n matrix per call, shared by every token. Aer and hardware run the gates themselves.


COMPACT_MAX_QUBITS = 8
"""Largest qubit count at which the compact form pays. Its ansatz is a dense 2^n x 2^n matrix, so
its cost grows as 4^n against ~n 2^n for the gates; measured (forward and gradient of 64 attention
circuits, jitted, 2-core CPU), compact against gates per circuit: 1.3 against 6.2 us at 4 qubits,
4.5 / 17 at 6, 55 / 79 at 8, then 2,394 / 231 at 10 (and 27 s of compilation)."""


def feature_map_phases(inputs, n_qubits: int):
    """Phase of every basis state (wire 0 the most significant bit) after the ZZ feature map on
    ``inputs`` (..., n): (..., 2^n)."""
    index = np.arange(2**n_qubits)
    bits = (index[:, None] >> (n_qubits - 1 - np.arange(n_qubits))) & 1  # (2^n, n)
    pairs = circular_pairs(n_qubits)
    table = np.stack(
        [bits[:, i] for i in range(n_qubits)] + [bits[:, i] ^ bits[:, j] for i, j in pairs]
    )  # (n + pairs, 2^n)
    angles = [2.0 * inputs[..., i] for i in range(n_qubits)] + [
        2.0 * (math.pi - inputs[..., i]) * (math.pi - inputs[..., j]) for i, j in pairs
    ]
    return qml.math.stack(angles, axis=-1) @ table.astype(np.float32)


def feature_map_state(inputs, n_qubits: int):
    """ZZ(x)|0>: (..., 2^n) complex."""
    return qml.math.exp(1j * feature_map_phases(inputs, n_qubits)) / 2 ** (n_qubits / 2)


@functools.cache
def hadamards(n_qubits: int) -> np.ndarray:
    h = np.array([[1.0, 1.0], [1.0, -1.0]]) / math.sqrt(2)
    matrix = np.ones((1, 1))
    for _ in range(n_qubits):
        matrix = np.kron(matrix, h)
    return matrix


@functools.cache
def entangling_matrix(n_qubits: int) -> np.ndarray:
    """The ansatz's circular CX ladder as a (constant) permutation matrix."""

    def ladder():
        for i, j in circular_pairs(n_qubits):
            qml.CNOT(wires=[i, j])

    return np.asarray(qml.matrix(ladder, wire_order=range(n_qubits))(), dtype=np.float32)


def ry_layer_matrix(angles, n_qubits: int):
    """RY(angles[i]) on every wire i, as one (2^n, 2^n) matrix (wire 0 the most significant)."""
    c, s = qml.math.cos(angles / 2), qml.math.sin(angles / 2)
    matrix = None
    for i in range(n_qubits):
        ry = qml.math.stack([qml.math.stack([c[i], -s[i]]), qml.math.stack([s[i], c[i]])])
        matrix = ry if matrix is None else qml.math.kron(matrix, ry)
    return matrix


def ansatz_matrix(weights, n_qubits: int):
    """The RealAmplitudes unitary of ``weights`` (3n,): (2^n, 2^n), built from its three RY
    layers and the constant CX ladder (a handful of operations, not one per gate)."""
    ladder = entangling_matrix(n_qubits)
    matrix = ry_layer_matrix(weights[:n_qubits], n_qubits)
    for rep in range(1, ANSATZ_REPS + 1):
        layer = ry_layer_matrix(weights[rep * n_qubits : (rep + 1) * n_qubits], n_qubits)
        matrix = layer @ (ladder @ matrix)
    return matrix


def attention_compact(inputs, weights, n_qubits: int) -> None:
    """``attention_gates`` as a state preparation and one unitary."""
    wires = range(n_qubits)
    qml.StatePrep(feature_map_state(inputs, n_qubits), wires=wires)
    qml.QubitUnitary(ansatz_matrix(weights, n_qubits), wires=wires)


def kernel_feature_map_compact(inputs, weights, n_qubits: int) -> None:
    """``kernel_feature_map`` as a state preparation, one unitary (H^n after the ansatz, shared
    by every token) and the second upload's diagonal."""
    wires = range(n_qubits)
    qml.StatePrep(feature_map_state(inputs, n_qubits), wires=wires)
    qml.QubitUnitary(hadamards(n_qubits) @ ansatz_matrix(weights, n_qubits), wires=wires)
    # The second upload's diagonal as a (broadcast) matrix: PennyLane's DiagonalQubitUnitary
    # builds its matrices one binding at a time, which took 24 ms and 95 s of compilation for
    # 1,536 bindings, against 0.4 ms and 0.5 s this way.
    phases = qml.math.exp(1j * feature_map_phases(inputs, n_qubits))  # (..., 2^n)
    qml.QubitUnitary(phases[..., None, :] * np.eye(2**n_qubits), wires=wires)


def kernel_feature_map(inputs, weights, n_qubits: int) -> None:
    """A trainable quantum feature map |phi(x)> = ZZ(x) RA(w) ZZ(x) |0>.

    The data are uploaded twice around the trainable ansatz: with a single upload followed by the
    ansatz, the ansatz would cancel in every overlap <phi(x)|phi(y)> and nothing would be learnt.
    """
    zz_feature_map(inputs, n_qubits)
    real_amplitudes(weights, n_qubits)
    zz_feature_map(inputs, n_qubits)


def kernel_overlap_gates(inputs, weights, n_qubits: int) -> None:
    """Compute-uncompute: U(y) then U(x)^dagger on ``inputs`` = (x, y) of shape ``(..., 2n)``, so
    that the probability of |0...0> is the fidelity |<phi(x)|phi(y)>|^2, as hardware estimates it.
    """
    x, y = inputs[..., :n_qubits], inputs[..., n_qubits:]
    kernel_feature_map(y, weights, n_qubits)
    encoding = qml.tape.make_qscript(kernel_feature_map)(x, weights, n_qubits).operations
    with qml.QueuingManager.stop_recording():  # an operation queues itself when created
        inverse = [op.adjoint() for op in reversed(encoding)]
    for op in inverse:
        qml.apply(op)


def angle_encoding_gates(inputs, weights, n_qubits: int) -> None:
    """The variational projection of the open-source quantum transformers (Di Sipio et al. 2022;
    salcc/QuantumTransformers): angle encoding RX(x_i) on every qubit, then entangling layers,
    here the RealAmplitudes ansatz (RY layers between circular CX ladders, 3n weights) so that
    every circuit of the project has the same trainable shape and surrogate."""
    for i in range(n_qubits):
        qml.RX(inputs[..., i], wires=i)
    real_amplitudes(weights, n_qubits)


def angle_encoded_state(inputs, n_qubits: int):
    """RX(x_i)|0> on every qubit as one state vector (..., 2^n), wire 0 the most significant."""
    c = qml.math.cast(qml.math.cos(inputs / 2), "complex64")
    s = -1j * qml.math.cast(qml.math.sin(inputs / 2), "complex64")
    state = None
    for i in range(n_qubits):
        qubit = qml.math.stack([c[..., i], s[..., i]], axis=-1)  # (..., 2)
        if state is None:
            state = qubit
        else:
            state = (state[..., :, None] * qubit[..., None, :]).reshape(*qubit.shape[:-1], -1)
    return state


def angle_encoding_compact(inputs, weights, n_qubits: int) -> None:
    """``angle_encoding_gates`` as a product-state preparation and one unitary."""
    wires = range(n_qubits)
    qml.StatePrep(angle_encoded_state(inputs, n_qubits), wires=wires)
    qml.QubitUnitary(ansatz_matrix(weights, n_qubits), wires=wires)


# Unary (Hamming-weight-one) circuits of the orthogonal kind (Cherrat et al., "Quantum Vision
# Transformers", 2024). A vector x of n features is the state sum_i x_i |e_i>, e_i having only
# qubit i set; RBS gates rotate pairs of these states, so every circuit below acts on them as an
# n x n orthogonal matrix.


def rbs(theta, a: int, b: int) -> None:
    """The reconfigurable beam splitter: the Givens rotation e_a -> cos(theta) e_a + sin(theta)
    e_b, e_b -> cos(theta) e_b - sin(theta) e_a (|00> and |11> unchanged), in H, CZ and RY gates
    that every device runs (the CZs transpile to two CX)."""
    qml.Hadamard(wires=a)
    qml.Hadamard(wires=b)
    qml.CZ(wires=[a, b])
    qml.RY(theta, wires=a)
    qml.RY(-theta, wires=b)
    qml.CZ(wires=[a, b])
    qml.Hadamard(wires=a)
    qml.Hadamard(wires=b)


def n_rbs_angles(n_qubits: int) -> int:
    """Angles of one orthogonal layer: a pyramid of n (n - 1) / 2 RBS gates."""
    return n_qubits * (n_qubits - 1) // 2


def pyramid_pairs(n_qubits: int) -> list[tuple[int, int]]:
    """The neighbouring pairs of the pyramid, in order: n (n - 1) / 2 Givens rotations that reach
    every n x n rotation (column c's entries below the diagonal cleared from the bottom), and that
    the transpiler packs into 2n - 3 layers."""
    return [(a, a + 1) for c in range(n_qubits - 1) for a in range(n_qubits - 2, c - 1, -1)]


def loader_angles(x):
    """Angles (..., n - 1) of the ladder loader that prepares the unit vector ``x`` (..., n):
    x_0 = cos a_0, x_1 = sin a_0 cos a_1, ..., x_(n-1) = sin a_0 ... sin a_(n-2)."""
    n = x.shape[-1]
    # the norm of x_k, ..., x_(n-1) for every k
    tails = qml.math.sqrt(qml.math.cumsum(x[..., ::-1] ** 2, axis=-1)[..., ::-1] + 1e-12)
    first = [qml.math.arctan2(tails[..., k + 1], x[..., k]) for k in range(n - 2)]
    last = qml.math.arctan2(x[..., n - 1], x[..., n - 2])  # the sign of the last entry
    return qml.math.stack([*first, last], axis=-1)


def load_unary(angles, n_qubits: int) -> None:
    """|e_0> -> the unary state of the vector whose loader angles are ``angles`` (..., n - 1)."""
    for k in range(n_qubits - 1):
        rbs(angles[..., k], k, k + 1)


def unload_unary(angles, n_qubits: int) -> None:
    """The inverse of ``load_unary``: the unary state of that vector -> |e_0>."""
    for k in reversed(range(n_qubits - 1)):
        rbs(-angles[..., k], k, k + 1)


def orthogonal_layer(weights, n_qubits: int) -> None:
    for angle, (a, b) in zip(range(n_rbs_angles(n_qubits)), pyramid_pairs(n_qubits), strict=True):
        rbs(weights[..., angle], a, b)


def orthogonal_matrix(weights, n_qubits: int):
    """The n x n orthogonal matrix that ``orthogonal_layer(weights)`` applies to unary states:
    every rotation applied to each basis vector (the rows of the transpose)."""
    transposed = qml.math.eye(n_qubits, like=weights)
    for angle, (a, b) in enumerate(pyramid_pairs(n_qubits)):
        transposed = _rotate(transposed, weights[..., angle], a, b)
    return qml.math.transpose(transposed)


def loaded_vector(angles):
    """The unit vector (..., n) that ``load_unary(angles)`` prepares."""
    sines = qml.math.cumprod(qml.math.sin(angles), axis=-1)  # (..., n - 1)
    ones = qml.math.ones_like(angles[..., :1])
    before = qml.math.concatenate([ones, sines], axis=-1)  # prod_{k<i} sin a_k
    cosines = qml.math.concatenate([qml.math.cos(angles), ones], axis=-1)
    return before * cosines


def unary_state(vector, n_qubits: int, flip_first: bool = False):
    """The 2^n state (wire 0 the most significant) of ``sum_i vector_i |e_i>``, after an X on
    wire 0 if ``flip_first``."""
    index = [
        2 ** (n_qubits - 1 - i) ^ (2 ** (n_qubits - 1) if flip_first else 0)
        for i in range(n_qubits)
    ]
    table = np.zeros((n_qubits, 2**n_qubits), np.float32)
    table[np.arange(n_qubits), index] = 1.0
    return qml.math.cast(qml.math.tensordot(vector, table, axes=[[-1], [0]]), "complex64")


def orthogonal_overlap_gates(inputs, weights, n_qubits: int) -> None:
    """Load k, apply the orthogonal layer, unload q, for ``inputs`` = (q angles, k angles) of
    shape (..., 2 (n - 1)): P(|0...0>) = (q^T W k)^2 for the unit vectors q and k."""
    q, k = inputs[..., : n_qubits - 1], inputs[..., n_qubits - 1 :]
    qml.PauliX(wires=0)
    load_unary(k, n_qubits)
    orthogonal_layer(weights, n_qubits)
    unload_unary(q, n_qubits)
    qml.PauliX(wires=0)


def orthogonal_overlap_compact(inputs, weights, n_qubits: int) -> None:
    """``orthogonal_overlap_gates`` as one state preparation: the unary vector L(q)^T W k."""
    q, k = inputs[..., : n_qubits - 1], inputs[..., n_qubits - 1 :]
    transformed = qml.math.einsum(
        "ij,...j->...i", orthogonal_matrix(weights, n_qubits), loaded_vector(k)
    )
    unloaded = transformed
    for step in reversed(range(n_qubits - 1)):  # unload_unary, one Givens rotation at a time
        unloaded = _rotate(unloaded, -q[..., step], step, step + 1)
    qml.StatePrep(unary_state(unloaded, n_qubits, flip_first=True), wires=range(n_qubits))


def _rotate(vector, angle, a: int, b: int):
    """``vector`` (..., n) after the Givens rotation of entries a, b by ``angle``."""
    c, s = qml.math.cos(angle), qml.math.sin(angle)
    entries = [vector[..., i] for i in range(vector.shape[-1])]
    entries[a], entries[b] = c * entries[a] - s * entries[b], s * entries[a] + c * entries[b]
    return qml.math.stack(entries, axis=-1)


def orthogonal_value_gates(inputs, weights, n_qubits: int) -> None:
    """Load v (``inputs``, its n - 1 loader angles) and apply the orthogonal layer: <Z_i> =
    1 - 2 (W v)_i^2."""
    qml.PauliX(wires=0)
    load_unary(inputs, n_qubits)
    orthogonal_layer(weights, n_qubits)


def orthogonal_value_compact(inputs, weights, n_qubits: int) -> None:
    """``orthogonal_value_gates`` as one state preparation: the unary vector W v."""
    transformed = qml.math.einsum(
        "ij,...j->...i", orthogonal_matrix(weights, n_qubits), loaded_vector(inputs)
    )
    qml.StatePrep(unary_state(transformed, n_qubits), wires=range(n_qubits))


READOUT_KINDS = ("parity", "z", "zero", "state")


@dataclass(frozen=True)
class Circuit:
    """A family of circuits: gates on (inputs, weights), and what is read out."""

    name: str
    gates: Callable
    """``gates(inputs, weights, n_qubits)`` applies PennyLane operations."""
    readout_kind: str
    """What is read out, one of ``READOUT_KINDS``."""
    inputs_per_qubit: int = 1
    """Input angles per qubit of one circuit (2 for an overlap of two encodings)."""
    compact: Callable | None = None
    """The same unitary in far fewer operations, for simulators compiled into the program."""
    inputs: Callable[[int], int] | None = None
    """``n_qubits -> `` input angles of one circuit, where not ``inputs_per_qubit * n_qubits``."""
    weights: Callable[[int], int] = n_circuit_weights
    """``n_qubits -> `` trainable angles of one circuit (default: the RealAmplitudes ansatz's)."""
    surrogate: Callable | None = None
    """``(inputs, weights, n_qubits) -> outputs``: the circuit's own classical stand-in, where
    the product-state model of ``qgpt_jax.quantum.surrogate`` does not fit its shape."""
    wires: Callable[[int], int] | None = None
    """``n_qubits ->`` wires of one circuit, where not ``n_qubits`` (a Choi state's 2n)."""

    def n_wires(self, n_qubits: int) -> int:
        return self.wires(n_qubits) if self.wires else n_qubits

    def n_inputs(self, n_qubits: int) -> int:
        return self.inputs(n_qubits) if self.inputs else self.inputs_per_qubit * n_qubits

    def n_weights(self, n_qubits: int) -> int:
        return self.weights(n_qubits)

    def n_outputs(self, n_qubits: int) -> int:
        return {"parity": 1, "z": n_qubits, "zero": 1, "state": 2 ** self.n_wires(n_qubits)}[
            self.readout_kind
        ]

    def measurements(self, n_qubits: int):
        """PennyLane measurement(s) of the readout (a list for several values)."""
        if self.readout_kind == "parity":
            return qml.expval(parity_observable(n_qubits))
        if self.readout_kind == "z":
            return [qml.expval(qml.Z(i)) for i in range(n_qubits)]
        if self.readout_kind == "zero":
            return qml.expval(qml.Projector([0] * n_qubits, wires=range(n_qubits)))
        return qml.state()

    def diagonal(self, n_qubits: int) -> np.ndarray:
        """The readout as a (2^n, outputs) table over computational basis states (qiskit's
        little-endian order: bit i of the index is qubit i), so outputs = probabilities @ table.
        """
        index = np.arange(2**n_qubits)
        bits = (index[:, None] >> np.arange(n_qubits)) & 1  # (2^n, n)
        if self.readout_kind == "parity":
            return (1 - 2 * (bits.sum(1) % 2))[:, None].astype(np.float64)
        if self.readout_kind == "z":
            return (1 - 2 * bits).astype(np.float64)
        if self.readout_kind == "zero":
            return (index == 0)[:, None].astype(np.float64)
        raise ValueError("a state is not a diagonal readout")

    def qfunc(self, n_qubits: int, compact: bool = False) -> Callable:
        """The QNode function ``(inputs, weights) -> measurements`` of this circuit, in its
        compact form if asked, it has one and it pays at ``n_qubits`` (``COMPACT_MAX_QUBITS``)."""
        use_compact = compact and self.compact is not None and n_qubits <= COMPACT_MAX_QUBITS
        gates = self.compact if use_compact else self.gates

        def circuit(inputs, weights):
            gates(inputs, weights, n_qubits)
            return self.measurements(n_qubits)

        circuit.__name__ = f"{self.name.replace('-', '_')}_circuit"
        return circuit


ATTENTION = Circuit("attention", attention_gates, "parity", compact=attention_compact)
"""The original project's circuit: ZZ feature map, RealAmplitudes, <Z...Z>."""
ATTENTION_Z = Circuit("attention-z", attention_gates, "z", compact=attention_compact)
"""The same gates, every qubit's <Z_i> read out."""
ANGLE_ENCODED_Z = Circuit(
    "angle-encoded-z", angle_encoding_gates, "z", compact=angle_encoding_compact
)
"""RX angle encoding, RealAmplitudes, every qubit's <Z_i>: the variational projection."""
KERNEL_STATE = Circuit(
    "kernel-state", kernel_feature_map, "state", compact=kernel_feature_map_compact
)
KERNEL_OVERLAP = Circuit("kernel-overlap", kernel_overlap_gates, "zero", inputs_per_qubit=2)
ORTHOGONAL_OVERLAP = Circuit(
    "orthogonal-overlap",
    orthogonal_overlap_gates,
    "zero",
    compact=orthogonal_overlap_compact,
    inputs=lambda n: 2 * (n - 1),
    weights=n_rbs_angles,
)
"""Unary loading of a key, an RBS-pyramid orthogonal layer, unloading of a query: P(|0...0>) is
their squared bilinear form."""
ORTHOGONAL_VALUE = Circuit(
    "orthogonal-value",
    orthogonal_value_gates,
    "z",
    compact=orthogonal_value_compact,
    inputs=lambda n: n - 1,
    weights=n_rbs_angles,
)
"""Unary loading of a value and an orthogonal layer: every <Z_i> = 1 - 2 (W v)_i^2."""


# Quixer's circuits (Khatri et al., "Quixer: A Quantum Transformer Model", 2024). Every token
# unitary is their "ansatz 14" on its 4n learned angles: an RY layer, a ring of CRX gates, an RY
# layer, the reverse ring of CRX gates.

QUIXER_DEGREE = 2
"""Degree of Quixer's polynomial of the token mixture M: P(M) = c_0 + c_1 M + c_2 M^2."""


def sim14_rings(n_qubits: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """The (control, target) pairs of ansatz 14's two CRX rings, in their code's order."""
    n = n_qubits
    first = [(i, (i + 1) % n) for i in range(n - 1, -1, -1)]
    second = [(i, (i - 1) % n) for i in [n - 1, *range(n - 1)]]
    return first, second


def n_sim14_angles(n_qubits: int) -> int:
    return 4 * n_qubits


def sim14_gates(angles, n_qubits: int) -> None:
    """Ansatz 14 on ``angles`` (..., 4n), as gates."""
    n = n_qubits
    first, second = sim14_rings(n)
    for i in range(n):
        qml.RY(angles[..., i], wires=i)
    for k, pair in enumerate(first):
        qml.CRX(angles[..., n + k], wires=list(pair))
    for i in range(n):
        qml.RY(angles[..., 2 * n + i], wires=i)
    for k, pair in enumerate(second):
        qml.CRX(angles[..., 3 * n + k], wires=list(pair))


def _ry_layer(angles, n_qubits: int):
    """The RY layer on ``angles`` (N, n) as one real (N, 2^n, 2^n) matrix: a Kronecker product
    of the n rotations, wire 0 the most significant."""
    c, s = qml.math.cos(angles / 2), qml.math.sin(angles / 2)
    rotations = qml.math.stack([qml.math.stack([c, -s], -1), qml.math.stack([s, c], -1)], -2)
    layer = rotations[:, 0]
    for i in range(1, n_qubits):
        layer = qml.math.einsum("nab,ncd->nacbd", layer, rotations[:, i])
        layer = qml.math.reshape(layer, (-1, 2 ** (i + 1), 2 ** (i + 1)))
    return layer


def _crx_columns(columns, angle, control: int, target: int, n_qubits: int, entangling: bool):
    """``columns`` (N, S, 2^n) after CRX(``angle`` (N,)) on (control, target), or after RX on
    the target without ``entangling``: only the half where the control is set is turned."""
    N, S = columns.shape[:2]
    shape = (N, 1) + (1,) * n_qubits
    c = qml.math.reshape(qml.math.cast(qml.math.cos(angle / 2), "complex64"), shape)
    s = qml.math.reshape(qml.math.cast(qml.math.sin(angle / 2), "complex64"), shape)
    amplitudes = qml.math.reshape(columns, (N, S) + (2,) * n_qubits)
    if entangling:
        parts = [amplitudes[(slice(None),) * (2 + control) + (slice(b, b + 1),)] for b in (0, 1)]
    else:
        parts = [None, amplitudes]

    def rx(half):
        at = (slice(None),) * (2 + target)
        low, high = half[at + (slice(0, 1),)], half[at + (slice(1, 2),)]
        return qml.math.concatenate([c * low - 1j * s * high, c * high - 1j * s * low], 2 + target)

    turned = rx(parts[1])
    if entangling:
        turned = qml.math.concatenate([parts[0], turned], 2 + control)
    return qml.math.reshape(turned, (N, S, 2**n_qubits))


def sim14_matrix(angles, n_qubits: int, entangling: bool = True):
    """The ansatz-14 unitary of ``angles`` (N, 4n): (N, 2^n, 2^n), ``[k, x, s] = <x|U_k|s>``.

    Built on the columns of the identity: each RY layer as one Kronecker-product matrix, each
    CRX on the half of the amplitudes where its control is set. On a 2-core CPU the gradient of
    this form took 1.5 ms against 10.5 ms gate by gate on 1,056 column vectors (66 unitaries at
    4 qubits, one process). Without ``entangling`` every CRX is an RX on its target."""
    n = n_qubits
    first, second = sim14_rings(n)
    columns = None  # columns[k, s, :] = U_k |s>
    for offset, ring in ((0, first), (2 * n, second)):
        layer = qml.math.cast(_ry_layer(angles[:, offset : offset + n], n), "complex64")
        if columns is None:  # the first layer on the identity: its own columns
            columns = qml.math.transpose(layer, (0, 2, 1))
        else:
            columns = qml.math.einsum("nsy,nxy->nsx", columns, layer)
        for k, (control, target) in enumerate(ring):
            columns = _crx_columns(columns, angles[:, offset + n + k], control, target, n,
                                   entangling)  # fmt: skip
    return qml.math.transpose(columns, (0, 2, 1))


def quixer_token_gates(inputs, weights, n_qubits: int) -> None:
    """The Choi state of a token unitary U: Bell pairs between the data wires 0..n-1 and the
    reference wires n..2n-1, then ansatz 14 on ``inputs`` (..., 4n) on the data wires, so the
    amplitude of |x>|s> is <x|U|s> / sqrt(2^n): one circuit holds the whole unitary."""
    del weights  # every angle is an input: a token's or, for V, the feed-forward weights
    for i in range(n_qubits):
        qml.Hadamard(wires=n_qubits + i)
        qml.CNOT(wires=[n_qubits + i, i])
    sim14_gates(inputs, n_qubits)


def choi_amplitudes(inputs, n_qubits: int, entangling: bool = True):
    """The state ``quixer_token_gates`` prepares: (N, 4^n), index ``x 2^n + s``."""
    unitaries = sim14_matrix(inputs, n_qubits, entangling)
    return qml.math.reshape(unitaries, (-1, 4**n_qubits)) / np.sqrt(2**n_qubits)


def quixer_token_compact(inputs, weights, n_qubits: int) -> None:
    """``quixer_token_gates`` as one state preparation."""
    qml.StatePrep(choi_amplitudes(inputs, n_qubits), wires=range(2 * n_qubits))


def quixer_token_surrogate(inputs, weights, n_qubits: int):
    """The surrogate of ``QUIXER_TOKEN``: every CRX an RX on its target, so each token unitary
    is a product of one-qubit rotations (same angles, no entangling gate)."""
    return choi_amplitudes(inputs, n_qubits, entangling=False)


def choi_unitaries(states, n_qubits: int):
    """Token unitaries from ``QUIXER_TOKEN``'s states (N, 4^n): (N, 2^n, 2^n), [k, x, s]."""
    D = 2**n_qubits
    return qml.math.reshape(states, (-1, D, D)) * np.sqrt(D)


QUIXER_TOKEN = Circuit(
    "quixer-token",
    quixer_token_gates,
    "state",
    compact=quixer_token_compact,
    inputs=n_sim14_angles,
    weights=lambda n: 0,
    wires=lambda n: 2 * n,
    surrogate=quixer_token_surrogate,
)
"""The Choi state of one token unitary (or of V) on 2n wires: the whole unitary in one circuit,
as Quixer's simulation builds its token unitaries as matrices."""
