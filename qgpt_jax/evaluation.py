"""Component evaluation, as the original's ``evaluate_components``, for every attention kind.

A kind's head against a classical head and against its classical surrogate on the same input, and
a model's loss with its circuits' contribution on and off (for kinds that have such a switch).
"""

from __future__ import annotations

import dataclasses
import statistics
import time

import jax
import jax.numpy as jnp

from qgpt_jax.attention import KINDS, kind_of, validated
from qgpt_jax.checkpoint import load_checkpoint
from qgpt_jax.config import ModelConfig, TrainConfig
from qgpt_jax.data import load_dataset
from qgpt_jax.engine import estimate_losses_counted, estimate_losses_of
from qgpt_jax.errors import ConfigError
from qgpt_jax.model import init


def _median_seconds(fn, *args, repeats: int = 20) -> float:
    jax.block_until_ready(fn(*args))  # compile and warm up outside the timing
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def shared_params(own: dict, donor: dict) -> dict:
    """``own`` with every top-level parameter that ``donor`` has in the same shape taken from it,
    so two heads of different kinds share their common projections."""

    def shapes(tree):
        return jax.tree_util.tree_map(jnp.shape, tree)

    return {
        name: donor[name] if name in donor and shapes(donor[name]) == shapes(value) else value
        for name, value in own.items()
    }


def compare_heads(config: ModelConfig, key: jax.Array, batch: int = 4) -> dict:
    """The ``config.attention`` head against a classical head and against its surrogate on one
    input. The heads share every parameter they have in common (the quantum head's circuit
    weights are the surrogate's), each head initialised from the same key."""
    x_key, init_key = jax.random.split(key)
    x = jax.random.normal(x_key, (batch, config.block_size, config.n_embd))  # (B, T, C)
    kind = kind_of(config)
    heads = {"classical": KINDS["classical"], config.attention: kind}
    if kind.surrogate_of is None and kind.circuit is not None:
        heads[kind.name + "-surrogate"] = KINDS[kind.name + "-surrogate"]
    elif kind.surrogate_of is not None:
        heads[kind.surrogate_of] = KINDS[kind.surrogate_of]
    outputs, timings, reference = {}, {}, None
    for name, head_kind in heads.items():
        head_config = dataclasses.replace(config, attention=name)
        head = head_kind.head(head_config)
        params = head.init(init_key, x, True)["params"]
        reference = params if reference is None else reference
        params = shared_params(dict(params), dict(reference))
        run = jax.jit(lambda p, x, head=head: head.apply({"params": p}, x, True))
        outputs[name] = run(params, x)
        timings[name] = _median_seconds(run, params, x)
    kind_out = outputs[config.attention]
    return {
        "input_shape": list(x.shape),
        "output_shape": list(kind_out.shape),
        "heads": list(heads),
        "mean_abs_difference": {
            name: float(jnp.abs(out - kind_out).mean())
            for name, out in outputs.items()
            if name != config.attention
        },
        "seconds_per_call": timings,
    }


def contribution(config: ModelConfig, tc: TrainConfig, params, dataset, seed=0) -> dict:
    """Evaluation-mode loss estimates with the circuits' contribution on and off, through the
    engine's loss program (``tc.eval_iters`` batches of each split, as ``compare`` reports them);
    kinds without such a switch report the loss only."""
    switch_off = kind_of(config).switch_off
    variants = [params] if switch_off is None else [params, switch_off(params)]
    losses = estimate_losses_of(config, tc, variants, dataset, seed)
    result = {
        "eval_batches": tc.eval_iters,
        "train_loss": float(losses[0][0]),
        "val_loss": float(losses[0][1]),
        "switch": switch_off is not None,
    }
    if switch_off is not None:
        result.update(
            train_loss_off=float(losses[1][0]),
            val_loss_off=float(losses[1][1]),
            difference=float(losses[0][1] - losses[1][1]),
        )
    return result


def evaluate_components(
    config: ModelConfig, tc: TrainConfig, params, dataset, key: jax.Array, seed: int = 0
) -> dict:
    """Head against heads on one input, and the model's loss with and without its circuits'
    contribution. ``config`` must be a kind other than classical that ``params`` belong to."""
    if config.attention == "classical":
        raise ConfigError(
            "evaluate_components compares a quantum (or surrogate) kind with classical "
            "attention; choose one with --attention"
        )
    return {
        "attention": config.attention,
        "device": config.device,
        "heads": compare_heads(config, key),
        "model": contribution(config, tc, params, dataset, seed),
    }


