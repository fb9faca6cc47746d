"""Building blocks shared by the GPT and every attention kind, as PyTorch defines them.

Numerics follow the original project (a PyTorch char-level GPT) so that its weights load and give
the same logits: LayerNorm epsilon 1e-5, PyTorch's initialisation, attention scores scaled by
``n_embd ** -0.5`` (the original's choice, not the head size).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

LAYER_NORM_EPS = 1e-5  # PyTorch's default
# PyTorch's default initialisation (the original never re-initialised its modules): nn.Embedding
# weights ~ N(0, 1); nn.Linear weights and biases ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
embedding_init = nn.initializers.normal(stddev=1.0)


class Linear(nn.Module):
    """``torch.nn.Linear`` in Flax: same initialisation; kernel stored (in, out) as Flax does."""

    features: int
    use_bias: bool = True

    @nn.compact
    def __call__(self, x):
        bound = x.shape[-1] ** -0.5

        def uniform(key, shape, dtype=jnp.float32):
            return jax.random.uniform(key, shape, dtype, -bound, bound)

        y = x @ self.param("kernel", uniform, (x.shape[-1], self.features))
        return y + self.param("bias", uniform, (self.features,)) if self.use_bias else y


def mix32(x):
    """lowbias32 (C. Wellons): a fast, well-mixed hash of uint32 values."""
    x = (x ^ (x >> 16)) * jnp.uint32(0x7FEB352D)
    x = (x ^ (x >> 15)) * jnp.uint32(0x846CA68B)
    return x ^ (x >> 16)


class Dropout(nn.Module):
    """Inverted dropout, as ``nn.Dropout``, with masks hashed from the site's key.

    Every site still draws its own key from Flax (``make_rng("dropout")``: distinct per site, head
    and step); the mask is a counter-based hash of each element's index and that key's bits. On
    CPU, XLA's random-number generators cost far more than this model's matmuls: the original
    preset's 8 dropout sites took ~69 us per step through ``jax.random.bernoulli`` and ~5 us hashed.
    """

    rate: float

    @nn.compact
    def __call__(self, x, deterministic: bool):
        if deterministic or self.rate == 0.0:
            return x
        key_bits = jax.random.key_data(self.make_rng("dropout")).ravel()
        seed = mix32(key_bits[0] ^ mix32(key_bits[-1]))
        index = jnp.arange(x.size, dtype=jnp.uint32).reshape(x.shape)
        bits = mix32(index * jnp.uint32(0x9E3779B9) + seed)
        keep = bits >= jnp.uint32(min(int(self.rate * 2**32), 2**32 - 1))  # P(keep) = 1 - rate
        return jnp.where(keep, x / (1.0 - self.rate), 0.0).astype(x.dtype)


def dense(features: int, name: str, use_bias: bool = True) -> Linear:
    return Linear(features, use_bias=use_bias, name=name)


def layer_norm(name: str) -> nn.LayerNorm:
    return nn.LayerNorm(epsilon=LAYER_NORM_EPS, name=name)


def causal_softmax(logits):
    """Softmax over keys with future positions masked out. ``logits``: (B, T, T)."""
    T = logits.shape[-1]
    mask = jnp.tril(jnp.ones((T, T), dtype=bool))
    return jax.nn.softmax(jnp.where(mask, logits, -jnp.inf), axis=-1)


def project_qkv(x, head_size: int):
    """Key, query and value projections (no bias) of ``x`` (B, T, C), inside the calling head."""
    k = dense(head_size, "key", use_bias=False)(x)  # (B, T, hs)
    q = dense(head_size, "query", use_bias=False)(x)  # (B, T, hs)
    v = dense(head_size, "value", use_bias=False)(x)  # (B, T, hs)
    return k, q, v


def attention_scores(q, k, n_embd: int):
    # Scaled by n_embd ** -0.5 (the channel count of the block input), as the original does.
    return q @ k.swapaxes(-2, -1) * n_embd**-0.5  # (B, T, T)
