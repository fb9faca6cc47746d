"""Qiskit Aer settings shared by pennylane-qiskit's device and the batched Aer path."""

from __future__ import annotations

import os


def aer_thread_count(threads: int | None = None) -> int:
    """Threads for Aer: the explicit value, else ``$AER_THREADS``, else the CPU count."""
    if threads:
        return threads
    if os.environ.get("AER_THREADS"):
        return int(os.environ["AER_THREADS"])
    return os.cpu_count() or 1


def aer_options(shots: int | None = None, noise: str | None = None,
                threads: int | None = None) -> dict:
    """Keyword arguments for pennylane-qiskit's ``qiskit.aer`` device.

    Exact expectation values need the statevector method and ``shots=None``; a noise model needs
    the density-matrix method (exact) or sampling (with shots).
    """
    options = {
        "shots": shots,
        "method": "statevector" if noise is None else "density_matrix",
        "max_parallel_threads": aer_thread_count(threads),
    }
    if noise is not None:
        from qgpt_jax.quantum.noise import fake_backend
        from qiskit_aer.noise import NoiseModel

        options["noise_model"] = NoiseModel.from_backend(fake_backend(noise))
    return options
