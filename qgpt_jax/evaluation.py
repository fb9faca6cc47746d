"""Component evaluation, as the seed's ``evaluate_components``.

A classical head against a quantum head on the same deterministic input, and a model's loss with
its quantum contribution on and off.
"""

from __future__ import annotations

import statistics
import time

import jax
import jax.numpy as jnp

from qgpt_jax.config import ModelConfig, TrainConfig
from qgpt_jax.engine import estimate_losses_of
from qgpt_jax.errors import ConfigError
from qgpt_jax.model import QUANTUM_HEADS, ClassicalHead


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


def quantum_contribution(config: ModelConfig, tc: TrainConfig, params, dataset, seed=0) -> dict:
    """Evaluation-mode loss estimates with the quantum terms on and off, through the engine's
    loss program (``tc.eval_iters`` batches of each split, as ``compare`` reports them)."""
    on, off = estimate_losses_of(
        config, tc, [params, without_quantum_contribution(params)], dataset, seed
    )
    return {
        "eval_batches": tc.eval_iters,
        "train_loss_quantum_on": float(on[0]),
        "train_loss_quantum_off": float(off[0]),
        "loss_quantum_on": float(on[1]),
        "loss_quantum_off": float(off[1]),
        "difference": float(on[1] - off[1]),
    }


def evaluate_components(
    config: ModelConfig, tc: TrainConfig, params, dataset, key: jax.Array, seed: int = 0
) -> dict:
    """Head against head on one input, and the model's validation loss with and without its
    quantum terms. ``config`` must be a quantum model that ``params`` belong to."""
    if not config.is_quantum:
        raise ConfigError(
            f"evaluate_components needs a quantum model, got attention={config.attention!r}"
        )
    return {
        "attention": config.attention,
        "device": config.device,
        "heads": compare_heads(config, key),
        "model": quantum_contribution(config, tc, params, dataset, seed),
    }
