"""Training-throughput benchmark per (model, device), and the raw Aer binding rate.

A benchmark, not a test: it prints and records numbers. Every entry is measured in the same process
so that ratios between entries are meaningful on a shared, noisy machine.
"""

from __future__ import annotations

import dataclasses
import time

import jax
import numpy as np

from qgpt_jax.attention import circuits_per_forward
from qgpt_jax.config import ModelConfig, TrainConfig
from qgpt_jax.data import Dataset
from qgpt_jax.engine import Trainer, quantum_failures_are_fatal, release_compiled
from qgpt_jax.quantum.devices import DEVICES, executor_scope


def measure_training(
    mc: ModelConfig,
    tc: TrainConfig,
    dataset: Dataset,
    *,
    seconds: float,
    max_steps: int,
    seeds: tuple[int, ...] = (0,),
    mesh=None,
) -> dict:
    """Train for about ``seconds`` (at most ``max_steps`` steps) after compiling; no evaluation.

    Runs through the training engine (the same compiled programs as ``compare``). In-graph devices
    fuse ``tc.steps_per_call`` steps per call; devices that run circuits on the host take one step
    per call, so the time budget is checked between steps.
    """
    host = mc.is_quantum and not DEVICES[mc.device].in_graph
    chunk = 1 if host else min(tc.steps_per_call, max_steps)
    tc = dataclasses.replace(tc, steps_per_call=chunk, max_iters=max_steps)
    B, T, S = tc.batch_size, mc.block_size, len(seeds)
    with quantum_failures_are_fatal(mc), executor_scope(mc) as executor:
        trainer = Trainer(mc, tc, list(seeds), dataset, mesh)
        compile_s = trainer.compile()
        state = trainer.init()
        jax.block_until_ready(state)
        steps, elapsed = 0, 0.0
        while steps + chunk <= max_steps and (elapsed < seconds or steps == 0):
            t = time.perf_counter()
            state, _ = trainer.run(state, chunk)  # returns host losses: the step has finished
            elapsed += time.perf_counter() - t
            steps += chunk
        measured = executor.executions() if executor is not None else None
    if not mc.is_quantum:
        per_step, counted = 0, "classical"
    elif measured is None:
        per_step = circuits_per_forward(mc, B, T)
        counted = "from shapes (backprop reuses the forward simulation)"
    else:
        per_step = measured / (steps * S)
        counted = f"by the device ({DEVICES[mc.device].diff_method} gradients included)"
    return {
        "model": mc.attention,
        "device": mc.device if mc.is_quantum else None,
        "seeds": S,
        "steps": steps,
        "train_s": elapsed,
        "compile_s": compile_s,
        "tokens_per_s": steps * B * T * S / elapsed,
        "circuit_executions_per_step": per_step,
        "circuits_per_s": per_step * steps * S / elapsed,
        "executions_counted": counted,
    }


def measure_raw_aer(
    n_qubits: int, n_bindings: int = 4096, repeats: int = 3, threads: int | None = None
) -> dict:
    """Bindings per second of a bare Aer job of the same transpiled circuit (best of repeats)."""
    from qgpt_jax.quantum.aer import BatchedAerCircuit
    from qgpt_jax.quantum.circuits import n_circuit_weights

    backend = BatchedAerCircuit(n_qubits, threads=threads)
    rng = np.random.default_rng(0)
    angles = rng.uniform(-1, 1, (n_bindings, n_qubits))
    weights = rng.normal(0, 0.1, n_circuit_weights(n_qubits))
    program, bindings = backend.bindings(angles, weights)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        backend.run(program, bindings)
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


def run_bench(
    models: list[str],
    devices: list[str],
    mc: ModelConfig,
    tc: TrainConfig,
    dataset: Dataset,
    *,
    seconds: float,
    max_steps: int,
    seeds: tuple[int, ...] = (0,),
    mesh=None,
    progress=print,
) -> list[dict]:
    """Every model on every device (models without circuits once), then the raw Aer figure."""
    from qgpt_jax.study import model_configs

    mc = dataclasses.replace(mc, vocab_size=dataset.tokenizer.vocab_size)
    entries = []
    for model, base in model_configs(models, mc).items():
        for device in devices if base.is_quantum else [None]:
            config = base.on(device=device or mc.device)
            entry = measure_training(
                config, tc, dataset, seconds=seconds, max_steps=max_steps, seeds=seeds, mesh=mesh
            )
            entry["model"] = model
            release_compiled()
            progress(format_entry(entry))
            entries.append(entry)
    if "aer" in devices:
        entry = measure_raw_aer(mc.n_qubits, threads=mc.aer_threads)
        progress(format_entry(entry))
        entries.append(entry)
    return entries


def format_entry(e: dict) -> str:
    name = f"{e['model']}" + (f" on {e['device']}" if e["device"] else "")
    if e["tokens_per_s"] is None:
        return f"{name:>32}: {e['circuits_per_s']:>12,.0f} circuits/s ({e['bindings']} bindings)"
    return (
        f"{name:>32}: {e['tokens_per_s']:>12,.1f} tokens/s  {e['circuits_per_s']:>10,.0f} "
        f"circuits/s  ({e['steps']} steps, compile {e['compile_s']:.1f}s)"
    )


def plot_bench(entries: list[dict], path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from qgpt_jax.report import save_figure

    trained = [e for e in entries if e["tokens_per_s"]]
    labels = [e["model"] + (f"\n{e['device']}" if e["device"] else "") for e in trained]
    devices = list(dict.fromkeys(e["device"] for e in trained))
    colors = [f"C{devices.index(e['device'])}" for e in trained]
    fig, ax = plt.subplots(figsize=(max(6, 1.4 * len(trained)), 4.5))
    bars = ax.bar(labels, [e["tokens_per_s"] for e in trained], color=colors)
    ax.bar_label(
        bars,
        labels=[
            f"{v:,.0f}" if v >= 10 else f"{v:.2g}" for v in (e["tokens_per_s"] for e in trained)
        ],
        fontsize=8,
    )
    ax.tick_params(axis="x", labelsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("training tokens/s (log scale, compile excluded)")
    ax.set_title("qgpt-jax training throughput per model and device")
    ax.grid(axis="y", alpha=0.3)
    save_figure(fig, path)
    plt.close(fig)
