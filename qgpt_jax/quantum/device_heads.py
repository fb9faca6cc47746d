"""Quantum heads on the ``qgpt.aer`` PennyLane device, at the speed of the batched Aer path.

As a QNode under ``nn.vmap`` the heads cannot share a job: PennyLane's JAX callback hands the
tape one (heads, N) array per parameter, which a tape refuses (one broadcast axis only), so the
QNode path had to split the broadcast into a tape per token (``broadcast_expand``) and ran ~20x
slower than ``aer``. Here the circuit is recorded once per trace through the device's own
preprocessing (decomposition into its gates, diagonalised readout) into ONE tape, and the host
protocol (``qgpt_jax.quantum.host``) hands the device every binding of a call, all vmapped heads
and seeds merged into that tape's broadcast axis: ``execute`` for values, ``compute_derivatives``
(the device's own shift rule, ``diff_method="device"``) for the Jacobian of the columns JAX
differentiates. One job per call and direction, as on ``aer``, through the same job runner.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pennylane as qml
from pennylane.devices import ExecutionConfig

from qgpt_jax.errors import QuantumExecutionError
from qgpt_jax.quantum import host
from qgpt_jax.quantum.circuits import ATTENTION, Circuit
from qgpt_jax.quantum.pl_device import QgptAerDevice


@dataclass(frozen=True, eq=False)
class _Program:
    """One preprocessed tape (its gate angles replaced on every call) and where a call's gate
    angles go: a parameter-shift ``HostProgram`` whose job runner is the device."""

    runner: DeviceHeads
    tape: qml.tape.QuantumScript
    batched: tuple[int, ...]
    shared: tuple[int, ...]
    n_outputs: int
    joint = False

    def bound(self, batched, shared) -> tuple[qml.tape.QuantumScript, tuple[int, ...]]:
        """The tape with every binding of the call as one broadcast axis, and the call's
        leading shape (vmapped heads, N)."""
        rows = host.bindings(self, batched, shared)
        flat = rows.reshape(-1, rows.shape[-1])
        columns = [flat[:, k] for k in range(flat.shape[1])]
        return self.tape.bind_new_parameters(columns, list(range(len(columns)))), rows.shape[:-1]

    def expvals(self, batched, shared) -> np.ndarray:
        tape, lead = self.bound(batched, shared)
        (result,) = self.runner.device.execute([tape])
        values = np.stack(result, -1) if self.n_outputs > 1 else np.asarray(result)[:, None]
        return values.reshape(*lead, self.n_outputs).astype(np.float32)

    def jacobian(self, batched, shared, shifts: host.Shifts) -> np.ndarray:
        tape, lead = self.bound(batched, shared)
        columns = host.differentiated(self, shifts)
        tape.trainable_params = ascending = sorted(columns)  # a tape keeps them in this order
        (jacobian,) = self.runner.device.compute_derivatives([tape], self.runner.config)
        # PennyLane's layout: per measurement (if several), per parameter (if several), (M,)
        per_output = jacobian if self.n_outputs > 1 else (jacobian,)
        stacked = [np.stack(d if len(columns) > 1 else [d], -1) for d in per_output]
        derivatives = np.stack(stacked, -2)[..., [ascending.index(k) for k in columns]]
        return derivatives.reshape(*lead, self.n_outputs, len(columns)).astype(np.float32)


class DeviceHeads:
    """A circuit on the ``qgpt.aer`` device: ``runner(angles (N, inputs), weights)`` -> (N,)
    or (N, outputs), float32, eagerly and under ``jit``, ``grad`` and ``vmap``. ``device`` is the
    PennyLane device (its tracker counts executions, jobs and shots); ``executions`` counts the
    bindings it ran, forward and shifted."""

    def __init__(
        self,
        n_qubits: int,
        shots: int | None = None,
        noise: str | None = None,
        threads: int | None = None,
        circuit: Circuit = ATTENTION,
        tracker: qml.Tracker | None = None,
    ):
        if circuit.readout_kind == "state":
            raise QuantumExecutionError(
                f"qgpt.aer samples circuits and cannot return the state {circuit.name!r} reads"
            )
        self.n_qubits, self.shots, self.circuit = n_qubits, shots, circuit
        # seeded: runs with shots repeat, as on aer
        self.device = QgptAerDevice(
            wires=circuit.n_wires(n_qubits), noise=noise, threads=threads, seed=0
        )
        if tracker is not None:
            self.device.tracker = tracker
            tracker.active = True
        self.config = self.device.setup_execution_config(
            ExecutionConfig(gradient_method="device")
        )
        self.preprocess = self.device.preprocess_transforms(self.config)
        self._programs: dict[tuple, _Program] = {}

    @property
    def last_failure(self) -> QuantumExecutionError | None:
        """The device's last failed job (``host.reraise_failures`` reads and clears it)."""
        return self.device.last_failure

    @last_failure.setter
    def last_failure(self, failure: QuantumExecutionError | None) -> None:
        self.device.last_failure = failure

    @property
    def executions(self) -> int:
        return int(self.device.tracker.totals.get("executions", 0))

    def program(self, angles, weights) -> tuple[_Program, list]:
        """The circuit recorded on (traced) ``angles`` and ``weights`` through the device's
        preprocessing, and its gate angles, each of shape (N,) or ()."""
        tape = qml.tape.make_qscript(self.circuit.qfunc(self.n_qubits))(angles, weights)
        tapes, _ = self.preprocess((tape.copy(shots=self.shots),))
        if len(tapes) != 1:
            raise QuantumExecutionError(
                f"the readout of {self.circuit.name!r} splits into {len(tapes)} tapes on qgpt.aer"
            )
        (tape,) = tapes
        # the gate angles (a tape's parameters list them first; a readout such as a Projector
        # has parameters of its own, which stay as they are)
        params = [p for op in tape.operations for p in op.data]
        batched, shared = host.split_columns(params)
        key = (tuple((op.name, tuple(op.wires)) for op in tape.operations), batched)
        if key not in self._programs:
            self._programs[key] = _Program(self, tape, batched, shared, len(tape.measurements))
        return self._programs[key], params

    def __call__(self, angles, weights):
        program, params = self.program(angles, weights)
        return host.run_program(program, params, angles.shape[0])
