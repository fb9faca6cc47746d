"""``results.md``: the comparison report, one small renderer per section.

Each section is a function of the results record (``results.json``, typed in
``qgpt_jax.records``) returning its markdown lines, empty where it has nothing to say;
``render_markdown`` joins them in reading order. The statistics and verdict sentences are the
study's (``qgpt_jax.study``); the figures the report links are drawn by ``qgpt_jax.reports.plots``.
"""

from __future__ import annotations

import numpy as np

from qgpt_jax.study import DEFAULT_MARGIN, interval_narrowing, verdict_table


def _fmt(entry: dict, key: str, digits: int = 4) -> str:
    mean, std = entry.get(f"{key}_mean"), entry.get(f"{key}_std")
    if mean is None:
        return "n/a"
    if entry["n_seeds"] > 1 and std > 1e-9 * abs(mean):  # seeds trained together share a clock
        return f"{mean:,.{digits}f} ± {std:,.{digits}f}"
    return f"{mean:,.{digits}f}"


def _ci(interval, digits: int = 4) -> str:
    return "n/a" if interval is None else f"[{interval[0]:.{digits}f}, {interval[1]:.{digits}f}]"


def summary_line(s: dict) -> str:
    """One line per model for the terminal: losses, throughput, compile time, seeds."""
    return (
        f"{s['model']:>26}: train {_fmt(s, 'train_loss')}  val {_fmt(s, 'val_loss')} "
        f"(95% CI {_ci(s['val_loss_ci95'])})  {_fmt(s, 'tokens_per_s', 0)} tokens/s (excl. "
        f"compile)  compile {_fmt(s, 'compile_s', 1)}s  over {s['n_seeds']} seed(s)"
    )


def _number(value, spec: str = ".3g") -> str:
    return "n/a" if value is None else format(value, spec)


def comparison_rows(entries: list[dict]) -> list[str]:
    rows = []
    for e in entries:
        for c in e["comparisons"]:
            rows.append(
                f"| {c['model']} | {c['control']} | {len(c['seeds'])} | "
                f"{c['difference_mean']:+.4f} | {_ci(c['difference_ci95'])} | "
                f"{_number(c['p_value'])} | {_number(c['p_holm'])} | "
                f"{_number(c.get('tost_p'))} | {_number(c.get('p_nonparametric'))} | "
                f"{_number(c.get('detectable_effect'), '.4f')} | {c.get('verdict', 'n/a')} |"
            )
    return rows


def estimate_coverage(results: dict) -> list[str]:
    """What the final losses average, and how much narrower that made the paired intervals than
    the last in-training estimate would have."""
    runs = [r for r in results["runs"] if r.get("status") == "done" and r.get("val_tokens")]
    if not runs:
        return []
    train = results["config"]["train"]
    sampled = train["eval_iters"] * train["batch_size"] * results["config"]["model"]["block_size"]
    line = (
        f"Final losses average {runs[0]['val_tokens']:,} validation and "
        f"{runs[0]['train_tokens']:,} training tokens per run (an in-training estimate: "
        f"{sampled:,})."
    )
    ratio = interval_narrowing(results["summary"])
    if ratio is not None:
        line += (
            f" The paired 95% intervals are {ratio:.2f}x narrower (median over comparisons) than "
            "on the last in-training estimate."
        )
    return [line, ""]


