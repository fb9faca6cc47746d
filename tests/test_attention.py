"""qgpt_jax.attention: the registry, the new kinds (qsann, kernel), surrogates, across devices."""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qgpt_jax import attention
from qgpt_jax.attention import KINDS, circuits_per_forward, kind_of
from qgpt_jax.attention.base import AttentionKind, circuit_weights_param, run_circuit
from qgpt_jax.config import ModelConfig
from qgpt_jax.model import GPT, count_params, init
from qgpt_jax.quantum.circuits import ATTENTION, ATTENTION_Z, KERNEL_OVERLAP, KERNEL_STATE
from qgpt_jax.quantum.devices import CircuitExecutor, executor_scope
from qgpt_jax.quantum.surrogate import product_angles, surrogate
from qgpt_jax.train import param_labels

NEW_KINDS = ("qsann", "kernel")
N_QUBITS = 3


def tiny(kind: str, **overrides) -> ModelConfig:
    values = dict(attention=kind, vocab_size=11, n_qubits=N_QUBITS, block_size=5)
    return ModelConfig.from_preset("tiny", **{**values, **overrides})


def logits_and_grads(config: ModelConfig, params, idx):
    with executor_scope(config):
        apply = jax.jit(lambda p, i: GPT(config).apply({"params": p}, i, deterministic=True))
        out = apply(params, idx)
        grads = jax.jit(jax.grad(lambda p: apply(p, idx).sum()))(params)
    return out, grads


# --- the registry --------------------------------------------------------------------------------


def test_every_quantum_kind_has_a_surrogate_of_the_same_shape():
    for name, kind in KINDS.items():
        if not kind.runs_circuits:
            continue
        twin = KINDS[name + "-surrogate"]
        assert twin.surrogate_of == name and not twin.runs_circuits and twin.head is kind.head
        a, b = tiny(name), tiny(name + "-surrogate")
        assert circuits_per_forward(b, 2, 5) == 0 and circuits_per_forward(a, 2, 5) > 0
        if not kind.same_surrogate_params:  # a differently parametrised control (its own test)
            continue
        pa = jax.eval_shape(lambda a=a: init(a, jax.random.key(0)))
        pb = jax.eval_shape(lambda b=b: init(b, jax.random.key(0)))
        assert jax.tree_util.tree_structure(pa) == jax.tree_util.tree_structure(pb)
        assert count_params(pa) == count_params(pb)


class ScaledHead(nn.Module):
    """A made-up kind for the registry test: classical values scaled by a circuit's <Z...Z>."""

    config: ModelConfig

    @nn.compact
    def __call__(self, x, deterministic: bool):
        cfg = self.config
        B, T, _ = x.shape
        weights = circuit_weights_param(self, cfg.n_qubits, name="scale_circuit")
        angles = jnp.tanh(nn.Dense(cfg.n_qubits, name="angles")(x)).reshape(B * T, -1)
        scale = run_circuit(cfg, ATTENTION, angles, weights).reshape(B, T, 1)
        return nn.Dense(cfg.head_size, name="values")(x) * scale


def test_a_new_kind_is_one_registry_entry(monkeypatch):
    """Configuration, model, optimizer labels and circuit counts all follow the registry."""
    kind = AttentionKind(
        "scaled",
        ScaledHead,
        "test kind",
        circuit=ATTENTION,
        circuits_per_head=lambda config, batch, length: batch * length,
        quantum_params=("scale_circuit",),
    )
    monkeypatch.setitem(KINDS, "scaled", kind)
    config = tiny("scaled")
    assert kind_of(config) is kind and kind.runs_circuits and kind.causal
    params = init(config, jax.random.key(0))
    labels = param_labels(params, kind)["block_0"]["sa"]["quantum_heads"]
    assert labels["scale_circuit"] == "quantum" and labels["values"]["kernel"] == "classical"
    assert circuits_per_forward(config, 2, 5) == 1 * 2 * 2 * 5
    out, _ = logits_and_grads(config, params, jnp.zeros((2, 5), jnp.int32))
    assert out.shape == (2, 5, 11)
    assert "scaled: test kind" in attention.kinds_help()


