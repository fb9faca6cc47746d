"""Classical surrogates of the circuits: same inputs, same outputs, same trainable weights.

A surrogate head is its quantum head with every circuit replaced by ``surrogate(circuit, ...)``,
so only the difference between a kind and its surrogate can be credited to the circuit. The
surrogate is the circuit's classical cousin, an unentangled (product-state) model with the same
``3n`` weights ``(a, b, c)``: qubit ``i`` is turned by

    phi_i(x) = (1 + a_i) x_i + b_i x_{i-1} + c_i x_i x_{i-1}     (indices circular)

(the neighbour and product terms stand in for the feature map's circular ZZ pairs), i.e. prepared
as ``RY(phi_i)|0>``. Every readout then has a closed form: <Z_i> = cos phi_i, <Z...Z> = prod_i cos
phi_i, and the overlap of two encodings prod_i cos^2((phi_i(x) - phi_i(y)) / 2). It is plain JAX
(compiled into the step, differentiated by backprop) and has no entanglement.
"""

from __future__ import annotations

import jax.numpy as jnp

from qgpt_jax.quantum.circuits import Circuit


def product_angles(x, weights, n_qubits: int):
    """phi (..., n) of inputs ``x`` (..., n) under weights (3n,)."""
    a, b, c = weights.reshape(3, n_qubits)
    previous = jnp.roll(x, 1, axis=-1)  # x_{i-1}
    return (1.0 + a) * x + b * previous + c * x * previous


def product_state(phi):
    """The state vector of RY(phi_i)|0> on every qubit, qubit 0 as PennyLane's first wire."""
    state = jnp.ones((*phi.shape[:-1], 1), jnp.complex64)
    for i in range(phi.shape[-1]):
        qubit = jnp.stack([jnp.cos(phi[..., i] / 2), jnp.sin(phi[..., i] / 2)], -1)
        state = (state[..., :, None] * qubit[..., None, :].astype(jnp.complex64)).reshape(
            *phi.shape[:-1], -1
        )
    return state


def surrogate(circuit: Circuit, angles, weights, n_qubits: int):
    """What ``CircuitExecutor(n_qubits, circuit=circuit)`` returns, computed by the surrogate:
    (N,) for one readout value, else (N, outputs)."""
    if circuit.surrogate is not None:
        return circuit.surrogate(angles, weights, n_qubits)
    if circuit.readout_kind == "zero":  # the overlap of two encodings
        x, y = angles[..., :n_qubits], angles[..., n_qubits:]
        delta = product_angles(x, weights, n_qubits) - product_angles(y, weights, n_qubits)
        return jnp.prod(jnp.cos(delta / 2) ** 2, axis=-1)
    phi = product_angles(angles, weights, n_qubits)
    if circuit.readout_kind == "parity":
        return jnp.prod(jnp.cos(phi), axis=-1)
    if circuit.readout_kind == "z":
        return jnp.cos(phi)
    return product_state(phi)
