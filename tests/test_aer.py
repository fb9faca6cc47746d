"""The batched Aer path against PennyLane's default.qubit, plus shots, noise and error handling."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pennylane as qml
import pytest

from qgpt_jax.errors import ConfigError, QuantumExecutionError
from qgpt_jax.quantum.aer import BatchedAerCircuit
from qgpt_jax.quantum.circuits import original_circuit
from qgpt_jax.quantum.host import reraise_failures
from qgpt_jax.quantum.noise import available_backends, validate_backend
from qgpt_jax.quantum.resources import circuit_resources

N_QUBITS = 4
N = 8
# Gate angles of the 4-qubit circuit: 4 feature phases + 4 ZZ phases (circular pairs) + 12 RY.
N_GATE_ANGLES = 20
N_WEIGHTS = 3 * N_QUBITS


@pytest.fixture(scope="module")
def exact():
    return BatchedAerCircuit(N_QUBITS)


@pytest.fixture(scope="module")
def reference():
    device = qml.device("default.qubit", wires=N_QUBITS)
    return qml.QNode(original_circuit, device, interface="jax", diff_method="backprop")


@pytest.fixture(scope="module")
def inputs():
    rng = np.random.default_rng(7)
    angles = jnp.asarray(np.tanh(rng.normal(size=(N, N_QUBITS))), jnp.float32)
    weights = jnp.asarray(rng.normal(size=N_WEIGHTS), jnp.float32)
    return angles, weights


COTANGENT = jnp.linspace(-1.0, 1.0, N)


def weighted_sum(circuit):
    return lambda angles, weights: jnp.sum(COTANGENT * circuit(angles, weights))


@pytest.mark.parametrize("jit", [False, True])
def test_values_match_default_qubit(exact, reference, inputs, jit):
    run = jax.jit(exact) if jit else exact
    exact.executions = 0
    values = run(*inputs)
    assert values.shape == (N,) and values.dtype == jnp.float32
    np.testing.assert_allclose(values, reference(*inputs), atol=1e-5)
    assert exact.executions == N


@pytest.mark.parametrize("jit", [False, True])
def test_gradients_match_default_qubit(exact, reference, inputs, jit):
    value_and_grad = jax.value_and_grad(weighted_sum(exact), argnums=(0, 1))
    if jit:
        value_and_grad = jax.jit(value_and_grad)
    exact.executions = 0
    value, (d_angles, d_weights) = value_and_grad(*inputs)
    ref_value, (ref_angles, ref_weights) = jax.value_and_grad(weighted_sum(reference),
                                                              argnums=(0, 1))(*inputs)
    np.testing.assert_allclose(value, ref_value, atol=1e-5)
    np.testing.assert_allclose(d_angles, ref_angles, atol=1e-4)
    np.testing.assert_allclose(d_weights, ref_weights, atol=1e-4)
    # Forward N, then every gate angle shifted both ways for every binding.
    assert exact.executions == N + N * 2 * N_GATE_ANGLES


def test_stopped_angles_shift_only_the_weights(exact, reference, inputs):
    """An original head stops the angles' gradient: only the 3n ansatz angles are shifted."""

    def loss(circuit):
        return lambda angles, weights: weighted_sum(circuit)(jax.lax.stop_gradient(angles),
                                                             weights)

    exact.executions = 0
    _, d_weights = jax.jit(jax.value_and_grad(loss(exact), argnums=1))(*inputs)
    _, ref_weights = jax.value_and_grad(loss(reference), argnums=1)(*inputs)
    np.testing.assert_allclose(d_weights, ref_weights, atol=1e-4)
    assert exact.executions == N + N * 2 * N_WEIGHTS


def test_inside_scan(exact, reference, inputs):
    angles, weights = inputs
    steps = jnp.stack([angles, -angles, 0.5 * angles])

    def total(circuit):
        def body(carry, step_angles):
            return carry + weighted_sum(circuit)(step_angles, weights * carry), None

        return lambda w0: jax.lax.scan(body, w0, steps)[0]

    value, grad = jax.jit(jax.value_and_grad(total(exact)))(jnp.float32(1.0))
    ref_value, ref_grad = jax.value_and_grad(total(reference))(jnp.float32(1.0))
    np.testing.assert_allclose(value, ref_value, atol=1e-5)
    np.testing.assert_allclose(grad, ref_grad, atol=1e-4)


def test_sampling_repeats_from_run_to_run(inputs):
    """Job k of an executor samples with seed k: the same calls give the same estimates."""
    angles, weights = inputs
    first, second = (BatchedAerCircuit(N_QUBITS, shots=64) for _ in range(2))
    a = [np.asarray(first(angles, weights)) for _ in range(2)]
    b = [np.asarray(second(angles, weights)) for _ in range(2)]
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], a[1])  # later jobs draw other samples


def test_shots_estimate_within_five_standard_errors(reference, inputs):
    shots = 4000
    sampled = BatchedAerCircuit(N_QUBITS, shots=shots)
    estimates = np.asarray(jax.jit(sampled)(*inputs))
    values = np.asarray(reference(*inputs))
    standard_error = np.sqrt((1 - values**2) / shots)
    assert np.all(np.abs(estimates - values) <= 5 * standard_error + 1e-6)
    assert sampled.executions == N


def test_noise_changes_values_and_keeps_them_bounded(exact, inputs):
    noisy = BatchedAerCircuit(N_QUBITS, noise="manila")
    values = np.asarray(noisy(*inputs))
    assert np.all(np.abs(values) <= 1.0)
    assert np.max(np.abs(values - np.asarray(exact(*inputs)))) > 1e-2
    d_weights = jax.grad(weighted_sum(noisy), argnums=1)(*inputs)
    assert np.all(np.isfinite(d_weights))


