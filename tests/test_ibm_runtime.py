"""qgpt_jax.quantum.ibm_runtime: the batched path's jobs through IBM Runtime's SamplerV2, tested in
Runtime's local testing mode on fake backends (no account, no network)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qgpt_jax.config import ModelConfig
from qgpt_jax.errors import ConfigError, QuantumExecutionError
from qgpt_jax.quantum import ibm_runtime
from qgpt_jax.quantum.devices import CircuitExecutor, validate_device
from qgpt_jax.quantum.resources import circuit_resources, hardware_estimate

N_QUBITS, N = 4, 24
SECRET = "f" * 96  # shaped like an IBM Quantum API token


def inputs(seed: int = 0):
    rng = np.random.default_rng(seed)
    angles = rng.uniform(-2, 2, (N, N_QUBITS)).astype(np.float32)
    weights = rng.uniform(-2, 2, (3 * N_QUBITS,)).astype(np.float32)
    return jnp.asarray(angles), jnp.asarray(weights)


class PubCounter:
    """Wraps a runner's sampler: the PUBs of every job and their binding counts."""

    def __init__(self, executor):
        self.jobs: list[list[int]] = []
        sampler = executor.runner.simulator
        run = sampler.run

        def counted(pubs, **kwargs):
            self.jobs.append([len(values) for _, values in pubs])
            return run(pubs, **kwargs)

        sampler.run = counted


@pytest.mark.parametrize("backend, noise", [("fake_manila", "manila"), ("fake_nairobi", "nairobi")])
def test_values_match_aer_with_the_same_noise_model_within_shot_noise(backend, noise):
    shots = 4000
    angles, weights = inputs()
    on_runtime = CircuitExecutor(N_QUBITS, "ibm.runtime", shots=shots, backend=backend)
    on_aer = CircuitExecutor(N_QUBITS, "aer", shots=shots, noise=noise)
    values = np.asarray(on_runtime(angles, weights))
    difference = values - np.asarray(on_aer(angles, weights))
    # Each value is a mean of `shots` samples in [-1, 1]: the difference of two independent ones
    # has a standard deviation of at most sqrt(2 / shots).
    sigma = np.sqrt(2 / shots)
    assert np.abs(difference).max() < 5 * sigma
    assert np.abs(difference).mean() < 2 * sigma
    # Job k samples with seed k in local testing mode: a new runner repeats, the next job not.
    again = CircuitExecutor(N_QUBITS, "ibm.runtime", shots=shots, backend=backend)
    np.testing.assert_array_equal(again(angles, weights), values)
    assert not np.array_equal(again(angles, weights), values)


def test_one_pub_per_call_forward_and_gradient_with_heads_vmapped_and_jitted():
    shots = 64
    executor = CircuitExecutor(N_QUBITS, "ibm.runtime", shots=shots, backend="fake_manila")
    counter = PubCounter(executor)
    angles, weights = inputs()
    heads = jnp.stack([weights, weights + 0.5])  # two heads of a layer, vmapped

    @jax.jit
    def loss(weights):
        return jax.vmap(lambda w: executor(angles, w))(weights).sum()

    value, grads = jax.value_and_grad(loss)(heads)
    assert np.isfinite(value) and grads.shape == heads.shape and np.all(np.isfinite(grads))
    # One job of one PUB forward (both heads' bindings), one for the shifted weight angles.
    recorded = executor.runner.submitted()
    (program,) = executor.runner._programs.values()  # one circuit structure
    assert counter.jobs == [[2 * N], [2 * N * 2 * len(program.shared)]]
    assert recorded["jobs"] == recorded["pubs"] == 2 == len(recorded["job_ids"])
    assert recorded["shots"] == executor.executions() * shots == sum(map(sum, counter.jobs)) * shots


def test_gradient_matches_aer_with_the_same_noise_model_within_shot_noise():
    shots = 20_000
    angles, weights = inputs(1)
    angles = angles[:4]
    on_runtime = CircuitExecutor(N_QUBITS, "ibm.runtime", shots=shots, backend="fake_manila")
    on_aer = CircuitExecutor(N_QUBITS, "aer", shots=shots, noise="manila")
    sampled = jax.grad(lambda w: on_runtime(angles, w).sum())(weights)
    reference = jax.grad(lambda w: on_aer(angles, w).sum())(weights)
    # A weight's derivative sums (v+ - v-) / 2 over 4 bindings and at most 2 gate angles, each
    # value within sqrt(1 / shots); two independent such sums differ by at most this sigma.
    sigma = np.sqrt(2 * 4 * 2 * 2 / 4 / shots)
    assert np.abs(np.asarray(sampled) - np.asarray(reference)).max() < 5 * sigma
    assert np.abs(np.asarray(reference)).max() > 8 * sigma  # the test can see a wrong gradient


@pytest.mark.parametrize("fields, expected", [
    ({"device": "ibm.runtime", "shots": 64}, "needs --backend"),
    ({"device": "ibm.runtime", "backend": "fake_manila"}, "give --shots"),
    ({"device": "aer", "backend": "fake_manila"}, "--backend needs --device ibm.runtime"),
    ({"device": "ibm.runtime", "shots": 64, "backend": "fake_nowhere"}, "unknown fake backend"),
    ({"device": "ibm.runtime", "shots": 64, "backend": "fake_manila", "noise": "manila"},
     "brings its own noise"),
    ({"device": "ibm.runtime", "shots": 64, "backend": "fake_armonk"}, "has 1 qubits"),
])
def test_impossible_runtime_settings_are_one_line_config_errors(fields, expected):
    config = ModelConfig(attention="enhance", n_qubits=N_QUBITS).on(**fields)
    with pytest.raises(ConfigError, match=expected) as caught:
        validate_device(config)
    assert "\n" not in str(caught.value)


