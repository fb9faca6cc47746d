"""Import PyTorch checkpoints of the original project (Qiskit GPT Nano).

The original saves ``torch.save({"model_state_dict", "vocab_size", "model_type", "meta"})``. Its
module tree maps one to one onto ours, so the import is a renaming plus two layout changes:

* PyTorch ``Linear`` weights are ``(out, in)`` while Flax ``Dense`` kernels are ``(in, out)``;
* the heads of a layer are separate modules in the original but one vmapped module per kind in our
  model (``quantum_heads``, ``classical_heads``), so their parameters are stacked along a new
  leading head axis.

The circuit weights need no reordering: our circuit (``qgpt_jax.quantum.circuits``) takes them in
Qiskit's ``RealAmplitudes`` parameter order, which is the order the original's ``EstimatorQNN``
used.

Quantum checkpoints become ``attention="original"`` models, which reproduce the original's quantum
head with its quirks, so imported weights give the original's logits. The import is lenient about
``meta`` (only what is missing is inferred from the weights) and strict about the weights: every
key must be recognised and every shape must fit, because a silently dropped or mis-shaped tensor
would give a model that runs but is not the one that was trained.
"""

from __future__ import annotations

import os
import re
import types
from pathlib import Path
from typing import Any

import jax
import numpy as np

from qgpt_jax.attention import kind_of, validated
from qgpt_jax.checkpoint import check_params
from qgpt_jax.config import ModelConfig
from qgpt_jax.data import CharTokenizer
from qgpt_jax.errors import CheckpointError, QGPTError
from qgpt_jax.quantum.circuits import n_circuit_weights

TORCH_HINT = "pip install 'qgpt-jax[torch]'"
MODEL_TYPES = types.MappingProxyType({"classical": "classical", "quantum": "original"})
DEFAULT_N_QUBITS = 4  # the original's default when its meta does not record n_qubits

# Prefixes that wrappers add to every key (DataParallel, torch.compile); they carry no meaning.
WRAPPER_PREFIXES = ("module.", "_orig_mod.")
# Keys the original saves that hold no weights of their own: the causal-mask buffers and the
# TorchConnector's second name for the circuit weights.
IGNORED_KEY = re.compile(r"(^|\.)tril$|\.quantum_attention_network\._weights$")
# Where the vocabulary may be recorded, in meta or at the top level of the checkpoint.
VOCAB_KEYS = ("chars", "itos", "stoi", "vocab")


def _import_torch():
    try:
        import torch
    except ImportError:
        raise CheckpointError(
            f"reading PyTorch checkpoints needs torch, which is not installed; {TORCH_HINT}"
        ) from None
    return torch


