"""Gaussian-projected quantum self-attention (QSANN: Li et al., "Quantum Self-Attention Neural
Networks for Text Classification", 2022), made causal for a language model.

Each token's features are mapped by a learned projection to ``n_qubits`` angles and encoded by the
ZZ feature map; three trainable ansatzes (query, key, value) follow. The query and the key are one
Pauli-Z expectation each (qubit 0), the value is every qubit's Z expectation. The score of (s, j)
is ``exp(-(q_s - k_j)^2)``, masked causally and normalised over j <= s, so the circuits decide
who attends to whom; the weighted values are projected back to the head size.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from qgpt_jax.attention.base import AttentionKind, circuit_weights_param, run_circuit
from qgpt_jax.config import ModelConfig
from qgpt_jax.layers import Dropout, causal_softmax, dense
from qgpt_jax.quantum.circuits import ATTENTION_Z


class QSANNHead(nn.Module):
    config: ModelConfig

    @nn.compact
    def __call__(self, x, deterministic: bool):
        cfg = self.config
        B, T, C = x.shape
        n = cfg.n_qubits
        angles = jnp.tanh(dense(n, "angle_projection", use_bias=False)(x))  # (B, T, n)
        weights = circuit_weights_param(self, n, sets=(3,))  # query, key, value ansatzes
        flat = angles.reshape(B * T, n)
        q = run_circuit(cfg, ATTENTION_Z, flat, weights[0])[:, 0].reshape(B, T)  # <Z_0>
        k = run_circuit(cfg, ATTENTION_Z, flat, weights[1])[:, 0].reshape(B, T)  # <Z_0>
        v = run_circuit(cfg, ATTENTION_Z, flat, weights[2]).reshape(B, T, n)  # every <Z_i>
        # softmax(-(q_s - k_j)^2) over j <= s is exp(-(q_s - k_j)^2) normalised: QSANN's score.
        wei = causal_softmax(-((q[:, :, None] - k[:, None, :]) ** 2))  # (B, T, T)
        wei = Dropout(cfg.dropout)(wei, deterministic=deterministic)
        return dense(cfg.head_size, "value_projection")(wei @ v)  # (B, T, n) -> (B, T, hs)


KIND = AttentionKind(
    "qsann",
    QSANNHead,
    "causal QSANN: circuits give each token's query, key and value; scores exp(-(q-k)^2)",
    circuit=ATTENTION_Z,
    circuits_per_head=lambda config, batch, length: 3 * batch * length,
    quantum_params=("circuit_weights", "angle_projection"),
)
