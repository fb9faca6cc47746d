"""The GPT, top to bottom: embeddings, pre-LayerNorm blocks, attention heads (classical or quantum).

Architecture and numerics follow the original project (a PyTorch char-level GPT) so that its weights
load and give the same logits, and initialised as PyTorch does: LayerNorm epsilon 1e-5, attention
scores scaled by ``n_embd ** -0.5`` (the original's choice, not the head size).

Multi-head attention takes a kind per head, so a head becomes a quantum head without touching
anything else: the first ``config.n_quantum_heads`` heads of every layer are of the kind
``config.attention`` (its head comes from the registry in ``qgpt_jax.attention``) and come first
in the concatenation, as in the original.

Every model built here checks its configuration against its kind and device first
(``qgpt_jax.attention.validated``): a configuration made in code, not through an entry point,
fails with the same one-line ``ConfigError`` before anything is traced.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from qgpt_jax.attention import kind_of, validated
from qgpt_jax.attention.classical import ClassicalHead
from qgpt_jax.config import ModelConfig
from qgpt_jax.layers import (
    Dropout,
    dense,
    embedding_init,
    layer_norm,
)


def head_kinds(config: ModelConfig) -> list[str]:
    """Kind of each head of a layer, quantum heads first (as the original concatenates them)."""
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
        variable_axes={"params": 0, "intermediates": 0},
        split_rngs={"params": True, "dropout": True},
    )(config, name=name)


QUANTUM_HEADS = "quantum_heads"
"""Name of each layer's group of heads of the model's attention kind (its parameters' scope)."""


def head_scopes(config: ModelConfig) -> tuple[str, str]:
    """Named scopes of a layer's two head groups, ``heads_<quantum kind>`` and
    ``heads_classical`` (``qgpt_jax.profiling`` times each)."""
    return f"heads_{config.attention}", "heads_classical"


class MultiHeadAttention(nn.Module):
    """Heads chosen by kind, concatenated (quantum heads first, as the original), projected."""

    config: ModelConfig

    @nn.compact
    def __call__(self, x, deterministic: bool):
        cfg = self.config
        groups = [
            (kind_of(cfg).head, cfg.n_quantum_heads, QUANTUM_HEADS),
            (ClassicalHead, cfg.n_head - cfg.n_quantum_heads, "classical_heads"),
        ]
        outputs = []
        for (head_class, count, name), kind in zip(groups, head_scopes(cfg), strict=True):
            if count:
                with jax.named_scope(kind):  # the profile's time per head kind
                    out = head_group(head_class, cfg, count, name)(x, deterministic)  # (B,T,H,hs)
                outputs.append(out.reshape(*out.shape[:-2], -1))  # (B, T, H * hs)
        out = jnp.concatenate(outputs, axis=-1)  # (B, T, C)
        out = dense(cfg.n_embd, "proj")(out)
        return Dropout(cfg.dropout)(out, deterministic=deterministic)


class FeedForward(nn.Module):
    config: ModelConfig

    @nn.compact
    def __call__(self, x, deterministic: bool):
        cfg = self.config
        x = nn.relu(dense(cfg.hidden_width, "fc")(x))  # (B, T, 4C by default)
        x = dense(cfg.n_embd, "proj")(x)  # (B, T, C)
        return Dropout(cfg.dropout)(x, deterministic=deterministic)


class Block(nn.Module):
    config: ModelConfig

    @nn.compact
    def __call__(self, x, deterministic: bool):
        with jax.named_scope("attention"):
            x = x + MultiHeadAttention(self.config, name="sa")(layer_norm("ln1")(x), deterministic)
        with jax.named_scope("feed_forward"):
            x = x + FeedForward(self.config, name="ffwd")(layer_norm("ln2")(x), deterministic)
        return x


class GPT(nn.Module):
    config: ModelConfig

    @nn.compact
    def __call__(self, idx, deterministic: bool = True):
        cfg = validated(self.config)
        B, T = idx.shape
        if T > cfg.block_size:
            raise ValueError(f"sequence length {T} exceeds block_size {cfg.block_size}")
        with jax.named_scope("embedding"):
            tok = nn.Embed(
                cfg.vocab_size, cfg.n_embd, embedding_init=embedding_init, name="token_embedding"
            )(idx)  # (B, T, C)
            pos = nn.Embed(
                cfg.block_size, cfg.n_embd, embedding_init=embedding_init, name="position_embedding"
            )(jnp.arange(T))  # (T, C)
            x = tok + pos
        for i in range(cfg.n_layer):
            x = Block(cfg, name=f"block_{i}")(x, deterministic)
        with jax.named_scope("output"):
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


def sown(config: ModelConfig, params, idx, name: str) -> jax.Array:
    """Every value the heads sow into Flax's ``intermediates`` under ``name`` in an
    evaluation-mode pass over ``idx`` (B, T), flattened into one vector."""
    _, state = GPT(config).apply(
        {"params": params}, idx, deterministic=True, mutable=["intermediates"]
    )
    leaves = [
        leaf
        for path, leaf in jax.tree_util.tree_leaves_with_path(state)
        if any(getattr(entry, "key", None) == name for entry in path)
    ]
    return jnp.concatenate([jnp.ravel(leaf) for leaf in leaves])


def count_params(params) -> int:
    return sum(int(p.size) for p in jax.tree_util.tree_leaves(params))
