"""Qiskit Aer: settings shared with pennylane-qiskit's device, and the batched Aer path.

pennylane-qiskit's ``qiskit.aer`` device transpiles and submits every circuit on its own (~50-75 ms
per circuit). ``BatchedAerCircuit`` transpiles the attention circuit once, with one qiskit
``Parameter`` per gate angle, and evaluates all parameter sets of a call in ONE Aer job through
runtime parameter binding (``runtime_parameter_bind_enable``), a fraction of a millisecond each.

The gate sequence is recorded from the same PennyLane definition the other devices run (a
``Circuit`` of ``qgpt_jax.quantum.circuits``), so the Aer circuit cannot drift from it. Recorded
on JAX inputs, every gate angle is a JAX expression of (angles, weights): the simulator only ever
sees gate angles, and JAX's chain rule carries their parameter-shift gradients back to angles
and weights.
"""

from __future__ import annotations

import functools
import math
import os
import types
from dataclasses import dataclass

import jax
import numpy as np

from qgpt_jax.errors import QuantumExecutionError
from qgpt_jax.profiling import HOST_PREFIX
from qgpt_jax.quantum import host
from qgpt_jax.quantum.circuits import ATTENTION, Circuit

GATES: types.MappingProxyType[str, str | None] = types.MappingProxyType(
    {
        "Identity": None,
        "GlobalPhase": None,
        "Snapshot": None,
        "PauliX": "x",
        "PauliY": "y",
        "PauliZ": "z",
        "Hadamard": "h",
        "S": "s",
        "Adjoint(S)": "sdg",
        "T": "t",
        "Adjoint(T)": "tdg",
        "SX": "sx",
        "Adjoint(SX)": "sxdg",
        "RX": "rx",
        "RY": "ry",
        "RZ": "rz",
        "PhaseShift": "p",
        "U1": "p",
        "CNOT": "cx",
        "CY": "cy",
        "CZ": "cz",
        "CH": "ch",
        "SWAP": "swap",
        "ISWAP": "iswap",
        "ECR": "ecr",
        "IsingXX": "rxx",
        "IsingYY": "ryy",
        "IsingZZ": "rzz",
        "Toffoli": "ccx",
        "CCZ": "ccz",
        "CSWAP": "cswap",
    }
)
"""PennyLane operation -> qiskit gate (``None``: no effect on any measurement, dropped; a
``Snapshot`` is run by ``qml.snapshots`` as its own tape, so inside a tape it does nothing).

Only gates with at most one angle, whose qiskit gate has the same matrix as PennyLane's, are
native; everything else decomposes into them. Controlled rotations (CRX, CRY, CRZ,
ControlledPhaseShift) are deliberately left out: Aer 0.17's runtime parameter binding gives wrong
probabilities for crx/cry/crz/cp (errors up to 0.1 against ``qiskit.quantum_info.Statevector``),
so PennyLane decomposes them into CNOTs and single-qubit rotations first.
"""

SHIFT = math.pi / 2
"""The parameter shift of both Aer paths. Every angle a gate of ``SHIFTABLE`` takes enters as
exp(-i theta G) with G of two eigenvalues one apart (rx, ry, rz, rxx, ryy, rzz: +-1/2; p: 0 and
1), so every outcome probability is a + b cos(theta) + c sin(theta) and its derivative is exactly
(p(theta + pi/2) - p(theta - pi/2)) / 2, with shots as well (the same rule on sampled values)."""

SHIFTABLE = frozenset({"rx", "ry", "rz", "p", "rxx", "ryy", "rzz"})
"""qiskit gates whose angle ``SHIFT`` differentiates: every parametrized gate of ``GATES``, so a
circuit of them (or one PennyLane decomposed into them) is differentiable by the rule."""


def aer_thread_count(threads: int | None = None) -> int:
    """Threads for Aer: the explicit value, else ``$AER_THREADS``, else the CPU count."""
    if threads:
        return threads
    if os.environ.get("AER_THREADS"):
        return int(os.environ["AER_THREADS"])
    return os.cpu_count() or 1


