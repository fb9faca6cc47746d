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
the polynomial to state vectors; so does this head: the device prepares ``U_j |s>`` for every
token j and basis state s (``QUIXER_TOKEN``, state readout), the columns of U_j, and the columns
of V, and the head forms M_t |0> and M_t^2 |0> from them with the coefficients. That needs a
device returning differentiable states (``default.qubit``); Lightning and Aer would need the
post-selected LCU circuit itself, whose parameter-shift gradient shifts every angle of every
multi-controlled token unitary (thousands of circuits per position), so the configuration
refuses them with that reason rather than fall back to anything. The resource report and the
hardware estimate use that LCU circuit, not the simulated one.

Choices where the paper is silent or its setting differs: degree 2 (``QUIXER_DEGREE``); one
ansatz-14 layer per token; b, c and V initialised as their code does (uniform in [0, 1)); their
dropout on the embeddings before the angle map is here dropout on the head's input; X, Y and Z
read exactly from the state (on hardware: three measurement settings per position).

Its surrogate is the same head with every CRX replaced by an RX on its target: the same angles
and parameters, token unitaries without entangling gates.

Parameters per head: angle map ``4 n C + 4 n``, mixing coefficients ``2 block_size``, polynomial
``QUIXER_DEGREE + 1``, feed-forward ansatz ``4 n``, output projection ``3 n hs + hs``. Circuits
per head and forward pass: ``2^n (B T + 1)`` simulated (a column each); on hardware ``3 B T`` LCU
circuits (one per position and measurement setting X, Y, Z), each kept with probability p.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from qgpt_jax.attention.base import AttentionKind, run_circuit
from qgpt_jax.config import ModelConfig
from qgpt_jax.layers import Dropout, dense
from qgpt_jax.quantum.circuits import QUIXER_DEGREE, QUIXER_TOKEN, basis_bits, n_sim14_angles

SUCCESS_PROBABILITY = "success_probability"
"""The ``intermediates`` entry where the head sows ||P(M_t)|0>||^2, (B, T) per head."""


def pauli_expectations(state, n_qubits: int):
    """<X_i>, <Y_i>, <Z_i> of every qubit of the normalised ``state`` (..., 2^n): (..., 3n)."""
    lead = state.shape[:-1]
    xs, ys, zs = [], [], []
    for i in range(n_qubits):
        split = state.reshape(*lead, 2**i, 2, 2 ** (n_qubits - i - 1))
        low, high = split[..., 0, :], split[..., 1, :]
        cross = jnp.sum(jnp.conj(low) * high, axis=(-2, -1))  # <psi| (|0><1| on qubit i) |psi>
        xs.append(2 * jnp.real(cross))
        ys.append(2 * jnp.imag(cross))
        zs.append(jnp.sum(jnp.abs(low) ** 2 - jnp.abs(high) ** 2, axis=(-2, -1)))
    return jnp.stack(xs + ys + zs, axis=-1)


def prefix_mixture(mix, length: int):
    """beta (T, T): row t holds b_j / sum_{i<=t} |b_i| for j <= t, zero after (causal)."""
    b = mix[:length, 0] + 1j * mix[:length, 1]  # (T,) complex
    prefix_norm = jnp.cumsum(jnp.abs(b))  # (T,)
    return jnp.asarray(np.tril(np.ones((length, length))), b.dtype) * b / prefix_norm[:, None]


def token_inputs(angles, feedforward, n_qubits: int):
    """Inputs of every ``QUIXER_TOKEN`` circuit of a forward pass: each token's angles (B, T, a)
    and then the feed-forward angles (a,), each on every basis state: ((B T + 1) 2^n, n + a)."""
    B, T, a = angles.shape
    bits = jnp.asarray(basis_bits(n_qubits), angles.dtype)  # (D, n)
    D = bits.shape[0]
    tokens = jnp.concatenate(
        [jnp.broadcast_to(bits, (B, T, D, n_qubits)),
         jnp.broadcast_to(angles[:, :, None], (B, T, D, a))], -1,
    ).reshape(B * T * D, n_qubits + a)  # fmt: skip
    ffn = jnp.concatenate([bits, jnp.broadcast_to(feedforward, (D, a))], -1)
    return jnp.concatenate([tokens, ffn])


def post_selected_state(unitaries, beta, polynomial):
    """P(M_t)|0> for every position, unnormalised: the data state a kept shot of the LCU circuit
    (``qgpt_jax.quantum.lcu``) leaves, times its amplitude. ``unitaries`` (B, T, D, D) with
    ``[b, t, s, :] = U_t |s>``, ``beta`` (T, T) from ``prefix_mixture``, ``polynomial`` (3,)."""
    D = unitaries.shape[-1]
    once = jnp.einsum("tj,bjx->btx", beta, unitaries[:, :, 0])  # M_t |0>, (B, T, D)
    twice = jnp.einsum("tj,bjsx,bts->btx", beta, unitaries, once)  # M_t^2 |0>
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
        columns = run_circuit(cfg, QUIXER_TOKEN, token_inputs(angles, feedforward, n),
                              jnp.zeros((0,), angles.dtype))  # fmt: skip
        unitaries = columns[: B * T * D].reshape(B, T, D, D)  # [b, t, s, :] = U_t |s>
        feedforward_unitary = columns[B * T * D :]  # [s, :] = V |s>
        state = post_selected_state(unitaries, prefix_mixture(mix, T), poly)  # (B, T, D)
        success = jnp.sum(jnp.abs(state) ** 2, axis=-1)  # (B, T)
        self.sow("intermediates", SUCCESS_PROBABILITY, success)
        state = state / jnp.sqrt(success + 1e-12)[..., None]  # post-selected and renormalised
        state = jnp.einsum("sx,bts->btx", feedforward_unitary, state)  # V, (B, T, D)
        return dense(cfg.head_size, "output_projection")(pauli_expectations(state, n))


def quixer_circuits(config, batch: int, length: int) -> int:
    """Every column of every token unitary and of V (the only devices it runs on return states)."""
    return 2**config.n_qubits * (batch * length + 1)


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
