"""The device switch: every device runs the same circuit and they agree in analytic mode."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qgpt_jax.attention import executor_scope, validated
from qgpt_jax.config import ModelConfig
from qgpt_jax.errors import ConfigError
from qgpt_jax.quantum import devices
from qgpt_jax.quantum.devices import CircuitExecutor

N_QUBITS = 4


@pytest.fixture(scope="module")
def inputs():
    rng = np.random.default_rng(1)
    angles = jnp.asarray(rng.uniform(-1, 1, (3, N_QUBITS)), jnp.float32)
    weights = jnp.asarray(rng.normal(0, 0.5, 3 * N_QUBITS), jnp.float32)
    cotangent = jnp.asarray([0.3, -1.0, 0.7], jnp.float32)
    return angles, weights, cotangent


def value_and_grads(device, angles, weights, cotangent):
    run = CircuitExecutor(N_QUBITS, device)

    def objective(a, w):
        return jnp.sum(run(a, w) * cotangent)

    values = jax.jit(run.__call__)(angles, weights)
    grads = jax.jit(jax.grad(objective, argnums=(0, 1)))(angles, weights)
    return values, grads


@pytest.fixture(scope="module")
def reference(inputs):
    return value_and_grads("default.qubit", *inputs)


@pytest.mark.parametrize("device", ["lightning.qubit", "qiskit.aer"])
def test_devices_agree_with_default_qubit(device, inputs, reference):
    values, (grad_angles, grad_weights) = value_and_grads(device, *inputs)
    ref_values, (ref_angles, ref_weights) = reference
    np.testing.assert_allclose(values, ref_values, atol=1e-5)
    np.testing.assert_allclose(grad_angles, ref_angles, atol=1e-4)
    np.testing.assert_allclose(grad_weights, ref_weights, atol=1e-4)


@pytest.mark.parametrize("device", ["lightning.qubit", "qgpt.aer"])
def test_host_devices_count_their_executions(device, inputs):
    """A host device counts one execution per binding and call, from zero, and its own only;
    an in-graph device counts none (its circuits are counted from shapes)."""
    run, other = CircuitExecutor(N_QUBITS, device), CircuitExecutor(N_QUBITS, device)
    n = inputs[0].shape[0]
    assert run.executions() == 0
    call = jax.jit(run.__call__)
    call(inputs[0], inputs[1]).block_until_ready()
    assert run.executions() == n
    call(inputs[0][:2], inputs[1]).block_until_ready()  # another shape: a second program
    assert run.executions() == n + 2 and other.executions() == 0
    assert CircuitExecutor(N_QUBITS, "default.qubit").executions() is None


def test_lightning_counts_forward_and_adjoint_passes(inputs):
    """Lightning runs every binding of a call in one callback; a gradient adds an adjoint pass
    per binding, as PennyLane's tracker counted them (executions plus derivatives)."""
    run = CircuitExecutor(N_QUBITS, "lightning.qubit")
    n = inputs[0].shape[0]
    jax.jit(run.__call__)(inputs[0], inputs[1]).block_until_ready()
    assert run.executions() == n
    jax.jit(jax.grad(lambda a, w: run(a, w).sum(), argnums=(0, 1)))(inputs[0], inputs[1])
    assert run.executions() == n + 2 * n


@pytest.mark.parametrize("device", ["qgpt.aer", "qiskit.aer"])
def test_host_device_tracker_keeps_totals_not_history(device, inputs):
    """PennyLane's tracker would keep every result (a default bench grew past 2 GB)."""
    run = CircuitExecutor(N_QUBITS, device)
    for _ in range(3):
        jax.jit(run.__call__)(inputs[0], inputs[1]).block_until_ready()
    tracker = run.device.tracker
    assert tracker.history == {}
    assert tracker.totals["executions"] == 3 * inputs[0].shape[0]  # one per binding and call
    assert run.executions() == tracker.totals["executions"] + tracker.totals.get("derivatives", 0)


def test_executor_scope_gives_each_run_its_own_counts(inputs):
    config = ModelConfig(attention="enhance", n_qubits=N_QUBITS).on(device="lightning.qubit")
    with devices.executor_scope(config) as first:
        run = devices.executor_for(config)
        assert devices.executor_for(config) is run  # built once per scope and circuit
        jax.jit(run.__call__)(inputs[0], inputs[1]).block_until_ready()
        with devices.executor_scope(config) as second:
            assert devices.executor_for(config) is not run and second.executions() == 0
        assert devices.executor_for(config) is run
    assert first.executions() == run.executions() > 0
    assert devices.executor_for(config) is not run  # outside a scope: a new one
    classical = dataclasses.replace(config, attention="classical")
    with executor_scope(classical) as none:  # the kind's scope: a classical model runs none
        assert none is None


def test_unknown_device_lists_known_ones():
    with pytest.raises(ConfigError, match="known devices: default.qubit, lightning.qubit"):
        validated(ModelConfig(attention="enhance").on(device="braket.local"))


def test_missing_plugin_names_the_package(monkeypatch):
    spec = dataclasses.replace(devices.DEVICES["lightning.qubit"], module="not_installed_mod")
    monkeypatch.setitem(devices.DEVICES, "lightning.qubit", spec)
    with pytest.raises(ConfigError, match="pip install pennylane-lightning"):
        validated(ModelConfig(attention="enhance").on(device="lightning.qubit"))


def test_shots_need_a_sampling_device():
    with pytest.raises(ConfigError, match="exact expectation values"):
        validated(ModelConfig(attention="original").on(shots=100))


def test_qgpt_aer_runs_every_vmapped_head_of_a_call_in_one_job_per_direction(inputs):
    """The heads of a layer reach the qgpt.aer device as one broadcast tape: a jitted value and
    gradient over two vmapped heads is two Aer jobs (forward, shifted), the bindings and the
    results those of the batched aer path."""
    angles, weights, _ = inputs
    heads_angles, heads_weights = jnp.stack([angles, -angles]), jnp.stack([weights, weights / 2])
    results = {}
    for device in ("aer", "qgpt.aer"):
        run = CircuitExecutor(N_QUBITS, device)

        def loss(a, w, run=run):
            return (jax.vmap(run)(a, w) ** 2).sum()

        value_and_grad = jax.jit(jax.value_and_grad(loss, (0, 1)))
        results[device] = (value_and_grad(heads_angles, heads_weights), run.executions())
    tracker = run.device.tracker.totals
    assert tracker["jobs"] == 2
    assert tracker["batches"] == tracker["derivative_batches"] == 1
    (value, grads), executions = results["qgpt.aer"]
    (ref_value, ref_grads), ref_executions = results["aer"]
    assert executions == ref_executions == tracker["executions"]
    np.testing.assert_allclose(value, ref_value, atol=1e-5)
    for got, want in zip(grads, ref_grads, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-4)
