"""The device switch: one place that turns a device name into a function running a circuit.

``CircuitExecutor(n_qubits, device, ..., circuit=...)`` is a callable ``(angles (N, k n), weights
(3n,)) -> (N,)`` or ``(N, outputs)`` that every quantum head uses, whatever the device. Executors
have an explicit lifetime: the training engine opens a scope per run with
``executor_scope(config)``, reads the run's circuit count from it, and drops it when the scope
closes. Inside the scope each circuit's QNode is built once, the first time a head asks for it
with ``executor_for(config, circuit)`` (at trace time, never inside a training loop); outside any
scope (a library user calling ``forward``) each trace of a model builds its own. Devices:

* ``default.qubit``: PennyLane's simulator; with backprop the circuit compiles into the jitted train
  step like any other JAX code.
* ``lightning.qubit``: PennyLane Lightning (C++), adjoint differentiation; every binding of a call
  goes through Lightning's state vector and adjoint Jacobian in one host callback
  (``qgpt_jax.quantum.lightning``).
* ``qiskit.aer``: pennylane-qiskit's Aer device, parameter-shift gradients, shots optional.
* ``aer``: this project's batched Aer path (``qgpt_jax.quantum.aer``): one transpiled circuit, every
  parameter set of a step bound into one Aer job.
* ``qgpt.aer``: the same path as a PennyLane device (``qgpt_jax.quantum.pl_device``), with its own
  shift rule; the heads' bindings of a call go to it as one broadcast tape
  (``qgpt_jax.quantum.device_heads``), one job per call and direction.
* ``ibm.runtime``: IBM Runtime's SamplerV2 on ``backend`` (``qgpt_jax.quantum.ibm_runtime``):
  the Aer path's transpile-once and one-PUB-per-call, sent as jobs of one Runtime batch;
  ``fake_*`` backends run in Runtime's local testing mode.

``aer``, ``qgpt.aer``, ``ibm.runtime`` and ``lightning.qubit`` are runners of one host protocol
(``qgpt_jax.quantum.host``: a callback and a custom VJP per call, every vmapped head in it).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import importlib.util
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import pennylane as qml

from qgpt_jax.errors import ConfigError
from qgpt_jax.profiling import HOST_PREFIX
from qgpt_jax.quantum.circuits import ATTENTION, Circuit


def no_device_options(shots, noise, threads) -> dict:
    return {}


def qiskit_aer_options(shots, noise, threads) -> dict:
    """pennylane-qiskit's Aer device: its simulator options from ours."""
    from qgpt_jax.quantum.aer import aer_options

    return aer_options(shots=shots, noise=noise, threads=threads)


def aer_runner(n_qubits: int, circuit: Circuit, shots, noise, threads, backend):
    from qgpt_jax.quantum.aer import BatchedAerCircuit

    return BatchedAerCircuit(n_qubits, shots=shots, noise=noise, threads=threads, circuit=circuit)


def lightning_runner(n_qubits: int, circuit: Circuit, shots, noise, threads, backend):
    """Lightning's C++ on every binding of a call in one callback: the QNode path spent over 95%
    of its time in PennyLane's per-tape Python (see quantum/lightning.py)."""
    from qgpt_jax.quantum.lightning import BatchedLightningCircuit

    return BatchedLightningCircuit(n_qubits, circuit)


def runtime_runner(n_qubits: int, circuit: Circuit, shots, noise, threads, backend):
    """IBM Runtime's SamplerV2 on ``backend`` as the batched path's job runner."""
    from qgpt_jax.quantum.ibm_runtime import RuntimeCircuit

    return RuntimeCircuit(n_qubits, backend, shots, threads=threads, circuit=circuit)


def qgpt_aer_runner(n_qubits: int, circuit: Circuit, shots, noise, threads, backend):
    """The heads on the ``qgpt.aer`` PennyLane device through the host protocol: every vmapped
    head's bindings in one broadcast tape (a QNode per head cannot share a job)."""
    from qgpt_jax.quantum.device_heads import DeviceHeads

    return DeviceHeads(n_qubits, shots, noise, threads, circuit, tracker=CountingTracker())


