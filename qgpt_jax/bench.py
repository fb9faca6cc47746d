"""Training-throughput benchmark per (model, device[, swept value]), its cost curves and report.

A benchmark, not a test: it prints and records numbers. Every entry is measured in the same process
so that ratios between entries are meaningful on a shared, noisy machine. Each entry also records
the FLOPs of one training step from XLA's cost analysis of the compiled program and the FLOP/s it
reached against the machine's peak, measured in the same process with a large matmul.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from qgpt_jax import compile_cache
from qgpt_jax.attention import circuits_per_forward, kind_of, validated
from qgpt_jax.config import DEVICE_FIELDS, ModelConfig, TrainConfig
from qgpt_jax.data import Dataset
from qgpt_jax.engine import (
    Trainer,
    compile_counting_cache,
    quantum_failures_are_fatal,
    release_compiled,
)
from qgpt_jax.errors import ConfigError
from qgpt_jax.presets import PRESETS
from qgpt_jax.quantum.devices import DEVICES, executor_scope, new_executor

PROBE_BINDINGS = 2
"""Bindings of the first circuit call that times a host device before its model is trained."""
PROBE_MAX_BINDINGS = 4096


def measure_matmul_peak(size: int | None = None, repeats: int = 5) -> dict:
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


def probe_host_circuits(mc: ModelConfig, tc: TrainConfig, seconds: float) -> dict:
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
) -> dict:
    """Train for about ``seconds`` (at most ``max_steps`` steps) after compiling; no evaluation.

    Runs through the training engine (the same compiled programs as ``compare``). In-graph devices
    fuse ``tc.steps_per_call`` steps per call; devices that run circuits on the host take one step
    per call, so the time budget is checked between steps. A host device is timed first on one
    circuit call (``probe_host_circuits``): when one step would take longer than ``seconds``, the
    model is not trained and the entry is an estimate from that call, marked ``over_budget``.
    """
    host = kind_of(mc).runs_circuits and not DEVICES[mc.device].in_graph
    B, T, S = tc.batch_size, mc.block_size, len(seeds)
    entry = {
        "model": mc.attention,
        "device": mc.device if kind_of(mc).runs_circuits else None,
        "seeds": S,
        "over_budget": False,
    }
    probe = probe_host_circuits(mc, tc, seconds) if host else None
    if probe is not None:
        entry["probe"] = probe
        if probe["step_s"] * S > seconds:
            step_s = probe["step_s"] * S
            return entry | {
                "over_budget": True,
                "steps": 0,
                "train_s": None,
                "compile_s": None,
                "compile_cache": None,
                "tokens_per_s": B * T * S / step_s,
                "circuit_executions_per_step": probe["circuits_per_step"],
                "circuits_per_s": 1 / probe["per_circuit_s"],
                "executions_counted": f"estimated from one call of {probe['bindings']} bindings: "
                f"a step would take {step_s:.3g} s, over the {seconds:g} s budget",
                "flops_per_step": None,
                "flops_per_s": None,
                "peak_fraction": None,
            }
    chunk = 1 if host else min(tc.steps_per_call, max_steps)
    tc = dataclasses.replace(tc, steps_per_call=chunk, max_iters=max_steps)
    with quantum_failures_are_fatal(mc), executor_scope(mc) as executor:
        trainer = Trainer(mc, tc, list(seeds), dataset, mesh)
        compile_s, compile_cache = compile_counting_cache(trainer, evaluation=False)
        flops = trainer.step_flops()
        state = trainer.init()
        jax.block_until_ready(state)
        # One step first, then calls sized to what is left of the budget (one compiled program
        # runs any number of steps up to the chunk), so a slow model stops near ``seconds``.
        steps, elapsed, calls = 0, 0.0, 1
        while steps + calls <= max_steps and (elapsed < seconds or steps == 0):
            t = time.perf_counter()
            state, _ = trainer.run(state, calls)  # returns host losses: the steps have finished
            elapsed += time.perf_counter() - t
            steps += calls
            calls = max(1, min(chunk, int((seconds - elapsed) * steps / elapsed)))
        measured = executor.executions() if executor is not None else None
    if not kind_of(mc).runs_circuits:
        per_step, counted = 0, "classical"
    elif measured is None:
        per_step = circuits_per_forward(mc, B, T)
        counted = "from shapes (backprop reuses the forward simulation)"
    else:
        per_step = measured / (steps * S)
        counted = f"by the device ({DEVICES[mc.device].diff_method} gradients included)"
    # Circuits simulated on the host are not in XLA's count: no FLOP rate for those models.
    flops_per_s = flops * steps * S / elapsed if flops is not None and not host else None
    if steps == 1 and elapsed > seconds:  # measured, but one step alone overran the budget
        entry["over_budget"] = True
        entry["executions_counted"] = f"one step took {elapsed:.3g} s, over the {seconds:g} s"
    return {
        "steps": steps,
        "train_s": elapsed,
        "compile_s": compile_s,
        "compile_cache": compile_cache,
        "tokens_per_s": steps * B * T * S / elapsed,
        "circuit_executions_per_step": per_step,
        "circuits_per_s": per_step * steps * S / elapsed,
        "executions_counted": counted,
        "flops_per_step": flops,
        "flops_counted": "XLA program" + (" (host circuits not included)" if host else ""),
        "flops_per_s": flops_per_s,
        "peak_fraction": flops_per_s / peak_flops_per_s
        if flops_per_s is not None and peak_flops_per_s
        else None,
    } | entry


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


QUANTUM_ONLY_FIELDS = ("n_qubits", "quantum_heads", *DEVICE_FIELDS)
"""Fields that change no classical model: a sweep of one measures the classical model once."""


@dataclass(frozen=True)
class Sweep:
    """``FIELD=V1,V2,...``: a config field (or ``preset``) and the values it takes in turn."""

    field: str
    values: tuple

    @classmethod
    def parse(cls, text: str) -> Sweep:
        field, sep, values = text.partition("=")
        field = field.strip().replace("-", "_")
        parts = tuple(v.strip() for v in values.split(",") if v.strip())
        if not sep or not parts:
            raise ConfigError(f"--sweep takes FIELD=V1,V2,... (e.g. n_qubits=4,6,8), got {text!r}")
        if field == "preset":
            unknown = [v for v in parts if v not in PRESETS]
            if unknown:
                raise ConfigError(
                    f"--sweep preset: unknown preset(s) {', '.join(unknown)}; choose from "
                    f"{', '.join(PRESETS)}"
                )
            return cls(field, parts)
        fields = {f.name: f for c in (ModelConfig, TrainConfig) for f in dataclasses.fields(c)}
        numeric = {
            name for name, f in fields.items() if f.type in ("int", "float", "int | None")
        } | {"n_qubits"}
        if field not in numeric:
            raise ConfigError(
                f"--sweep cannot vary {field!r}; sweep preset or a numeric field: "
                f"{', '.join(sorted(numeric))}"
            )
        try:
            converted = tuple(int(v) if float(v).is_integer() else float(v) for v in parts)
        except ValueError:
            raise ConfigError(f"--sweep {field}: values must be numbers, got {values!r}") from None
        return cls(field, converted)

    def configs(
        self, value, preset: str, model_overrides: dict, train_overrides: dict
    ) -> tuple[ModelConfig, TrainConfig]:
        """The (validated) configs at ``value``: the preset, the command line's overrides, then
        the swept field."""
        if self.field == "preset":
            preset = value
        model_overrides, train_overrides = dict(model_overrides), dict(train_overrides)
        if self.field in {f.name for f in dataclasses.fields(TrainConfig)}:
            train_overrides[self.field] = value
        elif self.field != "preset":
            model_overrides[self.field] = value
        return (
            ModelConfig.from_preset(preset, **model_overrides),
            TrainConfig.from_preset(preset, **train_overrides),
        )

    @property
    def classical_varies(self) -> bool:
        return self.field not in QUANTUM_ONLY_FIELDS


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
    plans = []
    for value in values:
        mc, tc = configs(value)
        dataset = datasets(mc.block_size)
        mc = dataclasses.replace(mc, vocab_size=dataset.tokenizer.vocab_size)
        for model, config in bench_plan(models, devices, mc, progress):
            if (
                value != values[0]
                and not kind_of(config).runs_circuits
                and not sweep.classical_varies
            ):
                continue
            plans.append((value, model, config, tc, dataset))
    entries = []
    bar = tqdm(plans, desc="bench", unit="entry", leave=False, disable=None)
    for value, model, config, tc, dataset in bar:
        bar.set_postfix_str(
            f"{model} {config.device if kind_of(config).runs_circuits else ''} {value or ''}"
        )
        entry = measure_training(
            config,
            tc,
            dataset,
            seconds=seconds,
            max_steps=max_steps,
            seeds=seeds,
            mesh=mesh,
            peak_flops_per_s=peak["flops_per_s"],
        )
        entry["model"] = model
        if sweep is not None:
            entry["sweep"] = {"field": sweep.field, "value": value}
        release_compiled()
        progress(format_entry(entry))
        entries.append(entry)
    bar.close()
    if (
        raw_aer
        and "aer" in devices
        and any(kind_of(config).runs_circuits for _, _, config, _, _ in plans)
    ):
        mc, _ = configs(values[0])
        entry = measure_raw_aer(mc.n_qubits, threads=mc.aer_threads)
        progress(format_entry(entry))
        entries.append(entry)
    return {"peak": peak, "entries": entries}


def entry_name(e: dict) -> str:
    return e["model"] + (f" on {e['device']}" if e["device"] else "")


def _estimated(e: dict) -> bool:
    """Whether an entry's tokens/s are an estimate (over budget before a step was run)."""
    return e["over_budget"] and e["steps"] == 0