THROWAWAY_MODULE = '''
"""A kind of a test's own: a per-token circuit on learned angles (trivially causal)."""
import flax.linen as nn
import jax.numpy as jnp

from qgpt_jax.attention.base import AttentionKind, circuit_weights_param, run_circuit
from qgpt_jax.quantum.circuits import ATTENTION_Z


class Head(nn.Module):
    config: object

    @nn.compact
    def __call__(self, x, deterministic):
        cfg = self.config
        B, T, _ = x.shape
        angles = jnp.tanh(nn.Dense(cfg.n_qubits, name="angles")(x)).reshape(B * T, -1)
        z = run_circuit(cfg, ATTENTION_Z, angles, circuit_weights_param(self, cfg.n_qubits))
        return nn.Dense(cfg.head_size, name="values")(z.reshape(B, T, -1))


KIND = AttentionKind(
    "throwaway", Head, "a per-token circuit (test kind)", circuit=ATTENTION_Z,
    circuits_per_head=lambda config, batch, length: batch * length,
    quantum_params=("circuit_weights", "angles"),
)
'''


@pytest.fixture()
def registry_restored():
    saved = dict(KINDS)
    yield
    KINDS.clear()
    KINDS.update(saved)


def test_a_kind_in_a_module_of_its_own_is_everywhere(tmp_path, monkeypatch, registry_restored,
                                                       dataset):
    """One file and one registration: it trains, enters the study with its surrogate and
    classical-matched, and is in --help, the resource report and the hardware estimate."""
    from experiments.compare import build_parser
    from qgpt_jax.compare import quantum_resources
    from qgpt_jax.config import TrainConfig
    from qgpt_jax.engine import train
    from qgpt_jax.study import parse_models

    (tmp_path / "throwaway_kind.py").write_text(THROWAWAY_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    kind = attention.register_module("throwaway_kind")
    assert KINDS["throwaway"] is kind and KINDS["throwaway-surrogate"].surrogate_of == "throwaway"

    vocab = dataset.tokenizer.vocab_size
    mc = ModelConfig.from_preset("tiny", attention="throwaway", vocab_size=vocab, n_qubits=N_QUBITS)
    tc = TrainConfig.from_preset("tiny", max_iters=4, eval_interval=2, final_eval_tokens=64)
    result = train(mc, tc, dataset, progress=False)
    assert np.isfinite(result.step_losses).all() and len(result.step_losses) == 4
    labels = param_labels(init(mc, jax.random.key(0)), kind)["block_0"]["sa"]["quantum_heads"]
    assert labels["angles"]["kernel"] == "quantum" and labels["values"]["kernel"] == "classical"

    models = parse_models("study")
    assert {"throwaway", "throwaway-surrogate", "classical-matched:throwaway"} <= set(models)
    help_text = " ".join(build_parser().format_help().split())
    assert "throwaway: a per-token circuit (test kind)" in help_text
    resources = quantum_resources(mc, tc, dataset)  # the report's resource and cost section
    assert resources["circuit"] == "attention-z" and resources["two_qubit_gates"] > 0
    forward = circuits_per_forward(mc, tc.batch_size, mc.block_size)
    assert resources["circuits_per_forward"] == forward == 1 * 2 * tc.batch_size * mc.block_size
    assert resources["executions_per_step"] > forward and resources["hours_per_run"] > 0


def test_quantum_heads_is_a_field():
    two, one = tiny("qsann", n_head=2), tiny("qsann", n_head=2, quantum_heads=1)
    assert two.n_quantum_heads == 2 and one.n_quantum_heads == 1
    params = init(one, jax.random.key(0))["block_0"]["sa"]
    assert params["quantum_heads"]["circuit_weights"].shape == (1, 3, 3 * N_QUBITS)
    assert params["classical_heads"]["key"]["kernel"].shape[0] == 1
    assert circuits_per_forward(one, 2, 5) == circuits_per_forward(two, 2, 5) // 2


# --- the new kinds -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", NEW_KINDS)
def test_parameter_counts_are_as_stated(kind):
    """qsann: angle projection C*n, 3 ansatzes of 3n, value projection n*hs + hs per head.
    kernel: query and key angles C*n each, value C*hs, one ansatz 3n, inverse temperature."""
    config = ModelConfig.from_preset("original", attention=kind)
    C, n, hs = config.n_embd, config.n_qubits, config.head_size
    per_head = {
        "qsann": C * n + 3 * 3 * n + n * hs + hs,
        "kernel": 2 * C * n + C * hs + 3 * n + 1,
    }[kind]
    classical_head = 3 * C * hs
    classical = count_params(init(dataclasses.replace(config, attention="classical"),
                                  jax.random.key(0)))
    expected = classical + config.n_layer * config.n_quantum_heads * (per_head - classical_head)
    assert count_params(init(config, jax.random.key(0))) == expected
    assert {"qsann": 7793, "kernel": 8309}[kind] == expected


@pytest.mark.parametrize("kind", ["qsann", "kernel", "enhance", "qkv", "qasa", "orthogonal"])
def test_values_and_gradients_agree_across_devices(kind):
    config = tiny(kind)
    params = init(config, jax.random.key(0))
    idx = jax.random.randint(jax.random.key(1), (2, 5), 0, 11)
    reference, reference_grads = logits_and_grads(config, params, idx)
    for device in ("lightning.qubit", "aer", "qgpt.aer"):
        out, grads = logits_and_grads(config.on(device=device), params, idx)
        np.testing.assert_allclose(out, reference, atol=1e-5)
        for a, b in zip(jax.tree_util.tree_leaves(grads),
                        jax.tree_util.tree_leaves(reference_grads), strict=True):
            np.testing.assert_allclose(a, b, atol=1e-4)


@pytest.mark.parametrize("kind", [*NEW_KINDS, "qkv", "qasa", "orthogonal"])
def test_pennylane_qiskit_aer_gives_the_same_values(kind):
    """pennylane-qiskit runs each circuit on its own: values only, on a small input."""
    config = tiny(kind, block_size=3, n_layer=1)
    params = init(config, jax.random.key(0))
    idx = jnp.array([[1, 2, 3]])
    with executor_scope(config):
        reference = GPT(config).apply({"params": params}, idx)
    qiskit = config.on(device="qiskit.aer")
    with executor_scope(qiskit) as executors:
        out = jax.jit(lambda p: GPT(qiskit).apply({"params": p}, idx))(params)
        assert executors.executions() == circuits_per_forward(qiskit, 1, 3)
    np.testing.assert_allclose(out, reference, atol=1e-5)


@pytest.mark.parametrize("kind, device", [
    ("qsann", "default.qubit"), ("qsann", "aer"), ("kernel", "default.qubit"), ("kernel", "aer"),
    ("enhance", "aer"), ("kernel", "lightning.qubit"),
    ("qsann-surrogate", "default.qubit"), ("kernel-surrogate", "default.qubit"),
])  # a surrogate runs no circuit, so it has no other device to try
def test_changing_token_j_changes_no_output_before_j(kind, device):
    config = tiny(kind).on(device=device)
    params = init(config, jax.random.key(0))
    idx = jnp.array([[1, 2, 3, 4, 5]])
    changed = idx.at[0, 3].set(9)
    with executor_scope(config):
        apply = jax.jit(lambda i: GPT(config).apply({"params": params}, i))
        a, b = apply(idx), apply(changed)
    np.testing.assert_array_equal(a[:, :3], b[:, :3])
    assert not np.allclose(a[:, 3:], b[:, 3:])


def test_kernel_counts_its_overlap_circuits_on_aer():
    config = tiny("kernel").on(device="aer")
    params = init(config, jax.random.key(0))
    with executor_scope(config) as executors:
        jax.jit(lambda p: GPT(config).apply({"params": p}, jnp.ones((2, 5), jnp.int32)))(params)
        assert executors.executions() == circuits_per_forward(config, 2, 5) == 2 * 2 * 15


# --- circuits and surrogates ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def pairs():
    rng = np.random.default_rng(0)
    x, y = rng.uniform(-1, 1, (2, 6, N_QUBITS))
    w = rng.normal(0, 0.3, 3 * N_QUBITS)
    return jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32), jnp.asarray(w, jnp.float32)