@dataclass(frozen=True)
class DeviceSpec:
    """A device's name and what it can do, and how ``CircuitExecutor`` builds it: a QNode on
    ``qml.device(name, **options(...))``, or, with ``runner``, this project's batched runner."""

    name: str
    diff_method: str
    package: str
    module: str
    description: str
    shots: bool
    noise: bool
    in_graph: bool
    """True when the simulation is part of the compiled XLA program (no host callback)."""
    states: bool = False
    """True when the device returns a state vector that gradients flow through."""
    backend: bool = False
    """True when the device runs on an IBM Runtime backend (``--backend``, shots required)."""
    runner: Callable | None = None
    """``(n_qubits, circuit, shots, noise, threads, backend) -> runner``: a callable on (angles,
    weights) that counts its ``executions``, used instead of a QNode."""
    options: Callable = no_device_options
    """``(shots, noise, threads) -> dict``: the keyword arguments of ``qml.device``."""


DEVICES: dict[str, DeviceSpec] = {
    spec.name: spec
    for spec in (
        DeviceSpec(
            "default.qubit",
            "backprop",
            "pennylane",
            "pennylane",
            "PennyLane statevector simulator compiled into the train step (fast default)",
            shots=False,
            noise=False,
            in_graph=True,
            states=True,
        ),
        DeviceSpec(
            "lightning.qubit",
            "adjoint",
            "pennylane-lightning",
            "pennylane_lightning",
            "PennyLane Lightning C++ simulator, adjoint gradients",
            shots=False,
            noise=False,
            in_graph=False,
            runner=lightning_runner,
        ),
        DeviceSpec(
            "qiskit.aer",
            "parameter-shift",
            "pennylane-qiskit",
            "pennylane_qiskit",
            "pennylane-qiskit's Aer device, parameter-shift gradients, one job per batch",
            shots=True,
            noise=True,
            in_graph=False,
            options=qiskit_aer_options,
        ),
        DeviceSpec(
            "aer",
            "parameter-shift",
            "qiskit-aer",
            "qiskit_aer",
            "batched Aer path: transpile once, bind every parameter set into one job",
            shots=True,
            noise=True,
            in_graph=False,
            runner=aer_runner,
        ),
        DeviceSpec(
            "qgpt.aer",
            "device",
            "qiskit-aer",
            "qiskit_aer",
            "the batched Aer path as a PennyLane device (qgpt_jax.quantum.pl_device), its own "
            "shift rule; every head's bindings of a call in one broadcast tape, one job",
            shots=True,
            noise=True,
            in_graph=False,
            runner=qgpt_aer_runner,
        ),
        DeviceSpec(
            "ibm.runtime",
            "parameter-shift",
            "qiskit-ibm-runtime",
            "qiskit_ibm_runtime",
            "IBM Runtime's SamplerV2 on --backend (fake_*: local testing mode), the batched "
            "path's jobs: one PUB per circuit structure and call, all in one Runtime Batch",
            shots=True,
            noise=False,
            in_graph=False,
            backend=True,
            runner=runtime_runner,
        ),
    )
}


def validate_device(config) -> None:
    """Check the device, shots and noise fields of a ``ModelConfig``.

    Classical models get the same checks, so that ``--device`` or ``--shots`` with only classical
    models is an error rather than silently ignored.
    """
    spec = DEVICES.get(config.device)
    if spec is None:
        raise ConfigError(
            f"unknown quantum device {config.device!r}; known devices: {', '.join(DEVICES)}"
        )
    if importlib.util.find_spec(spec.module) is None:
        raise ConfigError(
            f"device {spec.name!r} needs the package {spec.package!r}; install it with "
            f"`pip install {spec.package}`"
        )
    if config.shots is not None and not spec.shots:
        shot_devices = ", ".join(n for n, s in DEVICES.items() if s.shots)
        raise ConfigError(
            f"device {spec.name!r} computes exact expectation values; use --shots with one of: "
            f"{shot_devices}"
        )
    if config.noise is not None:
        if not spec.noise:
            noisy = ", ".join(n for n, s in DEVICES.items() if s.noise)
            own = "; a Runtime backend brings its own noise" if spec.backend else ""
            raise ConfigError(f"--noise needs an Aer device ({noisy}), not {spec.name!r}{own}")
        from qgpt_jax.quantum.noise import validate_backend

        validate_backend(config.noise, config.n_qubits)
    backends = ", ".join(n for n, s in DEVICES.items() if s.backend)
    if config.backend is not None and not spec.backend:
        raise ConfigError(f"--backend needs --device {backends}, not {spec.name!r}")
    if spec.backend:
        if config.backend is None:
            raise ConfigError(
                f"device {spec.name!r} needs --backend: fake_manila, fake_torino, ... (local "
                "testing mode) or a backend of your IBM Quantum account, e.g. ibm_torino"
            )
        if config.shots is None:
            raise ConfigError(f"device {spec.name!r} samples circuits; give --shots, e.g. 1024")
        from qgpt_jax.quantum.ibm_runtime import validate_backend_name

        validate_backend_name(config.backend, config.n_qubits)


