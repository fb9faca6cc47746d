"""qgpt_jax.train and the engine's loop: determinism, learning, optimizer, pure step, fused steps,
measurements."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import traverse_util

from qgpt_jax.attention import KINDS, circuits_per_forward
from qgpt_jax.config import ModelConfig, TrainConfig
from qgpt_jax.data import get_batch
from qgpt_jax.engine import chunk_plan, train
from qgpt_jax.errors import ConfigError
from qgpt_jax.model import GPT, count_params, init
from qgpt_jax.train import (
    RunKeys,
    create_state,
    decayed,
    learning_rate_schedule,
    make_optimizer,
    param_labels,
    train_step,
)

ITERS = 100


@pytest.fixture(scope="module")
def model_config(tiny_model_config):
    # Dropout on, so that the per-step dropout keys matter for determinism and fusion.
    return dataclasses.replace(tiny_model_config, dropout=0.1)


@pytest.fixture(scope="module")
def train_config():
    return TrainConfig.from_preset("tiny", max_iters=ITERS, steps_per_call=5, eval_interval=50,
                                   eval_iters=8)


@pytest.fixture(scope="module")
def runs(model_config, train_config, dataset):
    replace = dataclasses.replace
    return {
        "base": train(model_config, train_config, dataset, progress=False),
        "again": train(model_config, train_config, dataset, progress=False),
        "other_seed": train(model_config, replace(train_config, seed=1), dataset, progress=False),
        "unfused": train(model_config, replace(train_config, steps_per_call=1), dataset,
                         progress=False),
    }


# --- whole runs ----------------------------------------------------------------------------------


def test_same_seed_gives_identical_losses(runs):
    base, again = runs["base"], runs["again"]
    assert len(base.step_losses) == ITERS
    assert base.step_losses == again.step_losses
    assert base.evals == again.evals
    for a, b in zip(jax.tree_util.tree_leaves(base.params),
                    jax.tree_util.tree_leaves(again.params), strict=True):
        np.testing.assert_array_equal(a, b)


def test_different_seed_gives_different_losses(runs):
    base, other = runs["base"], runs["other_seed"]
    assert not np.allclose(base.step_losses, other.step_losses)
    assert base.evals[-1] != other.evals[-1]


def test_loss_falls_on_a_repetitive_corpus(runs, dataset):
    base = runs["base"]
    first, last = base.evals[0], base.evals[-1]
    # Fresh weights (PyTorch's init) predict roughly uniformly over the vocabulary.
    assert abs(first["train_loss"] - np.log(dataset.tokenizer.vocab_size)) < 0.5
    assert last["train_loss"] < first["train_loss"] - 0.8
    assert last["val_loss"] < first["val_loss"] - 0.8
    assert np.mean(base.step_losses[-10:]) < np.mean(base.step_losses[:10]) - 0.5


def test_fused_steps_match_single_steps(runs):
    fused, unfused = runs["base"], runs["unfused"]
    np.testing.assert_allclose(fused.step_losses, unfused.step_losses, atol=1e-5, rtol=0)
    for a, b in zip(fused.evals, unfused.evals, strict=True):
        assert a["step"] == b["step"]
        np.testing.assert_allclose(a["train_loss"], b["train_loss"], atol=1e-5)
        np.testing.assert_allclose(a["val_loss"], b["val_loss"], atol=1e-5)


def brute_force_split_loss(config, params, tokens, start, stop, final_tokens):
    """Mean loss over the final estimate's windows of tokens[start:stop], one window at a time."""
    T = config.block_size
    n_windows = (stop - start - 1) // T
    count = min(n_windows, -(-final_tokens // T))
    stride = n_windows // count
    model = GPT(config)
    losses = []
    for i in range(count):
        s = start + T * stride * i
        x, y = tokens[None, s : s + T], tokens[None, s + 1 : s + T + 1]
        logits = model.apply({"params": params}, x, deterministic=True)
        losses.append(float(optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()))
    return float(np.mean(losses)), count * T


@pytest.mark.parametrize("final_tokens", [40, 10**6])  # a spread sample; every window
def test_final_estimate_is_the_mean_over_its_windows(model_config, dataset, final_tokens):
    tc = TrainConfig.from_preset("tiny", max_iters=3, eval_iters=2, final_eval_tokens=final_tokens)
    result = train(model_config, tc, dataset, progress=False)
    tokens = np.asarray(dataset.tokens)
    splits = {"train": (0, dataset.n_train), "val": (dataset.n_train, len(tokens))}
    for split, (start, stop) in splits.items():
        loss, covered = brute_force_split_loss(
            model_config, result.params, tokens, start, stop, final_tokens
        )
        assert result.final[f"{split}_tokens"] == covered
        assert result.final[f"{split}_loss"] == pytest.approx(loss, abs=1e-5)
    if final_tokens > len(tokens):  # every non-overlapping window of each split
        assert result.final["val_tokens"] == (len(tokens) - dataset.n_train - 1) // 8 * 8


def test_train_result_fields(runs, model_config, train_config, dataset):
    result = runs["base"]
    assert [e["step"] for e in result.evals] == [0, 50, 100]
    assert set(result.evals[0]) == {"step", "train_loss", "val_loss"}
    assert result.final == result.final_estimate
    assert set(result.final) == {"train_loss", "val_loss", "train_tokens", "val_tokens"}
    assert result.final["val_tokens"] == train_config.final_eval_tokens  # 8 windows of 8
    no_final = train(model_config, dataclasses.replace(train_config, final_eval_tokens=0,
                                                       max_iters=5), dataset, progress=False)
    assert no_final.final == no_final.evals[-1] and no_final.final_estimate == {}
    assert result.step == ITERS
    assert result.params_count == gpt_parameter_count(model_config)
    assert result.compile_s > 0
    assert result.train_s > 0 and result.wall_s >= result.train_s + result.compile_s
    assert result.cpu_s > 0 and result.peak_rss_mb > 10
    assert result.tokens_per_s > 0
    assert result.circuit_executions == {}  # classical
    assert all(np.isfinite(result.step_losses))


def gpt_parameter_count(mc) -> int:
    """nanoGPT's parameter count, written out: embeddings, blocks, final norm, head."""
    C, V, T, L = mc.n_embd, mc.vocab_size, mc.block_size, mc.n_layer
    attention = 3 * C * C + C * C + C  # key/query/value of every head (no bias), projection
    feed_forward = C * 4 * C + 4 * C + 4 * C * C + C
    norms = 2 * 2 * C
    return V * C + T * C + L * (attention + feed_forward + norms) + 2 * C + C * V + V


@pytest.mark.parametrize("preset, expected", [("original", 8_769), ("original-large", 42_625)])
def test_parameter_counts_follow_the_architecture(preset, expected):
    mc = ModelConfig.from_preset(preset, vocab_size=65)
    assert gpt_parameter_count(mc) == expected  # 8,769: the original's reported classical count
    assert count_params(jax.eval_shape(lambda: init(mc, jax.random.key(0)))) == expected


def test_batches_depend_only_on_seed_and_step(runs, model_config, train_config, dataset):
    """A shorter run with other eval points replays the first steps of the long one exactly."""
    tc = dataclasses.replace(train_config, max_iters=25, eval_interval=10)
    short = train(model_config, tc, dataset, progress=False)
    assert [e["step"] for e in short.evals] == [0, 10, 20, 25]
    assert short.step_losses == runs["base"].step_losses[:25]
    assert short.evals[0] == runs["base"].evals[0]


def test_zero_iterations_only_evaluate(model_config, train_config, dataset):
    result = train(model_config, dataclasses.replace(train_config, max_iters=0), dataset,
                   progress=False)
    assert result.step_losses == []
    assert [e["step"] for e in result.evals] == [0]
    assert result.step == 0


@pytest.mark.parametrize(
    "start, stop, max_steps, every, expected",
    [(0, 4, 50, (10,), [4]), (0, 100, 5, (50,), [5] * 20), (0, 999, 50, (100,), None),
     (0, 25, 5, (10,), [5, 5, 5, 5, 5]), (0, 25, 50, (10,), [10, 10, 5]),
     (30, 100, 50, (50, 20), [10, 10, 10, 20, 20]), (0, 0, 50, (10,), [])],
)
def test_chunk_plan_fuses_any_run_length(start, stop, max_steps, every, expected):
    lengths = chunk_plan(start, stop, max_steps, every)
    assert sum(lengths) == stop - start and all(0 < n <= max_steps for n in lengths)
    if expected is not None:
        assert lengths == expected
    else:  # 999 steps, evaluations every 100: nine full intervals of 2 calls, then 50 and 49
        assert lengths == [50] * 19 + [49]
    ends = np.cumsum(lengths) + start
    for n in every:  # every evaluation or checkpoint step ends a call
        assert set(range(n, stop, n)) - set(range(start + 1)) <= set(ends.tolist())


# --- quantum run ---------------------------------------------------------------------------------


def test_enhance_run_counts_circuits_from_shapes(tiny_model_config, tiny_train_config, dataset):
    mc = dataclasses.replace(tiny_model_config, attention="enhance").on(device="default.qubit")
    tc = tiny_train_config  # tiny preset, 4 steps, eval_iters 2
    result = train(mc, tc, dataset, progress=False)
    assert [e["step"] for e in result.evals] == [0, 4]
    # train + (train, val) evals + the final estimate's 64 tokens: 8 windows in 2 calls of
    # 2 x 2 windows, each call on both splits.
    final = 2 * tc.eval_iters * 2
    forwards = tc.max_iters + 2 * tc.eval_iters * len(result.evals) + final
    expected = circuits_per_forward(mc, tc.batch_size, mc.block_size) * forwards
    # 1 layer x 2 quantum heads x (2 x 8) positions, over 4 steps, 2 x 2 x 2 eval batches and
    # 2 x 2 x 2 final batches.
    assert expected == 1 * 2 * 16 * (4 + 8 + 8) == 640
    assert result.circuit_executions["default.qubit"] == expected
    assert "shapes" in result.circuit_executions["counted"]
    assert all(np.isfinite(result.step_losses))
    # Gradients reached every quantum parameter: they moved by far more than weight decay alone
    # would move them (Adam's steps are about learning_rate each).
    init_params = traverse_util.flatten_dict(init(mc, RunKeys.from_seed(tc.seed).init))
    trained = traverse_util.flatten_dict(result.params)
    decay = (1 - tc.learning_rate * tc.weight_decay) ** tc.max_iters
    for name in ("circuit_weights", "angle_projection", "quantum_scale"):
        path = ("block_0", "sa", "quantum_heads", name)
        moved = np.abs(np.asarray(trained[path]) - decay * np.asarray(init_params[path]))
        for head in range(mc.n_quantum_heads):  # every head's parameters moved
            assert moved[head].max() > 0.1 * tc.learning_rate, (path, head)


# --- optimizer -----------------------------------------------------------------------------------


def test_defaults_are_pytorch_adamw_defaults():
    tc = TrainConfig()
    assert (tc.learning_rate, tc.beta1, tc.beta2, tc.eps, tc.weight_decay) == (
        1e-3, 0.9, 0.999, 1e-8, 0.01)


def torch_adamw_reference(params, grads_per_step, lr, beta1, beta2, eps, weight_decay):
    """``torch.optim.AdamW``'s documented algorithm (amsgrad=False, maximize=False), in numpy."""
    p = params.astype(np.float64)
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    for t, g in enumerate(grads_per_step, start=1):
        p = p * (1 - lr * weight_decay)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
    return p


@pytest.mark.parametrize(
    "tc",
    [TrainConfig(),
     TrainConfig(learning_rate=0.05, weight_decay=0.1, beta1=0.8, beta2=0.95, eps=1e-3)],
    ids=["defaults", "custom"],
)
def test_optimizer_matches_torch_adamw(tc):
    rng = np.random.default_rng(0)
    p0 = rng.normal(size=(3, 5)).astype(np.float32)
    grads = [rng.normal(size=(3, 5)).astype(np.float32) for _ in range(4)]
    tx = make_optimizer(tc)
    params = {"layer": {"kernel": jnp.asarray(p0)}}
    opt_state = tx.init(params)
    for g in grads:
        updates, opt_state = tx.update({"layer": {"kernel": jnp.asarray(g)}}, opt_state, params)
        params = optax.apply_updates(params, updates)
    expected = torch_adamw_reference(p0, grads, tc.learning_rate, tc.beta1, tc.beta2, tc.eps,
                                     tc.weight_decay)
    np.testing.assert_allclose(params["layer"]["kernel"], expected, rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def enhance_shapes():
    mc = ModelConfig.from_preset("original", attention="enhance", n_layer=1)
    return jax.eval_shape(lambda: init(mc, jax.random.key(0)))


def test_param_labels_mark_quantum_parameters(enhance_shapes):
    labels = traverse_util.flatten_dict(param_labels(enhance_shapes, KINDS["enhance"]))
    assert set(labels) == set(traverse_util.flatten_dict(enhance_shapes))
    quantum = {path for path, label in labels.items() if label == "quantum"}
    assert {path[-1] for path in quantum} == {"circuit_weights", "quantum_scale",
                                              "angle_projection"}
    assert len(quantum) == 1 * 3  # layers x names (the heads of a layer are stacked)
    assert set(labels.values()) == {"quantum", "classical"}
    assert labels[("block_0", "sa", "proj", "kernel")] == "classical"
    assert labels[("token_embedding", "embedding")] == "classical"


@pytest.mark.parametrize(
    ("kind", "quantum", "classical"),
    [
        ("qkv", {"circuit_weights", "angle_projection/kernel"}, {"value_projection/kernel"}),
        ("qasa", {"circuit_weights", "angle_projection/kernel"}, {"key/kernel", "query/kernel"}),
        ("orthogonal", {"orthogonal_weights", "unary_projection/kernel"},
         {"value_projection/kernel"}),
        ("kernel", {"circuit_weights", "query_angles/kernel", "key_angles/kernel",
                    "inverse_temperature"}, {"value/kernel"}),
    ],
)
def test_labels_follow_the_kind_under_its_heads(kind, quantum, classical):
    """An adapter (a Linear submodule) named by the kind is quantum as a whole; a name only in
    another kind's list, or outside the quantum heads, is classical."""
    mc = ModelConfig.from_preset("tiny", attention=kind, vocab_size=11, n_layer=1, n_head=4,
                                 quantum_heads=2)
    params = jax.eval_shape(lambda: init(mc, jax.random.key(0)))
    labels = traverse_util.flatten_dict(param_labels(params, KINDS[kind]))
    under = {"/".join(p[3:]): label for p, label in labels.items() if p[2:3] == ("quantum_heads",)}
    assert quantum <= {name for name, label in under.items() if label == "quantum"}
    assert all(under[name] == "classical" for name in classical)
    others = {p: label for p, label in labels.items() if "quantum_heads" not in p}
    assert set(others.values()) == {"classical"}  # the classical heads' key and query too


def test_quantum_learning_rate_applies_to_quantum_parameters_only(enhance_shapes):
    tc = TrainConfig(learning_rate=1e-3, quantum_learning_rate=0.1, weight_decay=0.0)
    params = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), enhance_shapes)
    grads = jax.tree_util.tree_map(jnp.ones_like, params)
    tx = make_optimizer(tc, KINDS["enhance"])
    updates = jax.jit(lambda g, p: tx.update(g, tx.init(p), p)[0])(grads, params)
    labels = traverse_util.flatten_dict(param_labels(params, KINDS["enhance"]))
    # Adam's first step moves every parameter by -lr * g / |g|.
    for path, update in traverse_util.flatten_dict(updates).items():
        lr = 0.1 if labels[path] == "quantum" else 1e-3
        np.testing.assert_allclose(update, -lr, rtol=1e-5, err_msg=str(path))


def test_without_quantum_learning_rate_all_parameters_share_one(enhance_shapes):
    tc = TrainConfig(learning_rate=1e-3, weight_decay=0.0)
    params = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), enhance_shapes)
    grads = jax.tree_util.tree_map(jnp.ones_like, params)
    tx = make_optimizer(tc)
    updates = jax.jit(lambda g, p: tx.update(g, tx.init(p), p)[0])(grads, params)
    for update in jax.tree_util.tree_leaves(updates):
        np.testing.assert_allclose(update, -1e-3, rtol=1e-5)


