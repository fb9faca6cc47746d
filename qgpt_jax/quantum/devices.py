"""The device switch: one place that turns a device name into a function running the circuit.

``CircuitExecutor(n_qubits, device, ...)`` is a callable ``(angles (N, n), weights (3n,)) -> (N,)``
that every quantum head uses, whatever the device. Executors have an explicit lifetime: the training
engine opens one per run with ``executor_scope(config)`` (its QNode is built once, when the scope
opens, never inside a training loop), reads the run's circuit count from it, and drops it when the
scope closes. Heads find the scope's executor with ``executor_for(config)``; outside any scope (a
library user calling ``forward``) each trace of a model builds its own. Devices:

* ``default.qubit``: PennyLane's simulator; with backprop the circuit compiles into the jitted train
  step like any other JAX code.
* ``lightning.qubit``: PennyLane Lightning (C++), adjoint differentiation, called from jit through
  PennyLane's JAX-JIT interface.
* ``qiskit.aer``: pennylane-qiskit's Aer device, parameter-shift gradients, shots optional.
* ``aer``: this project's batched Aer path (``qgpt_jax.quantum.aer``): one transpiled circuit, every
  parameter set of a step bound into one Aer job.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib.util
from dataclasses import dataclass

import jax.numpy as jnp
import pennylane as qml

from qgpt_jax.errors import ConfigError


@dataclass(frozen=True)
class DeviceSpec:
    name: str
    diff_method: str
    package: str
    module: str
    description: str
    shots: bool
    noise: bool
    in_graph: bool
    """True when the simulation is part of the compiled XLA program (no host callback)."""


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
            raise ConfigError(f"--noise needs an Aer device ({noisy}), not {spec.name!r}")
        from qgpt_jax.quantum.noise import validate_backend

        validate_backend(config.noise, config.n_qubits)


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


class CircuitExecutor:
    """Runs the attention circuit for a batch of angle vectors on one device; counts executions."""

    def __init__(
        self,
        n_qubits: int,
        device: str = "default.qubit",
        shots: int | None = None,
        noise: str | None = None,
        threads: int | None = None,
    ):
        self.n_qubits = n_qubits
        self.spec = DEVICES[device]
        self._run = self._build(shots, noise, threads)

    def _build(self, shots, noise, threads):
        from qgpt_jax.quantum.circuits import seed_circuit

        name = self.spec.name
        if name == "aer":
            from qgpt_jax.quantum.aer import BatchedAerCircuit

            self.backend = BatchedAerCircuit(
                self.n_qubits, shots=shots, noise=noise, threads=threads
            )
            return self.backend
        kwargs = {}
        if name == "qiskit.aer":
            from qgpt_jax.quantum.aer import aer_options

            kwargs.update(aer_options(shots=shots, noise=noise, threads=threads))
        self.device = qml.device(name, wires=self.n_qubits, **kwargs)
        if not self.spec.in_graph:
            self.device.tracker = CountingTracker()
            self.device.tracker.active = True
        qnode = qml.QNode(
            seed_circuit, self.device, interface="jax", diff_method=self.spec.diff_method
        )
        if self.spec.diff_method == "parameter-shift":
            # Split the broadcast batch into single tapes before differentiating: PennyLane's
            # parameter-shift Jacobian of a broadcast tape mixes (N,) and (N, 1) shapes.
            qnode = qml.transforms.broadcast_expand(qnode)
        if shots is not None:
            qnode = qml.set_shots(qnode, shots)
        return qnode

    def __call__(self, angles, weights):
        """``angles`` (N, n_qubits) and ``weights`` (3 n_qubits,) -> <Z...Z> of shape (N,)."""
        return jnp.asarray(self._run(angles, weights), dtype=jnp.float32).reshape(angles.shape[0])

    def executions(self) -> int | None:
        """Circuits this device actually ran (host devices); ``None`` for in-graph simulation.

        PennyLane's tracker counts parameter-shift circuits as executions and adjoint gradient
        passes separately as derivatives; both are circuit evaluations here.
        """
        if self.spec.in_graph:
            return None
        if self.spec.name == "aer":
            return self.backend.executions
        totals = self.device.tracker.totals
        return int(totals.get("executions", 0) + totals.get("derivatives", 0))


def executor_key(config) -> tuple:
    return (config.n_qubits, config.device, config.shots, config.noise, config.aer_threads)


_SCOPED: contextvars.ContextVar[tuple] = contextvars.ContextVar("qgpt_executors", default=())
"""The open scopes, innermost last: ``(executor_key, executor)`` pairs."""


@contextlib.contextmanager
def executor_scope(config):
    """A fresh executor for ``config``'s device, used by every head traced inside the scope.

    Yields the executor (``None`` for classical models), so the caller reads its counts; the
    executor is dropped when the scope closes.
    """
    if not config.is_quantum:
        yield None
        return
    executor = CircuitExecutor(
        config.n_qubits, config.device, config.shots, config.noise, config.aer_threads
    )
    token = _SCOPED.set((*_SCOPED.get(), (executor_key(config), executor)))
    try:
        yield executor
    finally:
        _SCOPED.reset(token)


def executor_for(config) -> CircuitExecutor:
    """The executor of the innermost open scope for ``config``'s device, else a new one."""
    key = executor_key(config)
    for scoped_key, executor in reversed(_SCOPED.get()):
        if scoped_key == key:
            return executor
    return CircuitExecutor(
        config.n_qubits, config.device, config.shots, config.noise, config.aer_threads
    )
