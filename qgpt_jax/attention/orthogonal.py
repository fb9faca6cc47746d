"""Orthogonal attention (Cherrat et al., "Quantum Vision Transformers", Quantum 8, 1265, 2024),
causal.

Query, key and value vectors (learned adapters to ``n_qubits`` features) are loaded in unary
(Hamming-weight-one) encoding, ``|x> = sum_i x_i / ||x|| |e_i>``, by a ladder of RBS gates, and
transformed by a trainable orthogonal layer: a pyramid of ``n (n - 1) / 2`` RBS gates on
neighbouring qubits, which acts on the unary states as an n x n orthogonal matrix. The score of
query i and key j is read from a compute-uncompute circuit: load k_j, apply the layer, unload q_i;
the probability of returning to the start is ``(q_i^T W k_j)^2 / (||q_i|| ||k_j||)^2``. Each value
is loaded, sent through a second orthogonal layer, and its unary probabilities ``(W_v v_j)_i^2 /
||v_j||^2`` are read (every qubit's <Z_i>).

**Classically simulable.** On unary states every circuit here is the n x n orthogonal matrix of
its RBS angles (``orthogonal_matrix``; tested gate for gate), so a classical computer evaluates
this head in O(n^2) per pair; what a QPU would add is not speed but a different hardware cost
(the resource report and hardware estimate say what it would be). Its surrogate is therefore not
the product-state stand-in of the other kinds but the paper's natural control: the same head with
each orthogonal matrix replaced by an unconstrained n x n matrix (``n^2`` weights instead of
``n (n - 1) / 2``), i.e. what the orthogonality constraint costs or buys.

Choices where the paper is silent or its setting differs: the score is ``||q_i|| ||k_j|| p_ij``
with ``p_ij`` the measured overlap probability (the norms are classical, and the probability, not
a signed amplitude, is what hardware reads; an amplitude would need the paper's extra
tomography); values likewise are the unary probabilities times ``||v_j||``, then a linear map to
the head size. Only the causal pairs j <= i are run.

Parameters per head: adapters ``3 C n``, two orthogonal layers ``n (n - 1)`` (surrogate: ``2 n^2``),
value projection ``n hs + hs``. Circuits per head and forward pass: ``B T (T + 1) / 2`` overlaps
and ``B T`` value circuits.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from qgpt_jax.attention.base import AttentionKind, is_surrogate, run_circuit
from qgpt_jax.config import ModelConfig
from qgpt_jax.layers import Dropout, dense
from qgpt_jax.quantum.circuits import (
    ORTHOGONAL_OVERLAP,
    ORTHOGONAL_VALUE,
    loader_angles,
    n_rbs_angles,
)


def _near_identity(key, shape):
    """Identity matrices plus noise of std 0.001: the surrogate starts near where the circuit
    does (its small initial angles make each orthogonal layer close to the identity)."""
    return jnp.eye(shape[-1]) + 0.1 * nn.initializers.normal(stddev=0.01)(key, shape)


def _unit(x):
    norm = jnp.sqrt(jnp.sum(x**2, axis=-1, keepdims=True) + 1e-12)
    return x / norm, norm[..., 0]


class OrthogonalHead(nn.Module):
    config: ModelConfig

    @nn.compact
    def __call__(self, x, deterministic: bool):
        cfg = self.config
        B, T, C = x.shape
        n = cfg.n_qubits
        features = dense(3 * n, "unary_projection", use_bias=False)(x).reshape(B, T, 3, n)
        (q_unit, q_norm), (k_unit, k_norm), (v_unit, v_norm) = (
            _unit(features[:, :, i]) for i in range(3)
        )  # query, key, value: (B, T, n) unit vectors and (B, T) norms
        rows, cols = np.tril_indices(T)  # the causal pairs (i, j), j <= i
        if is_surrogate(cfg):  # the unconstrained matrices in place of the orthogonal layers
            matrices = self.param("surrogate_matrices", _near_identity, (2, n, n))
            amplitude = jnp.einsum("bpi,ij,bpj->bp", q_unit[:, rows], matrices[0], k_unit[:, cols])
            overlap = amplitude**2  # (B, P)
            loads = (v_unit @ matrices[1].T) ** 2  # (B, T, n)
        else:
            angles = self.param(
                "orthogonal_weights", nn.initializers.normal(stddev=0.1), (2, n_rbs_angles(n))
            )
            qa, ka, va = loader_angles(q_unit), loader_angles(k_unit), loader_angles(v_unit)
            pairs = jnp.concatenate([qa[:, rows], ka[:, cols]], -1)  # (B, P, 2 (n - 1))
            overlap = run_circuit(
                cfg, ORTHOGONAL_OVERLAP, pairs.reshape(-1, 2 * (n - 1)), angles[0]
            )
            overlap = overlap.reshape(B, len(rows))  # (B, P)
            z = run_circuit(cfg, ORTHOGONAL_VALUE, va.reshape(B * T, n - 1), angles[1])
            loads = (1.0 - z.reshape(B, T, n)) / 2  # unary probabilities, (B, T, n)
        scores = (
            jnp.full((B, T, T), -jnp.inf)
            .at[:, rows, cols]
            .set(overlap * q_norm[:, rows] * k_norm[:, cols])
        )  # (B, T, T), -inf above the diagonal
        wei = nn.softmax(scores, axis=-1)
        wei = Dropout(cfg.dropout)(wei, deterministic=deterministic)
        u = loads * v_norm[..., None]  # (B, T, n)
        return dense(cfg.head_size, "value_projection")(wei @ u)  # (B, T, hs)


KIND = AttentionKind(
    "orthogonal",
    OrthogonalHead,
    "causal orthogonal attention (quantum vision transformer): unary-loaded queries, keys and "
    "values through trainable RBS-pyramid orthogonal layers; scores from circuit overlaps",
    circuit=ORTHOGONAL_OVERLAP,
    circuits_per_head=lambda config, batch, length: (
        batch * length * (length + 1) // 2 + batch * length
    ),
    quantum_params=("orthogonal_weights", "surrogate_matrices", "unary_projection"),
    same_surrogate_params=False,
)
