"""qgpt_jax.model: parameter counts, shapes, evaluation mode, causality, jit agreement."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from qgpt_jax.attention import circuits_per_forward
from qgpt_jax.config import ModelConfig
from qgpt_jax.layers import LAYER_NORM_EPS, Dropout
from qgpt_jax.model import (
    GPT,
    Block,
    count_params,
    forward,
    head_kinds,
    init,
)

init_jit = jax.jit(init, static_argnums=0)


@pytest.fixture(scope="module")
def models():
    """Original-preset configs (vocab 65, T=8, n_qubits 4) of every kind, with fresh parameters."""
    out = {}
    for kind in ("classical", "original", "enhance"):
        config = ModelConfig.from_preset("original", attention=kind)
        out[kind] = (config, init_jit(config, jax.random.key(0)))
    return out


@pytest.fixture(scope="module")
def idx():
    return jax.random.randint(jax.random.key(1), (2, 8), 0, 65, dtype=jnp.int32)


# --- sizes ---------------------------------------------------------------------------------------


def test_classical_original_preset_has_8769_parameters():
    config = ModelConfig.from_preset("original")
    assert count_params(jax.eval_shape(lambda: init(config, jax.random.key(0)))) == 8_769


def test_original_attention_has_8821_parameters():
    # 2 layers x 2 quantum heads x (12 circuit weights + 1 quantum scale) = 52 more.
    config = ModelConfig.from_preset("original", attention="original")
    assert count_params(jax.eval_shape(lambda: init(config, jax.random.key(0)))) == 8_821


def test_enhance_attention_adds_angle_projections():
    # Each quantum head also gets a (head_size 8) x (n_qubits 4) angle projection: 4 x 45 more.
    config = ModelConfig.from_preset("original", attention="enhance")
    assert count_params(jax.eval_shape(lambda: init(config, jax.random.key(0)))) == 8_949


def test_fresh_parameters_have_the_expected_counts(models):
    assert {k: count_params(p) for k, (_, p) in models.items()} == {
        "classical": 8_769, "original": 8_821, "enhance": 8_949
    }


def test_head_layout_quantum_heads_first():
    config = ModelConfig.from_preset("original-large", attention="enhance")
    assert head_kinds(config) == ["enhance", "enhance", "classical", "classical"]
    shapes = jax.eval_shape(lambda: init(config, jax.random.key(0)))
    sa = shapes["block_0"]["sa"]
    assert set(sa) == {"quantum_heads", "classical_heads", "proj"}
    # Heads of one kind share one vmapped module with a leading head axis.
    assert sa["classical_heads"]["key"]["kernel"].shape == (2, 32, 8)
    assert sa["quantum_heads"]["key"]["kernel"].shape == (2, 32, 8)
    assert sa["quantum_heads"]["circuit_weights"].shape == (2, 12)
    assert sa["quantum_heads"]["angle_projection"].shape == (2, 8, 4)
    assert sa["quantum_heads"]["quantum_scale"].shape == (2,)


def test_init_statistics(models):
    _, params = models["classical"]
    # PyTorch's defaults, as the original: Embedding N(0, 1), Linear U(+-1/sqrt(fan_in)).
    emb = np.asarray(params["token_embedding"]["embedding"])
    assert abs(emb.std() - 1.0) < 0.05
    bound = 16**-0.5
    for leaf in (params["lm_head"]["kernel"], params["lm_head"]["bias"]):
        leaf = np.asarray(leaf)
        assert np.abs(leaf).max() <= bound and np.abs(leaf).max() > 0.9 * bound
    np.testing.assert_array_equal(params["ln_f"]["scale"], 1.0)


@pytest.mark.parametrize(
    "kind, batch, length, expected",
    [("classical", 3, 8, 0), ("original", 3, 8, 2 * 2 * 3), ("original", 3, 3, 0),
     ("enhance", 3, 8, 2 * 2 * 3 * 8), ("enhance", 1, 3, 2 * 2 * 3),
     ("qsann", 3, 8, 2 * 2 * 3 * 3 * 8), ("kernel", 3, 8, 2 * 2 * 2 * 3 * 8),
     ("enhance-surrogate", 3, 8, 0)],
)
def test_circuits_per_forward(kind, batch, length, expected):
    config = ModelConfig.from_preset("original", attention=kind)
    assert circuits_per_forward(config, batch, length) == expected


def test_kernel_estimates_each_causal_fidelity_where_states_are_not_returned():
    config = ModelConfig.from_preset("original", attention="kernel").on(device="aer")
    assert circuits_per_forward(config, 3, 8) == 2 * 2 * 3 * (8 * 9 // 2)


# --- forward -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["classical", "original", "enhance"])
def test_forward_shape_and_eval_determinism(models, idx, kind):
    config, params = models[kind]
    logits = forward(config, params, idx)
    assert logits.shape == (2, 8, 65) and logits.dtype == jnp.float32
    assert bool(jnp.all(jnp.isfinite(logits)))
    np.testing.assert_array_equal(logits, forward(config, params, idx))


def test_shorter_sequences_work_and_longer_ones_fail(models, idx):
    config, params = models["classical"]
    assert forward(config, params, idx[:, :3]).shape == (2, 3, 65)
    with pytest.raises(ValueError, match="exceeds block_size 8"):
        forward(config, params, jnp.zeros((1, 9), dtype=jnp.int32))


def test_training_mode_uses_dropout(models, idx):
    config, params = models["classical"]  # dropout 0.1
    apply = jax.jit(lambda p, x, k: GPT(config).apply({"params": p}, x, deterministic=False,
                                                      rngs={"dropout": k}))
    a = apply(params, idx, jax.random.key(0))
    b = apply(params, idx, jax.random.key(1))
    np.testing.assert_array_equal(a, apply(params, idx, jax.random.key(0)))
    assert not np.allclose(a, b)
    assert not np.allclose(a, forward(config, params, idx))


def test_jit_and_eager_forward_agree(models, idx):
    config, params = models["classical"]
    jitted = forward(config, params, idx)
    with jax.disable_jit():
        eager = forward(config, params, idx)
    np.testing.assert_allclose(jitted, eager, atol=1e-5, rtol=1e-5)


def test_batch_elements_are_independent_except_for_the_original_head(models, idx):
    for kind in ("classical", "enhance"):
        config, params = models[kind]
        np.testing.assert_allclose(forward(config, params, idx)[:1], forward(config, params,
                                   idx[:1]), atol=1e-6)


# --- causality -----------------------------------------------------------------------------------


def embed(config, params, idx):
    """The model's input embedding, token plus position, as ``GPT.__call__`` computes it."""
    tok = params["token_embedding"]["embedding"][idx]
    pos = params["position_embedding"]["embedding"][: idx.shape[1]]
    return tok + pos


