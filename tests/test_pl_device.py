"""The ``qgpt.aer`` PennyLane device: same values as default.qubit, one Aer job per batch."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pennylane as qml
import pytest
from pennylane import numpy as pnp
from pennylane.exceptions import DeviceError

from qgpt_jax.errors import QuantumExecutionError
from qgpt_jax.quantum.circuits import (
    ATTENTION,
    ATTENTION_Z,
    KERNEL_OVERLAP,
    n_circuit_weights,
)
from qgpt_jax.quantum.pl_device import QgptAerDevice

ONE_QUBIT = [
    qml.RX,
    qml.RY,
    qml.RZ,
    qml.PhaseShift,
    qml.Hadamard,
    qml.PauliX,
    qml.PauliY,
    qml.PauliZ,
    qml.S,
    qml.T,
    qml.SX,
    qml.Rot,
    qml.U3,
]
TWO_QUBIT = [
    qml.CNOT,
    qml.CZ,
    qml.CY,
    qml.SWAP,
    qml.ISWAP,
    qml.ECR,
    qml.IsingXX,
    qml.IsingYY,
    qml.IsingZZ,
    qml.CRX,
    qml.CRY,
    qml.CRZ,
    qml.ControlledPhaseShift,
]
THREE_QUBIT = [qml.Toffoli, qml.CSWAP]


def random_gates(seed: int, n_qubits: int, depth: int):
    """A random gate list ``[(op class, wires, n_params)]`` of the gates the project uses, plus
    every other gate the device maps or decomposes."""
    rng = np.random.default_rng(seed)
    pool = ONE_QUBIT + TWO_QUBIT + (THREE_QUBIT if n_qubits >= 3 else [])
    gates = []
    for _ in range(depth):
        op = pool[rng.integers(len(pool))]
        wires = tuple(rng.choice(n_qubits, op.num_wires, replace=False).tolist())
        gates.append((op, wires, op.num_params))
    return gates


def build(gates, measurements):
    """A QNode function applying ``gates`` with angles from ``params`` (flat, maybe (B, P))."""

    def circuit(params):
        k = 0
        for op, wires, n_params in gates:
            op(*[params[..., k + j] for j in range(n_params)], wires=wires)
            k += n_params
        return measurements()

    return circuit


def measurements_3q():
    return (
        qml.expval(qml.Z(0) @ qml.Z(1) @ qml.Z(2)),
        qml.expval(qml.X(1)),
        qml.expval(qml.Y(0) @ qml.X(2)),
        qml.var(qml.Z(1)),
        qml.probs(wires=[2, 0]),
    )


@pytest.fixture(scope="module")
def exact_dev():
    return qml.device("qgpt.aer", wires=3)


def test_device_loads_by_name():
    dev = qml.device("qgpt.aer", wires=2, seed=1)
    assert isinstance(dev, QgptAerDevice)
    assert dev.name == "qgpt.aer"


@pytest.mark.parametrize("seed", range(4))
def test_random_circuits_equal_default_qubit(exact_dev, seed):
    gates = random_gates(seed, 3, 14)
    n_params = sum(g[2] for g in gates)
    params = np.random.default_rng(100 + seed).uniform(-math.pi, math.pi, n_params)
    circuit = build(gates, measurements_3q)
    got = qml.QNode(circuit, exact_dev)(params)
    expected = qml.QNode(circuit, qml.device("default.qubit", wires=3))(params)
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, atol=1e-6)


def test_broadcast_equals_default_qubit(exact_dev):
    gates = random_gates(7, 3, 16)
    n_params = sum(g[2] for g in gates)
    params = np.random.default_rng(7).uniform(-math.pi, math.pi, (5, n_params))
    circuit = build(gates, measurements_3q)
    got = qml.QNode(circuit, exact_dev)(params)
    expected = qml.QNode(circuit, qml.device("default.qubit", wires=3))(params)
    for g, e in zip(got, expected, strict=True):
        assert np.shape(g) == np.shape(e)
        np.testing.assert_allclose(g, e, atol=1e-6)


def test_hermitian_and_labelled_wires():
    """Observables without a Pauli rotation go through their own diagonalising gates; wire
    labels need not be integers."""
    matrix = np.array([[1.0, 2.0 - 1.0j], [2.0 + 1.0j, -0.5]])

    def circuit(x):
        qml.RX(x, "a")
        qml.CNOT(["a", "b"])
        qml.RY(2 * x, "b")
        return qml.expval(qml.Hermitian(matrix, "b")), qml.expval(qml.Z("a"))

    got = qml.QNode(circuit, qml.device("qgpt.aer", wires=["a", "b"]))(0.4)
    expected = qml.QNode(circuit, qml.device("default.qubit", wires=["a", "b"]))(0.4)
    np.testing.assert_allclose(got, expected, atol=1e-6)


@pytest.mark.parametrize("op", ONE_QUBIT + TWO_QUBIT + THREE_QUBIT, ids=lambda op: op.__name__)
def test_every_gate_equals_default_qubit(exact_dev, op):
    params = np.random.default_rng(11).uniform(-math.pi, math.pi, op.num_params)

    def circuit():
        for wire, angle in enumerate((0.3, -1.1, 2.0)):
            qml.RY(angle, wire)
            qml.RZ(angle / 3, wire)
        op(*params, wires=range(op.num_wires))
        return measurements_3q()

    got = qml.QNode(circuit, exact_dev)()
    expected = qml.QNode(circuit, qml.device("default.qubit", wires=3))()
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, atol=1e-6)


# Backprop of default.qubit casts complex intermediates to real parameters: harmless here.
@pytest.mark.filterwarnings("ignore::numpy.exceptions.ComplexWarning")
def test_parameter_shift_equals_backprop(exact_dev):
    gates = random_gates(3, 3, 12)
    n_params = sum(g[2] for g in gates)
    params = pnp.array(np.random.default_rng(3).uniform(-math.pi, math.pi, n_params))

    def measure():
        return qml.expval(qml.Z(0) @ qml.X(2))

    circuit = build(gates, measure)
    shift = qml.QNode(circuit, exact_dev, diff_method="parameter-shift")
    backprop = qml.QNode(circuit, qml.device("default.qubit", wires=3), diff_method="backprop")
    np.testing.assert_allclose(
        qml.jacobian(shift)(params), qml.jacobian(backprop)(params), atol=1e-5
    )


def counting_jobs(monkeypatch, dev) -> list:
    """Record every Aer job the device submits (the number of bindings or circuits of each)."""
    jobs = []
    run = dev._simulator.run

    def counted(circuits, **kwargs):
        binds = kwargs.get("parameter_binds")
        jobs.append(len(next(iter(binds[0].values()))) if binds else len(circuits))
        return run(circuits, **kwargs)

    monkeypatch.setattr(dev._simulator, "run", counted)
    return jobs


def test_batch_of_tapes_is_one_job(monkeypatch, exact_dev):
    jobs = counting_jobs(monkeypatch, exact_dev)
    tapes = [
        qml.tape.QuantumScript(
            [qml.RX(x, 0), qml.CNOT([0, 1]), qml.RY(2 * x, 1)], [qml.expval(qml.Z(1))]
        )
        for x in np.linspace(0, 3, 9)
    ]
    with qml.Tracker(exact_dev) as tracker:
        results = qml.execute(tapes, exact_dev)
    assert jobs == [9]
    assert tracker.totals["executions"] == 9 and tracker.totals["jobs"] == 1
    dq = qml.execute(tapes, qml.device("default.qubit", wires=3))
    np.testing.assert_allclose(results, dq, atol=1e-6)


def attention_inputs(n_qubits: int, batch: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    inputs = rng.uniform(0, math.pi, (batch, n_qubits))
    weights = rng.uniform(-math.pi, math.pi, n_circuit_weights(n_qubits))
    return inputs, weights


@pytest.mark.parametrize("circuit", [ATTENTION, ATTENTION_Z], ids=lambda c: c.name)
def test_attention_circuit_equals_default_qubit(circuit):
    n = 4
    inputs, weights = attention_inputs(n, 6)
    qfunc = circuit.qfunc(n, compact=False)
    got = qml.QNode(qfunc, qml.device("qgpt.aer", wires=n))(inputs, weights)
    expected = qml.QNode(qfunc, qml.device("default.qubit", wires=n))(inputs, weights)
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_attention_jax_jit_parameter_shift_is_one_job(monkeypatch):
    """The QNode the executor would build: JAX-JIT interface, parameter shift. The forward
    tape of the broadcast batch and all its shifted tapes (the weight Jacobian) are one job."""
    n = 4
    inputs, weights = attention_inputs(n, 8, seed=1)
    dev = qml.device("qgpt.aer", wires=n)
    jobs = counting_jobs(monkeypatch, dev)
    qfunc = ATTENTION.qfunc(n, compact=False)
    shift = qml.QNode(qfunc, dev, interface="jax-jit", diff_method="parameter-shift")
    backprop = qml.QNode(qfunc, qml.device("default.qubit", wires=n), diff_method="backprop")
    x, w = jnp.asarray(inputs), jnp.asarray(weights)
    got = jax.jit(jax.jacobian(shift, argnums=1))(x, w)
    assert jobs == [8 * (1 + 2 * len(weights))]
    np.testing.assert_allclose(got, jax.jacobian(backprop, argnums=1)(x, w), atol=1e-5)
    jobs.clear()
    np.testing.assert_allclose(jax.jit(shift)(x, w), backprop(x, w), atol=1e-6)
    assert jobs == [8]


def stacked_sum(values):
    """Sum of a QNode's outputs, one measurement or several."""
    if isinstance(values, (list, tuple)):
        values = jnp.stack(values, axis=-1)
    return jnp.sum(values * jnp.linspace(0.5, 1.5, values.size).reshape(values.shape))