@pytest.mark.parametrize("quantum_learning_rate", [None, 0.1], ids=["flat", "partitioned"])
def test_matrices_decay_kernels_and_embeddings_only(quantum_learning_rate):
    """nanoGPT's rule: with zero gradients a step only decays, so every kernel and embedding
    shrinks by lr * wd and biases, layer-norm scales and circuit angles stay where they are
    (the heads' stacked biases have two axes, and are still not decayed)."""
    tc = TrainConfig(learning_rate=0.1, weight_decay=0.5, weight_decay_on="matrices",
                     quantum_learning_rate=quantum_learning_rate)
    mc = ModelConfig.from_preset("tiny", attention="qkv", vocab_size=11, n_head=4,
                                 quantum_heads=2)
    shapes = jax.eval_shape(lambda: init(mc, jax.random.key(0)))
    params = jax.tree_util.tree_map(lambda s: jnp.ones(s.shape, s.dtype), shapes)
    grads = jax.tree_util.tree_map(jnp.zeros_like, params)
    tx = make_optimizer(tc, KINDS["qkv"])
    updates = jax.jit(lambda g, p: tx.update(g, tx.init(p), p)[0])(grads, params)
    flat = traverse_util.flatten_dict(updates)
    assert {path[-1] for path in flat} >= {"kernel", "embedding", "bias", "scale",
                                           "circuit_weights"}
    assert any(path[-1] == "bias" and update.ndim == 2 for path, update in flat.items())
    for path, update in flat.items():
        expected = -0.1 * 0.5 if path[-1] in {"kernel", "embedding"} else 0.0
        np.testing.assert_allclose(update, expected, rtol=1e-6, err_msg=str(path))


