"""Train several models over several seeds on the same batches and write a comparison report."""

from __future__ import annotations

import dataclasses
import itertools
import os
import tempfile
from pathlib import Path

from qgpt_jax.checkpoint import save_checkpoint
from qgpt_jax.config import ATTENTION_KINDS, ModelConfig, TrainConfig
from qgpt_jax.data import Dataset
from qgpt_jax.errors import ConfigError, QGPTError
from qgpt_jax.generate import generate
from qgpt_jax.report import (
    atomic_write_json,
    atomic_write_text,
    environment,
    mean_std,
    plot_loss_curves,
    sample_difference,
)
from qgpt_jax.train import train

SAMPLE_PROMPT = "\n"  # the seed generated from a single newline
SAMPLE_TOKENS = 120  # the seed's sample length


def parse_models(text: str) -> list[str]:
    models = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in models if m not in ATTENTION_KINDS]
    if not models or unknown:
        raise ConfigError(
            f"unknown model {', '.join(unknown) or '(none given)'}; choose from: "
            f"{', '.join(ATTENTION_KINDS)} (comma-separated)"
        )
    return list(dict.fromkeys(models))


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"--seeds takes comma-separated integers, got {text!r}") from None
    if not seeds:
        raise ConfigError("--seeds needs at least one integer")
    return list(dict.fromkeys(seeds))


