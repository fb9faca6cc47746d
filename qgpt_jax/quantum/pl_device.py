"""``qgpt.aer``: the batched Aer path as a PennyLane device (new device API).

pennylane-qiskit's ``qiskit.aer`` transpiles and submits every tape on its own, so a
parameter-shift gradient or a broadcast batch of N circuits costs N transpilations and N jobs.
This device groups the tapes of one ``execute`` call by gate structure (the sequence of gate
names, wires and whether each gate takes an angle), transpiles every structure once with one
qiskit ``Parameter`` per gate angle (``qgpt_jax.quantum.aer.transpiled_circuit``, cached), and
runs all tapes of a group, every broadcast element included, as ONE Aer job through runtime
parameter binding. PennyLane's shifted tapes of a gradient share the structure of the tape they
come from, so a whole Jacobian is one job as well. With ``diff_method="device"`` the device
shifts the gate angles itself, broadcast tapes included, so gradients need no tape per element.

Measurements are computed from the probabilities (exact: Aer's ``SaveProbabilities``) or the
counts (shots) of the measured qubits, after PennyLane's transforms have rotated every observable
into the computational basis. No state is ever returned, so global phases are dropped.

Like PennyLane's ``reference_qubit.py``, the simulation is module-level functions; the device
class only wires them together. The device is pure numpy on the host: with the JAX interface it
runs inside PennyLane's ``pure_callback``.
"""

from __future__ import annotations

import functools
from dataclasses import replace

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
from pennylane.math import Interface
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
from qgpt_jax.quantum.aer import (
    GATES,
    SHIFT,
    SHIFTABLE,
    Gate,
    JobProgram,
    aer_simulator,
    run_job,
    transpiled_circuit,
    with_readout,
)

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


def build_program(
    gates: tuple[Gate, ...],
    n_qubits: int,
    readout_qubits: tuple[int, ...],
    sampled: bool,
    noise: str | None,
) -> JobProgram:
    """The transpiled circuit of ``gates`` plus what is read (``aer.with_readout``), the readout
    qubits listed last-first, so that the first readout wire is the most significant bit of an
    outcome, PennyLane's order."""
    transpiled = transpiled_circuit(gates, n_qubits, noise, shift_rule=False)
    return with_readout(transpiled, tuple(reversed(readout_qubits)), sampled)