def _cached(e: dict) -> str:
    return " (cached)" if e.get("compile_cache") == compile_cache.HIT else ""


def format_entry(e: dict) -> str:
    name = entry_name(e)
    if "sweep" in e:
        name += f" @ {e['sweep']['field']}={e['sweep']['value']}"
    if e["tokens_per_s"] is None:
        return f"{name:>40}: {e['circuits_per_s']:>12,.0f} circuits/s ({e['bindings']} bindings)"
    if _estimated(e):
        p = e["probe"]
        return (
            f"{name:>40}: ~{e['tokens_per_s']:>11,.3g} tokens/s  OVER BUDGET: one step ~"
            f"{p['step_s']:.3g} s ({p['circuits_per_step']:,.0f} circuits at "
            f"{p['per_circuit_s'] * 1e3:.3g} ms each), not trained"
        )
    flops = (
        f", {e['flops_per_s'] / 1e9:.2f} GFLOP/s = {e['peak_fraction']:.1%} of peak"
        if e.get("flops_per_s")
        else ""
    )
    over = ", OVER BUDGET: " + e["executions_counted"] if e["over_budget"] else ""
    return (
        f"{name:>40}: {e['tokens_per_s']:>12,.1f} tokens/s  {e['circuits_per_s']:>10,.0f} "
        f"circuits/s  ({e['steps']} steps, compile {e['compile_s']:.1f}s{_cached(e)}{flops}{over})"
    )