def test_kernel_fidelity_from_states_equals_the_overlap_circuit(pairs):
    x, y, w = pairs
    states = CircuitExecutor(N_QUBITS, circuit=KERNEL_STATE)
    from_states = jnp.abs(jnp.sum(states(x, w).conj() * states(y, w), -1)) ** 2
    overlap = CircuitExecutor(N_QUBITS, circuit=KERNEL_OVERLAP)
    np.testing.assert_allclose(overlap(jnp.concatenate([x, y], -1), w), from_states, atol=1e-5)
    np.testing.assert_allclose(overlap(jnp.concatenate([x, x], -1), w), 1.0, atol=1e-5)
    assert float(from_states.min()) < 0.9  # different inputs are told apart


def test_kernel_feature_map_weights_do_not_cancel(pairs):
    x, y, w = pairs
    overlap = CircuitExecutor(N_QUBITS, circuit=KERNEL_OVERLAP)
    xy = jnp.concatenate([x, y], -1)
    assert not np.allclose(overlap(xy, w), overlap(xy, w + 0.5), atol=1e-3)


def test_shots_estimate_overlaps_within_their_error(pairs):
    x, y, w = pairs
    xy = jnp.concatenate([x, y], -1)
    exact = CircuitExecutor(N_QUBITS, "aer", circuit=KERNEL_OVERLAP)(xy, w)
    shots = 4096
    sampled = CircuitExecutor(N_QUBITS, "aer", shots=shots, circuit=KERNEL_OVERLAP)(xy, w)
    sigma = np.sqrt(np.clip(exact * (1 - exact), 1e-4, None) / shots)
    assert np.all(np.abs(sampled - exact) < 5 * sigma)


