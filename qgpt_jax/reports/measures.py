"""Measurements for a report: the run's environment, and how two generated samples differ."""

from __future__ import annotations

import os
import platform
import shlex
import sys
from importlib import metadata

from rapidfuzz.distance import Levenshtein

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
    """The original project's statistics between two generated samples.

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