@pytest.mark.parametrize("circuit", [ATTENTION, ATTENTION_Z, KERNEL_OVERLAP], ids=lambda c: c.name)
def test_device_derivatives_equal_backprop_in_two_jobs(circuit):
    """``diff_method="device"`` on broadcast inputs (no broadcast_expand): a jitted value and
    gradient with respect to the per-binding inputs and the shared weights equals default.qubit's
    backprop, and runs as one job for the values and one for every shifted binding."""
    n, batch = 4, 6
    rng = np.random.default_rng(5)
    x = jnp.asarray(rng.uniform(0, math.pi, (batch, circuit.inputs_per_qubit * n)))
    w = jnp.asarray(rng.uniform(-math.pi, math.pi, n_circuit_weights(n)))
    qfunc = circuit.qfunc(n, compact=False)
    dev = qml.device("qgpt.aer", wires=n)
    device = qml.QNode(qfunc, dev, interface="jax", diff_method="device")
    backprop = qml.QNode(qfunc, qml.device("default.qubit", wires=n), diff_method="backprop")

    def loss(qnode):
        return jax.jit(jax.value_and_grad(lambda a, b: stacked_sum(qnode(a, b)), argnums=(0, 1)))

    with qml.Tracker(dev) as tracker:
        value, (dx, dw) = loss(device)(x, w)
    expected, (ex, ew) = loss(backprop)(x, w)
    assert tracker.totals["jobs"] == 2
    np.testing.assert_allclose(value, expected, atol=1e-5)
    assert dx.shape == x.shape and dw.shape == w.shape
    np.testing.assert_allclose(dx, ex, atol=1e-5)
    np.testing.assert_allclose(dw, ew, atol=1e-5)


