"""Quantum-kernel attention: the score of (s, j) is the fidelity of two quantum encodings.

Queries and keys (learned projections of the tokens to ``n_qubits`` angles) are encoded by a
trainable feature map |phi(x)> = ZZ(x) RA(w) ZZ(x) |0>; the score of (s, j) is the fidelity
``|<phi(q_s)|phi(k_j)>|^2``, scaled by a learned inverse temperature, masked causally and turned
into weights by a softmax. On simulators that return differentiable states (``default.qubit``) all
T x T fidelities come from 2T states. Everywhere else (Lightning, Aer with or without shots and
noise) each fidelity of the causal triangle is estimated as hardware would, by a compute-uncompute
circuit ``U(k_j)`` then ``U(q_s)^dagger`` read as the probability of |0...0>, and counted.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from qgpt_jax.attention.base import (
    AttentionKind,
    circuit_weights_param,
    returns_states,
    run_circuit,
)
from qgpt_jax.config import ModelConfig
from qgpt_jax.layers import Dropout, causal_softmax, dense
from qgpt_jax.quantum.circuits import KERNEL_OVERLAP, KERNEL_STATE

INITIAL_INVERSE_TEMPERATURE = 5.0
"""Fidelities lie in [0, 1]; a softmax over them at temperature 1 would be nearly uniform."""


def fidelities_from_states(config, qa, ka, weights):
    """All (s, j) fidelities from the states of queries ``qa`` and keys ``ka`` (B, T, n)."""
    B, T, n = qa.shape
    states = run_circuit(
        config, KERNEL_STATE, jnp.concatenate([qa, ka]).reshape(2 * B * T, n), weights
    )
    q_states, k_states = states.reshape(2, B, T, -1)  # (B, T, 2^n) each
    return jnp.abs(q_states @ k_states.conj().swapaxes(-1, -2)) ** 2  # (B, T, T)


def fidelities_from_overlaps(config, qa, ka, weights):
    """The causal triangle's (s, j <= s) fidelities, one compute-uncompute circuit each."""
    B, T, n = qa.shape
    s, j = np.tril_indices(T)
    pairs = jnp.concatenate([qa[:, s], ka[:, j]], axis=-1)  # (B, T(T+1)/2, 2n)
    overlaps = run_circuit(config, KERNEL_OVERLAP, pairs.reshape(-1, 2 * n), weights)
    return jnp.zeros((B, T, T), overlaps.dtype).at[:, s, j].set(overlaps.reshape(B, -1))


class KernelHead(nn.Module):
    config: ModelConfig

    @nn.compact
    def __call__(self, x, deterministic: bool):
        cfg = self.config
        n = cfg.n_qubits
        qa = jnp.tanh(dense(n, "query_angles", use_bias=False)(x))  # (B, T, n)
        ka = jnp.tanh(dense(n, "key_angles", use_bias=False)(x))  # (B, T, n)
        v = dense(cfg.head_size, "value", use_bias=False)(x)  # (B, T, hs)
        weights = circuit_weights_param(self, n)
        inverse_temperature = self.param(
            "inverse_temperature", nn.initializers.constant(INITIAL_INVERSE_TEMPERATURE), ()
        )
        if returns_states(cfg):
            fidelity = fidelities_from_states(cfg, qa, ka, weights)
        else:
            fidelity = fidelities_from_overlaps(cfg, qa, ka, weights)
        wei = causal_softmax(inverse_temperature * fidelity)  # (B, T, T)
        wei = Dropout(cfg.dropout)(wei, deterministic=deterministic)
        return wei @ v  # (B, T, hs)


def kernel_circuits(config, batch: int, length: int) -> int:
    if returns_states(config):
        return 2 * batch * length
    return batch * length * (length + 1) // 2


KIND = AttentionKind(
    "kernel",
    KernelHead,
    "causal quantum-kernel attention: scores are fidelities |<phi(q)|phi(k)>|^2 of encodings",
    circuit=KERNEL_OVERLAP,
    circuits_per_head=kernel_circuits,
    quantum_params=("circuit_weights", "query_angles", "key_angles", "inverse_temperature"),
)
