"""Measurements of a run's environment, sample-difference statistics, plots and the report files."""

from __future__ import annotations

import json
import math
import os
import platform
import shlex
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
from rapidfuzz.distance import Levenshtein

from qgpt_jax.storage import atomic_write_bytes, save_figure

PACKAGES = (
    "jax",
    "jaxlib",
    "flax",
    "optax",
    "pennylane",
    "pennylane-lightning",
    "pennylane-qiskit",
    "qiskit",
    "qiskit-aer",
)


def environment() -> dict:
    import jax

    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "versions": versions,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.machine(),
        "cpu_count": os.cpu_count(),
        "jax_backend": jax.default_backend(),
        "jax_devices": [str(d) for d in jax.devices()],
        "command": shlex.join(["python", *sys.orig_argv[1:]]),  # as typed, for docs/results.md
    }


def sample_difference(a: list[int], b: list[int], a_text: str, b_text: str) -> dict:
    """The seed's statistics between two generated samples.

    Hamming distance and agreement ratio over tokens position by position (first ``min(len)``
    tokens), Jaccard overlap of the two token sets, Levenshtein distance over characters.
    """
    n = min(len(a), len(b))
    hamming = int(sum(x != y for x, y in zip(a[:n], b[:n], strict=True)))
    union = set(a) | set(b)
    return {
        "compared_tokens": n,
        "hamming": hamming,
        "agreement": (n - hamming) / n if n else None,
        "jaccard": len(set(a) & set(b)) / len(union) if union else None,
        "levenshtein": Levenshtein.distance(a_text, b_text),
    }


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _finite(value):
    """JSON has no NaN or infinity: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def atomic_write_json(path: Path, payload) -> None:
    text = json.dumps(_finite(payload), indent=2, default=float, allow_nan=False)
    atomic_write_text(path, text + "\n")


def plot_loss_curves(runs: list[dict], path: Path, title: str) -> None:
    """Train and validation loss estimates per model: mean over seeds with a +/- std band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
