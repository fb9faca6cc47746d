"""qgpt_jax.generate: greedy and sampled decoding, windows, argument errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qgpt_jax.errors import ConfigError
from qgpt_jax.generate import generate, next_token_logits
from qgpt_jax.model import forward, init

N_NEW = 24


@pytest.fixture(scope="module")
def model(tiny_model_config):
    """Freshly initialised: close to uniform, so sampling has plenty of entropy."""
    return tiny_model_config, init(tiny_model_config, jax.random.key(0))


@pytest.fixture(scope="module")
def prompt(dataset):
    return dataset.tokenizer.encode("First")


def test_greedy_is_deterministic(model, prompt):
    config, params = model
    a = generate(config, params, prompt, N_NEW)
    b = generate(config, params, prompt, N_NEW)
    assert a == b
    assert len(a) == len(prompt) + N_NEW and a[: len(prompt)] == prompt
    assert all(isinstance(t, int) and 0 <= t < config.vocab_size for t in a)


def test_greedy_takes_the_argmax_of_the_last_window(model, prompt):
    config, params = model
    tokens = generate(config, params, prompt, 10)
    for n in range(len(prompt), len(tokens)):
        window = jnp.asarray(tokens[max(0, n - config.block_size) : n])[None]
        assert tokens[n] == int(jnp.argmax(forward(config, params, window)[0, -1]))


def test_sampling_with_the_same_key_is_reproducible(model, prompt):
    config, params = model
    key = jax.random.key(42)
    a = generate(config, params, prompt, N_NEW, key=key)
    b = generate(config, params, prompt, N_NEW, key=key)
    assert a == b
    c = generate(config, params, prompt, N_NEW, key=jax.random.key(43))
    assert c != a
    assert a != generate(config, params, prompt, N_NEW)  # not greedy either


def test_top_k_1_is_greedy(model, prompt):
    config, params = model
    greedy = generate(config, params, prompt, N_NEW)
    assert generate(config, params, prompt, N_NEW, key=jax.random.key(7), top_k=1) == greedy


def test_tiny_temperature_is_greedy(model, prompt):
    config, params = model
    greedy = generate(config, params, prompt, N_NEW)
    assert generate(config, params, prompt, N_NEW, key=jax.random.key(7),
                    temperature=1e-6) == greedy


def test_top_k_samples_only_from_the_k_likeliest(model, prompt):
    config, params = model
    k = 3
    tokens = generate(config, params, prompt, N_NEW, key=jax.random.key(5), top_k=k)
    for n in range(len(prompt), len(tokens)):
        logits = np.asarray(next_token_logits(config, params, tokens[:n]))
        allowed = set(np.argsort(logits)[-k:].tolist())
        assert tokens[n] in allowed
    # And it is not just greedy.
    assert tokens != generate(config, params, prompt, N_NEW)


def test_prompt_longer_than_block_size(model, dataset):
    config, params = model
    long_prompt = dataset.tokenizer.encode("First Citizen: Before we proceed")
    assert len(long_prompt) > config.block_size
    tokens = generate(config, params, long_prompt, 5)
    assert tokens[: len(long_prompt)] == long_prompt and len(tokens) == len(long_prompt) + 5
    window = jnp.asarray(long_prompt[-config.block_size :])[None]
    assert tokens[len(long_prompt)] == int(jnp.argmax(forward(config, params, window)[0, -1]))
    # Only the last block_size tokens matter.
    other_start = dataset.tokenizer.encode("All: Speak, speak.") + long_prompt[-config.block_size:]
    assert generate(config, params, other_start, 5)[-5:] == tokens[-5:]


def test_zero_new_tokens_returns_the_prompt(model, prompt):
    config, params = model
    assert generate(config, params, prompt, 0) == prompt


def test_empty_prompt_is_rejected(model):
    config, params = model
    with pytest.raises(ConfigError, match="non-empty prompt"):
        generate(config, params, [], 5)


@pytest.mark.parametrize("temperature", [0.0, -1.0])
def test_temperature_must_be_positive(model, prompt, temperature):
    config, params = model
    with pytest.raises(ConfigError, match="temperature"):
        generate(config, params, prompt, 5, key=jax.random.key(0), temperature=temperature)


@pytest.mark.parametrize("top_k", [0, -1, "vocab+1"])
def test_top_k_must_be_within_the_vocabulary(model, prompt, top_k):
    config, params = model
    top_k = config.vocab_size + 1 if top_k == "vocab+1" else top_k
    with pytest.raises(ConfigError, match="top_k") as info:
        generate(config, params, prompt, 5, key=jax.random.key(0), top_k=top_k)
    assert str(config.vocab_size) in str(info.value)


def test_top_k_equal_to_the_vocabulary_is_plain_sampling(model, prompt):
    config, params = model
    key = jax.random.key(11)
    assert (generate(config, params, prompt, N_NEW, key=key, top_k=config.vocab_size)
            == generate(config, params, prompt, N_NEW, key=key))
