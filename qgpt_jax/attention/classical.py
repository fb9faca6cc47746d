"""Classical causal self-attention: the head every other kind is compared with."""

from __future__ import annotations

import flax.linen as nn

from qgpt_jax.attention.base import AttentionKind
from qgpt_jax.config import ModelConfig
from qgpt_jax.layers import Dropout, attention_scores, causal_softmax, project_qkv


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


KIND = AttentionKind("classical", ClassicalHead, "classical softmax attention, no circuit")