def job_failure(n_bindings: int, describe: str, detail) -> QuantumExecutionError:
    """The one-line error of a failed job (the device keeps it as its ``last_failure``, which
    ``host.reraise_failures`` restores when it surfaces from a JAX callback)."""
    message = " ".join(str(detail).split())
    return QuantumExecutionError(
        f"qgpt.aer: Aer job of {n_bindings} circuit bindings failed ({describe}): {message}"
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


def trainable_columns(tape: qml.tape.QuantumScript) -> list[int | None]:
    """The column (of ``gate_structure``'s rows) of each of the tape's trainable parameters, in
    ``tape.trainable_params`` order; ``None`` for an angle of a dropped gate (a global phase),
    which no measurement depends on. Every tape parameter is one gate angle, so a value used by
    several gates is several parameters and JAX's chain rule sums their derivatives."""
    columns: dict[int, int | None] = {}
    index = column = 0
    for op in tape.operations:
        name = GATES.get(op.name)
        for _ in op.data:
            columns[index] = None if name is None else column
            if name is not None and name not in SHIFTABLE and index in tape.trainable_params:
                raise DeviceError(f"qgpt.aer: no shift rule for the angle of {op.name}")
            column += name is not None
            index += 1
    for index in tape.trainable_params:
        if index not in columns:
            raise DeviceError(
                f"qgpt.aer: parameter {index} belongs to a measurement; device derivatives "
                "differentiate gate angles only"
            )
    return [columns[index] for index in tape.trainable_params]


def shifted_rows(rows: np.ndarray, columns: list[int | None]) -> np.ndarray:
    """Binding rows ``(2 K batch, P)`` of the K shifted columns of ``rows`` (batch, P), ordered
    (column, +shift then -shift, broadcast element)."""
    shifted = [c for c in columns if c is not None]
    out = np.repeat(rows[None, None], 2, axis=1).repeat(len(shifted), axis=0)  # (K, 2, b, P)
    for k, column in enumerate(shifted):
        out[k, 0, :, column] += SHIFT
        out[k, 1, :, column] -= SHIFT
    return out.reshape(-1, rows.shape[-1])


def by_bin(result, tape: qml.tape.QuantumScript) -> list[list]:
    """A tape's result (or cotangent) as ``[shot bin][measurement]``, whatever its nesting."""
    bins = result if tape.shots.has_partitioned_shots else (result,)
    return [list(r) if len(tape.measurements) > 1 else [r] for r in bins]


def expectation_twin(tape: qml.tape.QuantumScript) -> qml.tape.QuantumScript | None:
    """The tape with every variance replaced by the expectation of its observable (``None``
    without variances): a variance is not linear in the probabilities, so its derivative
    needs the expectation's."""
    if not any(isinstance(mp, VarianceMP) for mp in tape.measurements):
        return None
    measurements = []
    for mp in tape.measurements:
        if isinstance(mp, VarianceMP):
            mp = (
                ExpectationMP(obs=mp.obs)
                if mp.obs is not None
                else ExpectationMP(eigvals=mp.eigvals(), wires=mp.wires)
            )
        measurements.append(mp)
    return tape.copy(measurements=measurements)


def derivatives(tape, columns, shifted, base, wires, rng) -> list[list[list[np.ndarray]]]:
    """``[trainable parameter][shot bin][measurement]`` derivatives of the tape's results from
    the outcomes of its ``shifted_rows`` (and of its own rows, ``base``, where needed).

    Expectations and probabilities are linear in the outcome probabilities, so the shift rule
    holds for them as for the probabilities; a variance E2 - E^2 takes the rule on E2 and the
    chain rule on E: d var = (var+ - var-)/2 + dE (E+ + E- - 2 E0). A broadcast tape's
    derivative keeps its leading batch axis: element i of it is the derivative of element i's
    result, whether the parameter is the element's own or shared by all.
    """
    for mp in tape.measurements:
        if not isinstance(mp, ANALYTIC_MEASUREMENTS):
            raise DeviceError(
                f"qgpt.aer: no device derivative of {type(mp).__name__}; "
                "supported: expval, var, probs"
            )
    twin = expectation_twin(tape)
    batch = tape.batch_size or 1
    blocks = shifted.reshape(-1, 2, batch, shifted.shape[-1])
    zero = None
    if base is not None:
        zero = [
            [np.zeros_like(np.asarray(v)) for v in b]
            for b in by_bin(measure(tape, base, wires, rng), tape)
        ]
    out, k = [], 0
    for column in columns:
        if column is None:
            out.append(zero)
            continue
        plus = by_bin(measure(tape, blocks[k, 0], wires, rng), tape)
        minus = by_bin(measure(tape, blocks[k, 1], wires, rng), tape)
        d = [
            [(np.asarray(p) - np.asarray(m)) / 2 for p, m in zip(pb, mb, strict=True)]
            for pb, mb in zip(plus, minus, strict=True)
        ]
        if twin is not None:
            e_plus = by_bin(measure(twin, blocks[k, 0], wires, rng), twin)
            e_minus = by_bin(measure(twin, blocks[k, 1], wires, rng), twin)
            e_base = by_bin(measure(twin, base, wires, rng), twin)
            for b, (ep, em, e0) in enumerate(zip(e_plus, e_minus, e_base, strict=True)):
                for j, mp in enumerate(tape.measurements):
                    if isinstance(mp, VarianceMP):
                        ep_j, em_j, e0_j = (np.asarray(v[j]) for v in (ep, em, e0))
                        d[b][j] = d[b][j] + (ep_j - em_j) / 2 * (ep_j + em_j - 2 * e0_j)
        out.append(d)
        k += 1
    return out


def jacobian(tape: qml.tape.QuantumScript, per_parameter: list) -> object:
    """PennyLane's Jacobian layout from ``[parameter][bin][measurement]``: per shot bin, the
    measurement's derivative for one parameter, a tuple over parameters for one measurement,
    else a tuple over measurements of tuples over parameters (what the interfaces' shape
    structures expect, a broadcast tape's batch axis leading every entry)."""
    n_bins = tape.shots.num_copies if tape.shots.has_partitioned_shots else 1
    single = len(tape.measurements) == 1
    per_bin = []
    for b in range(n_bins):
        rows = [d[b] for d in per_parameter]
        if len(rows) == 1:
            per_bin.append(rows[0][0] if single else tuple(rows[0]))
        elif single:
            per_bin.append(tuple(r[0] for r in rows))
        else:
            per_bin.append(tuple(tuple(r[j] for r in rows) for j in range(len(tape.measurements))))
    return tuple(per_bin) if tape.shots.has_partitioned_shots else per_bin[0]


def vjp(tape: qml.tape.QuantumScript, per_parameter: list, cotangent) -> tuple:
    """The cotangent contracted with each trainable parameter's derivative: over every output
    of the tape for a shared parameter (a scalar), over every output but the batch axis for a
    broadcast one (one value per element, as its derivative is the element's own).

    Cotangents may carry extra leading axes (``jax.jacobian`` vectorizes the VJP callback over
    output directions): they stay leading axes of every VJP.
    """
    dy = by_bin(cotangent, tape)
    out = []
    for value, d in zip(tape.get_parameters(trainable_only=True), per_parameter, strict=True):
        kept = int(np.ndim(value) > 0)  # a broadcast parameter keeps its batch axis
        total = 0.0
        for dy_bin, d_bin in zip(dy, d, strict=True):
            for dy_j, d_j in zip(dy_bin, d_bin, strict=True):
                product = np.asarray(dy_j) * d_j
                total = total + product.sum(
                    axis=tuple(range(product.ndim - d_j.ndim + kept, product.ndim))
                )
        out.append(np.asarray(total))
    return tuple(out)


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

    Differentiation: PennyLane's (``parameter-shift``, ``finite-diff``), the device running the
    shifted tapes, one job per gate structure; or the device's own (``diff_method="device"``),
    the pi/2 shift rule on every trainable gate angle, which also differentiates broadcast tapes
    with respect to their broadcast parameters (PennyLane's parameter shift cannot: issue
    #4462, hence ``broadcast_expand`` and a tape per element). Then all shifted bindings of a
    batch, every broadcast element included, are one job per gate structure, and a jitted value
    and gradient is two jobs. ``tracker`` records per call one of ``batches`` (``execute``),
    ``derivative_batches``, ``execute_and_derivative_batches``, ``vjp_batches``,
    ``execute_and_vjp_batches``, plus ``executions`` (circuit bindings run: one per tape,
    broadcast element and shift), ``jobs`` (Aer jobs) and ``shots``.
    """

    name = "qgpt.aer"

    def __init__(self, wires=None, shots=None, noise=None, threads=None, seed=None):
        super().__init__(wires=wires, shots=shots)
        if noise is not None and self.wires is not None:
            from qgpt_jax.quantum.noise import validate_backend

            validate_backend(noise, len(self.wires))
        self.noise = noise
        self.last_failure: QuantumExecutionError | None = None
        """The error of the device's last failed job, for ``host.reraise_failures``: inside
        PennyLane's JAX callback it surfaces as JAX's own error."""
        self._rng = np.random.default_rng(seed)
        self._simulator = aer_simulator(noise, threads)
        self._programs: dict[tuple, JobProgram] = {}

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

    def setup_execution_config(
        self, config: ExecutionConfig | None = None, circuit: qml.tape.QuantumScript | None = None
    ) -> ExecutionConfig:
        """With ``diff_method="device"``, route gradients through the device's VJP.

        PennyLane contracts a device Jacobian with the tangents of a broadcast tape's broadcast
        parameters as if each were one tensor parameter (its JVP sums over the batch, PennyLane
        issue #4462); the device's own VJP keeps one value per element. On this device a VJP
        costs what a Jacobian does (one job of every shifted binding), so it is always used:
        the device runs the preprocessing before PennyLane's autodiff boundary, and JAX gets
        the VJP boundary (``convert_to_numpy=False`` is what makes PennyLane pick it under
        ``jax.jit``: its parameters still reach the device as numpy, through a callback).
        Forward mode (``jax.jacfwd``) is therefore not available with device derivatives.
        """
        config = super().setup_execution_config(config, circuit)
        if config.gradient_method != "device":
            return config
        updates = {"use_device_gradient": True, "use_device_jacobian_product": True}
        if config.interface in (Interface.JAX, Interface.JAX_JIT):
            updates["convert_to_numpy"] = False
        return replace(config, **updates)

    def supports_derivatives(self, execution_config=None, circuit=None) -> bool:
        """First derivatives by the device's shift rule, only when asked for by name
        (``diff_method="device"``): ``"best"`` stays PennyLane's parameter shift."""
        if execution_config is None:
            return True
        return (
            execution_config.gradient_method == "device" and execution_config.derivative_order == 1
        )

    def supports_vjp(self, execution_config=None, circuit=None) -> bool:
        """The device VJP needs the device's own derivatives: see ``setup_execution_config``."""
        return self.supports_derivatives(execution_config, circuit)

    def execute(self, circuits, execution_config: ExecutionConfig | None = None):
        """Run the batch: one Aer job per (gate structure, readout, shots) group of tapes."""
        results, _ = self._run(circuits, results=True, derivative=False, counter="batches")
        return tuple(results)

    def compute_derivatives(self, circuits, execution_config: ExecutionConfig | None = None):
        """The Jacobian of every tape (PennyLane's layout): all shifted bindings of all tapes in
        one job per gate structure."""
        _, per_parameter = self._run(
            circuits, results=False, derivative=True, counter="derivative_batches"
        )
        return tuple(jacobian(t, d) for t, d in zip(circuits, per_parameter, strict=True))

    def execute_and_compute_derivatives(
        self, circuits, execution_config: ExecutionConfig | None = None
    ):
        """Results and Jacobians from the same job: the tapes' own bindings ride along."""
        results, per_parameter = self._run(
            circuits, results=True, derivative=True, counter="execute_and_derivative_batches"
        )
        jacobians = tuple(jacobian(t, d) for t, d in zip(circuits, per_parameter, strict=True))
        return tuple(results), jacobians

    def compute_vjp(self, circuits, cotangents, execution_config: ExecutionConfig | None = None):
        """Per tape, one VJP value per trainable parameter, shaped like the parameter (``(N,)``
        for a broadcast one): one job per gate structure."""
        _, per_parameter = self._run(
            circuits, results=False, derivative=True, counter="vjp_batches"
        )
        return tuple(
            vjp(t, d, dy) for t, d, dy in zip(circuits, per_parameter, cotangents, strict=True)
        )

    def execute_and_compute_vjp(
        self, circuits, cotangents, execution_config: ExecutionConfig | None = None
    ):
        """Results and VJPs from the same job."""
        results, per_parameter = self._run(
            circuits, results=True, derivative=True, counter="execute_and_vjp_batches"
        )
        vjps = tuple(
            vjp(t, d, dy) for t, d, dy in zip(circuits, per_parameter, cotangents, strict=True)
        )
        return tuple(results), vjps

    def _run(self, circuits, results: bool, derivative: bool, counter: str):
        """Simulate what the batch needs in one Aer job per (gate structure, readout, shots)
        group: each tape's own bindings (for results, or a derivative that needs them: a
        variance's expectation, a dropped gate's zero) and the shifted bindings of its trainable
        angles (for derivatives). Returns the tapes' results and ``derivatives`` (``None`` for
        what was not asked). The tracker counts one ``counter``, ``executions`` (bindings run),
        ``jobs`` and ``shots``."""
        plans, groups = self._plan(circuits, results, derivative)
        outcomes, executions, total_shots = self._run_groups(groups, len(circuits))
        all_results, all_derivatives = [], []
        for tape, (wires, columns, n_base), values in zip(circuits, plans, outcomes, strict=True):
            base = values[:n_base] if n_base else None
            all_results.append(measure(tape, base, wires, self._rng) if results else None)
            all_derivatives.append(
                derivatives(tape, columns, values[n_base:], base, wires, self._rng)
                if derivative
                else None
            )

        if self.tracker.active:
            self.tracker.update(
                **{counter: 1},
                executions=executions,
                jobs=sum(1 for members in groups.values() if members),
                shots=total_shots,
            )
            self.tracker.record()
        return all_results, all_derivatives

    def _plan(self, circuits, results: bool, derivative: bool):
        """Group the tapes' bindings by what one Aer job can run together, so each group is one
        job; also returns, per tape, how to read its rows back (readout wires, trainable columns,
        number of own bindings)."""
        plans, groups = [], {}
        for index, tape in enumerate(circuits):
            wire_order = self.wires if self.wires is not None else tape.wires
            gates, rows = gate_structure(tape, wire_order)
            readout_qubits = readout_wires(tape, wire_order)
            columns = trainable_columns(tape) if derivative else []
            needs_base = results or (
                derivative
                and (None in columns or any(isinstance(m, VarianceMP) for m in tape.measurements))
            )
            blocks = ([rows] if needs_base else []) + (
                [shifted_rows(rows, columns)] if derivative else []
            )
            key = (len(wire_order), gates, readout_qubits, tape.shots.total_shots)
            groups.setdefault(key, []).append((index, np.concatenate(blocks)))
            wires = Wires([wire_order[i] for i in readout_qubits])
            plans.append((wires, columns, len(rows) if needs_base else 0))
        return plans, groups

    def _run_groups(self, groups: dict, n_tapes: int):
        """Run each group as one job and hand every tape back its own slice of the outcomes,
        with the bindings and shots run, which the tracker counts."""
        outcomes: list[np.ndarray | None] = [None] * n_tapes
        executions = total_shots = 0
        for (n_qubits, gates, readout_qubits, shots), members in groups.items():
            rows = np.concatenate([member_rows for _, member_rows in members])
            if len(rows):
                describe = f"{n_qubits} qubits, noise={self.noise}, shots={shots}"
                values = run_job(
                    self._simulator,
                    self._program(n_qubits, gates, readout_qubits, shots is not None),
                    rows,
                    shots,
                    int(self._rng.integers(2**31 - 1)),
                    functools.partial(self._failure, len(rows), describe),
                )
            else:
                values = np.zeros((0, 2 ** len(readout_qubits)))
            executions += len(rows)
            total_shots += (shots or 0) * len(rows)
            start = 0
            for index, member_rows in members:
                outcomes[index] = values[start : start + len(member_rows)]
                start += len(member_rows)
        return outcomes, executions, total_shots

    def _failure(self, n_bindings: int, describe: str, detail) -> QuantumExecutionError:
        self.last_failure = job_failure(n_bindings, describe, detail)
        return self.last_failure

    def _program(self, n_qubits: int, gates, readout_qubits, sampled: bool) -> JobProgram:
        key = (n_qubits, gates, readout_qubits, sampled)
        if key not in self._programs:
            if self.noise is not None and self.wires is None:
                from qgpt_jax.quantum.noise import validate_backend

                validate_backend(self.noise, n_qubits)
            self._programs[key] = build_program(
                gates, n_qubits, readout_qubits, sampled, self.noise
            )
        return self._programs[key]
