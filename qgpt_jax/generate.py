"""Text generation in evaluation mode: greedy, or sampled with temperature and top-k."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from qgpt_jax.attention import kind_of
from qgpt_jax.config import ModelConfig
from qgpt_jax.errors import ConfigError
from qgpt_jax.model import forward


def next_token_logits(config: ModelConfig, params, context: list[int]) -> jax.Array:
    """Logits for the token after ``context``, seen through the last ``block_size`` tokens.

    Causal models read a window of ``block_size`` padded on the right: outputs before the padding
    do not depend on it, so one compiled program serves every context length. The ``original`` head
    kind is not causal, so it gets the window at its true length (one compilation per length).
    """
    window = context[-config.block_size :]
    if kind_of(config).causal:
        padded = np.zeros((1, config.block_size), np.int32)
        padded[0, : len(window)] = window
        return forward(config, params, padded)[0, len(window) - 1]  # (vocab,)
    return forward(config, params, jnp.asarray(window, jnp.int32)[None, :])[0, -1]  # (vocab,)


def generate(
    config: ModelConfig,
    params,
    prompt: list[int],
    max_new_tokens: int,
    *,
    key: jax.Array | None = None,
    temperature: float = 1.0,
    top_k: int | None = None,
) -> list[int]:
    """Continue ``prompt`` by ``max_new_tokens`` tokens.

    With ``key=None`` decoding is greedy (argmax); with a key it samples from
    ``softmax(logits / temperature)`` restricted to the ``top_k`` most likely tokens, and the same
    key always gives the same text.
    """
    if not prompt:
        raise ConfigError("generation needs a non-empty prompt")
    if temperature <= 0:
        raise ConfigError(f"temperature must be positive, got {temperature}")
    if top_k is not None and not 1 <= top_k <= config.vocab_size:
        raise ConfigError(f"top_k must be between 1 and {config.vocab_size}, got {top_k}")
    tokens = list(prompt)
    for i in range(max_new_tokens):
        logits = next_token_logits(config, params, tokens)
        if key is None:
            token = int(jnp.argmax(logits))
        else:
            if top_k is not None:
                kth = jnp.sort(logits)[-top_k]
                logits = jnp.where(logits < kth, -jnp.inf, logits)
            token = int(jax.random.categorical(jax.random.fold_in(key, i), logits / temperature))
        tokens.append(token)
    return tokens
