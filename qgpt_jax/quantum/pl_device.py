"""``qgpt.aer``: the batched Aer path as a PennyLane device (new device API).

pennylane-qiskit's ``qiskit.aer`` transpiles and submits every tape on its own, so a
parameter-shift gradient or a broadcast batch of N circuits costs N transpilations and N jobs.
This device groups the tapes of one ``execute`` call by gate structure (the sequence of gate
names, wires and whether each gate takes an angle), transpiles every structure once with one
qiskit ``Parameter`` per gate angle (``qgpt_jax.quantum.aer.transpiled_circuit``, cached), and
runs all tapes of a group, every broadcast element included, as ONE Aer job through runtime
parameter binding. PennyLane's shifted tapes of a gradient share the structure of the tape they
come from, so a whole Jacobian is one job as well.

Measurements are computed from the probabilities (exact: Aer's ``SaveProbabilities``) or the
counts (shots) of the measured qubits, after PennyLane's transforms have rotated every observable
into the computational basis. No state is ever returned, so global phases are dropped.

Like PennyLane's ``reference_qubit.py``, the simulation is module-level functions; the device
class only wires them together. The device is pure numpy on the host: with the JAX interface it
runs inside PennyLane's ``pure_callback``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pennylane as qml
from pennylane.devices import Device, ExecutionConfig
from pennylane.devices.modifiers import single_tape_support
from pennylane.devices.preprocess import (
    decompose,
    device_resolve_dynamic_wires,
    validate_device_wires,
    validate_observables,
)
from pennylane.exceptions import DeviceError
from pennylane.measurements import (
    CountsMP,
    ExpectationMP,
    ProbabilityMP,
    SampleMeasurement,
    VarianceMP,
)
from pennylane.transforms import (
    defer_measurements,
    diagonalize_measurements,
    split_non_commuting,
)
from pennylane.transforms.core import CompilePipeline, transform
from pennylane.wires import Wires

from qgpt_jax.errors import QuantumExecutionError
from qgpt_jax.quantum.aer import Gate, aer_thread_count, remember_failure, transpiled_circuit

GATES: dict[str, str | None] = {
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
"""PennyLane operation -> qiskit gate (``None``: no effect on any measurement, dropped; a
``Snapshot`` is run by ``qml.snapshots`` as its own tape, so inside a tape it does nothing).

