"""The benchmark's words: one line per entry while it runs, and ``bench.md``.

The entries are those of ``qgpt_jax.bench`` (``bench.json``); the swept figures (growth, crossovers)
are ``qgpt_jax.sweep``'s. Nothing here measures.
"""

from __future__ import annotations

from qgpt_jax.compile_cache import CacheOutcome


def entry_name(e: dict) -> str:
    return e["model"] + (f" on {e['device']}" if e["device"] else "")


def is_estimated(e: dict) -> bool:
    """Whether an entry's tokens/s are an estimate (over budget before a step was run)."""
    return e["over_budget"] and e["steps"] == 0


def _cached(e: dict) -> str:
    return " (cached)" if CacheOutcome.recorded(e.get("compile_cache")) is CacheOutcome.HIT else ""


def format_entry(e: dict) -> str:
    name = entry_name(e)
    if "sweep" in e:
        name += f" @ {e['sweep']['field']}={e['sweep']['value']}"
    if e["tokens_per_s"] is None:
        return f"{name:>40}: {e['circuits_per_s']:>12,.0f} circuits/s ({e['bindings']} bindings)"
    if is_estimated(e):
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


def bench_header(bench: dict) -> list[str]:
    """Title and how to read the figures: what tokens/s, FLOPs and the peak are."""
    peak, env = bench["peak"], bench["environment"]
    return [
        "# qgpt-jax benchmark",
        "",
        f"Preset `{bench['preset']}`; every entry measured in one process, "
        f"{env['jax_backend']} backend, {env['cpu_count']} CPUs. "
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


def entry_cells(e: dict, swept: bool) -> list[str]:
    """One trained (or estimated) entry's cells of the bench table."""
    cells = [e["model"], e["device"] or "-"]
    if swept:
        cells.append(str(e["sweep"]["value"]))
    return cells + [
        ("~" if is_estimated(e) else "") + f"{e['tokens_per_s']:,.1f}",
        f"{e['compile_s']:.1f}{_cached(e)}" if e["compile_s"] is not None else "-",
        f"{e['circuit_executions_per_step']:,.0f}",
        f"{e['circuits_per_s']:,.0f}",
        f"{e['flops_per_step'] / 1e9:.4g}" if e.get("flops_per_step") else "-",
        f"{e['flops_per_s'] / 1e9:.2f}" if e.get("flops_per_s") else "-",
        f"{e['peak_fraction']:.1%}" if e.get("peak_fraction") else "-",
        "over budget: " + e["executions_counted"] if e["over_budget"] else "",
    ]


def bench_table(bench: dict) -> list[str]:
    """The table of entries, then the bare Aer job's figure."""
    sweep = bench.get("sweep")
    header = "| model | device |" + (f" {sweep['field']} |" if sweep else "")
    lines = [
        header + " tokens/s | compile s | circuits/step | circuits/s | GFLOP/step | GFLOP/s "
        "| % of peak | note |",
        "|" + " --- |" * (2 + bool(sweep)) + " ---: |" * 7 + " --- |",
    ]
    for e in bench["entries"]:
        if e["tokens_per_s"] is not None:
            lines.append("| " + " | ".join(entry_cells(e, bool(sweep))) + " |")
    for e in bench["entries"]:
        if e["model"] == "raw-aer":
            lines += [
                "",
                f"Raw Aer job, same circuit: {e['circuits_per_s']:,.0f} circuits/s "
                f"({e['bindings']} bindings in one job).",
            ]
    return lines


def sweep_sections(sweep: dict | None) -> list[str]:
    """How each swept line grows, and where one line overtakes another."""
    if not sweep:
        return []
    lines = ["", "## Growth", ""]
    for name, growth in sweep["growth"].items():
        if growth is None:
            continue
        lo, hi = (f"{v:g}" for v in growth["over"])
        if growth["kind"] == "exponential":
            lines.append(
                f"- {name}: time per token x{growth['factor_per_unit']:.2f} per added qubit "
                f"from {lo} to {hi} qubits (2.00 = doubling per qubit)"
            )
        else:
            lines.append(
                f"- {name}: time per token ~ {sweep['field']}^{growth['exponent']:.2f} "
                f"from {lo} to {hi}"
            )
    lines += ["", "## Crossovers", ""]
    if not sweep["crossovers"]:
        lines.append("No line overtakes another of the same model in this sweep.")
    for c in sweep["crossovers"]:
        lo, hi = c["between"]
        lines.append(
            f"- {c['overtakes']} overtakes {c['overtaken']} between {sweep['field']}={lo} and {hi}"
        )
    return lines


def render_bench(bench: dict) -> str:
    """``bench.md``: how to read it, the table, the growth of each line and the crossovers."""
    lines = bench_header(bench) + bench_table(bench) + sweep_sections(bench.get("sweep"))
    return "\n".join(lines) + "\n"