def read_original_checkpoint(path: str | os.PathLike) -> dict:
    """The raw dict an original checkpoint holds, after checking it is one.

    ``torch.load(weights_only=False)`` unpickles arbitrary objects (the original's ``meta`` may hold
    more than tensors), which can run code: only import checkpoints you trust.
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder; pass the .pt file the original project saved")
    if not path.is_file():
        raise CheckpointError(
            f"no file at {path}; pass the path of a PyTorch checkpoint of the original project"
        )
    torch = _import_torch()
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise CheckpointError(
            f"torch.load could not read {path} ({reason}); pass a file written by torch.save "
            f"in the original project"
        ) from None
    if not isinstance(payload, dict):
        raise CheckpointError(
            f"{path} holds a {type(payload).__name__}, not a dict; pass a checkpoint saved as "
            f"{{'model_state_dict', 'vocab_size', 'model_type', 'meta'}}"
        )
    if not isinstance(payload.get("model_state_dict"), dict):
        raise CheckpointError(
            f"{path} has no 'model_state_dict' (keys: {', '.join(map(str, payload)) or 'none'}); "
            f"pass a checkpoint of the original project, which saves the model under that key"
        )
    return payload


def _meta(payload: dict) -> dict:
    """``meta`` as a dict; an ``argparse.Namespace`` or similar object is accepted too."""
    meta = payload.get("meta") or {}
    if not isinstance(meta, dict):
        meta = dict(vars(meta)) if hasattr(meta, "__dict__") else {}
    return meta


def _state_dict(payload: dict, source: str) -> dict[str, np.ndarray]:
    """The weights as float32 numpy arrays, with wrapper prefixes and ignored keys removed."""
    arrays = {}
    for key, value in payload["model_state_dict"].items():
        for prefix in WRAPPER_PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix) :]
        if IGNORED_KEY.search(key):
            continue
        try:
            if hasattr(value, "detach"):
                value = value.detach().cpu().float().numpy()
            arrays[key] = np.asarray(value, dtype=np.float32)
        except (TypeError, ValueError, RuntimeError):
            raise CheckpointError(
                f"{source}: {key} in model_state_dict is a "
                f"{type(value).__name__}, not a tensor; pass a checkpoint of the original project"
            ) from None
    return arrays


def _model_type(payload: dict, weights: dict, source: str) -> str:
    model_type = payload.get("model_type")
    if model_type is None:  # older saves: tell from the weights
        quantum = any(".sa.quantum_heads." in key for key in weights)
        return "quantum" if quantum else "classical"
    if model_type not in MODEL_TYPES:
        raise CheckpointError(
            f"{source} has model_type {model_type!r}; only {' and '.join(map(repr, MODEL_TYPES))} "
            f"checkpoints of the original project can be imported"
        )
    return model_type


def _count(weights: dict, pattern: str) -> int:
    """Number of distinct indices ``i`` in keys matching ``pattern`` (a regex with one group)."""
    found = {int(m.group(1)) for key in weights if (m := re.match(pattern, key))}
    return max(found) + 1 if found else 0


def _shape_of(weights: dict, key: str, axis: int, source: str) -> int:
    if key not in weights:
        raise CheckpointError(f"{source} is missing {key}; pass a complete checkpoint")
    return int(weights[key].shape[axis])


def original_config(payload: dict, source: str = "checkpoint") -> ModelConfig:
    """The ``ModelConfig`` of an original checkpoint: ``meta`` where it says, else the weights."""
    weights = _state_dict(payload, source)
    model_type = _model_type(payload, weights, source)
    meta = _meta(payload)
    inferred = {
        "vocab_size": lambda: _shape_of(weights, "token_embedding_table.weight", 0, source),
        "n_embd": lambda: _shape_of(weights, "token_embedding_table.weight", 1, source),
        "block_size": lambda: _shape_of(weights, "position_embedding_table.weight", 0, source),
        "n_layer": lambda: _count(weights, r"blocks\.(\d+)\."),
        "n_head": lambda: sum(
            _count(weights, rf"blocks\.0\.sa\.{group}\.(\d+)\.")
            for group in ("heads", "quantum_heads", "classical_heads")
        ),
    }
    values: dict[str, Any] = {}
    for name, infer in inferred.items():
        given = payload.get(name) if name == "vocab_size" else meta.get(name)
        values[name] = _number(int, given, name, source) if given is not None else infer()
    if meta.get("dropout") is not None:
        values["dropout"] = _number(float, meta["dropout"], "dropout", source)
    values["attention"] = MODEL_TYPES[model_type]
    if model_type == "quantum":
        circuit = "blocks.0.sa.quantum_heads.0.quantum_attention_network.weight"
        if meta.get("n_qubits") is not None:
            values["n_qubits"] = _number(int, meta["n_qubits"], "n_qubits", source)
        elif circuit in weights:
            values["n_qubits"] = int(weights[circuit].size) // 3
        else:
            values["n_qubits"] = DEFAULT_N_QUBITS
    try:
        return validated(ModelConfig(**values))
    except QGPTError as exc:
        raise CheckpointError(f"{source} describes an invalid model: {exc}") from None


def _number(kind, value: Any, name: str, source: str):
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise CheckpointError(
            f"{source} has {name}={value!r} in its meta, not a number; correct it or remove it "
            f"so that it is read from the weights"
        ) from None


class _Weights:
    """Takes tensors out of a state dict by name, checking each shape against the config."""

    def __init__(self, weights: dict[str, np.ndarray], source: str):
        self.weights = dict(weights)
        self.source = source

    def take(self, key: str, shape: tuple[int, ...]) -> np.ndarray:
        if key not in self.weights:
            raise CheckpointError(
                f"{self.source} is missing {key}; pass a complete checkpoint of the original "
                f"project (its meta must match its weights)"
            )
        value = self.weights.pop(key)
        if value.shape != shape and not (shape == () and value.size == 1):
            raise CheckpointError(
                f"{self.source}: {key} has shape {value.shape}, but the model its vocab_size "
                f"and meta describe needs {shape}; correct them to match the weights"
            )
        return value.reshape(shape)

    def linear(self, prefix: str, n_in: int, n_out: int, bias: bool = True) -> dict:
        """A Flax Dense's params from a PyTorch Linear: the kernel is the transposed weight."""
        params = {"kernel": self.take(f"{prefix}.weight", (n_out, n_in)).T}
        if bias:
            params["bias"] = self.take(f"{prefix}.bias", (n_out,))
        return params

    def layer_norm(self, prefix: str, n: int) -> dict:
        return {
            "scale": self.take(f"{prefix}.weight", (n,)),
            "bias": self.take(f"{prefix}.bias", (n,)),
        }

    def qkv(self, prefix: str, n_embd: int, head_size: int) -> dict:
        return {
            name: self.linear(f"{prefix}.{name}", n_embd, head_size, bias=False)
            for name in ("key", "query", "value")
        }

    def check_all_used(self) -> None:
        if self.weights:
            key = sorted(self.weights)[0]
            raise CheckpointError(
                f"{self.source} has unexpected weight {key} ({len(self.weights)} unused in all); "
                f"its meta does not describe its weights, fix n_layer/n_head in its meta"
            )