Only gates with at most one angle, whose qiskit gate has the same matrix as PennyLane's, are
native; everything else decomposes into them. Controlled rotations (CRX, CRY, CRZ,
ControlledPhaseShift) are deliberately left out: Aer 0.17's runtime parameter binding gives wrong
probabilities for crx/cry/crz/cp (errors up to 0.1 against ``qiskit.quantum_info.Statevector``),
so PennyLane decomposes them into CNOTs and single-qubit rotations first.
"""

ANALYTIC_MEASUREMENTS = (ExpectationMP, VarianceMP, ProbabilityMP)
"""Computed exactly from the measured qubits' probabilities. There is no state to return: the
transpiled circuit drops its global phase, and with noise the state is a density matrix."""


def supports_operation(op: qml.operation.Operator) -> bool:
    """Whether ``op`` maps to one qiskit gate: the stopping condition of ``decompose``."""
    return op.name in GATES


def is_diagonal(obs: qml.operation.Operator) -> bool:
    """Whether ``obs`` needs no rotation: what the device measures, once transformed."""
    return obs.has_diagonalizing_gates and not obs.diagonalizing_gates()


@transform
def validate_measurement_types(tape: qml.tape.QuantumScript):
    """Refuse what the device cannot measure, in one line with PennyLane's wording and the word
    "supported" (what ``pl-device-test --skip-ops`` looks for): exact mode computes expval, var
    and probs; with shots, any sample-based measurement, custom ones included, gets per-shot
    samples."""
    for mp in tape.measurements:
        if tape.shots and not isinstance(mp, SampleMeasurement):
            raise DeviceError(
                f"qgpt.aer: measurement {type(mp).__name__} not accepted with finite shots; "
                "supported there: sample-based ones (expval, var, probs, sample, counts)"
            )
        if not tape.shots and not isinstance(mp, ANALYTIC_MEASUREMENTS):
            raise DeviceError(
                f"qgpt.aer: measurement {type(mp).__name__} not accepted for analytic "
                "simulation; supported there: expval, var, probs (sample, counts need shots)"
            )
    return (tape,), lambda results: results[0]


@transform
def diagonalize_observables(tape: qml.tape.QuantumScript):
    """Rotate the observables ``diagonalize_measurements`` leaves (Hermitian, Projector on a
    state vector, products of those) into the computational basis, measuring their eigenvalues.

    ``split_non_commuting`` puts such observables into groups of measurements on disjoint wires,
    so the rotations of different measurements never overlap.
    """
    rotations, measurements = [], []
    for mp in tape.measurements:
        obs = mp.obs
        if obs is None or not obs.has_diagonalizing_gates or is_diagonal(obs):
            measurements.append(mp)
            continue
        rotations.extend(obs.diagonalizing_gates())
        if isinstance(mp, ProbabilityMP):
            measurements.append(ProbabilityMP(wires=obs.wires))
        elif isinstance(mp, CountsMP):
            measurements.append(
                CountsMP(eigvals=mp.eigvals(), wires=obs.wires, all_outcomes=mp.all_outcomes)
            )
        else:
            measurements.append(type(mp)(eigvals=mp.eigvals(), wires=obs.wires))
    if not rotations:
        return (tape,), lambda results: results[0]
    new_tape = tape.copy(operations=[*tape.operations, *rotations], measurements=measurements)
    return (new_tape,), lambda results: results[0]


def gate_structure(
    tape: qml.tape.QuantumScript, wire_order: Wires
) -> tuple[tuple[Gate, ...], np.ndarray]:
    """The tape's gates as the static structure ``transpiled_circuit`` takes, and its gate angles
    as binding rows ``(batch, P)``: one row per broadcast element (one for an unbroadcast tape)."""
    batch = tape.batch_size or 1
    gates, columns = [], []
    for op in tape.operations:
        if op.name not in GATES:
            raise DeviceError(f"qgpt.aer: operation {op.name} is not supported")
        if GATES[op.name] is None:
            continue
        gates.append(Gate(GATES[op.name], tuple(wire_order.indices(op.wires)), bool(op.data)))
        for value in op.data:
            columns.append(np.broadcast_to(np.asarray(value, dtype=np.float64), (batch,)))
    rows = np.stack(columns, axis=-1) if columns else np.zeros((batch, 0))
    return tuple(gates), rows


def readout_wires(tape: qml.tape.QuantumScript, wire_order: Wires) -> tuple[int, ...]:
    """Indices (in ``wire_order``) of the qubits the tape's measurements read, in device order:
    every qubit when a measurement has no wires (``probs()``, ``sample()``)."""
    if any(not mp.wires for mp in tape.measurements):
        return tuple(range(len(wire_order)))
    measured = set(Wires.all_wires([mp.wires for mp in tape.measurements]))
    return tuple(i for i, wire in enumerate(wire_order) if wire in measured)


def simulator(noise: str | None, threads: int | None):
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


@dataclass(frozen=True)
class Program:
    """One transpiled gate structure with its readout appended, ready for binding."""

    circuit: object
    parameters: tuple
    n_readout: int


def build_program(
    gates: tuple[Gate, ...],
    n_qubits: int,
    readout: tuple[int, ...],
    sampled: bool,
    noise: str | None,
) -> Program:
    """The transpiled circuit of ``gates`` plus what is read: the probabilities of the ``readout``
    qubits saved (exact), or those qubits measured (shots).

    The readout qubits are listed last-first, so that the first readout wire is the most
    significant bit of an outcome, PennyLane's order; ``transpiled_circuit``'s layout maps each
    logical qubit to the physical qubit holding it at the end (routing on a noisy backend).
    """
    from qiskit import ClassicalRegister
    from qiskit_aer.library import SaveProbabilities

    circuit, parameters, layout = transpiled_circuit(gates, n_qubits, noise, shift_rule=False)
    qubits = [layout[i] for i in reversed(readout)]
    circuit = circuit.copy()
    if sampled:
        bits = ClassicalRegister(len(qubits), "readout")
        circuit.add_register(bits)
        circuit.measure(qubits, bits)
    else:
        circuit.append(SaveProbabilities(len(qubits), label="probabilities"), qubits)
    return Program(circuit, parameters, len(qubits))


def run_job(
    backend, program: Program, rows: np.ndarray, shots: int | None, seed: int, describe: str
) -> np.ndarray:
    """One Aer job for every row of ``rows`` (M, P): the probabilities (exact) or counts (shots)
    of the ``2^k`` readout outcomes, ``(M, 2^k)``.

    A structure without angles has nothing to bind: its M copies go into the job as M circuits.
    Aer gives every binding and every circuit of a job its own seed (``seed`` plus an offset).
    """
    present = set(program.circuit.parameters)
    binds = {p: rows[:, k].tolist() for k, p in enumerate(program.parameters) if p in present}
    try:
        if binds:
            job = backend.run(
                program.circuit,
                parameter_binds=[binds],
                runtime_parameter_bind_enable=True,
                shots=shots or 1,
                seed_simulator=seed,
            )
        else:
            job = backend.run([program.circuit] * len(rows), shots=shots or 1, seed_simulator=seed)
        result = job.result()
    except Exception as exc:
        raise job_failure(len(rows), describe, exc) from exc
    if not result.success:
        raise job_failure(len(rows), describe, result.status)
    outcomes = np.zeros((len(rows), 2**program.n_readout))
    for row, experiment in enumerate(result.results):
        if shots is None:
            outcomes[row] = experiment.data.to_dict()["probabilities"]
        else:
            for key, count in experiment.data.counts.items():
                outcomes[row, int(key, 16)] = count
    return outcomes


def job_failure(n_bindings: int, describe: str, detail) -> QuantumExecutionError:
    """The one-line error of a failed job, remembered so that ``reraise_aer_failures`` restores
    it when it surfaces from a JAX callback (as in ``aer.BatchedAerCircuit``)."""
    message = " ".join(str(detail).split())
    return remember_failure(
        QuantumExecutionError(
            f"qgpt.aer: Aer job of {n_bindings} circuit bindings failed ({describe}): {message}"
        )
    )


def samples_from_counts(counts: np.ndarray, n_bits: int, rng: np.random.Generator) -> np.ndarray:
    """Per-shot bits ``(M, shots, n_bits)`` (first wire the most significant) from outcome counts
    ``(M, 2^n_bits)``, each row in random order: the counts of i.i.d. shots in a uniformly random
    order are distributed as the shots themselves, so shot-vector bins stay independent."""
    shifts = np.arange(n_bits - 1, -1, -1)
    samples = []
    for row in counts.astype(np.int64):
        outcomes = rng.permutation(np.repeat(np.arange(len(row)), row))
        samples.append((outcomes[:, None] >> shifts) & 1)
    return np.stack(samples)


def measure(
    tape: qml.tape.QuantumScript,
    outcomes: np.ndarray,
    wires: Wires,
    rng: np.random.Generator,
):
    """The tape's results from its rows of ``run_job`` (``(batch, 2^k)``), ``wires`` being the
    readout wires in outcome order.

    Every observable is diagonal here, so PennyLane's ``process_state`` on real amplitudes
    ``sqrt(p)`` gives exactly the values of the probabilities ``p``: it only ever uses
    ``|amplitude|^2`` and the observables' eigenvalues. With shots, expectation values,
    variances and probabilities of one shot bin are the same functions of the counts'
    frequencies; samples, counts and shot vectors take per-shot samples.
    """
    batched = tape.batch_size is not None
    measurements = tape.measurements
    shots = tape.shots
    frequencies_suffice = not shots.has_partitioned_shots and all(
        isinstance(mp, ANALYTIC_MEASUREMENTS) for mp in measurements
    )
    if not shots or frequencies_suffice:
        probabilities = outcomes / shots.total_shots if shots else outcomes
        state = np.sqrt(np.clip(probabilities, 0.0, None))
        state = state if batched else state[0]
        results = tuple(mp.process_state(state, wires) for mp in measurements)
        return results[0] if len(results) == 1 else results
    samples = samples_from_counts(outcomes, len(wires), rng)
    samples = samples if batched else samples[0]
    per_bin = []
    for lower, upper in shots.bins():
        results = tuple(
            mp.process_samples(samples, wires, shot_range=(lower, upper)) for mp in measurements
        )
        per_bin.append(results[0] if len(results) == 1 else results)
    return tuple(per_bin) if shots.has_partitioned_shots else per_bin[0]


@single_tape_support
class QgptAerDevice(Device):
    """Qiskit Aer behind PennyLane: all tapes of a batch with one gate structure in one Aer job.

    Args:
        wires: number of qubits or their labels (``None``: the wires of each tape).
        shots: default shots of QNodes on the device (PennyLane 0.45 prefers ``qml.set_shots`` on
            the QNode; either way the device reads the shots of each tape).
        noise: a fake IBM backend (``qgpt_jax.quantum.noise``): its noise model, gates and
            coupling map; exact results on density matrices, or sampled with shots.
        threads: Aer threads (default ``$AER_THREADS`` or the CPU count).
        seed: seeds the Aer sampling of every job and the order of returned samples, so runs
            with shots repeat.

    Differentiation is PennyLane's (``parameter-shift``, ``finite-diff``): the device runs the
    shifted tapes, one job per gate structure. ``tracker`` records per ``execute`` call
    ``batches=1``, ``executions`` (circuits run: one per tape and broadcast element), ``jobs``
    (Aer jobs) and ``shots``.
    """

    name = "qgpt.aer"

    def __init__(self, wires=None, shots=None, noise=None, threads=None, seed=None):
        super().__init__(wires=wires, shots=shots)
        if noise is not None and self.wires is not None:
            from qgpt_jax.quantum.noise import validate_backend

            validate_backend(noise, len(self.wires))
        self.noise = noise
        self._rng = np.random.default_rng(seed)
        self._backend = simulator(noise, threads)
        self._programs: dict[tuple, Program] = {}

    def preprocess_transforms(self, execution_config: ExecutionConfig | None = None):
        """Turn any tape into one of the declared gates and diagonal measurements.

        Mid-circuit measurements are deferred, then measurement types checked (``state()``,
        entropies and the like are refused), measurements split into commuting groups and
        rotated into the computational basis, and the operations (the rotations included)
        decomposed into ``GATES``. Broadcast tapes stay whole: ``execute`` binds their elements
        into the same job.
        """
        config = execution_config or ExecutionConfig()
        mcm_method = config.mcm_config.mcm_method
        if mcm_method not in (None, "deferred"):
            raise DeviceError(
                f"qgpt.aer supports mid-circuit measurements deferred only, not {mcm_method!r}"
            )
        program = CompilePipeline()
        program.add_transform(defer_measurements, allow_postselect=False)
        program.add_transform(validate_measurement_types)
        program.add_transform(split_non_commuting)
        program.add_transform(diagonalize_measurements)
        program.add_transform(diagonalize_observables)
        program.add_transform(
            decompose,
            stopping_condition=supports_operation,
            target_gates=set(GATES),
            skip_initial_state_prep=False,
            device_wires=self.wires,
            name=self.name,
        )
        # Work wires a decomposition allocates become unused device wires (no mid-circuit
        # resets: a deferred measurement cannot run after the tape was split).
        program.add_transform(device_resolve_dynamic_wires, wires=self.wires, allow_resets=False)
        program.add_transform(validate_device_wires, wires=self.wires, name=self.name)
        program.add_transform(validate_observables, stopping_condition=is_diagonal, name=self.name)
        return program

    def execute(self, circuits, execution_config: ExecutionConfig | None = None):
        """Run the batch: one Aer job per (gate structure, readout, shots) group of tapes."""
        groups: dict[tuple, list[tuple[int, np.ndarray]]] = {}
        wire_orders = []
        for index, tape in enumerate(circuits):
            wire_order = self.wires if self.wires is not None else tape.wires
            wire_orders.append(wire_order)
            gates, rows = gate_structure(tape, wire_order)
            readout = readout_wires(tape, wire_order)
            key = (len(wire_order), gates, readout, tape.shots.total_shots)
            groups.setdefault(key, []).append((index, rows))

        results = [None] * len(circuits)
        executions = 0
        for (n_qubits, gates, readout, shots), members in groups.items():
            rows = np.concatenate([member_rows for _, member_rows in members])
            outcomes = run_job(
                self._backend,
                self._program(n_qubits, gates, readout, shots is not None),
                rows,
                shots,
                int(self._rng.integers(2**31 - 1)),
                f"{n_qubits} qubits, noise={self.noise}, shots={shots}",
            )
            executions += len(rows)
            start = 0
            for index, member_rows in members:
                tape, stop = circuits[index], start + len(member_rows)
                wires = Wires([wire_orders[index][i] for i in readout])
                results[index] = measure(tape, outcomes[start:stop], wires, self._rng)
                start = stop

        if self.tracker.active:
            total_shots = sum(
                (tape.shots.total_shots or 0) * (tape.batch_size or 1) for tape in circuits
            )
            self.tracker.update(
                batches=1, executions=executions, jobs=len(groups), shots=total_shots
            )
            self.tracker.record()
        return tuple(results)

    def _program(self, n_qubits: int, gates, readout, sampled: bool) -> Program:
        key = (n_qubits, gates, readout, sampled)
        if key not in self._programs:
            if self.noise is not None and self.wires is None:
                from qgpt_jax.quantum.noise import validate_backend

                validate_backend(self.noise, n_qubits)
            self._programs[key] = build_program(gates, n_qubits, readout, sampled, self.noise)
        return self._programs[key]
