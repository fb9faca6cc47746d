"""What the attention circuit costs on hardware: width, depth and two-qubit gates after transpiling.

Depth and two-qubit gate count decide how much noise a real device adds, so they are reported for
the transpiled circuit: for a fake IBM backend (its basis gates and coupling map, routing swaps
included), else for a generic all-to-all device with the IBM basis ``rz, sx, x, cx``.
"""

from __future__ import annotations

import numpy as np

from qgpt_jax.quantum.circuits import ATTENTION, Circuit

GENERIC_BASIS = ("rz", "sx", "x", "cx")
RESOURCE_FIELDS = ("circuit", "width", "depth", "two_qubit_gates", "parameters")
"""What ``circuit_resources`` reports of one transpiled circuit."""


def recorded(n_qubits: int, circuit: Circuit = ATTENTION):
    """Gates and gate angles of one ``circuit`` on zero inputs and weights."""
    from qgpt_jax.quantum.aer import record_circuit

    inputs = np.zeros((1, circuit.n_inputs(n_qubits)))
    return record_circuit(inputs, np.zeros(circuit.n_weights(n_qubits)), n_qubits, circuit)


def circuit_resources(
    n_qubits: int,
    noise: str | None = None,
    circuit: Circuit = ATTENTION,
    backend: str | None = None,
) -> dict:
    """``width`` (logical qubits), ``depth``, ``two_qubit_gates`` and ``parameters`` (gate angles,
    each a function of the inputs or the weights) of the transpiled circuit: for the IBM Runtime
    ``backend`` (its ISA circuit, plus the seconds one shot takes there, ``shot_s``), else for the
    fake backend ``noise``, else for a generic device."""
    from qiskit import transpile

    from qgpt_jax.quantum.aer import transpile_for, transpiled_circuit

    gates, params = recorded(n_qubits, circuit)
    timing = {}
    if backend is not None:
        from qgpt_jax.quantum.ibm_runtime import runtime_backend, shot_seconds

        target = runtime_backend(backend)
        transpiled, _, readout_layout = transpile_for(gates, n_qubits, target)
        timing = {"shot_s": shot_seconds(transpiled, readout_layout, target)}
    elif noise is None:
        transpiled, _, _ = transpiled_circuit(gates, n_qubits)
        transpiled = transpile(transpiled, basis_gates=list(GENERIC_BASIS), seed_transpiler=0)
    else:
        transpiled, _, _ = transpiled_circuit(gates, n_qubits, noise)
    return {
        "circuit": circuit.name,
        "width": n_qubits,
        "depth": transpiled.depth(),
        "two_qubit_gates": sum(1 for inst in transpiled.data if inst.operation.num_qubits == 2),
        "parameters": len(params),
        **timing,
    }


HARDWARE_SHOTS_PER_S = 4_000
"""Assumed QPU sampling rate: about 250 us per shot including reset and readout, no queueing."""
HARDWARE_SHOTS_PER_CIRCUIT = 1_024
"""Shots assumed per circuit execution when the simulated run used exact expectation values."""


def shifted_angles(kind, n_qubits: int) -> int:
    """Gate angles a parameter-shift gradient must shift in one circuit of ``kind``: every angle
    when gradients reach the circuit's inputs, else (``original``) only the weights' angles."""
    _, params = recorded(n_qubits, kind.circuit)
    if kind.input_gradients:
        return len(params)
    return sum(1 for p in params if np.ndim(p) == 0)


def jobs_per_forward(mc) -> int:
    """The jobs one forward pass of ``mc`` submits on the batched path (``aer``, and so
    ``ibm.runtime``): one per circuit call, whatever the batch, so counted over one forward of
    one full-length sequence (a kind may skip its circuit on short ones). A parameter-shift
    gradient adds one job per call (every shifted binding of a call in one PUB)."""
    import jax
    import jax.numpy as jnp

    from qgpt_jax.attention import executor_scope
    from qgpt_jax.model import GPT, init

    on_aer = mc.on(device="aer", shots=None, noise=None, backend=None)
    params = init(on_aer, jax.random.key(0))
    idx = jnp.zeros((1, mc.block_size), dtype=jnp.int32)
    # Traced afresh (not ``model.forward``, whose compiled program may hold another scope's
    # executors), so the jobs land in this scope's count.
    model = GPT(on_aer)
    apply = jax.jit(lambda params, idx: model.apply({"params": params}, idx, deterministic=True))
    with executor_scope(on_aer) as executors:
        jax.block_until_ready(apply(params, idx))
        return executors.jobs()


def hardware_estimate(
    mc,
    tc,
    forward: int,
    shifted: int,
    final_sweeps: int = 0,
    shot_s: float | None = None,
    jobs_forward: int | None = None,
) -> dict:
    """Circuit executions and shots per training step and per run if trained on a QPU, for a
    model whose forward pass runs ``forward`` circuits of ``shifted`` shifted angles each, at
    ``shot_s`` seconds per shot (a backend's own figure), else at ``HARDWARE_SHOTS_PER_S``.

    A QPU computes gradients by parameter shift: each circuit of a step costs one execution plus
    two per shifted angle. Evaluation batches cost forward executions only, and so do the
    ``final_sweeps`` calls of the final whole-split estimate (``train.final_sweeps``).
    ``jobs_forward`` (``jobs_per_forward``, given for a Runtime backend) adds the jobs a step, an
    evaluation batch and the run submit.
    """
    per_step = forward * (1 + 2 * shifted)
    n_evals = tc.max_iters // tc.eval_interval + 1 + (tc.max_iters % tc.eval_interval > 0)
    n_evals += final_sweeps
    per_run = per_step * tc.max_iters + forward * 2 * tc.eval_iters * n_evals
    shots = mc.shots or HARDWARE_SHOTS_PER_CIRCUIT
    if shot_s is None:
        shots_per_s, rate = HARDWARE_SHOTS_PER_S, ""
    else:
        shots_per_s = 1 / shot_s
        rate = f" ({mc.backend}'s circuit and measurement durations and repetition delay)"
    jobs = {}
    if jobs_forward is not None:
        jobs = {
            "jobs_per_step": 2 * jobs_forward,
            "jobs_per_eval_batch": jobs_forward,
            "jobs_per_run": 2 * jobs_forward * tc.max_iters
            + jobs_forward * 2 * tc.eval_iters * n_evals,
        }
    return {
        "circuits_per_forward": forward,
        **jobs,
        "executions_per_step": per_step,
        "shots_per_step": per_step * shots,
        "executions_per_run": per_run,
        "shots_per_run": per_run * shots,
        "hours_per_run": per_run * shots / shots_per_s / 3600,
        "assumption": f"{shots:,} shots per circuit, {shots_per_s:,.0f} shots/s on one QPU"
        f"{rate}, parameter-shift gradients, no queueing or transpilation time",
    }
