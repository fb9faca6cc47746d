"""PennyLane Lightning without PennyLane's per-circuit Python: every binding of a call through
Lightning's C++ state vector and adjoint Jacobian in one host callback.

Profiled on the attention circuit (4 qubits, 2-core CPU), the QNode path spent over 95% of its time
in PennyLane's Python around each tape: ``broadcast_expand`` makes one tape per token, and each tape
paid for the tracker's circuit graph (~0.7 ms), rebuilding its Jacobian from hundreds of
single-element JAX arrays (~1-1.4 ms), serialisation and parameter copies, against ~20 us of C++
simulation. Here the circuit is recorded once per trace into Lightning's own serialised form and
its gate angles become one (N, P) JAX array; a call simulates each binding in C++ and, when JAX
differentiates, takes Lightning's adjoint Jacobian with respect to every gate angle. JAX's chain
rule carries the angles' gradients back to the inputs and weights, as for the batched Aer path.

Values and gradients equal the QNode's (tested to 1e-5 / 1e-4). Lightning's serialiser and C++
bindings are private parts of ``pennylane-lightning`` (pinned in ``constraints.txt``), reached only
through ``qgpt_jax.private_api.lightning_kernels``; a version without them fails with a message
naming the package and the version checked, not a fallback.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import numpy as np
import pennylane as qml
from threadpoolctl import ThreadpoolController

from qgpt_jax.errors import QuantumExecutionError
from qgpt_jax.private_api import lightning_kernels
from qgpt_jax.profiling import HOST_PREFIX
from qgpt_jax.quantum import host
from qgpt_jax.quantum.circuits import Circuit


@dataclass(frozen=True, eq=False)
class _Program:
    """One recorded circuit in Lightning's serialised form (gate names, wires, how many angles
    each gate takes, the observables) and where a call's gate angles go: an adjoint
    ``HostProgram`` of ``qgpt_jax.quantum.host``, its Jacobian from the forward simulation."""

    runner: BatchedLightningCircuit
    gates: tuple
    offsets: tuple[int, ...]
    observables: list
    batched: tuple[int, ...]
    shared: tuple[int, ...]
    joint = True

    @property
    def n_outputs(self) -> int:
        return len(self.observables)

    def expvals(self, batched, shared) -> np.ndarray:
        """Values (..., N, outputs) of every binding: one C++ simulation each."""
        return self.simulate(batched, shared, ())[0]

    def values_and_jacobian(self, batched, shared, shifts: host.Shifts):
        """Values (..., N, outputs) and Jacobians (..., N, outputs, K) of the K differentiated
        columns: each binding one C++ simulation and one adjoint pass."""
        return self.simulate(batched, shared, host.differentiated(self, shifts))

    def simulate(self, batched, shared, trainable: tuple[int, ...]):
        try:
            return self._simulate(batched, shared, trainable)
        except Exception as exc:
            message = " ".join(str(exc).split())
            self.runner.last_failure = QuantumExecutionError(
                f"lightning.qubit failed on {batched.shape[-2]} circuit bindings: {message}"
            )
            raise self.runner.last_failure from exc

    def _simulate(self, batched, shared, trainable: tuple[int, ...]):
        b = self.runner
        # One OpenMP thread: Lightning parallelises a multi-observable adjoint pass over its
        # observables, and on a 4-qubit state the threads cost more than they do (measured on 2
        # cores, every-Z readout, 256 bindings: 930 ms with the default threads, 42 ms with one).
        with (
            b.threads.limit(limits=1, user_api="openmp"),
            jax.profiler.TraceAnnotation(f"{HOST_PREFIX}lightning simulate"),
        ):
            rows = host.bindings(self, batched, shared)
            flat = rows.reshape(-1, rows.shape[-1])
            n, n_out, n_columns = len(flat), self.n_outputs, len(trainable)
            values = np.empty((n, n_out), np.float32)
            derivatives = np.empty((n, n_out, n_columns), np.float32)
            names, wires, inverses, matrices, control_wires, control_values = self.gates
            apply = [getattr(b.state, name) for name in names]
            adjoint, offsets = b.adjoint(), self.offsets
            # Lightning returns the derivatives of the trainable angles in ascending order
            ascending = sorted(trainable)
            order = [ascending.index(k) for k in trainable]
            for i, row in enumerate(flat.tolist()):
                per_gate = [row[offsets[k] : offsets[k + 1]] for k in range(len(names))]
                b.state.resetStateVector()
                for gate, w, inverse, p in zip(apply, wires, inverses, per_gate, strict=True):
                    gate(w, inverse, p)
                measure = b.measurements(b.state)
                values[i] = [measure.expval(o) for o in self.observables]
                if trainable:
                    ops = b.ops_list(
                        names, per_gate, wires, inverses, matrices, control_wires, control_values
                    )
                    jacobian = adjoint(b.state, self.observables, ops, ascending)
                    derivatives[i] = np.asarray(jacobian).reshape(n_out, n_columns)[:, order]
        b.executions += n * (2 if trainable else 1)  # a forward and an adjoint pass each
        lead = rows.shape[:-1]
        return values.reshape(*lead, n_out), derivatives.reshape(*lead, n_out, n_columns)


class BatchedLightningCircuit:
    """A circuit on ``lightning.qubit``: ``runner(angles (N, inputs), weights (3n,))`` -> (N,)
    for one readout value, else (N, outputs), float32, eagerly and under ``jit``, ``grad`` and
    ``vmap``. ``executions`` counts circuit evaluations (forward and adjoint passes), as
    PennyLane's tracker counted them (executions plus derivatives)."""

    def __init__(self, n_qubits: int, circuit: Circuit):
        if circuit.readout_kind == "state":
            raise QuantumExecutionError(
                f"lightning.qubit does not return differentiable states, which {circuit.name!r} "
                "reads"
            )
        state, measurements, adjoint, ops_list, serializer = lightning_kernels()
        self.n_qubits, self.circuit = n_qubits, circuit
        self.device = qml.device("lightning.qubit", wires=n_qubits)
        self.state = state(n_qubits)
        self.measurements, self.adjoint, self.ops_list = measurements, adjoint, ops_list
        self.serializer = serializer
        # Found once, after Lightning's OpenMP runtime is loaded: scanning the loaded libraries
        # on every call would cost milliseconds.
        self.threads = ThreadpoolController()
        self.executions = 0
        self.last_failure: QuantumExecutionError | None = None
        """The error of the last failed simulation, for ``host.reraise_failures``."""

    def program(self, angles, weights) -> tuple[_Program, list]:
        """Record the circuit on (traced) ``angles`` and ``weights``: Lightning's serialised
        gates and observables, and the gate angles, each of shape (N,) or ()."""
        tape = qml.tape.make_qscript(self.circuit.qfunc(self.n_qubits))(angles, weights)
        # Lightning's own preprocessing (decompositions, observable checks), without splitting
        # the broadcast into one tape per binding: the bindings stay rows of one array.
        pipeline = qml.CompilePipeline(
            [
                t
                for t in self.device.preprocess_transforms()
                if t.tape_transform is not qml.transforms.broadcast_expand.tape_transform
            ]
        )
        (tape,), _ = pipeline((tape,))
        gates, prepared = self.serializer.serialize_ops(tape)
        names, params, wires, inverses, matrices, control_wires, control_values = gates
        if prepared or any(m.size for m in matrices):
            raise QuantumExecutionError(
                f"the circuit {self.circuit.name!r} needs a state preparation or matrix gate, "
                "which the batched Lightning path does not run"
            )
        observables, indices = self.serializer.serialize_observables(tape)
        if list(indices) != list(range(len(indices))):
            raise QuantumExecutionError(
                f"a readout of {self.circuit.name!r} splits into several Lightning observables"
            )
        columns = [p for ps in params for p in ps]
        batched, shared = host.split_columns(columns)
        static = (tuple(names), wires, inverses, matrices, control_wires, control_values)
        offsets = tuple(int(k) for k in np.cumsum([0, *(len(p) for p in params)]))
        return _Program(self, static, offsets, observables, batched, shared), columns

    def __call__(self, angles, weights):
        program, columns = self.program(angles, weights)
        return host.run_program(program, columns, angles.shape[0])