def test_matrices_decay_equals_optax_adamw_with_the_mask(enhance_shapes):
    """The flat-moment form of the masked optimizer is optax.adamw's, over a few steps."""
    tc = TrainConfig(learning_rate=0.05, weight_decay=0.1, weight_decay_on="matrices",
                     beta2=0.99, grad_clip=1.0, warmup_iters=2, lr_schedule="cosine",
                     max_iters=5)
    reference = optax.chain(
        optax.clip_by_global_norm(1.0),
        optax.adamw(learning_rate_schedule(tc, tc.learning_rate), b1=tc.beta1, b2=tc.beta2,
                    eps=tc.eps, weight_decay=tc.weight_decay, mask=decayed),
    )
    leaves, treedef = jax.tree_util.tree_flatten(enhance_shapes)
    rng = np.random.default_rng(0)
    params = treedef.unflatten([jnp.asarray(rng.normal(size=s.shape), s.dtype) for s in leaves])
    ours, theirs = params, params
    tx = make_optimizer(tc)
    state, ref_state = tx.init(ours), reference.init(theirs)
    for _ in range(4):
        g = treedef.unflatten([jnp.asarray(rng.normal(size=s.shape), s.dtype) for s in leaves])
        updates, state = tx.update(g, state, ours)
        ours = optax.apply_updates(ours, updates)
        updates, ref_state = reference.update(g, ref_state, theirs)
        theirs = optax.apply_updates(theirs, updates)
    jax.tree_util.tree_map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), ours, theirs
    )