def test_device_jacobian_of_broadcast_tape_per_element():
    """``jax.jacobian`` (the VJP vectorized over outputs) of a broadcast QNode: each output
    depends on its own inputs only, the shared weights reach every output."""
    n, batch = 3, 4
    inputs, weights = attention_inputs(n, batch, seed=6)
    qfunc = ATTENTION.qfunc(n, compact=False)
    device = qml.QNode(qfunc, qml.device("qgpt.aer", wires=n), diff_method="device")
    backprop = qml.QNode(qfunc, qml.device("default.qubit", wires=n), diff_method="backprop")
    x, w = jnp.asarray(inputs), jnp.asarray(weights)
    got = jax.jit(jax.jacobian(device, argnums=(0, 1)))(x, w)
    expected = jax.jacobian(backprop, argnums=(0, 1))(x, w)
    assert got[0].shape == (batch, batch, n) and got[1].shape == (batch, len(weights))
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, atol=1e-5)


def mixed_circuit(x, y):
    """Decomposed gates (Rot, CRY), a global phase and expval, var and probs together."""
    qml.RX(x, 0)
    qml.Rot(y[0], y[1], y[2], 1)
    qml.CNOT([0, 1])
    qml.IsingXX(y[1], [1, 2])
    qml.GlobalPhase(y[2])
    qml.CRY(x, [2, 0])
    return qml.expval(qml.X(0) @ qml.Y(2)), qml.var(qml.Z(1)), qml.probs(wires=[0, 2])


