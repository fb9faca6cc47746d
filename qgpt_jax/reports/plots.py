"""Every figure of the project's reports, and the one way they are written.

Each function takes the records a report is made of (runs, summary entries, bench entries, the
rows of the study across sizes) and writes one PNG through ``save_figure``, atomically, as every
report file is written (``qgpt_jax.storage``). matplotlib is imported when the first figure is
drawn, with its non-interactive backend, so that a run without a report never loads it.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from qgpt_jax.reports.bench import is_estimated
from qgpt_jax.storage import atomic_write_bytes
from qgpt_jax.study import CLASSICAL_MATCHED
from qgpt_jax.sweep import series


def pyplot():
    """matplotlib's pyplot on the Agg backend (files only, no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path) -> None:
    """A matplotlib figure as a PNG, written as ``atomic_write_bytes`` writes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    atomic_write_bytes(path, buffer.getvalue())


def plot_loss_curves(runs: list[dict], path: Path, title: str) -> None:
    """Train and validation loss estimates per model: mean over seeds with a +/- std band."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    models = list(dict.fromkeys(r["model"] for r in runs))
    for split, ax in zip(("train_loss", "val_loss"), axes, strict=True):
        for model in models:
            curves = [r["evals"] for r in runs if r["model"] == model]
            steps = np.array([e["step"] for e in curves[0]])
            values = np.array([[e[split] for e in c] for c in curves])
            mean = values.mean(0)
            ax.plot(steps, mean, label=f"{model} ({len(curves)} seed{'s' * (len(curves) > 1)})")
            if len(curves) > 1:
                std = values.std(0, ddof=1)
                ax.fill_between(steps, mean - std, mean + std, alpha=0.2)
        ax.set_title("train loss (estimate)" if split == "train_loss" else "validation loss")
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("cross-entropy (nats/char)")
    axes[0].legend()
    fig.suptitle(title)
    save_figure(fig, path)
    plt.close(fig)


def plot_study(runs: list[dict], entries: list[dict], path_params, path_speed, title: str):
    """Final validation loss against parameter count (one point per seed), and tokens/s per
    model (mean with the seeds' standard deviation)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for e in entries:
        mine = [r for r in runs if r["model"] == e["model"] and r.get("val_loss") is not None]
        ax.scatter(
            [r["params"] for r in mine], [r["val_loss"] for r in mine], label=e["model"], s=22
        )
    ax.set_xlabel("parameters")
    ax.set_ylabel("final validation loss (nats/char)")
    ax.set_title(f"{title}: one point per seed")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path_params)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(entries)), 4.5))
    names = [e["model"] for e in entries]
    ax.bar(
        names,
        [e["tokens_per_s_mean"] or 0 for e in entries],
        yerr=[e["tokens_per_s_std"] or 0 for e in entries],
        capsize=3,
    )
    if any(e["tokens_per_s_mean"] for e in entries):
        ax.set_yscale("log")
    ax.set_ylabel("training tokens/s per seed (excl. compile)")
    ax.set_title(title)
    ax.tick_params(axis="x", rotation=30)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")
    ax.grid(alpha=0.3, axis="y")
    save_figure(fig, path_speed)
    plt.close(fig)


def plot_sizes(rows: list[dict], path) -> None:
    """Each kind's paired difference to its surrogate and to classical-matched (mean and 95%
    interval) against its parameter count, with the margin drawn: does the gap close with size?"""
    plt = pyplot()
    controls = ("surrogate", CLASSICAL_MATCHED)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    for control, ax in zip(controls, axes, strict=True):
        mine = [r for r in rows if r["control"] == control]
        for model in dict.fromkeys(r["model"] for r in mine):
            points = sorted((r for r in mine if r["model"] == model), key=lambda r: r["params"])
            x = [r["params"] for r in points]
            y = [r["difference_mean"] for r in points]
            low = [r["difference_mean"] - (r["difference_ci95"] or [r["difference_mean"]] * 2)[0]
                   for r in points]  # fmt: skip
            high = [(r["difference_ci95"] or [r["difference_mean"]] * 2)[1] - r["difference_mean"]
                    for r in points]  # fmt: skip
            ax.errorbar(x, y, yerr=[low, high], marker="o", capsize=3, label=model)
        if mine:
            margin = mine[0]["margin"]
            ax.axhspan(-margin, margin, color="0.85", label=f"margin ±{margin:g}")
        ax.axhline(0, color="0.4", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("parameters of the quantum model")
        ax.set_title(f"kind minus {control}")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("validation loss difference (nats/char), 95% CI")
    axes[1].legend(fontsize=8)
    save_figure(fig, path)
    plt.close(fig)


def _label(v: float) -> str:
    return f"{v:,.0f}" if v >= 10 else f"{v:.2g}"


def plot_bench(entries: list[dict], path) -> None:
    """One bar per (model, device), log scale; estimates of over-budget entries hatched."""
    plt = pyplot()
    trained = [e for e in entries if e["tokens_per_s"]]
    labels = [e["model"] + (f"\n{e['device']}" if e["device"] else "") for e in trained]
    devices = list(dict.fromkeys(e["device"] for e in trained))
    colors = [f"C{devices.index(e['device'])}" for e in trained]
    fig, ax = plt.subplots(figsize=(max(6, 1.4 * len(trained)), 4.5))
    bars = ax.bar(labels, [e["tokens_per_s"] for e in trained], color=colors)
    for bar, e in zip(bars, trained, strict=True):
        if is_estimated(e):
            bar.set_hatch("//")
            bar.set_alpha(0.5)
    ax.bar_label(
        bars,
        labels=[("~" if is_estimated(e) else "") + _label(e["tokens_per_s"]) for e in trained],
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
    plt = pyplot()
    lines = series(entries)
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
            ax.plot(xi, yi, "o", color=color, mfc="white" if is_estimated(e) else color)
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
