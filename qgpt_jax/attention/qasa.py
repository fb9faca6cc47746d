"""Quantum adaptive self-attention (QASA: Chen et al., "Quantum Adaptive Self-Attention for
Quantum Transformer Models", arXiv 2504.05336), causal.

Only the value projection is a circuit; the query and key projections and the scaled dot-product
scores stay classical. A learned adapter maps each token's features to ``n_qubits`` angles, RX
encodes them, entangling layers follow and every qubit's <Z_i> is read; a linear map brings those
``n_qubits`` values to the head size. The paper's circuit is 8 + 1 qubits with 36 weights; this is
its ``n_qubits`` analogue with the project's RealAmplitudes ansatz (``3 n`` weights) after the
encoding (the ancilla, which their code uses for a global readout, is not needed for per-qubit
<Z_i>).

Its surrogate is the capacity-matched low-rank classical bottleneck that the paper's v4 found to
match the circuit: the same adapter to ``n`` features, a product-state function of them with the
same ``3 n`` weights, and the same projection back; a rank-``n`` value map either way.

Parameters per head: query and key ``2 C hs``, adapter ``C n``, ansatz ``3 n``, value projection
``n hs + hs``. Circuits per head and forward pass: ``B T`` (one per token).
"""

from __future__ import annotations

import flax.linen as nn

from qgpt_jax.attention.base import AttentionKind, circuit_weights_param, run_circuit
from qgpt_jax.attention.qkv import encoding_angles
from qgpt_jax.config import ModelConfig
from qgpt_jax.layers import Dropout, attention_scores, causal_softmax, dense
from qgpt_jax.quantum.circuits import ANGLE_ENCODED_Z


class QASAHead(nn.Module):
    config: ModelConfig

    @nn.compact
    def __call__(self, x, deterministic: bool):
        cfg = self.config
        B, T, C = x.shape
        n = cfg.n_qubits
        k = dense(cfg.head_size, "key", use_bias=False)(x)  # (B, T, hs)
        q = dense(cfg.head_size, "query", use_bias=False)(x)  # (B, T, hs)
        angles = encoding_angles(x, n, "angle_projection").reshape(B * T, n)
        weights = circuit_weights_param(self, n)
        v = run_circuit(cfg, ANGLE_ENCODED_Z, angles, weights).reshape(B, T, n)  # every <Z_i>
        v = dense(cfg.head_size, "value_projection")(v)  # (B, T, hs)
        wei = causal_softmax(attention_scores(q, k, C))  # (B, T, T)
        wei = Dropout(cfg.dropout)(wei, deterministic=deterministic)
        return wei @ v  # (B, T, hs)


KIND = AttentionKind(
    "qasa",
    QASAHead,
    "causal QASA: a circuit replaces the value projection; query, key and scores classical",
    circuit=ANGLE_ENCODED_Z,
    circuits_per_head=lambda config, batch, length: batch * length,
    quantum_params=("circuit_weights", "angle_projection"),
)
