"""Property-based tests (hypothesis): tokenizer, config validation, causality of every causal head
kind at random sizes, in evaluation and in training mode, and checkpoint round trips."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qgpt_jax.attention import KINDS
from qgpt_jax.checkpoint import load_checkpoint, save_checkpoint
from qgpt_jax.config import ModelConfig, TrainConfig
from qgpt_jax.data import CharTokenizer
from qgpt_jax.errors import ConfigError, DataError
from qgpt_jax.model import GPT, init

VOCAB = tuple(sorted(set("\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")))
TOKENIZER = CharTokenizer(VOCAB)
SLOW = settings(max_examples=12, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@given(st.text(alphabet=VOCAB))
@settings(max_examples=200)
def test_tokenizer_round_trip(text):
    ids = TOKENIZER.encode(text)
    assert all(0 <= i < TOKENIZER.vocab_size for i in ids)
    assert TOKENIZER.decode(ids) == text


@given(st.text(alphabet=VOCAB), st.characters(blacklist_characters=VOCAB), st.text(alphabet=VOCAB))
@settings(max_examples=100)
def test_tokenizer_names_any_character_outside_its_vocabulary(before, outside, after):
    with pytest.raises(DataError, match="outside the vocabulary") as info:
        TOKENIZER.encode(before + outside + after)
    assert repr(outside) in str(info.value)


MODEL_FIELDS = {
    "vocab_size": st.integers(-3, 100),
    "n_embd": st.integers(-3, 64),
    "n_head": st.integers(-2, 9),
    "n_layer": st.integers(-2, 5),
    "block_size": st.integers(-2, 40),
    "dropout": st.floats(-0.5, 1.5, allow_nan=False),
    "n_qubits": st.integers(0, 24),
}


def model_config_is_valid(values: dict) -> bool:
    positive = all(values[k] > 0 for k in ("vocab_size", "n_embd", "n_head", "n_layer",
                                          "block_size", "n_qubits"))
    return (positive and values["n_embd"] % values["n_head"] == 0
            and 0 <= values["dropout"] < 1 and 2 <= values["n_qubits"] <= 20)


@given(st.fixed_dictionaries(MODEL_FIELDS), st.sampled_from(list(KINDS)))
@settings(max_examples=300)
def test_model_config_accepts_exactly_the_valid_fields(values, attention):
    if model_config_is_valid(values):
        config = ModelConfig(attention=attention, **values)
        assert config.head_size * config.n_head == config.n_embd
    else:
        with pytest.raises(ConfigError):
            ModelConfig(attention=attention, **values)


@given(
    st.integers(-2, 64), st.floats(-1, 1, allow_nan=False), st.integers(-5, 3000),
    st.integers(-2, 200), st.integers(-2, 60),
)
@settings(max_examples=300)
def test_train_config_accepts_exactly_the_valid_fields(batch, lr, iters, interval, per_call):
    valid = batch > 0 and lr > 0 and iters >= 0 and interval > 0 and per_call > 0
    fields = dict(batch_size=batch, learning_rate=lr, max_iters=iters, eval_interval=interval,
                  steps_per_call=per_call)
    if valid:
        assert TrainConfig(**fields).max_iters == iters
    else:
        with pytest.raises(ConfigError):
            TrainConfig(**fields)


@st.composite
def causal_models(draw):
    n_head = draw(st.integers(1, 3))
    return ModelConfig(
        vocab_size=draw(st.integers(5, 20)),
        n_embd=n_head * draw(st.integers(2, 4)),  # LayerNorm of one channel is constant
        n_head=n_head,
        n_layer=draw(st.integers(1, 2)),
        block_size=draw(st.integers(2, 9)),
        dropout=draw(st.sampled_from([0.0, 0.3])),
        attention=draw(st.sampled_from([k for k, kind in KINDS.items() if kind.causal])),
        n_qubits=draw(st.integers(2, 4)),
    )


@given(causal_models(), st.data(), st.booleans())
@SLOW
def test_causal_kinds_never_see_the_future(config, data, training):
    """Changing token j changes no output before j, in evaluation and in training mode (the same
    dropout key on both inputs), under jit."""
    T = config.block_size
    params = init(config, jax.random.key(0))
    tokens = data.draw(st.lists(st.integers(0, config.vocab_size - 1), min_size=T, max_size=T))
    j = data.draw(st.integers(1, T - 1))
    idx = jnp.asarray([tokens], jnp.int32)
    changed = idx.at[0, j].set((idx[0, j] + 1) % config.vocab_size)

    @jax.jit
    def logits(x):
        rngs = {"dropout": jax.random.key(7)} if training else None
        return GPT(config).apply({"params": params}, x, deterministic=not training, rngs=rngs)

    before, after = logits(idx), logits(changed)
    np.testing.assert_array_equal(before[0, :j], after[0, :j])
    assert not np.array_equal(before[0, j:], after[0, j:])  # the change itself is seen


@given(causal_models(), st.integers(0, 2**31 - 1))
@SLOW
def test_checkpoint_round_trip(tmp_path_factory, config, seed):
    params = init(config, jax.random.key(seed))
    tokenizer = CharTokenizer(VOCAB[: config.vocab_size])
    folder = tmp_path_factory.mktemp("checkpoint")
    save_checkpoint(folder, config, params, tokenizer, metadata={"seed": seed})
    loaded_config, loaded, loaded_tokenizer = load_checkpoint(folder)
    assert loaded_config == config and loaded_tokenizer == tokenizer
    for a, b in zip(jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(loaded),
                    strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(Exception, match="does not match the model config"):
        load_checkpoint(folder, dataclasses.replace(config, n_layer=config.n_layer + 1))