def ensure_writable(out: Path) -> None:
    """Fail before training, not after, when the output folder cannot be written."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise QGPTError(
            f"cannot write to output folder {out} ({exc.strerror}); choose another with --out"
        ) from None


def run_one(
    mc: ModelConfig,
    tc: TrainConfig,
    dataset: Dataset,
    *,
    progress: bool,
    profile_dir: str | None,
    checkpoint_dir: Path,
    sample_tokens: int = SAMPLE_TOKENS,
) -> dict:
    result = train(
        mc,
        tc,
        dataset,
        progress=progress,
        profile_dir=profile_dir,
        description=f"{mc.attention} seed {tc.seed}",
    )
    tokenizer = dataset.tokenizer
    prompt = tokenizer.encode(SAMPLE_PROMPT)
    tokens = generate(mc, result.state.params, prompt, sample_tokens)
    save_checkpoint(
        checkpoint_dir,
        mc,
        result.state.params,
        tokenizer,
        metadata={"seed": tc.seed, "train": tc.to_dict()},
    )
    run = {
        "model": mc.attention,
        "seed": tc.seed,
        "params": result.params_count,
        "iters": tc.max_iters,
        "train_loss": result.final.get("train_loss"),
        "val_loss": result.final.get("val_loss"),
        "tokens_per_s": result.tokens_per_s,
        "compile_s": result.compile_s,
        "train_s": result.train_s,
        "wall_s": result.wall_s,
        "cpu_s": result.cpu_s,
        "peak_rss_mb": result.peak_rss_mb,
        "sample": tokenizer.decode(tokens),
        "sample_tokens": tokens,
        "evals": result.evals,
        "step_losses": result.step_losses,
        "checkpoint": str(checkpoint_dir),
    }
    if result.profile:
        run["profile"] = result.profile
    if mc.is_quantum:
        run.update(
            device=mc.device,
            n_qubits=mc.n_qubits,
            shots=mc.shots,
            noise=mc.noise,
            circuit_executions=result.circuit_executions,
        )
    return run


def compare(
    models: list[str],
    seeds: list[int],
    mc: ModelConfig,
    tc: TrainConfig,
    dataset: Dataset,
    out: Path,
    *,
    preset: str,
    progress: bool = True,
    profile_dir: str | None = None,
    log=print,
    sample_tokens: int = SAMPLE_TOKENS,
) -> dict:
    """Train every (model, seed) pair, then write ``results.json``, ``results.md`` and a plot."""
    mc = dataclasses.replace(mc, vocab_size=dataset.tokenizer.vocab_size)
    configs = {m: dataclasses.replace(mc, attention=m) for m in models}  # validates each
    out = Path(out)
    ensure_writable(out)
    runs = []
    for (model, model_config), seed in itertools.product(configs.items(), seeds):
        run_tc = dataclasses.replace(tc, seed=seed)
        profile = os.path.join(profile_dir, f"{model}-seed{seed}") if profile_dir else None
        runs.append(
            run_one(
                model_config,
                run_tc,
                dataset,
                progress=progress,
                profile_dir=profile,
                checkpoint_dir=out / "checkpoints" / f"{model}-seed{seed}",
                sample_tokens=sample_tokens,
            )
        )
        run = runs[-1]
        log(
            f"{model} seed {seed}: train {run['train_loss']:.4f}  val {run['val_loss']:.4f}  "
            f"{run['tokens_per_s'] or 0:,.0f} tokens/s  compile {run['compile_s']:.1f}s"
        )

    results = {
        "config": {
            "preset": preset,
            "models": models,
            "seeds": seeds,
            "model": {k: v for k, v in mc.to_dict().items() if k != "attention"},
            "train": {k: v for k, v in tc.to_dict().items() if k != "seed"},
            "sample": {"prompt": SAMPLE_PROMPT, "new_tokens": sample_tokens, "decoding": "greedy"},
        },
        "environment": environment(),
        "runs": runs,
        "summary": summarize(runs),
        "quantum_resources": {
            model: quantum_resources(config, tc)
            for model, config in configs.items()
            if config.is_quantum
        },
        "sample_differences": sample_differences(runs),
    }
    atomic_write_json(out / "results.json", results)
    plot_loss_curves(
        runs,
        out / "loss_curves.png",
        f"preset {preset}: {tc.max_iters} steps, seeds {', '.join(map(str, seeds))}",
    )
    atomic_write_text(out / "results.md", render_markdown(results))
    return results


def quantum_resources(mc: ModelConfig, tc: TrainConfig) -> dict:
    """Transpiled circuit size and the cost of this training run on a QPU, for one head kind."""
    from qgpt_jax.quantum.resources import circuit_resources, hardware_estimate

    backend = mc.noise or "generic all-to-all device (basis rz, sx, x, cx)"
    return {
        "backend": backend,
        **circuit_resources(mc.n_qubits, mc.noise),
        **hardware_estimate(mc, tc),
    }


def summarize(runs: list[dict]) -> dict:
    summary = {}
    for model in dict.fromkeys(r["model"] for r in runs):
        mine = [r for r in runs if r["model"] == model]
        summary[model] = {
            key: mean_std([r[key] for r in mine])
            for key in (
                "train_loss",
                "val_loss",
                "tokens_per_s",
                "compile_s",
                "wall_s",
                "cpu_s",
                "peak_rss_mb",
            )
        }
        summary[model]["params"] = mine[0]["params"]
    return summary


def sample_differences(runs: list[dict]) -> list[dict]:
    """Seed statistics between the greedy samples of every pair of models, per seed."""
    diffs = []
    for a, b in itertools.combinations(runs, 2):
        if a["seed"] == b["seed"] and a["model"] != b["model"]:
            stats = sample_difference(
                a["sample_tokens"], b["sample_tokens"], a["sample"], b["sample"]
            )
            diffs.append({"a": a["model"], "b": b["model"], "seed": a["seed"], **stats})
    return diffs


def _fmt(stat: dict, digits: int = 4) -> str:
    if stat["mean"] is None:
        return "n/a"
    if stat["n"] > 1:
        return f"{stat['mean']:.{digits}f} ± {stat['std']:.{digits}f}"
    return f"{stat['mean']:.{digits}f}"


def summary_line(model: str, s: dict) -> str:
    """One line per model for the terminal: losses, throughput, compile time, seeds."""
    return (
        f"{model:>10}: train {_fmt(s['train_loss'])}  val {_fmt(s['val_loss'])}  "
        f"{_fmt(s['tokens_per_s'], 0)} tokens/s (excl. compile)  "
        f"compile {_fmt(s['compile_s'], 1)}s  over {s['val_loss']['n']} seed(s)"
    )


def render_markdown(results: dict) -> str:
    cfg, env, summary = results["config"], results["environment"], results["summary"]
    seeds = cfg["seeds"]
    n = len(seeds)
    lines = [
        "# qgpt-jax comparison",
        "",
        f"Preset `{cfg['preset']}`, models {', '.join(f'`{m}`' for m in cfg['models'])}, "
        f"{n} seed{'s' * (n > 1)} ({', '.join(map(str, seeds))}), "
        f"{cfg['train']['max_iters']} training steps each. Every model sees the same batches in "
        f"the same order for a given seed.",
        "",
        "## Configuration",
        "",
        "| field | value |",
        "| --- | --- |",
        *(f"| {k} | {v} |" for k, v in {**cfg["model"], **cfg["train"]}.items()),
        "",
        "## Results",
        "",
        f"Values are mean ± sample standard deviation over {n} seed{'s' * (n > 1)}. Losses are "
        f"final estimates (mean cross-entropy over {cfg['train']['eval_iters']} random batches, "
        "evaluation mode). Training throughput counts training tokens over training wall time, "
        "**excluding** compilation (reported on its own) and loss evaluation; wall and CPU time "
        "cover the whole training run (initialisation, compilation, training, evaluation; not "
        "the sample). Peak RSS is the process's resident memory sampled during the run.",
        "",
        "| model | params | train loss | validation loss | tokens/s (excl. compile) | "
        "compile s | wall s | CPU s | peak RSS MB |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for model, s in summary.items():
        lines.append(
            f"| {model} | {s['params']:,} | {_fmt(s['train_loss'])} | {_fmt(s['val_loss'])} | "
            f"{_fmt(s['tokens_per_s'], 0)} | {_fmt(s['compile_s'], 2)} | {_fmt(s['wall_s'], 2)} | "
            f"{_fmt(s['cpu_s'], 2)} | {_fmt(s['peak_rss_mb'], 0)} |"
        )
    quantum = [r for r in results["runs"] if "device" in r]
    if quantum:
        lines += [
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
    resources = results.get("quantum_resources", {})
    if resources:
        lines += [
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
    lines += ["", "## Loss curves", "", "![loss curves](loss_curves.png)", ""]
    profiled = [r for r in results["runs"] if r.get("profile")]
    if profiled:
        lines += [
            "## Where the time goes (jax.profiler)",
            "",
            "XLA operation time per training step in the profiled window, by operation category "
            "(profiler overhead inflates absolute times; compare shares).",
            "",
        ]
        for r in profiled:
            p = r["profile"]
            lines += [
                f"**{r['model']}, seed {r['seed']}**: {p['op_launches_per_step']:.0f} operation "
                f"launches and {p['op_us_per_step']:.0f} us of operations per step "
                f"(trace: `{p['trace']}`).",
                "",
                "| category | us/step | launches/step | share |",
                "| --- | ---: | ---: | ---: |",
                *(
                    f"| {t['category']} | {t['us_per_step']:.1f} | {t['launches_per_step']:.0f} "
                    f"| {t['share']:.0%} |"
                    for t in p["top"]
                ),
                "",
            ]
    lines += [
        "## Samples",
        "",
        f"Greedy decoding of {cfg['sample']['new_tokens']} new tokens after a newline, "
        "as the seed did.",
        "",
    ]
    for r in results["runs"]:
        lines += [f"### {r['model']}, seed {r['seed']}", "", "```", r["sample"], "```", ""]
    if results["sample_differences"]:
        lines += [
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
        lines.append("")
    versions = ", ".join(f"{k} {v}" for k, v in env["versions"].items() if v)
    lines += [
        "## Environment",
        "",
        f"{env['platform']}, {env['cpu_count']} CPUs, JAX backend `{env['jax_backend']}`, "
        f"Python {env['python']}; {versions}.",
        "",
    ]
    return "\n".join(lines)