def aer_options(
    shots: int | None = None, noise: str | None = None, threads: int | None = None
) -> dict:
    """Keyword arguments for pennylane-qiskit's ``qiskit.aer`` device.

    Exact expectation values need the statevector method and ``shots=None``; a noise model needs
    the density-matrix method (exact) or sampling (with shots).
    """
    options = {
        "shots": shots,
        "method": "statevector" if noise is None else "density_matrix",
        "max_parallel_threads": aer_thread_count(threads),
        # Passed through to qiskit.transpile: level 0 keeps the circuit as written; higher levels
        # resynthesise two-qubit blocks and hit TwoQubitWeylDecomposition failures on some
        # parameter values.
        "optimization_level": 0,
    }
    if noise is not None:
        from qiskit_aer.noise import NoiseModel

        from qgpt_jax.quantum.noise import fake_backend

        options["noise_model"] = NoiseModel.from_backend(fake_backend(noise))
    return options


@dataclass(frozen=True)
class Gate:
    name: str
    """qiskit's name of the gate."""
    wires: tuple[int, ...]
    parametrized: bool


def record_circuit(
    angles, weights, n_qubits: int, circuit: Circuit = ATTENTION
) -> tuple[tuple[Gate, ...], list]:
    """Gate structure (static) and gate angles of ``circuit`` on ``angles``, ``weights``.

    ``angles`` is (N, inputs): angles computed from it come back with the batch dimension (N,),
    angles computed from ``weights`` only come back as scalars.
    """
    import pennylane as qml

    gates, params = [], []
    for op in qml.tape.make_qscript(circuit.gates)(angles, weights, n_qubits).operations:
        if op.name not in GATES or len(op.parameters) > 1:
            raise QuantumExecutionError(f"the batched Aer path cannot run the gate {op.name}")
        if GATES[op.name] is None:  # acts on no measurement
            continue
        gates.append(Gate(GATES[op.name], tuple(op.wires.tolist()), bool(op.parameters)))
        params.extend(op.parameters)
    return tuple(gates), params


def _check_shift_rule(circuit, parameters) -> None:
    """Fail unless every parameter sits in exactly one rotation, as +-theta plus a constant.

    The pi/2 shift rule is exact only then: transpiling must not have split an angle over several
    gates (a controlled rotation would) or scaled it.
    """
    uses = {parameter: [] for parameter in parameters}
    for instruction in circuit.data:
        for value in instruction.operation.params:
            for parameter in getattr(value, "parameters", ()):
                uses[parameter].append((instruction.operation.name, value.gradient(parameter)))
    for parameter, found in uses.items():
        if len(found) != 1 or found[0][0] not in SHIFTABLE or abs(float(found[0][1])) != 1:
            raise QuantumExecutionError(
                f"transpiled circuit uses {parameter} as {found}; the parameter-shift gradient "
                f"needs it in exactly one {'/'.join(sorted(SHIFTABLE))} gate with slope +-1"
            )


@functools.cache
def _noiseless_target():
    from qiskit_aer import AerSimulator

    return AerSimulator()


def transpiled_circuit(
    gates: tuple[Gate, ...], n_qubits: int, noise: str | None = None, shift_rule: bool = True
):
    """The circuit of ``gates`` with one ``Parameter`` per gate angle, transpiled once for the
    fake backend ``noise``, else for a noiseless AerSimulator (``transpile_for``)."""
    from qgpt_jax.quantum.noise import fake_backend

    target = _noiseless_target() if noise is None else fake_backend(noise)
    return transpile_for(gates, n_qubits, target, shift_rule)


@functools.cache
def transpile_for(gates: tuple[Gate, ...], n_qubits: int, target, shift_rule: bool = True):
    """The circuit of ``gates`` with one ``Parameter`` per gate angle, transpiled once for the
    backend ``target`` (its basis gates and coupling map: an ISA circuit).

    Returns ``(circuit, parameters, readout_layout)``: ``readout_layout[i]`` is the qubit holding
    logical qubit ``i`` at the end (routing on a backend's coupling map moves qubits around). The
    global phase is dropped: ry and p decomposed into rz/sx make it depend on the parameters, Aer's
    runtime binding cannot bind a parametrized global phase, and no expectation value depends on it.

    ``shift_rule`` checks that the pi/2 shift rule still holds for every parameter after
    transpiling, which this module's own gradient needs. The ``qgpt.aer`` PennyLane device passes
    False: PennyLane shifts the gates before they reach the device, so its gates (rxx, a parameter
    merged into an expression) need not satisfy the rule.
    """
    from qiskit import QuantumCircuit, transpile
    from qiskit.circuit import ParameterVector

    parameters = ParameterVector("theta", sum(gate.parametrized for gate in gates))
    circuit = QuantumCircuit(n_qubits)
    next_parameter = iter(parameters)
    for gate in gates:
        angle = (next(next_parameter),) if gate.parametrized else ()
        getattr(circuit, gate.name)(*angle, *gate.wires)
    try:
        circuit = transpile(circuit, target, seed_transpiler=0)
    except Exception as exc:
        message = f"transpiling the circuit for {target.name} failed: {exc}"
        raise QuantumExecutionError(message) from exc
    circuit.global_phase = 0
    if shift_rule:
        _check_shift_rule(circuit, parameters)
    layout = circuit.layout
    readout_layout = layout.final_index_layout() if layout else list(range(n_qubits))
    return circuit, tuple(parameters), tuple(readout_layout)