def _stack_heads(heads: list[dict]) -> dict:
    """Per-head params stacked on a leading head axis, the layout of our vmapped head groups."""
    return jax.tree_util.tree_map(lambda *leaves: np.stack(leaves), *heads)


def _attention(w: _Weights, prefix: str, config: ModelConfig) -> dict:
    C, hs = config.n_embd, config.head_size
    params: dict[str, Any] = {"proj": w.linear(f"{prefix}.proj", C, C)}
    if kind_of(config).runs_circuits:
        quantum = []
        for h in range(config.n_quantum_heads):
            head = f"{prefix}.quantum_heads.{h}"
            quantum.append(
                {
                    **w.qkv(head, C, hs),
                    "circuit_weights": w.take(
                        f"{head}.quantum_attention_network.weight",
                        (n_circuit_weights(config.n_qubits),),
                    ),
                    "quantum_scale": w.take(f"{head}.quantum_scale", ()),
                }
            )
        params["quantum_heads"] = _stack_heads(quantum)
        group = "classical_heads"
    else:
        group = "heads"
    n_classical = config.n_head - config.n_quantum_heads
    if n_classical:
        heads = [w.qkv(f"{prefix}.{group}.{h}", C, hs) for h in range(n_classical)]
        params["classical_heads"] = _stack_heads(heads)
    return params


def convert_original_state(payload: dict, config: ModelConfig, source: str = "checkpoint") -> dict:
    """Our parameter tree from an original checkpoint dict, for ``config`` (``original_config``)."""
    w = _Weights(_state_dict(payload, source), source)
    C = config.n_embd
    params: dict[str, Any] = {
        "token_embedding": {
            "embedding": w.take("token_embedding_table.weight", (config.vocab_size, C))
        },
        "position_embedding": {
            "embedding": w.take("position_embedding_table.weight", (config.block_size, C))
        },
    }
    for i in range(config.n_layer):
        prefix = f"blocks.{i}"
        params[f"block_{i}"] = {
            "ln1": w.layer_norm(f"{prefix}.ln1", C),
            "sa": _attention(w, f"{prefix}.sa", config),
            "ln2": w.layer_norm(f"{prefix}.ln2", C),
            "ffwd": {
                "fc": w.linear(f"{prefix}.ffwd.net.0", C, 4 * C),
                "proj": w.linear(f"{prefix}.ffwd.net.2", 4 * C, C),
            },
        }
    params["ln_f"] = w.layer_norm("ln_f", C)
    params["lm_head"] = w.linear("lm_head", C, config.vocab_size)
    w.check_all_used()
    return check_params(params, config, source=source)