@pytest.fixture
def fresh_backends():
    ibm_runtime.runtime_backend.cache_clear()
    yield
    ibm_runtime.runtime_backend.cache_clear()


def test_no_account_is_one_line_exit_3_without_account_details(monkeypatch, fresh_backends):
    import qiskit_ibm_runtime

    class NoAccount:
        def __init__(self, *args, **kwargs):
            raise qiskit_ibm_runtime.accounts.AccountNotFoundError(f"token {SECRET} is not saved")

    monkeypatch.setattr(qiskit_ibm_runtime, "QiskitRuntimeService", NoAccount)
    with pytest.raises(QuantumExecutionError) as caught:
        ibm_runtime.runtime_backend("ibm_torino")
    message = str(caught.value)
    assert caught.value.exit_code == 3 and "\n" not in message
    assert "ibm_torino" in message and "save_account" in message and SECRET not in message


def test_an_unknown_account_backend_is_exit_3(monkeypatch, fresh_backends):
    import qiskit_ibm_runtime

    class Service:
        def backend(self, name):
            raise qiskit_ibm_runtime.exceptions.QiskitBackendNotFoundError(f"{SECRET}: no {name}")

    monkeypatch.setattr(qiskit_ibm_runtime, "QiskitRuntimeService", Service)
    with pytest.raises(QuantumExecutionError, match="not available to the saved") as caught:
        ibm_runtime.runtime_backend("ibm_nowhere")
    assert SECRET not in str(caught.value)


def test_a_failed_job_names_the_backend_and_never_the_token(monkeypatch):
    executor = CircuitExecutor(N_QUBITS, "ibm.runtime", shots=64, backend="fake_manila")
    monkeypatch.setattr(ibm_runtime, "_account_secrets", lambda: ["crn:v1:my-instance"])

    def refuse(pubs, **kwargs):
        raise RuntimeError(f"401 for token {SECRET} on instance crn:v1:my-instance")

    executor.runner.simulator.run = refuse
    angles, weights = inputs()
    with pytest.raises(QuantumExecutionError) as caught:
        executor(angles, weights)
    message = str(caught.value)
    assert "fake_manila" in message and "401" in message
    assert SECRET not in message and "my-instance" not in message


def test_hardware_cost_uses_the_backends_own_durations():
    torino = circuit_resources(N_QUBITS, backend="fake_torino")
    manila = circuit_resources(N_QUBITS, backend="fake_manila")
    rep_delay = ibm_runtime.rep_delay_seconds(ibm_runtime.runtime_backend("fake_torino"))
    assert rep_delay > 0 and rep_delay < torino["shot_s"] < rep_delay + 1e-3
    assert torino["shot_s"] != manila["shot_s"] and torino["depth"] != manila["depth"]

    from qgpt_jax.config import TrainConfig

    mc = ModelConfig(attention="enhance", n_qubits=N_QUBITS).on(
        device="ibm.runtime", shots=1000, backend="fake_torino"
    )
    tc = TrainConfig(max_iters=10, eval_interval=10, eval_iters=1)
    estimate = hardware_estimate(mc, tc, forward=8, shifted=3, shot_s=torino["shot_s"])
    assert estimate["hours_per_run"] == pytest.approx(
        estimate["shots_per_run"] * torino["shot_s"] / 3600
    )
    assert "fake_torino" in estimate["assumption"]


@pytest.mark.parametrize("kind", ["enhance", "original"])
def test_the_jobs_a_step_would_submit_are_those_a_gradient_step_submits(kind):
    """``jobs_per_forward`` counts on ``aer``; a forward and gradient through Runtime submits twice
    that, one PUB each, and the report's estimate says so."""
    from qgpt_jax.attention import executor_scope
    from qgpt_jax.config import TrainConfig
    from qgpt_jax.model import forward, init
    from qgpt_jax.quantum.resources import jobs_per_forward

    mc = ModelConfig.from_preset("tiny", attention=kind).on(
        device="ibm.runtime", shots=64, backend="fake_manila"
    )
    params = init(mc, jax.random.key(0))
    idx = jnp.zeros((2, mc.block_size), dtype=jnp.int32)  # the batch does not change the jobs
    with executor_scope(mc) as executors:
        jax.grad(lambda p: forward(mc, p, idx).sum())(params)
        submitted = executors.submitted()
    per_forward = jobs_per_forward(mc)
    assert per_forward >= mc.n_layer  # at least one call per layer
    assert submitted["jobs"] == submitted["pubs"] == 2 * per_forward
    tc = TrainConfig(max_iters=10, eval_interval=5, eval_iters=2)
    estimate = hardware_estimate(mc, tc, forward=8, shifted=3, jobs_forward=per_forward)
    assert estimate["jobs_per_step"] == submitted["jobs"]
    assert estimate["jobs_per_run"] == submitted["jobs"] * 10 + per_forward * 2 * 2 * 3