def _series(entries: list[dict]) -> dict[str, list[dict]]:
    """Swept entries grouped into lines, one per (model, device), in sweep order. A model
    measured once (classical in a quantum-only sweep) is one point, drawn as a reference."""
    lines: dict[str, list[dict]] = {}
    for e in entries:
        if "sweep" in e and e["tokens_per_s"]:
            lines.setdefault(entry_name(e), []).append(e)
    return lines


def growth(line: list[dict], field: str) -> dict | None:
    """How a line's time per token grows with the swept value, fitted over its points from the
    middle one on (where the growth has settled): a factor per added unit for ``n_qubits``
    (exponential, ``2.0`` = doubling per qubit), else the exponent of a power law."""
    if field == "preset":
        return None
    points = [(e["sweep"]["value"], 1 / e["tokens_per_s"]) for e in line]
    if field != "n_qubits":  # a power law needs positive values
        points = [p for p in points if p[0] > 0]
    if len(points) < 2:
        return None
    tail = points[(len(points) - 1) // 2 :] if len(points) >= 3 else points
    x = np.array([p[0] for p in tail], float)
    y = np.log2([p[1] for p in tail])
    if field == "n_qubits":
        slope = np.polyfit(x, y, 1)[0]
        return {
            "kind": "exponential",
            "factor_per_unit": float(2**slope),
            "over": [float(x[0]), float(x[-1])],
        }
    slope = np.polyfit(np.log2(x), y, 1)[0]
    return {"kind": "power", "exponent": float(slope), "over": [float(x[0]), float(x[-1])]}


def crossovers(entries: list[dict]) -> list[dict]:
    """Where one line overtakes another: for every model, between every pair of its devices,
    the consecutive swept values between which their order of tokens/s flips."""
    lines = _series(entries)
    found = []
    names = list(lines)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            if lines[a][0]["model"] != lines[b][0]["model"]:
                continue
            speed_a = {e["sweep"]["value"]: e["tokens_per_s"] for e in lines[a]}
            speed_b = {e["sweep"]["value"]: e["tokens_per_s"] for e in lines[b]}
            shared = [v for v in speed_a if v in speed_b]
            for lo, hi in zip(shared, shared[1:], strict=False):
                before, after = speed_a[lo] > speed_b[lo], speed_a[hi] > speed_b[hi]
                if before != after:
                    leader, other = (a, b) if after else (b, a)
                    found.append({"overtakes": leader, "overtaken": other, "between": [lo, hi]})
    return found


def _label(v: float) -> str:
    return f"{v:,.0f}" if v >= 10 else f"{v:.2g}"


def plot_bench(entries: list[dict], path) -> None:
    """One bar per (model, device), log scale; estimates of over-budget entries hatched."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from qgpt_jax.storage import save_figure

    trained = [e for e in entries if e["tokens_per_s"]]
    labels = [e["model"] + (f"\n{e['device']}" if e["device"] else "") for e in trained]
    devices = list(dict.fromkeys(e["device"] for e in trained))
    colors = [f"C{devices.index(e['device'])}" for e in trained]
    fig, ax = plt.subplots(figsize=(max(6, 1.4 * len(trained)), 4.5))
    bars = ax.bar(labels, [e["tokens_per_s"] for e in trained], color=colors)
    for bar, e in zip(bars, trained, strict=True):
        if _estimated(e):
            bar.set_hatch("//")
            bar.set_alpha(0.5)
    ax.bar_label(
        bars,
        labels=[("~" if _estimated(e) else "") + _label(e["tokens_per_s"]) for e in trained],
        fontsize=8,
    )
    ax.tick_params(axis="x", labelsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("training tokens/s (log scale, compile excluded)")
    ax.set_title("qgpt-jax training throughput per model and device (hatched: estimated)")
    ax.grid(axis="y", alpha=0.3)
    save_figure(fig, path)
    plt.close(fig)


def plot_sweep(entries: list[dict], field: str, path) -> None:
    """Tokens/s against the swept value, one line per (model, device), log axes (linear in the
    qubit count, where exponential growth is a straight line); estimates drawn hollow."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from qgpt_jax.storage import save_figure

    lines = _series(entries)
    values = list(dict.fromkeys(e["sweep"]["value"] for e in entries if "sweep" in e))
    position = {v: i for i, v in enumerate(values)} if field == "preset" else None
    fig, ax = plt.subplots(figsize=(7.5, 5))
    for i, (name, line) in enumerate(lines.items()):
        x = [e["sweep"]["value"] for e in line]
        x = [position[v] for v in x] if position else x
        y = [e["tokens_per_s"] for e in line]
        color = f"C{i % 10}"
        if len(line) == 1:  # measured once: a reference level across the sweep
            ax.axhline(y[0], color=color, linestyle="--", linewidth=1, label=f"{name} (fixed)")
            continue
        ax.plot(x, y, "-", color=color, label=name)
        for xi, yi, e in zip(x, y, line, strict=True):
            ax.plot(xi, yi, "o", color=color, mfc="white" if _estimated(e) else color)
    ax.set_yscale("log")
    if position:
        ax.set_xticks(range(len(values)), values)
    elif field != "n_qubits":
        ax.set_xscale("log", base=2)
        ax.set_xticks(values, [str(v) for v in values])
    ax.set_xlabel(field)
    ax.set_ylabel("training tokens/s (log scale, compile excluded)")
    ax.set_title(f"qgpt-jax cost curves over {field} (hollow: estimated, over budget)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    save_figure(fig, path)
    plt.close(fig)


def render_bench(bench: dict) -> str:
    """The markdown report: the table, the growth of each line and the crossovers."""
    peak = bench["peak"]
    sweep = bench.get("sweep")
    lines = [
        "# qgpt-jax benchmark",
        "",
        f"Preset `{bench['preset']}`; every entry measured in one process, "
        f"{bench['environment']['jax_backend']} backend, {bench['environment']['cpu_count']} CPUs. "
        f"Tokens/s are training tokens per second of wall time after compiling (compile excluded), "
        f"over all seeds trained together. FLOPs per step are XLA's cost analysis of the compiled "
        f"program for one seed (host-simulated circuits not included); the peak is a "
        f"{peak['matmul_size']}x{peak['matmul_size']} float32 matmul in the same process: "
        f"**{peak['flops_per_s'] / 1e9:,.1f} GFLOP/s**. Entries marked *over budget* were not "
        "trained: one step would have exceeded the time budget, so their tokens/s are estimated "
        "from one timed circuit call. Compile times marked *(cached)* were read from the "
        "persistent compilation cache (`--compile-cache off` measures every compilation).",
        "",
    ]
    header = "| model | device |" + (f" {sweep['field']} |" if sweep else "")
    lines += [
        header + " tokens/s | compile s | circuits/step | circuits/s | GFLOP/step | GFLOP/s "
        "| % of peak | note |",
        "|" + " --- |" * (2 + bool(sweep)) + " ---: |" * 7 + " --- |",
    ]
    for e in bench["entries"]:
        if e["tokens_per_s"] is None:
            continue
        cells = [e["model"], e["device"] or "-"]
        if sweep:
            cells.append(str(e["sweep"]["value"]))
        cells += [
            ("~" if _estimated(e) else "") + f"{e['tokens_per_s']:,.1f}",
            f"{e['compile_s']:.1f}{_cached(e)}" if e["compile_s"] is not None else "-",
            f"{e['circuit_executions_per_step']:,.0f}",
            f"{e['circuits_per_s']:,.0f}",
            f"{e['flops_per_step'] / 1e9:.4g}" if e.get("flops_per_step") else "-",
            f"{e['flops_per_s'] / 1e9:.2f}" if e.get("flops_per_s") else "-",
            f"{e['peak_fraction']:.1%}" if e.get("peak_fraction") else "-",
            "over budget: " + e["executions_counted"] if e["over_budget"] else "",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    raw = [e for e in bench["entries"] if e["model"] == "raw-aer"]
    for e in raw:
        lines += [
            "",
            f"Raw Aer job, same circuit: {e['circuits_per_s']:,.0f} circuits/s "
            f"({e['bindings']} bindings in one job).",
        ]
    if sweep:
        lines += ["", "## Growth", ""]
        for name, growth_ in sweep["growth"].items():
            if growth_ is None:
                continue
            lo, hi = (f"{v:g}" for v in growth_["over"])
            if growth_["kind"] == "exponential":
                lines.append(
                    f"- {name}: time per token x{growth_['factor_per_unit']:.2f} per added qubit "
                    f"from {lo} to {hi} qubits (2.00 = doubling per qubit)"
                )
            else:
                lines.append(
                    f"- {name}: time per token ~ {sweep['field']}^{growth_['exponent']:.2f} "
                    f"from {lo} to {hi}"
                )
        lines += ["", "## Crossovers", ""]
        if not sweep["crossovers"]:
            lines.append("No line overtakes another of the same model in this sweep.")
        for c in sweep["crossovers"]:
            lo, hi = c["between"]
            lines.append(
                f"- {c['overtakes']} overtakes {c['overtaken']} between "
                f"{sweep['field']}={lo} and {hi}"
            )
    return "\n".join(lines) + "\n"


def sweep_summary(entries: list[dict], field: str) -> dict:
    """Growth per line and crossovers, for ``bench.json`` and the report."""
    return {
        "field": field,
        "growth": {name: growth(line, field) for name, line in _series(entries).items()},
        "crossovers": crossovers(entries),
    }