class CountingTracker(qml.Tracker):
    """PennyLane's device tracker, keeping totals only.

    The stock tracker appends every result, resource summary and shot count to its history, which
    grew a default benchmark past 2 GB of resident memory; only the totals are read here.
    """

    def update(self, **kwargs):
        self.latest = kwargs
        for key, value in kwargs.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.totals[key] = self.totals.get(key, 0) + value


HOST_CALLS = (
    "execute",
    "compute_derivatives",
    "execute_and_compute_derivatives",
    "compute_vjp",
    "execute_and_compute_vjp",
)
"""The methods through which PennyLane runs circuits on a device (new device API)."""


def annotate_host_calls(device, label: str) -> None:
    """Wrap ``device``'s circuit-running methods in profiler annotations, so a profile of a
    host-callback model shows the device's own time (``qgpt_jax.profiling`` reads them)."""
    for method in HOST_CALLS:
        run = getattr(device, method, None)
        if run is not None:
            setattr(device, method, _annotated(run, f"{HOST_PREFIX}{label} {method}"))


def _annotated(run, name: str):
    @functools.wraps(run)
    def annotated(*args, **kwargs):
        with jax.profiler.TraceAnnotation(name):
            return run(*args, **kwargs)

    return annotated


class CircuitExecutor:
    """Runs one circuit for a batch of input-angle vectors on one device; counts executions."""

    def __init__(
        self,
        n_qubits: int,
        device: str = "default.qubit",
        shots: int | None = None,
        noise: str | None = None,
        threads: int | None = None,
        circuit: Circuit = ATTENTION,
        backend: str | None = None,
    ):
        self.n_qubits, self.circuit = n_qubits, circuit
        self.spec = DEVICES[device]
        if circuit.readout_kind == "state" and not self.spec.states:
            raise ConfigError(
                f"device {device!r} does not return differentiable states, which the circuit "
                f"{circuit.name!r} reads; use an overlap circuit there"
            )
        self._run = self._build(shots, noise, threads, backend)

    def _build(self, shots, noise, threads, backend):
        spec = self.spec
        if spec.runner is not None:
            self.runner = spec.runner(self.n_qubits, self.circuit, shots, noise, threads, backend)
            self.device = getattr(self.runner, "device", None)  # a PennyLane device, if any
            return self.runner
        name, kwargs = spec.name, spec.options(shots, noise, threads)
        self.device = qml.device(name, wires=self.circuit.n_wires(self.n_qubits), **kwargs)
        if not self.spec.in_graph:
            self.device.tracker = CountingTracker()
            self.device.tracker.active = True
            annotate_host_calls(self.device, name)
        qnode = qml.QNode(
            # Backprop through a compiled simulator: the fewer operations the better.
            self.circuit.qfunc(self.n_qubits, compact=self.spec.diff_method == "backprop"),
            self.device,
            interface="jax",
            diff_method=self.spec.diff_method,
        )
        if self.spec.diff_method == "parameter-shift":
            # Split the broadcast batch into single tapes before differentiating: PennyLane's
            # parameter-shift Jacobian of a broadcast tape mixes (N,) and (N, 1) shapes.
            qnode = qml.transforms.broadcast_expand(qnode)
        if shots is not None:
            qnode = qml.set_shots(qnode, shots)
        return qnode

    def __call__(self, angles, weights):
        """``angles`` (N, inputs) and ``weights`` (3 n_qubits,) -> (N,) for one readout value,
        else (N, outputs); a state comes back complex."""
        n, outputs = angles.shape[0], self.circuit.n_outputs(self.n_qubits)
        with warnings.catch_warnings():
            # PennyLane casts states to complex128, which JAX without x64 truncates, as intended.
            warnings.filterwarnings("ignore", "Explicitly requested dtype complex128")
            values = self._run(angles, weights)
        if self.circuit.readout_kind == "state":
            return jnp.asarray(values, dtype=jnp.complex64).reshape(n, outputs)
        if isinstance(values, (list, tuple)):  # several expectation values: (outputs, N) parts
            values = jnp.stack([jnp.asarray(v).reshape(n) for v in values], axis=-1)
        values = jnp.asarray(values, dtype=jnp.float32)
        return values.reshape(n) if outputs == 1 else values.reshape(n, outputs)

    def executions(self) -> int | None:
        """Circuits this device actually ran (host devices); ``None`` for in-graph simulation.

        PennyLane's tracker counts parameter-shift circuits as executions and adjoint gradient
        passes separately as derivatives; both are circuit evaluations here.
        """
        if self.spec.in_graph:
            return None
        if self.spec.runner is not None:
            return self.runner.executions
        totals = self.device.tracker.totals
        return int(totals.get("executions", 0) + totals.get("derivatives", 0))

    def submitted(self) -> dict | None:
        """What the runner submitted to IBM Runtime; ``None`` for devices that submit nothing."""
        report = _runner_method(self, "submitted")
        return report() if report is not None else None

    def close(self) -> None:
        """Close what the runner holds open (a Runtime ``Batch``)."""
        close = _runner_method(self, "close")
        if close is not None:
            close()