def _checkpoint_config(checkpoint: str, model_overrides: dict, device_overrides: dict):
    """A checkpoint runs with its own architecture: refuse flags that would change it, and take
    only where it runs (device flags) from the command line."""
    config, params, tokenizer = load_checkpoint(checkpoint)
    if config.attention == "classical":
        raise ConfigError(
            "the checkpoint holds a classical model; pass one of a quantum or surrogate kind"
        )
    clash = {k: v for k, v in model_overrides.items() if getattr(config, k) != v}
    if clash:
        name, value = next(iter(clash.items()))
        raise ConfigError(
            f"the checkpoint was trained with {name}={getattr(config, name)!r}, not {value!r}; "
            f"drop --{name.replace('_', '-')} (a checkpoint runs with its own architecture)"
        )
    return validated(config.on(**device_overrides)), params, tokenizer


def _fresh_config(preset: str, model_overrides: dict, device_overrides: dict) -> ModelConfig:
    """Without a checkpoint the preset's model is evaluated, enhance unless another kind is
    asked for, since comparing classical with itself says nothing."""
    overrides = {**model_overrides, **device_overrides}
    overrides.setdefault("attention", "enhance")
    config = ModelConfig.from_preset(preset, **overrides)
    if config.attention == "classical":
        raise ConfigError("--attention must be a quantum or surrogate kind, not classical")
    return config


def evaluate_components_for(
    *,
    preset: str,
    checkpoint: str | None = None,
    data: str | None = None,
    seed: int = 0,
    model_overrides: dict | None = None,
    device_overrides: dict | None = None,
) -> dict:
    """``evaluate_components`` from the command line's values, so the entry point only parses and
    prints: a trained checkpoint's model, or a freshly initialised one of the preset."""
    model_overrides, device_overrides = model_overrides or {}, device_overrides or {}
    key = jax.random.key(seed)
    if checkpoint:
        config, params, tokenizer = _checkpoint_config(
            checkpoint, model_overrides, device_overrides
        )
    else:
        config, tokenizer = _fresh_config(preset, model_overrides, device_overrides), None
    dataset = load_dataset(data, block_size=config.block_size, tokenizer=tokenizer)
    if not checkpoint:
        config = dataclasses.replace(config, vocab_size=dataset.tokenizer.vocab_size)
        params = init(config, key)
    tc = TrainConfig.from_preset(preset)
    return evaluate_components(config, tc, params, dataset, key, seed=seed)


DEFAULT_SETTINGS = ("default.qubit", "aer:shots=1024", "aer:shots=1024,noise=manila")
"""Noiseless, sampled, and sampled with a real backend's noise: what hardware would cost."""


SETTING_FORMAT = "DEVICE[:shots=N][,noise=NAME][,backend=NAME]"


def parse_setting(text: str) -> dict:
    """``device[:shots=N][,noise=NAME][,backend=NAME]`` -> device fields, e.g.
    ``aer:shots=1024,noise=manila`` or ``ibm.runtime:shots=1024,backend=fake_manila`` (shots,
    noise and backend not given are exact, noiseless and none)."""
    device, _, options = text.partition(":")
    setting = {"device": device.strip(), "shots": None, "noise": None, "backend": None}
    for option in filter(None, (o.strip() for o in options.split(","))):
        key, _, value = option.partition("=")
        if key == "shots" and value.isdigit():
            setting["shots"] = int(value)
        elif key in ("noise", "backend") and value:
            setting[key] = value
        else:
            raise ConfigError(
                f"cannot read the device setting {text!r} at {option!r}; write "
                f"{SETTING_FORMAT}, e.g. aer:shots=1024,noise=manila"
            )
    return setting


def losses_on_devices(
    config: ModelConfig,
    tc: TrainConfig,
    params,
    dataset,
    settings: list[dict],
    seed: int = 0,
    log=None,
) -> list[dict]:
    """A trained model's loss estimates with its heads run under each device setting, on the same
    batches (those a ``compare`` run with ``seed`` draws for its estimate at step 0; every setting
    sees the same ones, so differences are paired): what shots or a backend's noise would cost
    it. Each setting is validated before any is run."""
    configs = [validated(config.on(**setting)) for setting in settings]  # fails early on a bad one
    rows = []
    for setting, on in zip(settings, configs, strict=True):
        start = time.perf_counter()
        losses, circuits, submitted = estimate_losses_counted(on, tc, [params], dataset, seed)
        rows.append(
            {
                **setting,
                "train_loss": float(losses[0][0]),
                "val_loss": float(losses[0][1]),
                "eval_batches": tc.eval_iters,
                "circuit_executions": circuits,
                "seconds": time.perf_counter() - start,
                **({"ibm_runtime": submitted} if submitted is not None else {}),
            }
        )
        if log is not None:
            log(rows[-1])
    return rows
