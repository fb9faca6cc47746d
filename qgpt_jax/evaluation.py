"""Component evaluation, as the seed's ``evaluate_components``.

A classical head against a quantum head on the same deterministic input, and a model's loss with
its quantum contribution on and off.
"""

from __future__ import annotations

import dataclasses
import statistics
import time

import jax
import jax.numpy as jnp

from qgpt_jax.config import ModelConfig
from qgpt_jax.model import GPT, QUANTUM_HEADS, ClassicalHead
from qgpt_jax.train import cross_entropy


def _median_seconds(fn, *args, repeats: int = 20) -> float:
    jax.block_until_ready(fn(*args))  # compile and warm up outside the timing
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def compare_heads(config: ModelConfig, key: jax.Array, batch: int = 4) -> dict:
    """Classical vs ``config.attention`` head on one input, sharing key/query/value weights."""
    x_key, init_key = jax.random.split(key)
    x = jax.random.normal(x_key, (batch, config.block_size, config.n_embd))  # (B, T, C)
    classical = ClassicalHead(config)
    quantum = QUANTUM_HEADS[config.attention](config)
    c_params = classical.init(init_key, x, True)["params"]
    q_params = dict(quantum.init(init_key, x, True)["params"])
    q_params.update({name: c_params[name] for name in ("key", "query", "value")})

    run_classical = jax.jit(lambda p, x: classical.apply({"params": p}, x, True))
    run_quantum = jax.jit(lambda p, x: quantum.apply({"params": p}, x, True))
    out_c, out_q = run_classical(c_params, x), run_quantum(q_params, x)
    return {
        "input_shape": list(x.shape),
        "classical_output_shape": list(out_c.shape),
        "quantum_output_shape": list(out_q.shape),
        "mean_abs_difference": float(jnp.abs(out_c - out_q).mean()),
        "classical_s": _median_seconds(run_classical, c_params, x),
        "quantum_s": _median_seconds(run_quantum, q_params, x),
    }


def without_quantum_contribution(params):
    """The same parameters with every ``quantum_scale`` set to 0 (heads become classical)."""

    def zero(path, leaf):
        return jnp.zeros_like(leaf) if path[-1].key == "quantum_scale" else leaf

    return jax.tree_util.tree_map_with_path(zero, params)


def quantum_contribution(config: ModelConfig, params, idx, targets) -> dict:
    """Evaluation-mode loss on ``(idx, targets)`` with the quantum terms on and off."""

    def loss(p):
        return float(cross_entropy(GPT(config).apply({"params": p}, idx), targets))

    on, off = loss(params), loss(without_quantum_contribution(params))
    return {"loss_quantum_on": on, "loss_quantum_off": off, "difference": on - off}


def evaluate_components(config: ModelConfig, params, idx, targets, key: jax.Array) -> dict:
    if not config.is_quantum:
        config = dataclasses.replace(config, attention="enhance")
    return {
        "attention": config.attention,
        "device": config.device,
        "heads": compare_heads(config, key),
        "model": quantum_contribution(config, params, idx, targets),
    }