def _runner_method(executor: CircuitExecutor, name: str):
    return getattr(getattr(executor, "runner", None), name, None)


def executor_key(config) -> tuple:
    return (
        config.n_qubits,
        config.device,
        config.shots,
        config.noise,
        config.aer_threads,
        config.backend,
    )


def new_executor(config, circuit: Circuit) -> CircuitExecutor:
    return CircuitExecutor(
        config.n_qubits,
        config.device,
        config.shots,
        config.noise,
        config.aer_threads,
        circuit,
        backend=config.backend,
    )


class Executors:
    """The executors of one run, one per circuit its heads use, built on first use."""

    def __init__(self, config):
        self.config = config
        self.by_circuit: dict[Circuit, CircuitExecutor] = {}

    def get(self, circuit: Circuit) -> CircuitExecutor:
        if circuit not in self.by_circuit:
            self.by_circuit[circuit] = new_executor(self.config, circuit)
        return self.by_circuit[circuit]

    def executions(self) -> int | None:
        """Circuits the device ran for this run (host devices); ``None`` for in-graph simulation."""
        if DEVICES[self.config.device].in_graph:
            return None
        return sum(executor.executions() for executor in self.by_circuit.values())

    def jobs(self) -> int | None:
        """Jobs the batched runners submitted (one per call and direction); ``None`` when a
        device runs no such jobs (a QNode device)."""
        counts = [getattr(e, "runner", None) for e in self.by_circuit.values()]
        if not counts or not all(hasattr(runner, "jobs") for runner in counts):
            return None
        return sum(runner.jobs for runner in counts)

    def submitted(self) -> dict | None:
        """What this run submitted to IBM Runtime (backend, jobs and their ids, PUBs, shots);
        ``None`` on every other device."""
        parts = [e.submitted() for e in self.by_circuit.values()]
        parts = [part for part in parts if part is not None]
        if not parts:
            return None
        total = {**parts[0], "job_ids": [i for part in parts for i in part["job_ids"]]}
        for key in ("jobs", "pubs", "shots"):
            total[key] = sum(part[key] for part in parts)
        return total

    def close(self) -> None:
        """Close what the runners hold open (a Runtime ``Batch``)."""
        for executor in self.by_circuit.values():
            executor.close()


_SCOPED: contextvars.ContextVar[tuple] = contextvars.ContextVar("qgpt_executors", default=())
"""The open scopes, innermost last: ``(executor_key, Executors)`` pairs."""


@contextlib.contextmanager
def executor_scope(config):
    """Fresh executors for ``config``'s device, used by every head traced inside the scope.

    Yields the run's ``Executors``, so the caller reads its counts; the executors are dropped when
    the scope closes. Whether a model runs circuits at all is its kind's to say:
    ``qgpt_jax.attention.executor_scope`` opens this scope for one that does and yields ``None``
    for one that does not.
    """
    executors = Executors(config)
    token = _SCOPED.set((*_SCOPED.get(), (executor_key(config), executors)))
    try:
        yield executors
    finally:
        _SCOPED.reset(token)
        executors.close()


def executor_for(config, circuit: Circuit = ATTENTION) -> CircuitExecutor:
    """The executor of ``circuit`` in the innermost open scope for ``config``'s device, else a
    new one."""
    key = executor_key(config)
    for scoped_key, executors in reversed(_SCOPED.get()):
        if scoped_key == key:
            return executors.get(circuit)
    return new_executor(config, circuit)
