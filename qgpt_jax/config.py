"""Frozen, validated configuration dataclasses, built from the named presets of ``presets``.

``ModelConfig`` describes the network (including which attention heads are quantum and where their
circuits run); ``TrainConfig`` describes the optimisation run. Both check their own fields on
construction (types, sizes, ranges), so an impossible value fails before any work starts.

This is the lowest layer: it imports nothing of ``qgpt_jax.attention`` or ``qgpt_jax.quantum``.
What needs the kind registry or the device table (is the attention kind known, can the device run
it, are shots and noise available there) is the kind's check, ``qgpt_jax.attention.validated``,
which the model runs before it is built and the entry points run where a configuration comes in.
"""

from __future__ import annotations

import dataclasses
import types
from dataclasses import dataclass
from typing import Any

from qgpt_jax.errors import ConfigError
from qgpt_jax.presets import PRESETS

LEGACY_NAMES = types.MappingProxyType({"seed": "original", "seed-large": "original-large"})
"""Names used before the rename (kind and presets), still accepted so old checkpoints, results
and commands keep working."""
LR_SCHEDULES = ("constant", "cosine")
WEIGHT_DECAY_TARGETS = ("all", "matrices")


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _from_preset(cls, name: str, overrides: dict[str, Any]):
    name = LEGACY_NAMES.get(name, name)
    if cls is ModelConfig:  # device fields may be given flat: they go into quantum_device
        device = {k: overrides.pop(k) for k in DEVICE_FIELDS if k in overrides}
        if device:
            base = overrides.get("quantum_device", DeviceConfig())
            overrides["quantum_device"] = dataclasses.replace(base, **device)
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    own = {f.name for f in dataclasses.fields(cls)}
    unknown = set(overrides) - own
    if unknown:
        raise ConfigError(
            f"{cls.__name__} has no field(s) {', '.join(sorted(unknown))}; "
            f"valid fields: {', '.join(sorted(own))}"
        )
    values = {k: v for k, v in PRESETS[name].values.items() if k in own}
    values.update(overrides)
    return cls(**values)


@dataclass(frozen=True)
class DeviceConfig:
    """Where and how quantum heads run: not part of what a model is.

    A checkpoint records its architecture (``ModelConfig.architecture()``) and, apart from it, the
    device it was trained on; any tool can run it on another device with other shots or noise.
    """

    device: str = "default.qubit"
    """Where quantum heads run; see ``qgpt_jax.quantum.devices.DEVICES`` (checked there, by
    ``qgpt_jax.attention.validated``)."""
    shots: int | None = None
    """``None`` for exact expectation values, else the number of samples per circuit."""
    noise: str | None = None
    """Name of a fake IBM backend whose noise model, basis and coupling map Aer uses."""
    aer_threads: int | None = None
    backend: str | None = None
    """IBM Runtime backend of the ``ibm.runtime`` device: ``fake_<name>`` (local testing mode) or a
    backend of the saved IBM Quantum account, e.g. ``ibm_torino``."""

    def __post_init__(self):
        _check(
            isinstance(self.device, str) and bool(self.device),
            f"device must be the name of a quantum device, got {self.device!r}",
        )
        _check(
            self.noise is None or (isinstance(self.noise, str) and bool(self.noise)),
            f"noise must be the name of a noise backend (omit it for none), got {self.noise!r}",
        )
        _check(
            self.backend is None or (isinstance(self.backend, str) and bool(self.backend)),
            f"backend must be the name of an IBM Runtime backend (omit it for none), "
            f"got {self.backend!r}",
        )
        _check(
            self.shots is None or (isinstance(self.shots, int) and self.shots > 0),
            f"shots must be a positive integer (omit it for exact expectation values), "
            f"got {self.shots!r}",
        )
        _check(
            self.aer_threads is None
            or (isinstance(self.aer_threads, int) and self.aer_threads > 0),
            f"aer_threads must be a positive integer, got {self.aer_threads!r}",
        )

    def to_dict(self) -> dict[str, Any]:
        """The fields; ``backend`` only when set, so records and run identities written before
        it existed stay the same."""
        values = dataclasses.asdict(self)
        if values["backend"] is None:
            del values["backend"]
        return values