def aer_simulator(noise: str | None = None, threads: int | None = None):
    """An AerSimulator: statevector when noiseless, else the fake backend ``noise`` with its
    noise model, on density matrices (exact) that shots sample from."""
    from qiskit_aer import AerSimulator

    from qgpt_jax.quantum.noise import fake_backend

    options = {
        "method": "statevector" if noise is None else "density_matrix",
        "max_parallel_threads": aer_thread_count(threads),
    }
    if noise is None:
        return AerSimulator(**options)
    return AerSimulator.from_backend(fake_backend(noise), **options)


def job_outcomes(result, n_rows: int, n_bits: int, shots: int | None) -> np.ndarray:
    """The ``2^n_bits`` outcomes of every experiment of a finished Aer job, ``(n_rows,
    2^n_bits)``: saved probabilities (exact), or counts (shots; bit i of an index is the
    register's bit i)."""
    outcomes = np.zeros((n_rows, 2**n_bits))
    for row, experiment in enumerate(result.results):
        if shots is None:
            outcomes[row] = experiment.data.to_dict()["probabilities"]
        else:
            for key, count in experiment.data.counts.items():
                outcomes[row, int(key, 16)] = count
    return outcomes


@dataclass(frozen=True)
class JobProgram:
    """A transpiled gate structure with its readout appended, ready for binding: what one Aer job
    runs, for the batched path and the ``qgpt.aer`` device alike."""

    circuit: object
    parameters: tuple
    n_readout: int


def with_readout(transpiled, readout_qubits, sampled: bool) -> JobProgram:
    """``transpiled`` (``transpile_for``'s circuit, parameters and readout layout) plus what is
    read: the probabilities of the logical ``readout_qubits`` saved (exact), or those qubits
    measured (shots). Bit i of an outcome is ``readout_qubits[i]``; the readout layout maps each
    logical qubit to the physical qubit holding it at the end (routing on a backend)."""
    from qiskit import ClassicalRegister
    from qiskit_aer.library import SaveProbabilities

    circuit, parameters, readout_layout = transpiled
    qubits = [readout_layout[i] for i in readout_qubits]
    circuit = circuit.copy()
    if sampled:
        bits = ClassicalRegister(len(qubits), "readout")
        circuit.add_register(bits)
        circuit.measure(qubits, bits)
    else:
        circuit.append(SaveProbabilities(len(qubits), label="probabilities"), qubits)
    return JobProgram(circuit, parameters, len(qubits))


CHUNK_BINDINGS = 512
"""Bindings per Aer run. Aer's time per binding grows with the size of a run (measured on the
2-core CPU, 4-qubit attention circuit, exact: ~17k bindings/s for runs of 256-1,024 bindings,
14.9k for 4,096, 8.7k for 40,960 in one run, 13.6k for the same 40,960 in runs of 512), so a
job of more bindings is submitted as consecutive runs of at most this many."""

AER_SEED_STEP = 2113
"""Aer (0.17) samples binding i of a run with seed ``seed_simulator + 2113 i``: a chunk starting
at binding i is seeded so, and the chunked job samples exactly what one run would (tested)."""


def run_job(
    simulator, program: JobProgram, rows: np.ndarray, shots: int | None, seed: int, failure
) -> np.ndarray:
    """One job for every row of ``rows`` (M, P): the probabilities (exact) or counts (shots) of
    the ``2^k`` readout outcomes, ``(M, 2^k)``, run as consecutive Aer runs of at most
    ``CHUNK_BINDINGS`` bindings. ``failure(detail)`` makes the caller's error.

    A structure without angles has nothing to bind: its M copies go into the job as M circuits.
    Aer gives every binding and every circuit of a run its own seed (``seed`` plus an offset).
    """
    present = set(program.circuit.parameters)
    bound = [(k, p) for k, p in enumerate(program.parameters) if p in present]
    parts = [
        _run_chunk(simulator, program, bound, rows[i : i + CHUNK_BINDINGS], shots, seed, i, failure)
        for i in range(0, len(rows), CHUNK_BINDINGS)
    ]
    return np.concatenate(parts) if parts else np.zeros((0, 2**program.n_readout))