def logits_from_embeddings(config, params, x):
    """The rest of ``GPT.__call__``, run submodule by submodule on embedded input ``x``."""
    for i in range(config.n_layer):
        x = Block(config).apply({"params": params[f"block_{i}"]}, x, True)
    x = nn.LayerNorm(epsilon=LAYER_NORM_EPS).apply({"params": params["ln_f"]}, x)
    return nn.Dense(config.vocab_size).apply({"params": params["lm_head"]}, x)


@pytest.fixture(scope="module")
def input_jacobians(models, idx):
    """Per causal kind: d logits[0, t] / d embedded input[0, s], shape (T, vocab, T, C)."""
    out = {}
    for kind in ("classical", "enhance"):
        config, params = models[kind]

        def logits(x, config=config, params=params):
            value = logits_from_embeddings(config, params, x)[0]
            return value, value

        jac, value = jax.jit(jax.jacrev(logits, has_aux=True))(embed(config, params, idx[:1]))
        # The decomposition is the model: same logits as forward().
        np.testing.assert_allclose(value, forward(config, params, idx[:1])[0], atol=1e-5)
        out[kind] = np.asarray(jac)[:, :, 0]
    return out


@pytest.mark.parametrize("kind", ["classical", "enhance"])
def test_gradient_of_logits_wrt_future_inputs_is_exactly_zero(input_jacobians, kind):
    jac = input_jacobians[kind]
    T = jac.shape[0]
    for t in range(T):
        assert np.all(jac[t, :, t + 1 :, :] == 0.0), f"position {t} sees the future"
        # ...and it does see the past: every earlier position reaches it through attention.
        for s in range(t + 1):
            assert np.any(jac[t, :, s, :] != 0.0), f"position {t} does not see position {s}"


