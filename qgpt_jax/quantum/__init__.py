"""Quantum attention circuits and the devices that run them."""

from qgpt_jax.quantum.circuits import circular_pairs, n_circuit_weights, original_circuit
from qgpt_jax.quantum.devices import DEVICES, CircuitExecutor, executor_scope, validate_device

__all__ = [
    "DEVICES",
    "CircuitExecutor",
    "executor_scope",
    "circular_pairs",
    "n_circuit_weights",
    "original_circuit",
    "validate_device",
]
