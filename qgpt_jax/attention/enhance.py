"""The original's idea done right: a circuit value per key, added to that key's logits."""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from qgpt_jax.attention.base import AttentionKind, circuit_weights_param, run_circuit
from qgpt_jax.attention.original import quantum_scale_param, without_quantum_scale
from qgpt_jax.config import ModelConfig
from qgpt_jax.layers import Dropout, attention_scores, causal_softmax, project_qkv
from qgpt_jax.quantum.circuits import ATTENTION


class EnhanceQuantumHead(nn.Module):
    """Causal, per-token quantum attention bias.

    Every key position j gets its own circuit on angles ``tanh(k[b, j] @ W)``; ``quantum_scale *
    <Z...Z>_j`` is added to column j of the attention logits before the mask and softmax. Rows still
    sum to 1, attention stays causal, no batch coupling, and gradients reach the circuit inputs.
    The circuit only shifts how much each key is attended to overall; it does not decide which
    query attends to which key.
    """

    config: ModelConfig

    @nn.compact
    def __call__(self, x, deterministic: bool):
        cfg = self.config
        B, T, C = x.shape
        k, q, v = project_qkv(x, cfg.head_size)
        circuit_weights = circuit_weights_param(self, cfg.n_qubits)
        quantum_scale = quantum_scale_param(self)
        angle_projection = self.param(
            "angle_projection", nn.initializers.normal(stddev=1.0), (cfg.head_size, cfg.n_qubits)
        )
        angles = jnp.tanh(k @ angle_projection)  # (B, T, n)
        expvals = run_circuit(cfg, ATTENTION, angles.reshape(B * T, -1), circuit_weights)
        logits = attention_scores(q, k, C) + quantum_scale * expvals.reshape(B, 1, T)  # (B, T, T)
        wei = Dropout(cfg.dropout)(causal_softmax(logits), deterministic=deterministic)
        return wei @ v  # (B, T, hs)


KIND = AttentionKind(
    "enhance",
    EnhanceQuantumHead,
    "causal; a circuit per key adds a bias to that key's attention logits",
    circuit=ATTENTION,
    circuits_per_head=lambda config, batch, length: batch * length,
    quantum_params=("circuit_weights", "quantum_scale", "angle_projection"),
    switch_off=without_quantum_scale,
)