def hardware_section(results: dict) -> list[str]:
    """The report's lines on what the quantum heads would cost on a QPU (none without any)."""
    resources = results.get("quantum_resources", {})
    if not resources:
        return []
    lines = [
        "",
        "### What the quantum heads would cost on hardware",
        "",
        "Circuit size after transpiling for the backend named; executions assume "
        "parameter-shift gradients, as a QPU computes them.",
        "",
        "| model | backend | width | depth | 2-qubit gates | executions/step | shots/step | "
        "executions/run | QPU hours/run |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for model, r in resources.items():
        lines.append(
            f"| {model} | {r['backend']} | {r['width']} | {r['depth']} | "
            f"{r['two_qubit_gates']} | {r['executions_per_step']:,} | {r['shots_per_step']:,} "
            f"| {r['executions_per_run']:,} | {r['hours_per_run']:.3g} |"
        )
    lines += ["", f"Assumption: {next(iter(resources.values()))['assumption']}."]
    lines += [f"- {model}: {r['note']}." for model, r in resources.items() if r.get("note")]
    lines += [
        f"- {model} on {r['backend']}: {r['jobs_per_step']:,} Runtime jobs per training step, "
        f"{r['jobs_per_eval_batch']:,} per evaluation batch, {r['jobs_per_run']:,} per run "
        "(one PUB each)."
        for model, r in resources.items()
        if "jobs_per_step" in r
    ]
    for model in resources:
        kept = [r["kept_shot_share"] for r in results["runs"]
                if r["model"] == model and "kept_shot_share" in r]  # fmt: skip
        if kept:
            lines.append(
                f"- {model}, trained: post-selection keeps p = {np.mean(kept):.3f} of the "
                f"shots (mean over {len(kept)} seeds, on the sample's last window), so each "
                f"kept shot costs {1 / np.mean(kept):.2f} shots: the shots above times that."
            )
    return lines


def header(results: dict) -> list[str]:
    """Title, status (when the run is not done) and what was trained."""
    cfg, seeds = results["config"], results["config"]["seeds"]
    n = len(seeds)
    status = results.get("status", "done")
    lines = ["# qgpt-jax comparison", ""]
    if status != "done":
        lines += [f"**Status: {status}** (this report covers the runs finished so far).", ""]
    return lines + [
        f"Preset `{cfg['preset']}`, models {', '.join(f'`{m}`' for m in cfg['models'])}, "
        f"{n} seed{'s' * (n > 1)} ({', '.join(map(str, seeds))}), "
        f"{cfg['train']['max_iters']} training steps each. Every model sees the same batches in "
        f"the same order for a given seed.",
        "",
    ]


def configuration(results: dict) -> list[str]:
    cfg = results["config"]
    return [
        "## Configuration",
        "",
        "| field | value |",
        "| --- | --- |",
        *(f"| {k} | {v} |" for k, v in {**cfg["model"], **cfg["train"]}.items()),
        "",
    ]


def conclusion_section(results: dict) -> list[str]:
    return [
        "## Conclusion",
        "",
        results.get("conclusion", ""),
        "",
        *verdict_table(results["summary"]),
        "",
        *estimate_coverage(results),
    ]


RESULTS_NOTE = (
    "Values are mean ± sample standard deviation over the seeds (up to {n}); the 95% "
    "interval is Student's t interval of the mean over seeds. Losses are final estimates "
    "(mean cross-entropy in evaluation mode over the tokens said above, or over "
    "{eval_iters} random batches where no whole-split estimate was made) on "
    "the training and the validation split. Training throughput counts training "
    "tokens over training wall time, **excluding** compilation (reported on its own) and "
    "loss evaluation. The seeds of a model train together as one compiled program: tokens/s "
    "per seed is one seed's tokens over the shared training time, and the aggregate is all "
    "seeds' tokens over it. Compile time is the group's (init, fused train steps, loss "
    "estimate), read from JAX's persistent cache when warm. Wall time covers the whole "
    "training of the group (initialisation, compilation, training, evaluation; not the "
    "sample). Peak RSS is the process's resident memory sampled during the run."
)


def results_table(results: dict) -> list[str]:
    """One row per model: losses, interval, throughput, compile, wall time, memory."""
    cfg = results["config"]
    lines = [
        "## Results",
        "",
        RESULTS_NOTE.format(n=len(cfg["seeds"]), eval_iters=cfg["train"]["eval_iters"]),
        "",
        "| model | params | seeds | train loss | validation loss | validation 95% CI | "
        "tokens/s per seed (excl. compile) | tokens/s all seeds | seeds together | compile s | "
        "wall s | peak RSS MB |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s in results["summary"]:
        together = s["tokens_per_s_all_seeds_mean"]
        lines.append(
            f"| {s['model']} | {s['params']:,} | {s['n_seeds']} | {_fmt(s, 'train_loss')} | "
            f"{_fmt(s, 'val_loss')} | {_ci(s['val_loss_ci95'])} | {_fmt(s, 'tokens_per_s', 0)} | "
            f"{'n/a' if together is None else f'{together:,.0f}'} | {s['seeds_together']} | "
            f"{_fmt(s, 'compile_s', 2)} | {_fmt(s, 'wall_s', 2)} | {_fmt(s, 'peak_rss_mb', 0)} |"
        )
    return lines


COMPARISONS_NOTE = (
    "Per seed, the quantum kind's final validation loss minus the control's (both saw the "
    "same batches); negative means the quantum kind is better. The interval is the 95% t "
    "interval of the mean difference; p is the paired t-test's, and Holm's adjustment "
    "accounts for every comparison in the table. Only a difference to the surrogate "
    "(the same head, circuits replaced by a classical function of the same size) can be "
    "credited to the circuit; classical-matched has the quantum model's parameter count. "
    "TOST p is the larger p of two one-sided paired t-tests that the difference lies "
    "within ± the margin declared before the run (`--margin`); Wilcoxon p is the "
    "signed-rank test's, which does not assume normal differences; the detectable effect "
    "is the smallest mean difference these seeds find at 80% power. Verdict: equivalent "
    "(TOST p < 0.05), else better or worse (Holm p < 0.05), else inconclusive."
)


def comparisons(results: dict) -> list[str]:
    """The paired comparisons of every kind with its controls, then the figures."""
    rows = comparison_rows(results["summary"])
    lines = []
    if rows:
        margin = results["config"].get("margin", DEFAULT_MARGIN)
        lines += [
            "",
            "### Paired comparisons (validation loss, kind minus control)",
            "",
            COMPARISONS_NOTE,
            "",
            "| quantum kind | control | seeds | mean difference | 95% CI | p | p (Holm) | "
            f"TOST p (±{margin:g}) | Wilcoxon p | detectable at 80% power | verdict |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
            *rows,
        ]
    return lines + [
        "",
        "![validation loss against parameters](loss_vs_params.png)",
        "![throughput](throughput.png)",
        "",
    ]


def quantum_runs(results: dict) -> list[str]:
    """Which device ran how many circuits, per quantum run."""
    quantum = [r for r in results["runs"] if "device" in r]
    if not quantum:
        return []
    lines = [
        "",
        "### Quantum runs",
        "",
        "| model | seed | device | qubits | shots | noise | circuit executions | counted |",
        "| --- | ---: | --- | ---: | --- | --- | ---: | --- |",
    ]
    for r in quantum:
        ce = r["circuit_executions"]
        lines.append(
            f"| {r['model']} | {r['seed']} | {r['device']} | {r['n_qubits']} | "
            f"{r['shots'] or 'exact'} | {r['noise'] or 'none'} | {ce.get(r['device'], 0):,} | "
            f"{ce.get('counted', '')} |"
        )
    return lines


def loss_curves(results: dict) -> list[str]:
    return [
        "",
        "## Loss curves",
        "",
        "Mean over seeds, band: ± one standard deviation.",
        "",
        "![loss curves](loss_curves.png)",
        "",
    ]


PROFILE_NOTE = (
    "XLA operation time per training step in the profiled window, by part of the model "
    "(the `jax.named_scope` each operation was traced under, forward and backward "
    "together; `circuit` is the simulation in the graph or the host callback that runs "
    "it), then by operation category, then the host work of a callback device inside "
    "the circuit's time. Profiler overhead inflates absolute times; compare shares."
)


def _table(header: str, align: str, rows) -> list[str]:
    return [header, align, *rows, ""]


def profile_of(run: dict) -> list[str]:
    """One profiled run: by part of the model, by operation category, the device's host work."""
    p = run["profile"]
    lines = [
        f"**{run['model']}, seed {run['seed']}**: {p['op_launches_per_step']:.0f} operation "
        f"launches and {p['op_us_per_step']:.0f} us of operations per step "
        f"(trace: `{p['trace']}`).",
        "",
    ]
    share = "| {} | {us_per_step:.1f} | {launches_per_step:.0f} | {share:.0%} |"
    if p.get("parts"):
        lines += _table(
            "| part | us/step | launches/step | share |",
            "| --- | ---: | ---: | ---: |",
            (share.format(t["part"], **t) for t in p["parts"]),
        )
    lines += _table(
        "| operation category | us/step | launches/step | share |",
        "| --- | ---: | ---: | ---: |",
        (share.format(t["category"], **t) for t in p["top"]),
    )
    if p.get("host"):
        lines += _table(
            "| host work of the device | us/step | calls/step |",
            "| --- | ---: | ---: |",
            (
                f"| {h['work']} | {h['us_per_step']:.1f} | {h['calls_per_step']:.1f} |"
                for h in p["host"]
            ),  # fmt: skip
        )
    return lines


def profiles(results: dict) -> list[str]:
    profiled = [r for r in results["runs"] if r.get("profile")]
    if not profiled:
        return []
    lines = ["## Where the time goes (jax.profiler)", "", PROFILE_NOTE, ""]
    for run in profiled:
        lines += profile_of(run)
    return lines


def samples(results: dict) -> list[str]:
    """Each run's generated sample."""
    lines = [
        "## Samples",
        "",
        f"Greedy decoding of {results['config']['sample']['new_tokens']} new tokens after a "
        "newline, as the original did.",
        "",
    ]
    for r in results["runs"]:
        lines += [f"### {r['model']}, seed {r['seed']}", "", "```", r["sample"], "```", ""]
    return lines


def sample_differences(results: dict) -> list[str]:
    """How the samples of two models differ, seed by seed."""
    if not results["sample_differences"]:
        return []
    lines = [
        "## How the samples differ",
        "",
        "Hamming distance and agreement ratio compare tokens position by position; Jaccard "
        "is the overlap of the two token sets; Levenshtein is the character edit distance.",
        "",
        "| pair | seed | tokens compared | Hamming | agreement | Jaccard | Levenshtein |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for d in results["sample_differences"]:
        lines.append(
            f"| {d['a']} vs {d['b']} | {d['seed']} | {d['compared_tokens']} | {d['hamming']} | "
            f"{d['agreement']:.3f} | {d['jaccard']:.3f} | {d['levenshtein']} |"
        )
    return lines + [""]


def environment_section(results: dict) -> list[str]:
    env = results["environment"]
    versions = ", ".join(f"{k} {v}" for k, v in env["versions"].items() if v)
    return [
        "## Environment",
        "",
        f"{env['platform']}, {env['cpu_count']} CPUs, JAX backend `{env['jax_backend']}`, "
        f"Python {env['python']}; {versions}.",
        "",
    ]


SECTIONS = (
    header,
    configuration,
    conclusion_section,
    results_table,
    comparisons,
    quantum_runs,
    hardware_section,
    loss_curves,
    profiles,
    samples,
    sample_differences,
    environment_section,
)
"""The report's sections in reading order."""


def render_markdown(results: dict) -> str:
    """``results.md`` of a results record: its sections in order."""
    return "\n".join(line for section in SECTIONS for line in section(results))