def test_every_z_readout_matches_on_every_device(pairs):
    x, _, w = pairs
    reference = CircuitExecutor(N_QUBITS, circuit=ATTENTION_Z)(x, w)
    assert reference.shape == (6, N_QUBITS)
    for device in ("lightning.qubit", "aer", "qgpt.aer"):
        np.testing.assert_allclose(
            CircuitExecutor(N_QUBITS, device, circuit=ATTENTION_Z)(x, w), reference, atol=1e-5
        )


def test_surrogate_readouts_are_one_product_state(pairs):
    x, y, w = pairs
    phi = product_angles(x, w, N_QUBITS)
    np.testing.assert_allclose(surrogate(ATTENTION_Z, x, w, N_QUBITS), jnp.cos(phi), atol=1e-6)
    np.testing.assert_allclose(
        surrogate(ATTENTION, x, w, N_QUBITS), jnp.prod(jnp.cos(phi), -1), atol=1e-6
    )
    sx, sy = surrogate(KERNEL_STATE, x, w, N_QUBITS), surrogate(KERNEL_STATE, y, w, N_QUBITS)
    np.testing.assert_allclose(jnp.linalg.norm(sx, axis=-1), 1.0, atol=1e-6)
    from_states = jnp.abs(jnp.sum(sx.conj() * sy, -1)) ** 2
    overlap = surrogate(KERNEL_OVERLAP, jnp.concatenate([x, y], -1), w, N_QUBITS)
    np.testing.assert_allclose(overlap, from_states, atol=1e-5)
    # Its <Z_0> is the Z expectation of its own state (qubit 0 is the first wire).
    probabilities = (jnp.abs(sx) ** 2).reshape(6, 2, -1).sum(-1)
    np.testing.assert_allclose(probabilities[:, 0] - probabilities[:, 1], jnp.cos(phi[:, 0]),
                               atol=1e-5)


def test_a_state_readout_is_refused_where_states_are_not_returned():
    from qgpt_jax.errors import ConfigError

    with pytest.raises(ConfigError, match="does not return differentiable states"):
        CircuitExecutor(N_QUBITS, "lightning.qubit", circuit=KERNEL_STATE)
