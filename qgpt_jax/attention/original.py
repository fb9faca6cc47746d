"""The original project's quantum head, reproduced with its quirks, for parity only."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from qgpt_jax.attention.base import AttentionKind, circuit_weights_param, run_circuit
from qgpt_jax.config import ModelConfig
from qgpt_jax.layers import Dropout, attention_scores, causal_softmax, project_qkv
from qgpt_jax.quantum.circuits import ATTENTION


def quantum_scale_param(module: nn.Module):
    return module.param("quantum_scale", nn.initializers.constant(0.1), ())


def without_quantum_scale(params):
    """The same parameters with every ``quantum_scale`` set to 0 (the head becomes classical)."""

    def zero(path, leaf):
        return jnp.zeros_like(leaf) if path[-1].key == "quantum_scale" else leaf

    return jax.tree_util.tree_map_with_path(zero, params)


class OriginalQuantumHead(nn.Module):
    """The original project's quantum head.

    Quirks kept on purpose (do not copy them into new designs):
    * the circuit sees ``tanh(mean_d q[b, t, d])`` for the first ``n_qubits`` positions only;
    * one scalar ``e = sigmoid(mean over the whole batch of <Z...Z>) * quantum_scale`` is shared by
      every batch element, coupling the examples of a batch;
    * ``e`` is added *after* the softmax to every entry, masked future positions included, so each
      position receives a little of the future values (the head is not causal) and rows no longer
      sum to 1;
    * the circuit inputs get no gradient (the original's EstimatorQNN had no input gradients);
    * sequences shorter than ``n_qubits`` make the original's circuit call fail and use ``e = 0``.
    """

    config: ModelConfig

    @nn.compact
    def __call__(self, x, deterministic: bool):
        cfg = self.config
        B, T, C = x.shape
        k, q, v = project_qkv(x, cfg.head_size)
        circuit_weights = circuit_weights_param(self, cfg.n_qubits)
        quantum_scale = quantum_scale_param(self)
        wei = causal_softmax(attention_scores(q, k, C))  # (B, T, T)
        if T >= cfg.n_qubits:
            angles = jax.lax.stop_gradient(jnp.tanh(q[:, : cfg.n_qubits, :].mean(-1)))  # (B, n)
            expvals = run_circuit(cfg, ATTENTION, angles, circuit_weights)  # (B,)
            wei = wei + jax.nn.sigmoid(expvals.mean()) * quantum_scale
        wei = Dropout(cfg.dropout)(wei, deterministic=deterministic)
        return wei @ v  # (B, T, hs)


KIND = AttentionKind(
    "original",
    OriginalQuantumHead,
    "the original project's quantum head, quirks included (not causal)",
    circuit=ATTENTION,
    circuits_per_head=lambda config, batch, length: batch if length >= config.n_qubits else 0,
    quantum_params=("circuit_weights", "quantum_scale"),
    input_gradients=False,
    causal=False,
    switch_off=without_quantum_scale,
)