def _run_chunk(simulator, program, bound, rows, shots, seed, start, failure) -> np.ndarray:
    """One Aer run of ``rows``, the ``bound`` (column, parameter) pairs bound at run time."""
    with jax.profiler.TraceAnnotation(f"{HOST_PREFIX}aer submit"):
        binds = {p: rows[:, k].tolist() for k, p in bound}
        try:
            if binds:
                job = simulator.run(
                    program.circuit,
                    parameter_binds=[binds],
                    runtime_parameter_bind_enable=True,
                    shots=shots or 1,
                    seed_simulator=seed + AER_SEED_STEP * start,
                )
            else:
                job = simulator.run(
                    [program.circuit] * len(rows), shots=shots or 1, seed_simulator=seed + start
                )
        except Exception as exc:
            raise failure(exc) from exc
    with jax.profiler.TraceAnnotation(f"{HOST_PREFIX}aer simulate"):
        try:
            result = job.result()
        except Exception as exc:
            raise failure(exc) from exc
    if not result.success:
        raise failure(result.status)
    with jax.profiler.TraceAnnotation(f"{HOST_PREFIX}aer read results"):
        return job_outcomes(result, len(rows), program.n_readout, shots)


@dataclass(frozen=True, eq=False)
class _Program:
    """One transpiled circuit on one simulator, and where a call's gate angles go in a binding
    (``qgpt_jax.quantum.host``'s batched and shared columns): a parameter-shift ``HostProgram``."""

    runner: BatchedAerCircuit
    job: JobProgram
    batched: tuple[int, ...]
    shared: tuple[int, ...]
    n_outputs: int
    joint = False

    def expvals(self, batched, shared) -> np.ndarray:
        """Host side of the forward pass: all bindings (every vmapped head's N), one job.
        Returns (..., N, outputs)."""
        with jax.profiler.TraceAnnotation(f"{HOST_PREFIX}aer bind"):
            rows = host.bindings(self, batched, shared)
        values = self.runner.run(self, rows.reshape(-1, rows.shape[-1]))
        return values.reshape(*rows.shape[:-1], -1).astype(np.float32)

    def jacobian(self, batched, shared, shifts: host.Shifts) -> np.ndarray:
        """Host side of the backward pass: (..., N, outputs, K) derivatives of the K
        differentiated columns, one job of N * 2K bindings."""
        with jax.profiler.TraceAnnotation(f"{HOST_PREFIX}aer bind"):
            base = host.bindings(self, batched, shared)  # (..., N, P)
            columns = host.differentiated(self, shifts)
            offsets = np.zeros((len(columns), 2, base.shape[-1]))
            for j, k in enumerate(columns):
                offsets[j, :, k] = (SHIFT, -SHIFT)
            shifted = (base[..., None, None, :] + offsets).reshape(-1, base.shape[-1])
        values = self.runner.run(self, shifted).reshape(*base.shape[:-1], len(columns), 2, -1)
        derivative = (values[..., 0, :] - values[..., 1, :]) / 2  # (..., N, K, outputs)
        return np.swapaxes(derivative, -1, -2).astype(np.float32)