@pytest.mark.parametrize("kind", ["classical", "enhance"])
def test_changing_future_tokens_leaves_earlier_logits_bit_identical(models, idx, kind):
    config, params = models[kind]
    base = np.asarray(forward(config, params, idx))
    for t in (0, 3, 6):
        changed = idx.at[:, t + 1 :].set((idx[:, t + 1 :] + 7) % 65)
        new = np.asarray(forward(config, params, changed))
        np.testing.assert_array_equal(new[:, : t + 1], base[:, : t + 1])
        assert not np.allclose(new[:, t + 1 :], base[:, t + 1 :])


def test_original_head_is_not_causal(models, idx):
    """The original adds ``e`` after the softmax to masked entries too: the future leaks back."""
    config, params = models["original"]
    assert idx.shape[1] >= config.n_qubits
    changed = idx.at[:, -1].set((idx[:, -1] + 7) % 65)
    base, new = forward(config, params, idx), forward(config, params, changed)
    assert not np.allclose(new[:, 0], base[:, 0])


def test_original_head_is_causal_below_n_qubits(models, idx):
    """Shorter than ``n_qubits`` the original's circuit is skipped (``e = 0``), so no leak."""
    config, params = models["original"]
    short = idx[:, :3]
    changed = short.at[:, -1].set((short[:, -1] + 7) % 65)
    np.testing.assert_array_equal(forward(config, params, short)[:, :2],
                                  forward(config, params, changed)[:, :2])


def test_original_head_couples_the_batch(models, idx):
    """One ``e`` per batch: an example's logits depend on the other examples."""
    config, params = models["original"]
    alone = forward(config, params, idx[:1])[0]
    together = forward(config, params, idx)[0]
    assert not np.allclose(alone, together, atol=1e-7)


def test_hashed_dropout_keeps_the_right_fraction_and_scales():

    x = jnp.ones((100, 200))
    layer = Dropout(0.25)
    out = layer.apply({}, x, False, rngs={"dropout": jax.random.key(0)})
    kept = np.asarray(out) != 0
    assert abs(kept.mean() - 0.75) < 0.01  # 20,000 draws: std of the mean ~0.003
    np.testing.assert_allclose(np.asarray(out)[kept], 1 / 0.75, rtol=1e-6)
    # No striping from the element-index hash: row and column keep-rates scatter as independent
    # Bernoulli draws would (binomial standard deviation), not more.
    for axis, n in ((0, 100), (1, 200)):
        expected_std = np.sqrt(0.75 * 0.25 / n)
        assert 0.8 < kept.mean(axis).std() / expected_std < 1.25
    other = layer.apply({}, x, False, rngs={"dropout": jax.random.key(1)})
    assert (np.asarray(other) != 0).mean() > 0.7 and not np.array_equal(out, other)
    np.testing.assert_array_equal(layer.apply({}, x, True), x)


@pytest.mark.parametrize("kind", ["classical", "original", "enhance"])
def test_jit_and_eager_agree_for_every_kind(models, idx, kind):
    """The same logits and gradients op by op as compiled, in evaluation and training mode."""
    config, params = models[kind]
    key = jax.random.key(3)

    def loss(p, training):
        logits = GPT(config).apply({"params": p}, idx, deterministic=not training,
                                   rngs={"dropout": key} if training else None)
        return optax.softmax_cross_entropy_with_integer_labels(logits, idx).mean()

    for training in (False, True):
        with jax.disable_jit():
            eager_loss, eager_grads = jax.value_and_grad(loss)(params, training)
        jit_loss, jit_grads = jax.jit(jax.value_and_grad(loss), static_argnums=1)(params, training)
        np.testing.assert_allclose(jit_loss, eager_loss, rtol=1e-5)
        jax.tree_util.tree_map(
            lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), jit_grads,
            eager_grads)
    with jax.disable_jit():
        eager_logits = GPT(config).apply({"params": params}, idx)
    np.testing.assert_allclose(forward(config, params, idx), eager_logits, rtol=1e-5, atol=1e-6)