# --- the train step ------------------------------------------------------------------------------


def test_train_step_is_pure(model_config, dataset):
    tc = TrainConfig.from_preset("tiny")
    keys = RunKeys.from_seed(0)
    state = create_state(model_config, tc, 0)
    params_before = jax.tree_util.tree_map(np.array, state.params)
    batch = get_batch(dataset.tokens, keys.data, tc.batch_size, model_config.block_size)
    step = jax.jit(train_step)

    s1, m1 = step(state, batch, keys.dropout)
    s2, m2 = step(state, batch, keys.dropout)
    assert float(m1["loss"]) == float(m2["loss"])
    for a, b in zip(jax.tree_util.tree_leaves(s1.params), jax.tree_util.tree_leaves(s2.params),
                    strict=True):
        np.testing.assert_array_equal(a, b)
    # The input state is untouched and the output state has moved on by one step.
    assert int(state.step) == 0 and int(s1.step) == 1
    for a, b in zip(jax.tree_util.tree_leaves(params_before),
                    jax.tree_util.tree_leaves(state.params), strict=True):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(
        jax.tree_util.tree_leaves(params_before), jax.tree_util.tree_leaves(s1.params),
        strict=True))
    # The key drives dropout: another key, another loss.
    other_key = jax.random.fold_in(keys.dropout, 1)
    _, m3 = step(state, batch, other_key)
    assert float(m3["loss"]) != float(m1["loss"])


