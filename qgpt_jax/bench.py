"""Training-throughput benchmark: measures each (model, device[, swept value]) entry.

A benchmark, not a test: it prints and records numbers. Every entry is measured in the same process
so that ratios between entries are meaningful on a shared, noisy machine. Each entry also records
the FLOPs of one training step from XLA's cost analysis of the compiled program and the FLOP/s it
reached against the machine's peak, measured in the same process with a large matmul.

What a sweep varies and what its lines show is ``qgpt_jax.sweep``; the words and figures of the
report are ``qgpt_jax.reports.bench`` and ``qgpt_jax.reports.plots``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from qgpt_jax.attention import circuits_per_forward, kind_of, validated
from qgpt_jax.config import ModelConfig, TrainConfig
from qgpt_jax.data import Dataset
from qgpt_jax.engine import (
    Trainer,
    compile_counting_cache,
    quantum_failures_are_fatal,
    release_compiled,
)
from qgpt_jax.errors import ConfigError
from qgpt_jax.quantum.devices import DEVICES, executor_scope, new_executor
from qgpt_jax.records import Bench, BenchEntry, Peak, Probe
from qgpt_jax.reports.bench import format_entry, render_bench
from qgpt_jax.reports.measures import environment
from qgpt_jax.storage import atomic_write_json, atomic_write_text, ensure_writable
from qgpt_jax.sweep import Sweep, sweep_summary

PROBE_BINDINGS = 2
"""Bindings of the first circuit call that times a host device before its model is trained."""
PROBE_MAX_BINDINGS = 4096


def measure_matmul_peak(size: int | None = None, repeats: int = 5) -> Peak:
    """FLOP/s of a large float32 matmul on the default device (best of ``repeats``): the
    practical peak that training FLOP/s are compared with. Same process, same XLA flags."""
    if size is None:
        size = 2048 if jax.default_backend() == "cpu" else 8192
    a = jax.random.normal(jax.random.key(0), (size, size), jnp.float32)
    matmul = jax.jit(jnp.matmul)
    matmul(a, a).block_until_ready()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        matmul(a, a).block_until_ready()
        best = min(best, time.perf_counter() - start)
    return {"matmul_size": size, "seconds": best, "flops_per_s": 2 * size**3 / best}


def _time_circuit_call(executor, kind, n_qubits: int, n_bindings: int) -> tuple[float, int]:
    """Seconds and circuit executions of one jitted forward-and-gradient call on ``n_bindings``
    bindings, the gradient taken with respect to what the kind differentiates."""
    inputs = kind.circuit.n_inputs(n_qubits)
    angles = jnp.linspace(-1.0, 1.0, n_bindings * inputs).reshape(n_bindings, inputs)
    weights = jnp.full((kind.circuit.n_weights(n_qubits),), 0.1)
    argnums = (0, 1) if kind.input_gradients else (1,)

    def loss(a, w):
        return jnp.sum(executor(a, w).real)

    # Traced and compiled ahead, so that only the call is timed.
    compiled = jax.jit(jax.value_and_grad(loss, argnums=argnums)).lower(angles, weights).compile()
    before = executor.executions()
    start = time.perf_counter()
    jax.block_until_ready(compiled(angles, weights))
    return time.perf_counter() - start, executor.executions() - before


def probe_host_circuits(mc: ModelConfig, tc: TrainConfig, seconds: float) -> Probe:
    """Time of one circuit, and circuits per training step, of a device that runs circuits on the
    host, from part of a step: the kind's circuit, forward and gradient, on an executor of its
    own (the run's counts stay clean).

    First on ``PROBE_BINDINGS`` bindings; then, if that predicts it fits in half the budget, on
    as many bindings as one layer's call of a step (capped), since batched devices pay a
    per-job cost that a tiny call overstates."""
    kind = kind_of(mc)
    forward = circuits_per_forward(mc, tc.batch_size, mc.block_size)
    with quantum_failures_are_fatal(mc):
        executor = new_executor(mc, kind.circuit)
        n = PROBE_BINDINGS
        call_s, executions = _time_circuit_call(executor, kind, mc.n_qubits, n)
        per_layer = min(forward // mc.n_layer, PROBE_MAX_BINDINGS)
        if per_layer > n and call_s / n * per_layer < seconds / 2:
            n = per_layer
            call_s, executions = _time_circuit_call(executor, kind, mc.n_qubits, n)
    per_binding = executions / n
    per_circuit = call_s / executions
    return {
        "bindings": n,
        "per_circuit_s": per_circuit,
        "executions_per_binding": per_binding,
        "circuits_per_step": forward * per_binding,
        "step_s": per_circuit * forward * per_binding,
    }


def measure_training(
    mc: ModelConfig,
    tc: TrainConfig,
    dataset: Dataset,
    *,
    seconds: float,
    max_steps: int,
    seeds: tuple[int, ...] = (0,),
    mesh=None,
    peak_flops_per_s: float | None = None,
) -> BenchEntry:
    """Train for about ``seconds`` (at most ``max_steps`` steps) after compiling; no evaluation.

    Runs through the training engine (the same compiled programs as ``compare``). In-graph devices
    fuse ``tc.steps_per_call`` steps per call; devices that run circuits on the host take one step
    per call, so the time budget is checked between steps. A host device is timed first on one
    circuit call (``probe_host_circuits``): when one step would take longer than ``seconds``, the
    model is not trained and the entry is an estimate from that call, marked ``over_budget``.
    The entry's keys are ``BenchEntry``'s, from which ``bench.schema.json`` is generated.
    """
    host = kind_of(mc).runs_circuits and not DEVICES[mc.device].in_graph
    B, T, S = tc.batch_size, mc.block_size, len(seeds)
    entry: BenchEntry = {
        "model": mc.attention,
        "device": mc.device if kind_of(mc).runs_circuits else None,
        "seeds": S,
        "over_budget": False,
    }
    probe = probe_host_circuits(mc, tc, seconds) if host else None
    if probe is not None:
        entry["probe"] = probe
        if probe["step_s"] * S > seconds:
            return entry | estimated_entry(probe, B * T * S, S, seconds)
    chunk = 1 if host else min(tc.steps_per_call, max_steps)
    tc = dataclasses.replace(tc, steps_per_call=chunk, max_iters=max_steps)
    with quantum_failures_are_fatal(mc), executor_scope(mc) as executor:
        trainer = Trainer(mc, tc, list(seeds), dataset, mesh)
        compile_s, cache_outcome = compile_counting_cache(trainer, evaluation=False)
        flops = trainer.step_flops()
        steps, elapsed = train_for(trainer, seconds, max_steps, chunk)
        measured = executor.executions() if executor is not None else None
    per_step, counted = circuits_per_step(mc, B, measured, steps * S)
    if steps == 1 and elapsed > seconds:  # measured, but one step alone overran the budget
        entry["over_budget"] = True
        entry["executions_counted"] = f"one step took {elapsed:.3g} s, over the {seconds:g} s"
    rates = training_rates(steps * S, elapsed, B * T, per_step, None if host else flops)
    return {
        "steps": steps,
        "train_s": elapsed,
        "compile_s": compile_s,
        "compile_cache": cache_outcome.value,
        "executions_counted": counted,
        "flops_per_step": flops,
        "flops_counted": "XLA program" + (" (host circuits not included)" if host else ""),
        "peak_fraction": rates["flops_per_s"] / peak_flops_per_s
        if rates["flops_per_s"] is not None and peak_flops_per_s
        else None,
        **rates,
    } | entry


def training_rates(
    seed_steps: int, elapsed: float, tokens_per_step: int, circuits: float, flops: float | None
) -> dict:
    """Tokens, circuits and FLOPs per second of ``seed_steps`` steps in ``elapsed`` seconds; no
    FLOP rate where circuits simulated on the host are not in XLA's count (``flops`` None)."""
    return {
        "tokens_per_s": seed_steps * tokens_per_step / elapsed,
        "circuit_executions_per_step": circuits,
        "circuits_per_s": circuits * seed_steps / elapsed,
        "flops_per_s": flops * seed_steps / elapsed if flops is not None else None,
    }


def estimated_entry(probe: Probe, tokens_per_step: int, n_seeds: int, seconds: float) -> dict:
    """The figures of an entry that one step would take over budget: estimated from the probe's
    one timed circuit call, not trained."""
    step_s = probe["step_s"] * n_seeds
    return {
        "over_budget": True,
        "steps": 0,
        "train_s": None,
        "compile_s": None,
        "compile_cache": None,
        "tokens_per_s": tokens_per_step / step_s,
        "circuit_executions_per_step": probe["circuits_per_step"],
        "circuits_per_s": 1 / probe["per_circuit_s"],
        "executions_counted": f"estimated from one call of {probe['bindings']} bindings: "
        f"a step would take {step_s:.3g} s, over the {seconds:g} s budget",
        "flops_per_step": None,
        "flops_per_s": None,
        "peak_fraction": None,
    }


def train_for(trainer: Trainer, seconds: float, max_steps: int, chunk: int) -> tuple[int, float]:
    """Steps trained and their seconds: one step first, then calls sized to what is left of the
    budget (one compiled program runs any number of steps up to ``chunk``), so that a slow
    model stops near ``seconds``."""
    state = trainer.init()
    jax.block_until_ready(state)
    steps, elapsed, calls = 0, 0.0, 1
    while steps + calls <= max_steps and (elapsed < seconds or steps == 0):
        t = time.perf_counter()
        state, _ = trainer.run(state, calls)  # returns host losses: the steps have finished
        elapsed += time.perf_counter() - t
        steps += calls
        calls = max(1, min(chunk, int((seconds - elapsed) * steps / elapsed)))
    return steps, elapsed


def circuits_per_step(mc: ModelConfig, batch: int, measured: int | None, seed_steps: int):
    """Circuit executions of one seed's step and how they were counted: by the device where it
    counts (gradients included), else from the shapes."""
    if not kind_of(mc).runs_circuits:
        return 0, "classical"
    if measured is None:
        return (
            circuits_per_forward(mc, batch, mc.block_size),
            "from shapes (backprop reuses the forward simulation)",
        )
    counted = f"by the device ({DEVICES[mc.device].diff_method} gradients included)"
    return measured / seed_steps, counted


def measure_raw_aer(
    n_qubits: int, n_bindings: int = 4096, repeats: int = 3, threads: int | None = None
) -> BenchEntry:
    """Bindings per second of a bare Aer job of the same transpiled circuit (best of repeats):
    one ``AerSimulator.run`` of ``n_bindings`` runtime bindings and its ``result()``, none of the
    training path's binding, chunking or result parsing."""
    from qgpt_jax.quantum.aer import BatchedAerCircuit
    from qgpt_jax.quantum.circuits import n_circuit_weights

    runner = BatchedAerCircuit(n_qubits, threads=threads)
    rng = np.random.default_rng(0)
    angles = rng.uniform(-1, 1, (n_bindings, n_qubits))
    weights = rng.normal(0, 0.1, n_circuit_weights(n_qubits))
    program, bindings = runner.bindings(angles, weights)
    circuit, parameters = program.job.circuit, program.job.parameters
    binds = [{p: bindings[:, k].tolist() for k, p in enumerate(parameters)}]
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run = runner.simulator.run
        run(circuit, parameter_binds=binds, runtime_parameter_bind_enable=True).result()
        best = min(best, time.perf_counter() - start)
    return {
        "model": "raw-aer",
        "device": "aer",
        "bindings": n_bindings,
        "seconds": best,
        "tokens_per_s": None,
        "circuit_executions_per_step": None,
        "circuits_per_s": n_bindings / best,
    }


def bench_plan(
    models: list[str], devices: list[str], mc: ModelConfig, skipped: Callable[[str], None] = print
) -> list[tuple[str, ModelConfig]]:
    """Every model on every device it can run on (models without circuits once), as configs; a
    device a kind cannot run on (Quixer reads states) is named to ``skipped`` and left out."""
    from qgpt_jax.study import model_configs

    plan = []
    for model, base in model_configs(models, mc).items():
        for device in devices if kind_of(base).runs_circuits else [None]:
            if device is not None and kind_of(base).needs_states and not DEVICES[device].states:
                skipped(f"{model} on {device}: skipped, {device} returns no states to read")
                continue
            plan.append((model, validated(base.on(device=device or mc.device))))
    return plan


def sweep_plan(models, devices, configs, datasets, sweep: Sweep | None, skipped) -> list[tuple]:
    """(value, model, config, train config, dataset) of every entry to measure: each model and
    device at each swept value, a classical model once where the swept field cannot change it."""
    values = sweep.values if sweep is not None else (None,)
    plans = []
    for value in values:
        mc, tc = configs(value)
        dataset = datasets(mc.block_size)
        mc = dataclasses.replace(mc, vocab_size=dataset.tokenizer.vocab_size)
        for model, config in bench_plan(models, devices, mc, skipped):
            later = value != values[0]  # only a sweep has values after the first
            if later and not kind_of(config).runs_circuits and not sweep.classical_varies:
                continue
            plans.append((value, model, config, tc, dataset))
    return plans


def run_bench(
    models: list[str],
    devices: list[str],
    configs: Callable[[object], tuple[ModelConfig, TrainConfig]],
    datasets: Callable[[int], Dataset],
    *,
    seconds: float,
    max_steps: int,
    sweep: Sweep | None = None,
    seeds: tuple[int, ...] = (0,),
    mesh=None,
    raw_aer: bool = True,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Every (model, device) at every swept value (or once), then the raw Aer figure.

    ``configs(value)`` gives the (model, train) configs at a swept value (``None`` without a
    sweep); ``datasets(block_size)`` the corpus. Each entry's line goes to ``progress`` (default:
    printed above the progress bar). Returns the peak and the entries."""
    from tqdm.auto import tqdm

    peak = measure_matmul_peak()
    progress = progress or tqdm.write
    progress(
        f"{'peak':>40}: {peak['flops_per_s'] / 1e9:>12,.1f} GFLOP/s "
        f"({peak['matmul_size']}^2 float32 matmul)"
    )
    values = sweep.values if sweep is not None else (None,)
    plans = sweep_plan(models, devices, configs, datasets, sweep, progress)
    entries = []
    bar = tqdm(plans, desc="bench", unit="entry", leave=False, disable=None)
    for value, model, config, tc, dataset in bar:
        bar.set_postfix_str(
            f"{model} {config.device if kind_of(config).runs_circuits else ''} {value or ''}"
        )
        entry = measure_training(
            config, tc, dataset, seconds=seconds, max_steps=max_steps, seeds=seeds, mesh=mesh,
            peak_flops_per_s=peak["flops_per_s"],
        )
        entry["model"] = model
        if sweep is not None:
            entry["sweep"] = {"field": sweep.field, "value": value}
        release_compiled()
        progress(format_entry(entry))
        entries.append(entry)
    bar.close()
    if raw_aer and "aer" in devices and any(kind_of(p[2]).runs_circuits for p in plans):
        mc, _ = configs(values[0])
        entry = measure_raw_aer(mc.n_qubits, threads=mc.aer_threads)
        progress(format_entry(entry))
        entries.append(entry)
    return {"peak": peak, "entries": entries}


def check_request(
    devices: list[str], configs, values, *, seconds: float, max_steps: int, seeds: tuple
) -> None:
    """Fail before measuring anything: every device can run a quantum kind at every swept value,
    and the budgets are positive."""
    for value in values:
        mc, _ = configs(value)
        for device in devices:
            validated(dataclasses.replace(mc, attention="enhance").on(device=device))
    if seconds <= 0 or max_steps <= 0 or not seeds:
        raise ConfigError("--seconds, --max-steps and --seeds-together must be positive")


def benchmark(
    models: list[str],
    devices: list[str],
    configs: Callable[[object], tuple[ModelConfig, TrainConfig]],
    datasets: Callable[[int], Dataset],
    *,
    preset: str,
    seconds: float,
    max_steps: int,
    sweep: Sweep | None = None,
    seeds: tuple[int, ...] = (0,),
    mesh=None,
    out: Path | None = None,
) -> Bench:
    """The whole ``bench.json`` record: the request checked, every entry measured
    (``run_bench``), the configuration, the environment and, with a sweep, its summary. With
    ``out``, the folder is checked writable before measuring and the record and its report are
    written there (``write_bench``)."""
    values = sweep.values if sweep is not None else (None,)
    check_request(devices, configs, values, seconds=seconds, max_steps=max_steps, seeds=seeds)
    if out is not None:
        ensure_writable(Path(out))
    measured = run_bench(
        models,
        devices,
        configs,
        datasets,
        seconds=seconds,
        max_steps=max_steps,
        sweep=sweep,
        seeds=seeds,
        mesh=mesh,
    )
    mc, tc = configs(values[0])
    bench: Bench = {
        "preset": preset,
        "model": mc.to_dict(),
        "train": tc.to_dict(),
        "environment": environment(),
        **measured,
    }
    if sweep is not None:
        bench["sweep"] = {**sweep_summary(measured["entries"], sweep.field), "values": list(values)}
    if out is not None:
        write_bench(Path(out), bench)
    return bench


def write_bench(out: Path, bench: Bench) -> None:
    """``bench.json``, ``bench.md`` and the plots (``bench.png``; ``sweep.png`` with a sweep),
    each written atomically."""
    from qgpt_jax.reports.plots import plot_bench, plot_sweep

    out = Path(out)
    if "sweep" in bench:
        plot_sweep(bench["entries"], bench["sweep"]["field"], out / "sweep.png")
    plot_bench(bench["entries"], out / "bench.png")
    atomic_write_json(out / "bench.json", bench)
    atomic_write_text(out / "bench.md", render_bench(bench))