DEVICE_FIELDS = tuple(f.name for f in dataclasses.fields(DeviceConfig))


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of the GPT and of its quantum attention heads, and (apart from it, in
    ``quantum_device``) where the quantum heads run."""

    vocab_size: int = 65
    n_embd: int = 16
    n_head: int = 2
    n_layer: int = 2
    block_size: int = 8
    dropout: float = 0.1
    attention: str = "classical"
    """Head kind, a name in ``qgpt_jax.attention.KINDS`` (``classical``, ``original``,
    ``enhance``, ``qsann``, ``kernel``, and each quantum kind's ``<kind>-surrogate``), checked
    against the registry by ``qgpt_jax.attention.validated``. The old name ``seed`` is read as
    ``original``."""
    quantum_heads: int | None = None
    """Heads per layer of the ``attention`` kind (the others are classical and come after them);
    ``None``: ``min(n_head, 2)``, as the original."""
    ffn_width: int | None = None
    """Hidden width of the feed-forward layers; ``None``: ``4 * n_embd``, as nanoGPT."""
    n_qubits: int = 4
    quantum_device: DeviceConfig = DeviceConfig()
    """How the quantum heads run; ``device``, ``shots``, ``noise``, ``aer_threads`` and ``backend``
    read it."""

    def __post_init__(self):
        _check(
            isinstance(self.attention, str) and bool(self.attention),
            f"attention must be the name of an attention kind, got {self.attention!r}",
        )
        if self.attention in LEGACY_NAMES:  # checkpoints written before the rename
            object.__setattr__(self, "attention", LEGACY_NAMES[self.attention])
        for name in ("vocab_size", "n_embd", "n_head", "n_layer", "block_size", "n_qubits"):
            value = getattr(self, name)
            _check(
                isinstance(value, int) and value > 0,
                f"{name} must be a positive integer, got {value!r}",
            )
        _check(
            self.n_embd % self.n_head == 0,
            f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})",
        )
        _check(0.0 <= self.dropout < 1.0, f"dropout must be in [0, 1), got {self.dropout}")
        _check(
            self.quantum_heads is None
            or (isinstance(self.quantum_heads, int) and 1 <= self.quantum_heads <= self.n_head),
            f"quantum_heads must be between 1 and n_head ({self.n_head}), "
            f"got {self.quantum_heads!r}",
        )
        _check(
            self.ffn_width is None or (isinstance(self.ffn_width, int) and self.ffn_width > 0),
            f"ffn_width must be a positive integer, got {self.ffn_width!r}",
        )
        _check(2 <= self.n_qubits <= 20, f"n_qubits must be between 2 and 20, got {self.n_qubits}")

    @property
    def device(self) -> str:
        return self.quantum_device.device

    @property
    def shots(self) -> int | None:
        return self.quantum_device.shots

    @property
    def noise(self) -> str | None:
        return self.quantum_device.noise

    @property
    def aer_threads(self) -> int | None:
        return self.quantum_device.aer_threads

    @property
    def backend(self) -> str | None:
        return self.quantum_device.backend

    def on(self, **device_fields) -> ModelConfig:
        """The same model run elsewhere: ``config.on(device="aer", shots=1024)``."""
        return dataclasses.replace(
            self, quantum_device=dataclasses.replace(self.quantum_device, **device_fields)
        )

    def architecture(self) -> dict[str, Any]:
        """What the model is (its parameters depend on nothing else)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "quantum_device"}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        """From ``to_dict()``'s layout, or the flat layout of files written before the split
        (device fields beside the architecture)."""
        values = dict(values)
        device = dict(values.pop("quantum_device", None) or {})
        device.update({k: values.pop(k) for k in DEVICE_FIELDS if k in values})
        return cls(**values, quantum_device=DeviceConfig(**device))

    @classmethod
    def from_preset(cls, name: str, **overrides) -> ModelConfig:
        """The named preset's model fields, with ``overrides`` applied."""
        return _from_preset(cls, name, overrides)

    @property
    def head_size(self) -> int:
        return self.n_embd // self.n_head

    @property
    def n_quantum_heads(self) -> int:
        """Heads per layer of the ``attention`` kind: ``quantum_heads``, by default as in the
        original the first ``min(n_head, 2)``; none for ``classical``."""
        if self.attention == "classical":
            return 0
        return self.quantum_heads if self.quantum_heads is not None else min(self.n_head, 2)

    @property
    def hidden_width(self) -> int:
        """The feed-forward layers' hidden width."""
        return self.ffn_width if self.ffn_width is not None else 4 * self.n_embd

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "quantum_device": self.quantum_device.to_dict()}


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings; defaults follow the original (``torch.optim.AdamW``)."""

    batch_size: int = 4
    learning_rate: float = 1e-3
    max_iters: int = 1000
    eval_interval: int = 100
    eval_iters: int = 20
    final_eval_tokens: int = 0
    """Tokens per split the final loss estimate covers: every non-overlapping window of a split
    up to this many tokens, spread evenly (0: the final estimate is the last in-training one, of
    ``eval_iters`` random batches, as the original's)."""
    weight_decay: float = 0.01
    weight_decay_on: str = "all"
    """Which parameters weight decay shrinks: ``all`` (``torch.optim.AdamW`` on every
    parameter, as the original) or ``matrices`` (nanoGPT's rule: matmul kernels and embeddings,
    not biases, layer-norm scales or circuit angles)."""
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    quantum_learning_rate: float | None = None
    """Learning rate for circuit weights and quantum scales; ``None`` uses ``learning_rate``."""
    warmup_iters: int = 0
    """Steps of linear learning-rate warmup from 0 (0: none, as the original)."""
    lr_schedule: str = "constant"
    """After warmup: ``constant`` (the original) or ``cosine`` decay to ``min_learning_rate`` at
    ``max_iters``."""
    min_learning_rate: float = 0.0
    grad_clip: float | None = None
    """Clip gradients to this global norm before the optimizer (``None``: no clipping)."""
    steps_per_call: int = 50
    """Training steps fused into one compiled ``lax.scan`` call (1 disables fusion)."""
    seed: int = 0

    def __post_init__(self):
        for name in ("batch_size", "eval_interval", "eval_iters", "steps_per_call"):
            value = getattr(self, name)
            _check(
                isinstance(value, int) and value > 0,
                f"{name} must be a positive integer, got {value!r}",
            )
        _check(
            isinstance(self.final_eval_tokens, int) and self.final_eval_tokens >= 0,
            f"final_eval_tokens must be a non-negative integer, got {self.final_eval_tokens!r}",
        )
        _check(
            isinstance(self.max_iters, int) and self.max_iters >= 0,
            f"max_iters must be a non-negative integer, got {self.max_iters!r}",
        )
        _check(self.learning_rate > 0, f"learning_rate must be positive, got {self.learning_rate}")
        _check(
            self.quantum_learning_rate is None or self.quantum_learning_rate > 0,
            f"quantum_learning_rate must be positive, got {self.quantum_learning_rate}",
        )
        _check(self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}")
        _check(
            self.weight_decay_on in WEIGHT_DECAY_TARGETS,
            f"unknown weight_decay_on {self.weight_decay_on!r}; choose one of: "
            f"{', '.join(WEIGHT_DECAY_TARGETS)}",
        )
        _check(0 <= self.beta1 < 1 and 0 <= self.beta2 < 1, "beta1 and beta2 must be in [0, 1)")
        _check(self.eps > 0, f"eps must be positive, got {self.eps}")
        _check(
            isinstance(self.warmup_iters, int) and self.warmup_iters >= 0,
            f"warmup_iters must be a non-negative integer, got {self.warmup_iters!r}",
        )
        _check(
            self.lr_schedule in LR_SCHEDULES,
            f"unknown lr_schedule {self.lr_schedule!r}; choose one of: {', '.join(LR_SCHEDULES)}",
        )
        _check(
            0 <= self.min_learning_rate <= self.learning_rate,
            f"min_learning_rate must be in [0, learning_rate], got {self.min_learning_rate}",
        )
        _check(
            self.grad_clip is None or self.grad_clip > 0,
            f"grad_clip must be positive (omit it for no clipping), got {self.grad_clip}",
        )

    @classmethod
    def from_preset(cls, name: str, **overrides) -> TrainConfig:
        """The named preset's training fields, with ``overrides`` applied."""
        return _from_preset(cls, name, overrides)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
