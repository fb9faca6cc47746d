"""Quixer (Khatri et al., "Quixer: A Quantum Transformer Model", Quantinuum 2024; code
CQCL/Quixer, ``quixer/quixer_model.py``), causal.

Each token's features give, through a learned linear map, the 4n angles of its token unitary U_j
(their "ansatz 14": RY layer, CRX ring, RY layer, reverse CRX ring). Position t mixes the tokens
of its prefix into M_t = sum_{j<=t} b_j U_j / sum_{j<=t} |b_j| with trainable complex
coefficients b (one per position: the prefix renormalised, where their model, not causal, mixes
the whole window), applies the polynomial P(M_t) = (c_0 + c_1 M_t + c_2 M_t^2) / ||c||_1 to |0>
(their QSVT step, real trainable c), renormalises the post-selected state, runs the trainable
feed-forward ansatz V, and reads <X_i>, <Y_i>, <Z_i> of every qubit; a linear map takes those 3n
values to the head size.

On hardware P(M_t)|0> comes from a post-selected circuit: a linear combination of unitaries over
ancilla registers (``qgpt_jax.quantum.lcu``), whose success probability is exactly
``||P(M_t)|0>||^2``. The head records it (``success_probability`` in Flax's ``intermediates``),
and the report says what post-selection would cost: each kept shot needs 1 / p on average.

How it runs here. Their code builds every token unitary as a matrix and applies the LCU and
the polynomial to state vectors; so does this head: the device prepares the Choi state of each
token unitary U_j and of V (``QUIXER_TOKEN``: Bell pairs between n data and n reference qubits,
then the ansatz on the data, so the 2n-qubit state holds U / sqrt(2^n)), and the head forms
M_t |0> and M_t^2 |0> from those unitaries with the coefficients. That needs a device returning
differentiable states (``default.qubit``); Lightning and Aer would need the post-selected LCU
circuit itself, whose parameter-shift gradient shifts every angle of every multi-controlled
token unitary (thousands of circuits per position), so the configuration refuses them with that
reason rather than fall back to anything. The resource report and the hardware estimate use
that LCU circuit, not the simulated one.

Choices where the paper is silent or its setting differs: degree 2 (``QUIXER_DEGREE``); one
ansatz-14 layer per token; b, c and V initialised as their code does (uniform in [0, 1)); their
dropout on the embeddings before the angle map is here dropout on the head's input; X, Y and Z
read exactly from the state (on hardware: three measurement settings per position).

Its surrogate is the same head with every CRX replaced by an RX on its target: the same angles
and parameters, token unitaries without entangling gates.

Parameters per head: angle map ``4 n C + 4 n``, mixing coefficients ``2 block_size``, polynomial
``QUIXER_DEGREE + 1``, feed-forward ansatz ``4 n``, output projection ``3 n hs + hs``. Circuits
per head and forward pass: ``B T + 1`` simulated (one Choi state per token and one for V); on
hardware ``3 B T`` LCU circuits (one per position and measurement setting X, Y, Z), each kept
with probability p.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from qgpt_jax.attention.base import AttentionKind, run_circuit
from qgpt_jax.config import ModelConfig
from qgpt_jax.layers import Dropout, dense
from qgpt_jax.quantum.circuits import QUIXER_DEGREE, QUIXER_TOKEN, choi_unitaries, n_sim14_angles

SUCCESS_PROBABILITY = "success_probability"
"""The ``intermediates`` entry where the head sows ||P(M_t)|0>||^2, (B, T) per head."""


def pauli_matrices(n_qubits: int) -> np.ndarray:
    """X_i, Y_i and Z_i of every qubit on 2^n amplitudes (wire 0 the most significant):
    (3n, 2^n, 2^n)."""
    one = {"x": np.array([[0, 1], [1, 0]]), "y": np.array([[0, -1j], [1j, 0]]),
           "z": np.diag([1, -1])}  # fmt: skip
    matrices = []
    for axis in "xyz":
        for i in range(n_qubits):
            m = np.ones((1, 1))
            for k in range(n_qubits):
                m = np.kron(m, one[axis] if k == i else np.eye(2))
            matrices.append(m)
    return np.stack(matrices).astype(np.complex64)


def pauli_expectations(state, n_qubits: int):
    """<X_i>, <Y_i>, <Z_i> of every qubit of the normalised ``state`` (..., 2^n): (..., 3n), as
    one contraction with the 3n Pauli matrices."""
    paulis = jnp.asarray(pauli_matrices(n_qubits))
    return jnp.real(jnp.einsum("...x,pxy,...y->...p", jnp.conj(state), paulis, state))


def prefix_mixture(mix, length: int):
    """beta (T, T): row t holds b_j / sum_{i<=t} |b_i| for j <= t, zero after (causal)."""
    b = mix[:length, 0] + 1j * mix[:length, 1]  # (T,) complex
    prefix_norm = jnp.cumsum(jnp.abs(b))  # (T,)
    return jnp.asarray(np.tril(np.ones((length, length))), b.dtype) * b / prefix_norm[:, None]


def token_inputs(angles, feedforward):
    """Inputs of every ``QUIXER_TOKEN`` circuit of a forward pass: each token's angles (B, T, a)
    and then the feed-forward angles (a,): (B T + 1, a)."""
    B, T, a = angles.shape
    return jnp.concatenate([angles.reshape(B * T, a), feedforward[None]])


def post_selected_state(unitaries, beta, polynomial):
    """P(M_t)|0> for every position, unnormalised: the data state a kept shot of the LCU circuit
    (``qgpt_jax.quantum.lcu``) leaves, times its amplitude. ``unitaries`` (B, T, D, D) with
    ``[b, t, x, s] = <x|U_t|s>``, ``beta`` (T, T) from ``prefix_mixture``, ``polynomial`` (3,)."""
    D = unitaries.shape[-1]
    once = jnp.einsum("tj,bjx->btx", beta, unitaries[..., 0])  # M_t |0>, (B, T, D)
    twice = jnp.einsum("tj,bjxs,bts->btx", beta, unitaries, once)  # M_t^2 |0>
    zero = jnp.eye(D, dtype=once.dtype)[0]
    state = polynomial[0] * zero + polynomial[1] * once + polynomial[2] * twice
    return state / jnp.sum(jnp.abs(polynomial))


class QuixerHead(nn.Module):
    config: ModelConfig

    @nn.compact
    def __call__(self, x, deterministic: bool):
        cfg = self.config
        B, T, C = x.shape
        n, a = cfg.n_qubits, n_sim14_angles(cfg.n_qubits)
        D = 2**n
        x = Dropout(cfg.dropout)(x, deterministic=deterministic)
        angles = dense(a, "token_angles")(x)  # (B, T, 4n)
        uniform = nn.initializers.uniform(scale=1.0)  # their torch.rand
        mix = self.param("mix_coefficients", uniform, (cfg.block_size, 2))  # (re, im) of b
        poly = self.param("polynomial_coefficients", uniform, (QUIXER_DEGREE + 1,))
        feedforward = self.param("feedforward_weights", uniform, (a,))
        states = run_circuit(cfg, QUIXER_TOKEN, token_inputs(angles, feedforward),
                             jnp.zeros((0,), angles.dtype))  # Choi states, (B T + 1, D^2)
        matrices = choi_unitaries(states, n)  # [k, x, s] = <x|U_k|s>
        unitaries = matrices[: B * T].reshape(B, T, D, D)
        feedforward_unitary = matrices[B * T]  # V
        state = post_selected_state(unitaries, prefix_mixture(mix, T), poly)  # (B, T, D)
        success = jnp.sum(jnp.abs(state) ** 2, axis=-1)  # (B, T)
        self.sow("intermediates", SUCCESS_PROBABILITY, success)
        state = state / jnp.sqrt(success + 1e-12)[..., None]  # post-selected and renormalised
        state = jnp.einsum("xs,bts->btx", feedforward_unitary, state)  # V, (B, T, D)
        return dense(cfg.head_size, "output_projection")(pauli_expectations(state, n))


def quixer_circuits(config, batch: int, length: int) -> int:
    """One Choi-state circuit per token unitary and one for V."""
    return batch * length + 1


def quixer_hardware(config, batch: int, length: int) -> dict:
    """The LCU circuits a QPU would run for one head's forward pass (``AttentionKind.hardware``).

    Every token angle sits in a multi-controlled rotation, whose generator has three eigenvalues,
    so its shift rule takes four circuits (two two-term shifts' worth); V's RY angles take two,
    its CRX angles four. The coefficients' state-preparation angles add more: a lower bound."""
    from qgpt_jax.quantum.lcu import hardware_resources

    n = config.n_qubits
    return {
        **hardware_resources(n, config.block_size),
        "circuits_per_head": 3 * batch * length,
        "shifted": 2 * QUIXER_DEGREE * length * n_sim14_angles(n) + 6 * n,
        "note": "post-selected: each kept shot costs 1 / p shots, p the run's kept_shot_share; "
        "the shifted angles are a lower bound (the coefficients' preparation is not counted)",
    }


KIND = AttentionKind(
    "quixer",
    QuixerHead,
    "causal Quixer: each position's prefix mixed as a linear combination of token unitaries, "
    "a polynomial of it applied to |0> (post-selected), a feed-forward circuit, X/Y/Z read",
    circuit=QUIXER_TOKEN,
    circuits_per_head=quixer_circuits,
    quantum_params=(
        "token_angles",
        "mix_coefficients",
        "polynomial_coefficients",
        "feedforward_weights",
    ),
    needs_states=True,
    hardware=quixer_hardware,
    post_selection=SUCCESS_PROBABILITY,
)
