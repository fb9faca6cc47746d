"""Sweeps of the benchmark: which values a field takes, and what the measured lines show.

``Sweep`` parses ``--sweep FIELD=V1,V2,...`` and builds the configs at each value; ``series``
groups measured entries into one line per (model, device); ``growth`` fits how a line's time per
token grows, ``crossovers`` finds where one line overtakes another, ``sweep_summary`` is both for
``bench.json``. The measuring is ``qgpt_jax.bench``'s.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from qgpt_jax.config import DEVICE_FIELDS, ModelConfig, TrainConfig
from qgpt_jax.errors import ConfigError
from qgpt_jax.presets import PRESETS
from qgpt_jax.records import BenchEntry, Crossover, Growth, SweepSummary
from qgpt_jax.reports.bench import entry_name

QUANTUM_ONLY_FIELDS = ("n_qubits", "quantum_heads", *DEVICE_FIELDS)
"""Fields that change no classical model: a sweep of one measures the classical model once."""


@dataclass(frozen=True)
class Sweep:
    """``FIELD=V1,V2,...``: a config field (or ``preset``) and the values it takes in turn."""

    field: str
    values: tuple

    @classmethod
    def parse(cls, text: str) -> Sweep:
        field, sep, values = text.partition("=")
        field = field.strip().replace("-", "_")
        parts = tuple(v.strip() for v in values.split(",") if v.strip())
        if not sep or not parts:
            raise ConfigError(f"--sweep takes FIELD=V1,V2,... (e.g. n_qubits=4,6,8), got {text!r}")
        if field == "preset":
            unknown = [v for v in parts if v not in PRESETS]
            if unknown:
                raise ConfigError(
                    f"--sweep preset: unknown preset(s) {', '.join(unknown)}; choose from "
                    f"{', '.join(PRESETS)}"
                )
            return cls(field, parts)
        fields = {f.name: f for c in (ModelConfig, TrainConfig) for f in dataclasses.fields(c)}
        numeric = {
            name for name, f in fields.items() if f.type in ("int", "float", "int | None")
        } | {"n_qubits"}
        if field not in numeric:
            raise ConfigError(
                f"--sweep cannot vary {field!r}; sweep preset or a numeric field: "
                f"{', '.join(sorted(numeric))}"
            )
        try:
            converted = tuple(int(v) if float(v).is_integer() else float(v) for v in parts)
        except ValueError:
            raise ConfigError(f"--sweep {field}: values must be numbers, got {values!r}") from None
        return cls(field, converted)

    def configs(
        self, value, preset: str, model_overrides: dict, train_overrides: dict
    ) -> tuple[ModelConfig, TrainConfig]:
        """The (validated) configs at ``value``: the preset, the command line's overrides, then
        the swept field."""
        if self.field == "preset":
            preset = value
        model_overrides, train_overrides = dict(model_overrides), dict(train_overrides)
        if self.field in {f.name for f in dataclasses.fields(TrainConfig)}:
            train_overrides[self.field] = value
        elif self.field != "preset":
            model_overrides[self.field] = value
        return (
            ModelConfig.from_preset(preset, **model_overrides),
            TrainConfig.from_preset(preset, **train_overrides),
        )

    @property
    def classical_varies(self) -> bool:
        return self.field not in QUANTUM_ONLY_FIELDS


def series(entries: list[dict]) -> dict[str, list[dict]]:
    """Swept entries grouped into lines, one per (model, device), in sweep order. A model
    measured once (classical in a quantum-only sweep) is one point, drawn as a reference."""
    lines: dict[str, list[dict]] = {}
    for e in entries:
        if "sweep" in e and e["tokens_per_s"]:
            lines.setdefault(entry_name(e), []).append(e)
    return lines


def growth(line: list[BenchEntry], field: str) -> Growth | None:
    """How a line's time per token grows with the swept value, fitted over its points from the
    middle one on (where the growth has settled): a factor per added unit for ``n_qubits``
    (exponential, ``2.0`` = doubling per qubit), else the exponent of a power law."""
    if field == "preset":
        return None
    points = [(e["sweep"]["value"], 1 / e["tokens_per_s"]) for e in line]
    if field != "n_qubits":  # a power law needs positive values
        points = [p for p in points if p[0] > 0]
    if len(points) < 2:
        return None
    tail = points[(len(points) - 1) // 2 :] if len(points) >= 3 else points
    x = np.array([p[0] for p in tail], float)
    y = np.log2([p[1] for p in tail])
    if field == "n_qubits":
        slope = np.polyfit(x, y, 1)[0]
        return {
            "kind": "exponential",
            "factor_per_unit": float(2**slope),
            "over": [float(x[0]), float(x[-1])],
        }
    slope = np.polyfit(np.log2(x), y, 1)[0]
    return {"kind": "power", "exponent": float(slope), "over": [float(x[0]), float(x[-1])]}


def crossovers(entries: list[BenchEntry]) -> list[Crossover]:
    """Where one line overtakes another: for every model, between every pair of its devices,
    the consecutive swept values between which their order of tokens/s flips."""
    lines = series(entries)
    found = []
    names = list(lines)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            if lines[a][0]["model"] != lines[b][0]["model"]:
                continue
            speed_a = {e["sweep"]["value"]: e["tokens_per_s"] for e in lines[a]}
            speed_b = {e["sweep"]["value"]: e["tokens_per_s"] for e in lines[b]}
            shared = [v for v in speed_a if v in speed_b]
            for lo, hi in zip(shared, shared[1:], strict=False):
                before, after = speed_a[lo] > speed_b[lo], speed_a[hi] > speed_b[hi]
                if before != after:
                    leader, other = (a, b) if after else (b, a)
                    found.append({"overtakes": leader, "overtaken": other, "between": [lo, hi]})
    return found


def sweep_summary(entries: list[BenchEntry], field: str) -> SweepSummary:
    """Growth per line and crossovers, for ``bench.json`` and the report."""
    return {
        "field": field,
        "growth": {name: growth(line, field) for name, line in series(entries).items()},
        "crossovers": crossovers(entries),
    }