def test_run_keys_are_deterministic_and_distinct():
    a, b = RunKeys.from_seed(0), RunKeys.from_seed(0)
    for name in ("init", "data", "eval", "sample"):
        np.testing.assert_array_equal(jax.random.key_data(getattr(a, name)),
                                      jax.random.key_data(getattr(b, name)))
    data = [jax.random.key_data(getattr(a, n)) for n in ("init", "data", "eval", "sample")]
    assert len({bytes(np.asarray(d)) for d in data}) == 4
    np.testing.assert_array_equal(jax.random.key_data(a.dropout),
                                  jax.random.key_data(b.dropout))
    assert not np.array_equal(jax.random.key_data(RunKeys.from_seed(1).init),
                              jax.random.key_data(a.init))


# --- learning-rate schedule and gradient clipping ------------------------------------------------


def first_updates(tc: TrainConfig, steps: int, grad: float = 1.0) -> list[float]:
    """The update of one parameter (weight decay off) for ``steps`` constant gradients."""
    tx = make_optimizer(tc)
    params = {"w": jnp.zeros(())}
    state = tx.init(params)
    updates = []
    for _ in range(steps):
        update, state = tx.update({"w": jnp.asarray(grad)}, state, params)
        updates.append(float(update["w"]))
    return updates


def test_warmup_then_constant():
    tc = TrainConfig(learning_rate=0.1, weight_decay=0.0, warmup_iters=4)
    # Adam's step with a constant gradient is -lr; the learning rate ramps 0, 0.025, ... 0.1.
    np.testing.assert_allclose(first_updates(tc, 6), [-0.0, -0.025, -0.05, -0.075, -0.1, -0.1],
                               rtol=1e-5, atol=1e-7)