def test_unknown_backend_lists_the_available_ones():
    with pytest.raises(ConfigError, match="manila.*nairobi") as info:
        validate_backend("atlantis", N_QUBITS)
    assert "atlantis" in str(info.value) and "\n" not in str(info.value)
    assert {"manila", "nairobi"} <= set(available_backends())


def test_too_many_qubits_names_both_numbers():
    with pytest.raises(ConfigError, match=r"5 qubits .* needs 6"):
        BatchedAerCircuit(6, noise="manila")


def test_aer_failure_raises_quantum_execution_error(inputs):
    broken = BatchedAerCircuit(N_QUBITS)

    class FailingSimulator:
        def run(self, *args, **kwargs):
            raise RuntimeError("simulator on fire")

    broken.simulator = FailingSimulator()
    with pytest.raises(QuantumExecutionError, match="simulator on fire"):
        broken(*inputs)
    with pytest.raises(QuantumExecutionError, match="simulator on fire") as info:
        with reraise_failures(broken):
            jax.jit(broken)(*inputs).block_until_ready()
    assert "\n" not in str(info.value) and broken.last_failure is None  # raised once, then gone
    other = BatchedAerCircuit(N_QUBITS)  # its state is its own: another circuit's failure
    assert other.last_failure is None


def qiskit_reference_resources(n_qubits: int) -> tuple[int, int]:
    """Depth and two-qubit gates of Qiskit's own zz_feature_map + real_amplitudes (the circuit
    the original built), transpiled to the same basis as the report: an independent construction."""
    from qiskit import transpile
    from qiskit.circuit.library import real_amplitudes, zz_feature_map

    circuit = zz_feature_map(n_qubits, reps=1, entanglement="circular").compose(
        real_amplitudes(n_qubits, reps=2, entanglement="circular")
    )
    transpiled = transpile(circuit, basis_gates=["rz", "sx", "x", "cx"], seed_transpiler=0)
    return transpiled.depth(), transpiled.count_ops().get("cx", 0)


@pytest.mark.parametrize("n_qubits", [3, 4, 5])
def test_circuit_resources_match_qiskits_own_circuit(n_qubits):
    generic = circuit_resources(n_qubits)
    depth, two_qubit = qiskit_reference_resources(n_qubits)
    assert generic["width"] == n_qubits
    assert generic["two_qubit_gates"] == two_qubit == 4 * n_qubits  # 2 per ZZ pair, 1 per entangler
    assert generic["depth"] == depth
    assert generic["parameters"] == n_qubits + n_qubits + 3 * n_qubits  # H-phase, ZZ pairs, RY


def test_noise_backend_routing_adds_two_qubit_gates():
    generic = circuit_resources(N_QUBITS)["two_qubit_gates"]
    manila = circuit_resources(N_QUBITS, noise="manila")  # a line: circular pairs need swaps
    assert manila["two_qubit_gates"] > generic and manila["depth"] > circuit_resources(N_QUBITS)[
        "depth"]


def test_vmapped_heads_share_one_job(monkeypatch, inputs):
    """The heads of a layer run vmapped: all their bindings go into one Aer job, forward and
    gradient, and agree with separate calls."""
    runner = BatchedAerCircuit(N_QUBITS)
    jobs = []
    run = runner.run
    monkeypatch.setattr(runner, "run", lambda program, rows: jobs.append(len(rows)) or run(
        program, rows))
    angles = jnp.stack([inputs[0], -inputs[0]])  # (2 heads, N, n)
    weights = jnp.stack([inputs[1], 0.5 * inputs[1]])  # (2 heads, 3n)
    values = jax.jit(jax.vmap(runner))(angles, weights)
    assert jobs == [2 * N]
    separate = jnp.stack([runner(angles[h], weights[h]) for h in range(2)])
    np.testing.assert_allclose(values, separate, atol=1e-6)

    def loss(a, w):
        return jnp.sum(COTANGENT * jax.vmap(runner)(a, w))

    jobs.clear()
    grads = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))(angles, weights)[1]
    assert jobs == [2 * N, 2 * N * 2 * N_GATE_ANGLES]
    for h in range(2):
        expected = jax.grad(weighted_sum(runner), argnums=(0, 1))(angles[h], weights[h])
        np.testing.assert_allclose(grads[0][h], expected[0], atol=1e-5)
        np.testing.assert_allclose(grads[1][h], expected[1], atol=1e-5)


@pytest.mark.parametrize("shots", [None, 64])
def test_a_job_in_chunks_gives_what_one_aer_run_gives(monkeypatch, shots):
    """Bindings go to Aer in runs of at most CHUNK_BINDINGS; each run is seeded where its first
    binding's seed lies in one run (AER_SEED_STEP), so the samples are exactly one run's."""
    from qgpt_jax.quantum import aer

    runner = BatchedAerCircuit(N_QUBITS, shots=shots)
    rng = np.random.default_rng(3)
    program, rows = runner.bindings(rng.uniform(-1, 1, (37, N_QUBITS)), rng.normal(size=12))
    whole = runner.run(program, rows)
    monkeypatch.setattr(aer, "CHUNK_BINDINGS", 8)
    runner._jobs = 0  # the same job seed again
    calls = []
    run = runner.simulator.run
    monkeypatch.setattr(runner.simulator, "run", lambda *a, **k: calls.append(k) or run(*a, **k))
    chunked = runner.run(program, rows)
    assert len(calls) == 5  # 8 + 8 + 8 + 8 + 5 bindings
    np.testing.assert_array_equal(chunked, whole)