def load_original_checkpoint(path: str | os.PathLike) -> tuple[ModelConfig, dict]:
    """``(config, params)`` from a PyTorch checkpoint of the original project.

    Classical checkpoints give ``attention="classical"`` models, quantum ones
    ``attention="original"``.
    Every problem is raised as a one-line ``CheckpointError``.
    """
    payload = read_original_checkpoint(path)
    config = original_config(payload, source=str(path))
    return config, convert_original_state(payload, config, source=str(path))


def _chars_from(value: Any, name: str, source: str) -> list | None:
    """Characters in token-id order from one of the vocabulary formats the original may record."""
    if isinstance(value, str):
        return list(value)
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, dict) and value:
        try:
            if name == "stoi":
                pairs = sorted((int(i), ch) for ch, i in value.items())
            else:
                pairs = sorted((int(i), ch) for i, ch in value.items())
        except (TypeError, ValueError):
            raise CheckpointError(
                f"{source}: {name} in its meta does not map characters to token ids; pass --data "
                f"PATH to the corpus it was trained on instead"
            ) from None
        if [i for i, _ in pairs] != list(range(len(pairs))):
            raise CheckpointError(
                f"{source}: {name} in its meta does not number tokens 0..{len(pairs) - 1}; pass "
                f"--data PATH to the corpus it was trained on instead"
            )
        return [ch for _, ch in pairs]
    return None


def original_tokenizer(payload: dict, source: str = "checkpoint") -> CharTokenizer | None:
    """The vocabulary an original checkpoint records (``chars``, ``itos``, ``stoi`` or ``vocab`` in
    its meta or at its top level), or ``None`` when it records none."""
    meta = _meta(payload)
    for where in (meta, payload):
        for name in VOCAB_KEYS:
            if name not in where:
                continue
            chars = _chars_from(where[name], name, source)
            if chars is None:
                continue
            if not all(isinstance(ch, str) and len(ch) == 1 for ch in chars) or len(
                set(chars)
            ) != len(chars):
                raise CheckpointError(
                    f"{source}: {name} is not a list of distinct single characters; pass --data "
                    f"PATH to the corpus it was trained on instead"
                )
            return CharTokenizer(tuple(chars))
    return None


def load_original_vocabulary(path: str | os.PathLike) -> CharTokenizer | None:
    """The vocabulary recorded in the original checkpoint at ``path``, or ``None``."""
    return original_tokenizer(read_original_checkpoint(path), source=str(path))


def import_original_checkpoint(path: str | os.PathLike, data: str | os.PathLike | None = None):
    """``(config, params, tokenizer)`` for saving an original checkpoint as one of ours.

    The vocabulary comes from the checkpoint when it records one; otherwise from the corpus at
    ``data`` (the sorted set of its characters, as the original built it). Either way its size must
    equal the checkpoint's ``vocab_size``, or token ids would index the wrong embedding rows.
    """
    payload = read_original_checkpoint(path)
    source = str(path)
    config = original_config(payload, source=source)
    params = convert_original_state(payload, config, source=source)
    recorded = original_tokenizer(payload, source=source)
    if data is not None:
        from qgpt_jax.data import read_corpus

        tokenizer = CharTokenizer.from_text(read_corpus(data))
        if recorded is not None and recorded != tokenizer:
            raise CheckpointError(
                f"the vocabulary of {data} differs from the one recorded in {source}; omit --data "
                f"to use the recorded one"
            )
        origin = f"the corpus {data}"
    elif recorded is not None:
        tokenizer, origin = recorded, source
    else:
        raise CheckpointError(
            f"{source} records no vocabulary; pass --data PATH to the corpus it was trained on"
        )
    if tokenizer.vocab_size != config.vocab_size:
        raise CheckpointError(
            f"the vocabulary of {origin} has {tokenizer.vocab_size} characters but the checkpoint "
            f"has vocab_size {config.vocab_size}; pass --data PATH to the corpus it was trained on"
        )
    return config, params, tokenizer