@pytest.mark.filterwarnings("ignore::numpy.exceptions.ComplexWarning")
@pytest.mark.parametrize("x", [0.7, [0.1, 0.7, 1.9]], ids=["single", "broadcast"])
def test_device_jacobian_of_every_measurement_equals_backprop(x):
    """PennyLane's Jacobian layout through autograd, variance (not linear in the probabilities)
    included, with and without broadcasting."""
    x, y = pnp.array(x), pnp.array([0.3, -1.2, 2.1])

    def flat(qnode):
        return lambda a, b: qml.math.hstack([qml.math.reshape(r, (-1,)) for r in qnode(a, b)])

    device = qml.QNode(mixed_circuit, qml.device("qgpt.aer", wires=3), diff_method="device")
    backprop = qml.QNode(
        mixed_circuit, qml.device("default.qubit", wires=3), diff_method="backprop"
    )
    got = qml.jacobian(flat(device))(x, y)
    expected = qml.jacobian(flat(backprop))(x, y)
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, atol=1e-8)


def test_device_derivatives_only_by_name_and_with_shots():
    """``"best"`` stays parameter shift; sampled device derivatives estimate the exact ones;
    a sample is not differentiable."""
    dev = qml.device("qgpt.aer", wires=1, seed=4)

    def circuit(y):
        qml.RX(y[0], 0)
        qml.RY(y[1], 0)
        return qml.expval(qml.Z(0))

    assert qml.workflow.get_best_diff_method(qml.QNode(circuit, dev))(pnp.array([0.4, 0.9])) == (
        "parameter-shift"
    )
    sampled = qml.set_shots(qml.QNode(circuit, dev, diff_method="device"), 20000)
    y = pnp.array([0.4, 0.9])
    exact = -np.array([np.sin(0.4) * np.cos(0.9), np.cos(0.4) * np.sin(0.9)])
    np.testing.assert_allclose(qml.grad(sampled)(y), exact, atol=0.03)

    @qml.set_shots(shots=10)
    @qml.qnode(dev, diff_method="device")
    def samples(a):
        qml.RX(a, 0)
        return qml.sample(wires=0)

    with pytest.raises(DeviceError, match="no device derivative of SampleMP"):
        qml.jacobian(samples)(pnp.array(0.3))


def test_shots_within_five_sigma_and_seeded():
    n, shots = 4, 4000
    inputs, weights = attention_inputs(n, 5, seed=2)
    qfunc = ATTENTION_Z.qfunc(n, compact=False)
    exact = np.array(qml.QNode(qfunc, qml.device("default.qubit", wires=n))(inputs, weights))

    def sampled(seed):
        dev = qml.device("qgpt.aer", wires=n, seed=seed)
        return np.array(qml.set_shots(qml.QNode(qfunc, dev), shots)(inputs, weights))

    got = sampled(5)
    sigma = np.sqrt((1 - exact**2) / shots)
    assert np.all(np.abs(got - exact) <= 5 * sigma + 1e-12)
    assert not np.allclose(got, exact, atol=1e-9)
    np.testing.assert_array_equal(got, sampled(5))


def test_samples_counts_and_shot_vectors():
    dev = qml.device("qgpt.aer", wires=2, seed=3)

    @qml.set_shots(shots=(100, 300))
    @qml.qnode(dev)
    def circuit():
        qml.Hadamard(0)
        qml.CNOT([0, 1])
        return qml.sample(wires=[0, 1]), qml.counts(qml.Z(0) @ qml.Z(1))

    (samples_a, counts_a), (samples_b, counts_b) = circuit()
    assert samples_a.shape == (100, 2) and samples_b.shape == (300, 2)
    assert np.all(samples_a[:, 0] == samples_a[:, 1])
    assert counts_a == {1: 100} and counts_b == {1: 300}


