"""Checkpoints: params, model config and vocabulary in one msgpack file, written atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jax
import numpy as np
from flax import serialization, traverse_util

from qgpt_jax.config import ModelConfig
from qgpt_jax.data import CharTokenizer
from qgpt_jax.errors import CheckpointError, QGPTError
from qgpt_jax.model import init
from qgpt_jax.storage import atomic_write_bytes

FORMAT = "qgpt-jax/1"
FILENAME = "checkpoint.msgpack"


def checkpoint_file(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path / FILENAME if path.is_dir() or not path.suffix else path


def save_checkpoint(
    path: str | os.PathLike,
    config: ModelConfig,
    params,
    tokenizer: CharTokenizer,
    metadata: dict | None = None,
) -> Path:
    """Write ``path/checkpoint.msgpack`` (or ``path`` if it names a file) atomically."""
    target = checkpoint_file(path)
    payload = {
        "format": FORMAT,
        "config": json.dumps(config.architecture()),
        "trained_on": json.dumps(config.quantum_device.to_dict()),
        "vocab": "".join(tokenizer.chars),
        "metadata": json.dumps(metadata or {}),
        "params": serialization.to_state_dict(jax.device_get(params)),
    }
    atomic_write_bytes(target, serialization.msgpack_serialize(payload))
    return target


def _read(path) -> dict:
    target = checkpoint_file(path)
    if not target.is_file():
        raise CheckpointError(
            f"no checkpoint at {target}; pass the output folder of a training run"
        )
    try:
        payload = serialization.msgpack_restore(target.read_bytes())
    except Exception:
        raise CheckpointError(
            f"{target} is not a qgpt-jax checkpoint (unreadable msgpack)"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(
            f"{target} is not a {FORMAT} checkpoint; for a PyTorch checkpoint of the original "
            f"project use `python -m experiments.import_original`"
        )
    fields = {"config": str, "vocab": str, "metadata": str, "params": dict}
    for name, kind in fields.items():
        if not isinstance(payload.get(name), kind):
            raise CheckpointError(
                f"{target} is a damaged {FORMAT} checkpoint (field {name!r} missing or invalid); "
                f"save it again from a training run"
            )
    try:
        payload["config"] = json.loads(payload["config"])
        payload["metadata"] = json.loads(payload["metadata"])
    except json.JSONDecodeError:
        raise CheckpointError(
            f"{target} is a damaged {FORMAT} checkpoint (config is not JSON); save it again"
        ) from None
    return payload


def check_params(params, config: ModelConfig, source: str = "checkpoint"):
    """Check that ``params`` has exactly the tree and shapes ``config`` needs; return them."""
    expected = traverse_util.flatten_dict(
        jax.eval_shape(lambda: init(config, jax.random.key(0))), sep="/"
    )
    got = traverse_util.flatten_dict(params, sep="/")
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    if missing or extra:
        what = f"missing {missing[0]}" if missing else f"unexpected {extra[0]}"
        raise CheckpointError(
            f"{source} does not match the model config (attention={config.attention}, "
            f"n_layer={config.n_layer}, n_head={config.n_head}): {what}; load it with the "
            f"config it was saved with"
        )
    for name, spec in expected.items():
        if tuple(np.shape(got[name])) != tuple(spec.shape):
            raise CheckpointError(
                f"{source} does not match the model config: {name} has shape "
                f"{tuple(np.shape(got[name]))}, config needs {tuple(spec.shape)}; load it with the "
                f"config it was saved with"
            )
    return jax.tree_util.tree_map(np.asarray, params)


def load_checkpoint(path: str | os.PathLike, config: ModelConfig | None = None):
    """``(config, params, tokenizer)`` from a checkpoint; ``config`` overrides the saved one.

    The config runs the quantum heads where the model was trained; ``config.on(device=...)``
    runs them anywhere else."""
    payload = _read(path)
    try:
        # Checkpoints before the split keep the device fields inside "config" (from_dict reads
        # them there); newer ones record the device trained on apart from the architecture.
        trained_on = json.loads(payload.get("trained_on") or "{}")
        saved = ModelConfig.from_dict({**payload["config"], "quantum_device": trained_on})
    except (QGPTError, TypeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{checkpoint_file(path)} holds an invalid config: {exc}") from None
    config = config or saved
    params = check_params(payload["params"], config, source=str(checkpoint_file(path)))
    return config, params, CharTokenizer(tuple(payload["vocab"]))


def load_metadata(path: str | os.PathLike) -> dict:
    return _read(path)["metadata"]