class BatchedAerCircuit:
    """A circuit on Qiskit Aer: transpiled once, all bindings of a call in one job.

    ``runner(angles (N, inputs), weights (3n,)) -> (N,)`` (one readout value) or ``(N, outputs)``
    float32 works eagerly and inside ``jax.jit``, ``jax.grad`` and ``jax.lax.scan``: the
    simulation is a ``jax.pure_callback``, differentiated by parameter shift in one more job of
    ``N * 2K`` bindings, K being the gate angles JAX differentiates (all ``P`` when gradients
    reach the angles, only the ansatz angles when they reach the weights only). ``executions``
    counts the bindings run, forward and gradient (under ``jit``, a forward pass whose value
    nothing uses, as in a bare ``jax.grad``, is dropped).

    Every readout is diagonal in the computational basis, so each binding yields the probabilities
    of the 2^n basis states and the outputs are ``probabilities @ circuit.diagonal(n)``. Exact mode
    (``shots=None``) saves the probabilities (statevector method, or density matrix with
    ``noise``); with shots, every qubit is measured and the probabilities are the counts'
    frequencies. ``noise`` names a fake IBM backend (``qgpt_jax.quantum.noise``): its noise model,
    basis gates and coupling map, the circuit transpiled to it.
    """

    def __init__(
        self,
        n_qubits: int,
        shots: int | None = None,
        noise: str | None = None,
        threads: int | None = None,
        circuit: Circuit = ATTENTION,
    ):

        from qgpt_jax.quantum.noise import validate_backend

        if circuit.readout_kind == "state":
            raise QuantumExecutionError(
                f"the Aer path samples circuits and cannot return the state {circuit.name!r} reads"
            )
        if noise is not None:
            validate_backend(noise, n_qubits)
        self.n_qubits, self.shots, self.noise, self.circuit = n_qubits, shots, noise, circuit
        self.readout_matrix = circuit.diagonal(n_qubits)  # (2^n, outputs)
        self.executions = 0
        self.last_failure: QuantumExecutionError | None = None
        """The error of this circuit's last failed job, for ``host.reraise_failures``."""
        self.simulator = self.connect(threads)
        self._programs: dict[tuple, _Program] = {}
        self._jobs = 0  # sampling seeds: job k of an executor samples with seed k, so runs repeat
        inputs = np.zeros((1, circuit.n_inputs(n_qubits)))
        gates, params = record_circuit(
            inputs, np.zeros(circuit.n_weights(n_qubits)), n_qubits, circuit
        )
        self.probe(self.program(gates, params))

    @property
    def jobs(self) -> int:
        """Jobs submitted so far (the probe not counted): one per call and direction."""
        return self._jobs

    def connect(self, threads: int | None):
        """What ``run`` submits jobs to: an AerSimulator for this runner's noise."""
        return aer_simulator(self.noise, threads)

    def probe(self, program: _Program) -> None:
        """One binding through the whole path, so a broken setup fails here, outside JAX; it is
        not counted."""
        self.run(program, np.zeros((1, len(program.job.parameters))))
        self.executions = self._jobs = 0

    def __call__(self, angles, weights):
        """``angles`` (N, inputs), ``weights`` (3 n_qubits,) -> (N,) or (N, outputs)."""
        gates, params = record_circuit(angles, weights, self.n_qubits, self.circuit)
        return host.run_program(self.program(gates, params), params, angles.shape[0])

    def program(self, gates: tuple[Gate, ...], params: list) -> _Program:
        """The transpiled program for a recorded circuit (built once per gate structure)."""
        batched, shared = host.split_columns(params)
        key = (gates, batched)
        if key not in self._programs:
            # bit i of an outcome is qubit i, the order of ``readout_matrix``
            job = with_readout(self.transpile(gates), range(self.n_qubits), self.shots is not None)
            n_outputs = self.readout_matrix.shape[1]
            self._programs[key] = _Program(self, job, batched, shared, n_outputs)
        return self._programs[key]

    def transpile(self, gates: tuple[Gate, ...]):
        """``transpiled_circuit`` of ``gates`` for this runner's simulator (its noise backend)."""
        return transpiled_circuit(gates, self.n_qubits, self.noise)

    def bindings(self, angles: np.ndarray, weights: np.ndarray) -> tuple[_Program, np.ndarray]:
        """The program and full parameter rows ``(N, P)`` of the circuit on ``angles`` (N, inputs)
        and ``weights``: what ``run`` takes, for measuring Aer on its own."""
        gates, params = record_circuit(angles, weights, self.n_qubits, self.circuit)
        program = self.program(gates, params)
        n = angles.shape[0]
        batched = np.stack([np.broadcast_to(params[k], (n,)) for k in program.batched], -1)
        return program, host.bindings(
            program, batched, np.array([params[k] for k in program.shared])
        )

    def run(self, program: _Program, bindings: np.ndarray) -> np.ndarray:
        """The readout values (M, outputs) for every row of ``bindings`` (M, P): one Aer job of M
        bindings."""
        outcomes = run_job(
            self.simulator,
            program.job,
            bindings,
            self.shots,
            self._jobs,
            functools.partial(self._failure, len(bindings)),
        )
        self._jobs += 1
        self.executions += len(bindings)
        return (outcomes / self.shots if self.shots else outcomes) @ self.readout_matrix

    def _failure(self, n_bindings: int, detail) -> QuantumExecutionError:
        mode = f"noise={self.noise}" if self.noise else "noiseless"
        message = " ".join(str(detail).split())
        self.last_failure = QuantumExecutionError(
            f"Aer job of {n_bindings} circuit bindings failed ({self.n_qubits} qubits, {mode}, "
            f"shots={self.shots}): {message}"
        )
        return self.last_failure