def test_noise_runs_and_differs_from_exact():
    n = 3
    inputs, weights = attention_inputs(n, 4, seed=4)
    qfunc = ATTENTION.qfunc(n, compact=False)
    exact = qml.QNode(qfunc, qml.device("qgpt.aer", wires=n))(inputs, weights)
    noisy = qml.QNode(qfunc, qml.device("qgpt.aer", wires=n, noise="manila"))(inputs, weights)
    sampled = qml.set_shots(
        qml.QNode(qfunc, qml.device("qgpt.aer", wires=n, noise="manila", seed=0)), 2000
    )(inputs, weights)
    assert np.all(np.abs(noisy - exact) < 0.3)
    assert np.max(np.abs(noisy - exact)) > 1e-3
    assert np.all(np.abs(sampled - noisy) < 5 * np.sqrt(1 / 2000) + 1e-12)


class Unsupported(qml.operation.Operation):
    """A gate with neither a qiskit counterpart nor a decomposition."""

    num_wires = 1
    num_params = 0


def test_unsupported_operation_and_measurement_raise_device_error(exact_dev):
    @qml.qnode(exact_dev)
    def gate():
        Unsupported(wires=0)
        return qml.expval(qml.Z(0))

    @qml.qnode(exact_dev)
    def state():
        qml.Hadamard(0)
        return qml.state()

    with pytest.raises(DeviceError, match="Unsupported"):
        gate()
    with pytest.raises(DeviceError, match="StateMP not accepted for analytic"):
        state()


def test_failed_job_raises_quantum_execution_error(monkeypatch):
    dev = qml.device("qgpt.aer", wires=1)

    def broken(*args, **kwargs):
        raise RuntimeError("simulator\nexploded")

    monkeypatch.setattr(dev._simulator, "run", broken)
    tape = qml.tape.QuantumScript([qml.RX(0.1, 0)], [qml.expval(qml.Z(0))])
    with pytest.raises(
        QuantumExecutionError, match="1 circuit bindings failed.*simulator exploded"
    ):
        qml.execute([tape], dev)
    assert dev.last_failure is not None and "simulator exploded" in str(dev.last_failure)


def test_a_failed_job_inside_jit_comes_back_as_the_devices_own_error(monkeypatch):
    """Under ``jax.jit`` the job fails inside PennyLane's host callback, and JAX re-raises it as
    its own error; the device keeps its last failure, which ``host.reraise_failures`` restores."""
    from qgpt_jax.quantum.devices import CircuitExecutor
    from qgpt_jax.quantum.host import reraise_failures

    executor = CircuitExecutor(2, "qgpt.aer", circuit=ATTENTION_Z)

    def broken(*args, **kwargs):
        raise RuntimeError("simulator\nexploded")

    monkeypatch.setattr(executor.device._simulator, "run", broken)
    angles = jnp.full((3, ATTENTION_Z.n_inputs(2)), 0.3)
    weights = jnp.zeros(n_circuit_weights(2))
    message = "qgpt.aer: Aer job of .* circuit bindings failed .*: simulator exploded"
    with pytest.raises(QuantumExecutionError, match=message) as info:
        with reraise_failures(executor.device):
            jax.jit(executor.__call__)(angles, weights).block_until_ready()
    assert "\n" not in str(info.value) and executor.device.last_failure is None


@pytest.mark.parametrize("shots", ["None", "10000"])
def test_pennylane_device_suite_passes(shots, tmp_path):
    """PennyLane's own device tests (``pl-device-test``), exact and sampled. ``--skip-ops`` turns
    operations and measurements the device declines with a "not supported" error into expected
    failures, as the suite intends for devices that support a subset."""
    env = {**os.environ, "AER_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from pennylane.devices.tests import cli; cli()",
         "--device", "qgpt.aer", "--shots", shots, "--skip-ops", "-q", "--tb=line",
         "-p", "no:cacheprovider"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
    )
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert not re.search(r"\d+ (failed|errors?)\b", summary), summary
    assert int(re.search(r"(\d+) passed", summary).group(1)) > 350
