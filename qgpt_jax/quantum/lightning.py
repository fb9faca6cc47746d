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

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pennylane as qml
from threadpoolctl import ThreadpoolController

from qgpt_jax.errors import QuantumExecutionError
from qgpt_jax.private_api import lightning_kernels
from qgpt_jax.profiling import HOST_PREFIX
from qgpt_jax.quantum.circuits import Circuit


@jax.tree_util.register_static
class _Program:
    """One recorded circuit in Lightning's serialised form: gate names, wires, how many angles
    each gate takes, and the observables. Static under ``jax.jit`` (hashed by identity)."""

    def __init__(self, runner, gates: tuple, counts: list[int], observables: list):
        self.runner, self.gates, self.observables = runner, gates, observables
        self.offsets = np.cumsum([0, *counts])

    def run(self, angles: np.ndarray, jacobian: bool):
        """Values (..., N, outputs), and the Jacobians (..., N, outputs, P) if asked, of every
        row of gate angles (..., N, P): each binding one C++ simulation (and adjoint pass)."""
        b = self.runner
        # One OpenMP thread: Lightning parallelises a multi-observable adjoint pass over its
        # observables, and on a 4-qubit state the threads cost more than they do (measured on 2
        # cores, every-Z readout, 256 bindings: 930 ms with the default threads, 42 ms with one).
        with (
            b.threads.limit(limits=1, user_api="openmp"),
            jax.profiler.TraceAnnotation(f"{HOST_PREFIX}lightning simulate"),
        ):
            rows = np.asarray(angles, np.float64)
            flat = rows.reshape(-1, rows.shape[-1])
            n, n_angles, n_out = len(flat), flat.shape[1], len(self.observables)
            values = np.empty((n, n_out), np.float32)
            derivatives = np.empty((n, n_out, n_angles), np.float32) if jacobian else None
            names, wires, inverses, matrices, control_wires, control_values = self.gates
            apply = [getattr(b.state, name) for name in names]
            adjoint, trainable = b.adjoint(), list(range(n_angles))
            for i, row in enumerate(flat.tolist()):
                per_gate = [row[self.offsets[k] : self.offsets[k + 1]] for k in range(len(names))]
                b.state.resetStateVector()
                for gate, w, inverse, p in zip(apply, wires, inverses, per_gate, strict=True):
                    gate(w, inverse, p)
                measure = b.measurements(b.state)
                values[i] = [measure.expval(o) for o in self.observables]
                if jacobian:
                    ops = b.ops_list(
                        names, per_gate, wires, inverses, matrices, control_wires, control_values
                    )
                    derivatives[i] = np.asarray(
                        adjoint(b.state, self.observables, ops, trainable)
                    ).reshape(n_out, n_angles)
        b.executions += n * (2 if jacobian else 1)  # a forward and an adjoint pass each
        lead = rows.shape[:-1]
        values = values.reshape(*lead, n_out)
        return (values, derivatives.reshape(*lead, n_out, n_angles)) if jacobian else values


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _expectation(program: _Program, angles):
    return jax.pure_callback(
        functools.partial(program.run, jacobian=False),
        jax.ShapeDtypeStruct((*angles.shape[:-1], len(program.observables)), jnp.float32),
        angles,
        vmap_method="expand_dims",  # vmapped heads: one callback for all of them
    )


def _expectation_fwd(program: _Program, angles):
    n_out, n_angles = len(program.observables), angles.shape[-1]
    values, jacobian = jax.pure_callback(
        functools.partial(program.run, jacobian=True),
        (
            jax.ShapeDtypeStruct((*angles.shape[:-1], n_out), jnp.float32),
            jax.ShapeDtypeStruct((*angles.shape[:-1], n_out, n_angles), jnp.float32),
        ),
        angles,
        vmap_method="expand_dims",
    )
    return values, jacobian


def _expectation_bwd(program: _Program, jacobian, cotangent):
    return (jnp.einsum("...o,...op->...p", cotangent, jacobian),)


_expectation.defvjp(_expectation_fwd, _expectation_bwd)


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

    def program(self, angles, weights) -> tuple[_Program, jax.Array]:
        """Record the circuit on (traced) ``angles`` and ``weights``: Lightning's serialised
        gates and observables, and the gate angles as one (N, P) array."""
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
        n = angles.shape[0]
        columns = [jnp.broadcast_to(jnp.asarray(p, jnp.float32), (n,)) for ps in params for p in ps]
        rows = jnp.stack(columns, axis=-1) if columns else jnp.zeros((n, 0), jnp.float32)
        static = (tuple(names), wires, inverses, matrices, control_wires, control_values)
        return _Program(self, static, [len(p) for p in params], observables), rows

    def __call__(self, angles, weights):
        program, rows = self.program(angles, weights)
        values = _expectation(program, rows)
        return values[:, 0] if values.shape[-1] == 1 else values
