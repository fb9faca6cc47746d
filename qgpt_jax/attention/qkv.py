"""Variational query, key and value projections: the most common design in open code (Di Sipio et
al., "The Dawn of Quantum Natural Language Processing", 2022; salcc/QuantumTransformers; the
PyTorch quantum-GPT projects), causal.

Each of the query, key and value maps is a circuit instead of a matrix: a learned adapter maps the
token's features to ``n_qubits`` angles (``pi * tanh``, so the encoding can reach the whole circle),
RX encodes them, entangling layers follow and every qubit's <Z_i> is read, so q, k and v are
``n_qubits`` wide. Ordinary causal scaled dot-product attention (scaled by ``n_qubits ** -0.5``)
combines them, and a linear map brings the values to the head size.

Choices where the sources differ or are silent: one adapter per projection (three in all); the
entangling layers are this project's RealAmplitudes ansatz (two circular CX ladders between RY
layers, ``3 n`` weights per projection) so that the surrogate of every kind has the same form; the
output projection to the head size, which the sources need too when n_qubits is not the head size.

Parameters per head: adapters ``3 C n``, ansatzes ``3 * 3 n``, output projection ``n hs + hs``.
Circuits per head and forward pass: ``3 B T`` (one per token and projection).
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from qgpt_jax.attention.base import AttentionKind, circuit_weights_param, run_circuit
from qgpt_jax.config import ModelConfig
from qgpt_jax.layers import Dropout, causal_softmax, dense
from qgpt_jax.quantum.circuits import ANGLE_ENCODED_Z


def encoding_angles(x, n_qubits: int, name: str, sets: int = 1):
    """A learned adapter from features (B, T, C) to circuit angles (B, T, sets, n) in (-pi, pi)."""
    B, T, _ = x.shape
    angles = jnp.pi * jnp.tanh(dense(sets * n_qubits, name, use_bias=False)(x))
    return angles.reshape(B, T, sets, n_qubits)


class VariationalQKVHead(nn.Module):
    config: ModelConfig

    @nn.compact
    def __call__(self, x, deterministic: bool):
        cfg = self.config
        B, T, C = x.shape
        n = cfg.n_qubits
        angles = encoding_angles(x, n, "angle_projection", sets=3)  # (B, T, 3, n)
        weights = circuit_weights_param(self, n, sets=(3,))  # query, key, value ansatzes
        q, k, v = (
            run_circuit(cfg, ANGLE_ENCODED_Z, angles[:, :, i].reshape(B * T, n), weights[i])
            .reshape(B, T, n)
            for i in range(3)
        )  # (B, T, n) each
        wei = causal_softmax(q @ k.swapaxes(-2, -1) * n**-0.5)  # (B, T, T)
        wei = Dropout(cfg.dropout)(wei, deterministic=deterministic)
        return dense(cfg.head_size, "value_projection")(wei @ v)  # (B, T, n) -> (B, T, hs)


KIND = AttentionKind(
    "qkv",
    VariationalQKVHead,
    "causal; circuits replace the query, key and value projections (angle encoding, "
    "entangling layers, <Z_i>), then scaled dot-product attention",
    circuit=ANGLE_ENCODED_Z,
    circuits_per_head=lambda config, batch, length: 3 * batch * length,
    quantum_params=("circuit_weights", "angle_projection"),
)