def test_cosine_decays_to_the_minimum():
    tc = TrainConfig(learning_rate=0.1, weight_decay=0.0, warmup_iters=2, lr_schedule="cosine",
                     min_learning_rate=0.01, max_iters=10)
    updates = -np.asarray(first_updates(tc, 11))
    np.testing.assert_allclose(updates[:3], [0.0, 0.05, 0.1], rtol=1e-5, atol=1e-7)
    assert all(a >= b for a, b in zip(updates[2:], updates[3:], strict=False))  # decays
    np.testing.assert_allclose(updates[10], 0.01, rtol=1e-5)  # reaches the minimum at max_iters
    np.testing.assert_allclose(updates[6], 0.01 + 0.09 * 0.5, rtol=1e-5)  # halfway: the middle


def test_default_optimizer_has_no_schedule_and_no_clipping():
    """The preset that reproduces the original keeps a constant rate and unclipped gradients."""
    tc = TrainConfig.from_preset("original")
    assert (tc.warmup_iters, tc.lr_schedule, tc.grad_clip) == (0, "constant", None)
    np.testing.assert_allclose(first_updates(dataclasses.replace(tc, weight_decay=0.0), 3),
                               [-tc.learning_rate] * 3, rtol=1e-4)  # Adam's eps


def test_gradient_clipping_by_global_norm():
    """Clipping happens before Adam: a huge first gradient clipped to norm 1 weighs like a
    gradient of 1 in Adam's moments, which the second step shows."""
    tc = TrainConfig(learning_rate=0.1, weight_decay=0.0, grad_clip=1.0)
    tx = make_optimizer(tc)
    reference = optax.adamw(0.1, weight_decay=0.0)
    params = {"a": jnp.zeros(()), "b": jnp.zeros(())}
    grads = [{"a": jnp.asarray(300.0), "b": jnp.asarray(400.0)},  # norm 500 -> clipped to 1
             {"a": jnp.asarray(0.3), "b": jnp.asarray(0.4)}]  # norm 0.5 -> unchanged
    state, ref_state = tx.init(params), reference.init(params)
    for g in grads:
        update, state = tx.update(g, state, params)
        scale = min(1.0, 1.0 / float(optax.global_norm(g)))
        clipped = {name: value * scale for name, value in g.items()}
        expected, ref_state = reference.update(clipped, ref_state, params)
        for name in ("a", "b"):
            np.testing.assert_allclose(update[name], expected[name], rtol=1e-5)
    unclipped = make_optimizer(dataclasses.replace(tc, grad_clip=None))
    s = unclipped.init(params)
    for g in grads:
        plain, s = unclipped.update(g, s, params)
    assert abs(float(plain["a"]) - float(update["a"])) > 1e-3  # clipping changed the result


@pytest.mark.parametrize("field, value, message", [
    ("warmup_iters", -1, "warmup_iters must be a non-negative integer"),
    ("lr_schedule", "linear", "unknown lr_schedule 'linear'; choose one of: constant, cosine"),
    ("min_learning_rate", 1.0, "min_learning_rate must be in"),
    ("grad_clip", 0.0, "grad_clip must be positive"),
    ("weight_decay_on", "norms", "unknown weight_decay_on 'norms'; choose one of: all, matrices"),
])
def test_schedule_fields_are_validated(field, value, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**{field: value})
