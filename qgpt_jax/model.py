"""The GPT, top to bottom: embeddings, pre-LayerNorm blocks, attention heads (classical or quantum).

Architecture and numerics follow the seed project (a PyTorch char-level GPT) so that its weights
load and give the same logits, and initialised as PyTorch does: LayerNorm epsilon 1e-5, attention
scores scaled by ``n_embd ** -0.5`` (the seed's choice, not the head size).

Multi-head attention takes a kind per head, so a head becomes a quantum head without touching
anything else: the first ``config.n_quantum_heads`` heads of every layer use ``config.attention``
and come first in the concatenation, as in the seed.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from qgpt_jax.config import ModelConfig
from qgpt_jax.layers import (
    Dropout,
    attention_scores,
    causal_softmax,
    dense,
    embedding_init,
    layer_norm,
    project_qkv,
)
from qgpt_jax.quantum.circuits import n_circuit_weights
from qgpt_jax.quantum.devices import executor_for


class ClassicalHead(nn.Module):
    """One head of causal self-attention."""

    config: ModelConfig

    @nn.compact
    def __call__(self, x, deterministic: bool):
        cfg = self.config
        k, q, v = project_qkv(x, cfg.head_size)
        wei = causal_softmax(attention_scores(q, k, cfg.n_embd))  # (B, T, T)
        wei = Dropout(cfg.dropout)(wei, deterministic=deterministic)
        return wei @ v  # (B, T, hs)


def quantum_head_params(module: nn.Module, n_qubits: int):
    """A quantum head's circuit weights and scale, initialised as the seed's."""
    weights_init = nn.initializers.normal(stddev=0.1)  # 0.1 * standard normal
    circuit_weights = module.param("circuit_weights", weights_init, (n_circuit_weights(n_qubits),))
    quantum_scale = module.param("quantum_scale", nn.initializers.constant(0.1), ())
    return circuit_weights, quantum_scale


class OriginalQuantumHead(nn.Module):
    """The seed project's quantum head, reproduced with its quirks, for parity only.

    Quirks kept on purpose (do not copy them into new designs):
    * the circuit sees ``tanh(mean_d q[b, t, d])`` for the first ``n_qubits`` positions only;
    * one scalar ``e = sigmoid(mean over the whole batch of <Z...Z>) * quantum_scale`` is shared by
      every batch element, coupling the examples of a batch;
    * ``e`` is added *after* the softmax to every entry, masked future positions included, so each
      position receives a little of the future values (the head is not causal) and rows no longer
      sum to 1;
    * the circuit inputs get no gradient (the seed's EstimatorQNN had no input gradients);
    * sequences shorter than ``n_qubits`` make the seed's circuit call fail and use ``e = 0``.
    """

    config: ModelConfig

    @nn.compact
    def __call__(self, x, deterministic: bool):
        cfg = self.config
        B, T, C = x.shape
        k, q, v = project_qkv(x, cfg.head_size)
        circuit_weights, quantum_scale = quantum_head_params(self, cfg.n_qubits)
        wei = causal_softmax(attention_scores(q, k, C))  # (B, T, T)
        if T >= cfg.n_qubits:
            angles = jax.lax.stop_gradient(jnp.tanh(q[:, : cfg.n_qubits, :].mean(-1)))  # (B, n)
            expvals = executor_for(cfg)(angles, circuit_weights)  # (B,)
            wei = wei + jax.nn.sigmoid(expvals.mean()) * quantum_scale
        wei = Dropout(cfg.dropout)(wei, deterministic=deterministic)
        return wei @ v  # (B, T, hs)


class EnhanceQuantumHead(nn.Module):
    """Causal, per-token quantum attention: the seed's idea done right.

    Every key position j gets its own circuit on angles ``tanh(k[b, j] @ W)``; ``quantum_scale *
    <Z...Z>_j`` is added to column j of the attention logits before the mask and softmax. Rows still
    sum to 1, attention stays causal, no batch coupling, and gradients reach the circuit inputs.
    """

    config: ModelConfig

    @nn.compact
    def __call__(self, x, deterministic: bool):
        cfg = self.config
        B, T, C = x.shape
        k, q, v = project_qkv(x, cfg.head_size)
        circuit_weights, quantum_scale = quantum_head_params(self, cfg.n_qubits)
        angle_projection = self.param(
            "angle_projection", nn.initializers.normal(stddev=1.0), (cfg.head_size, cfg.n_qubits)
        )
        angles = jnp.tanh(k @ angle_projection)  # (B, T, n)
        expvals = executor_for(cfg)(angles.reshape(B * T, cfg.n_qubits), circuit_weights)
        logits = attention_scores(q, k, C) + quantum_scale * expvals.reshape(B, 1, T)  # (B, T, T)
        wei = Dropout(cfg.dropout)(causal_softmax(logits), deterministic=deterministic)
        return wei @ v  # (B, T, hs)


QUANTUM_HEADS = {"original": OriginalQuantumHead, "enhance": EnhanceQuantumHead}


def head_kinds(config: ModelConfig) -> list[str]:
    """Kind of each head of a layer, quantum heads first (as the seed concatenates them)."""
    n_quantum = config.n_quantum_heads
    return [config.attention] * n_quantum + ["classical"] * (config.n_head - n_quantum)


def head_group(head_class, config: ModelConfig, count: int, name: str) -> nn.Module:
    """``count`` heads of one kind as one module vmapped over a leading head axis of its params.

    The heads keep their own parameters and dropout masks, but run as one batched computation:
    one matmul for all their projections, and for quantum heads one circuit call with the
    bindings of every head, instead of one small call per head.
    """
    return nn.vmap(
        head_class,
        in_axes=None,
        out_axes=-2,
        axis_size=count,
        variable_axes={"params": 0},
        split_rngs={"params": True, "dropout": True},
    )(config, name=name)


class MultiHeadAttention(nn.Module):
    """Heads chosen by kind, concatenated (quantum heads first, as the seed), projected."""

    config: ModelConfig

    @nn.compact
    def __call__(self, x, deterministic: bool):
        cfg = self.config
        groups = [
            (QUANTUM_HEADS.get(cfg.attention), cfg.n_quantum_heads, "quantum_heads"),
            (ClassicalHead, cfg.n_head - cfg.n_quantum_heads, "classical_heads"),
        ]
        outputs = []
        for head_class, count, name in groups:
            if count:
                out = head_group(head_class, cfg, count, name)(x, deterministic)  # (B, T, H, hs)
                outputs.append(out.reshape(*out.shape[:-2], -1))  # (B, T, H * hs)
        out = jnp.concatenate(outputs, axis=-1)  # (B, T, C)
        out = dense(cfg.n_embd, "proj")(out)
        return Dropout(cfg.dropout)(out, deterministic=deterministic)


class FeedForward(nn.Module):
    config: ModelConfig

    @nn.compact
    def __call__(self, x, deterministic: bool):
        cfg = self.config
        x = nn.relu(dense(4 * cfg.n_embd, "fc")(x))  # (B, T, 4C)
        x = dense(cfg.n_embd, "proj")(x)  # (B, T, C)
        return Dropout(cfg.dropout)(x, deterministic=deterministic)


class Block(nn.Module):
    config: ModelConfig

    @nn.compact
    def __call__(self, x, deterministic: bool):
        x = x + MultiHeadAttention(self.config, name="sa")(layer_norm("ln1")(x), deterministic)
        x = x + FeedForward(self.config, name="ffwd")(layer_norm("ln2")(x), deterministic)
        return x


class GPT(nn.Module):
    config: ModelConfig

    @nn.compact
    def __call__(self, idx, deterministic: bool = True):
        cfg = self.config
        B, T = idx.shape
        if T > cfg.block_size:
            raise ValueError(f"sequence length {T} exceeds block_size {cfg.block_size}")
        tok = nn.Embed(
            cfg.vocab_size, cfg.n_embd, embedding_init=embedding_init, name="token_embedding"
        )(idx)  # (B, T, C)
        pos = nn.Embed(
            cfg.block_size, cfg.n_embd, embedding_init=embedding_init, name="position_embedding"
        )(jnp.arange(T))  # (T, C)
        x = tok + pos
        for i in range(cfg.n_layer):
            x = Block(cfg, name=f"block_{i}")(x, deterministic)
        x = layer_norm("ln_f")(x)
        return dense(cfg.vocab_size, "lm_head")(x)  # (B, T, vocab)


def init(config: ModelConfig, key: jax.Array):
    """Fresh parameters for ``config``: a pytree of arrays.

    Jitted so that XLA drops the forward pass Flax runs to create the parameters: no circuit is
    executed on a quantum device just to initialise.
    """
    dummy = jnp.zeros((1, config.block_size), dtype=jnp.int32)
    return jax.jit(lambda k: GPT(config).init(k, dummy, deterministic=True)["params"])(key)


@functools.partial(jax.jit, static_argnums=0)
def forward(config: ModelConfig, params, idx):
    """Evaluation-mode logits (no dropout) for token ids ``idx`` (B, T) -> (B, T, vocab)."""
    return GPT(config).apply({"params": params}, idx, deterministic=True)


def count_params(params) -> int:
    return sum(int(p.size) for p in jax.tree_util.tree_leaves(params))


def circuits_per_forward(config: ModelConfig, batch: int, length: int) -> int:
    """Circuit evaluations one forward pass makes on a (batch, length) input."""
    per_head = {
        "classical": 0,
        "original": batch if length >= config.n_qubits else 0,
        "enhance": batch * length,
    }[config.attention]
    return config.n_layer * config.n_quantum_heads * per_head
