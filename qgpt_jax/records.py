"""The records a run writes (``results.json``, ``bench.json``) as typed dicts, and their schemas.

Why ``TypedDict``s: the code builds, reads and writes these records as plain dicts, and the JSON
files stay exactly as they were; a ``TypedDict`` only names each record's keys and types, so a
type checker can follow them and pydantic can turn them into a JSON Schema and a validator. The
committed ``qgpt_jax/schemas/*.schema.json`` are generated from these classes (``schema(name)``,
``python -m experiments.schemas``), never written by hand, and a test fails when they differ.
The class docstrings and field descriptions are those schemas' descriptions.

Reports written before the current schema still load: ``check`` validates a file against what
its own ``schema_version`` had. A field marked ``Since(n)`` (added, or changed in layout, at
version ``n``) is not checked in a file of an older version; everything else is. So the schema
of the current version stays strict (it requires what the writers always write), and an old
report is neither rejected for lacking what came later nor passed when it is broken in what it
had. (Only the JSON Schema states the ``not`` on ``config.model``; the loader does not check it.)
"""

from __future__ import annotations

import functools
import json
import types
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import (
    Annotated,
    Any,
    Literal,
    NotRequired,
    Union,
    get_args,
    get_origin,
    get_type_hints,
)

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError
from typing_extensions import TypedDict, is_typeddict

from qgpt_jax.errors import ConfigError

RESULTS_SCHEMA_VERSION = 4
"""Version of ``results.json``'s layout (``Comparison``)."""


@dataclass(frozen=True)
class Since:
    """Field metadata: the ``results.json`` schema version that added the field (or changed its
    layout); files of older versions are not checked for it."""

    version: int


Number = float | None
Interval = Annotated[
    tuple[float, float] | None,
    Field(description="The 95% t-interval of the mean over seeds (null with fewer than two)."),
]


# --- results.json --------------------------------------------------------------------------------


class Stat(TypedDict):
    """Mean, sample standard deviation and 95% t-interval of a quantity over seeds."""

    n: Annotated[int, Field(ge=0)]
    mean: Number
    std: Number
    ci95: Interval


class Eval(TypedDict):
    """One in-training loss estimate (``eval_iters`` random batches of each split)."""

    step: int
    train_loss: float
    val_loss: float


class RunRecord(TypedDict):
    """One seed's run of one model."""

    model: str
    attention: NotRequired[
        Annotated[str, Field(description="The head kind (schema_version 3 on).")]
    ]
    hidden_width: NotRequired[
        Annotated[int, Field(description="The feed-forward hidden width (schema_version 3 on).")]
    ]
    seed: int
    status: Annotated[Literal["done", "failed"], Since(2)]
    params: Annotated[int, Field(ge=1)]
    iters: Annotated[int, Field(ge=0)]
    steps_done: Annotated[int, Field(ge=0)]
    train_loss: Number
    val_loss: Number
    train_tokens: NotRequired[
        Annotated[int, Field(ge=0, description="Tokens the final train_loss averages.")]
    ]
    val_tokens: NotRequired[
        Annotated[int, Field(ge=0, description="Tokens the final val_loss averages.")]
    ]
    val_loss_sampled: NotRequired[
        Annotated[Number, Field(description="The last in-training estimate of val_loss.")]
    ]
    tokens_per_s: Number
    tokens_per_s_all_seeds: Annotated[Number, Since(2)]
    seeds_together: Annotated[int, Field(ge=1), Since(2)]
    seed_group: Annotated[list[int], Field(min_length=1), Since(2)]
    compile_s: Annotated[float, Field(ge=0)]
    compile_cache: Annotated[
        Literal[
            "off",
            "hit (read)",
            "miss (compiled)",
            "not cacheable (host callbacks)",
            "bypassed (profiled run)",
        ],
        Field(
            description="What served the compilation: the value of a "
            "qgpt_jax.compile_cache.CacheOutcome."
        ),
        Since(2),
    ]
    train_s: float
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    resumed_from_step: Annotated[int | None, Since(2)]
    evals: list[Eval]
    step_losses: list[float]
    profile: NotRequired[
        Annotated[dict[str, Any], Field(description="jax.profiler's summary (--profile).")]
    ]
    device: NotRequired[str]
    n_qubits: NotRequired[int]
    shots: NotRequired[int | None]
    noise: NotRequired[str | None]
    circuit_executions: NotRequired[dict[str, Any]]
    sample: NotRequired[str]
    sample_tokens: NotRequired[list[int]]
    checkpoint: NotRequired[str]
    kept_shot_share: NotRequired[
        Annotated[
            float,
            Field(
                description="For a kind whose QPU circuit post-selects (quixer): the mean "
                "probability that a shot is kept, on the sample's last window."
            ),
        ]
    ]


class PairedComparison(TypedDict):
    """A quantum kind minus one control, paired by seed (negative: the kind's loss is lower)."""

    model: str
    control: str
    metric: str
    seeds: list[int]
    differences: list[float]
    difference_mean: Number
    difference_std: Number
    difference_ci95: Interval
    p_value: Number
    p_holm: Number
    margin: Annotated[float, Field(gt=0), Since(4)]
    tost_p: Annotated[
        Number,
        Field(
            description="Two one-sided paired t-tests that the difference lies within +/- "
            "margin (the larger p)."
        ),
        Since(4),
    ]
    p_nonparametric: Annotated[
        Number,
        Field(description="Wilcoxon signed-rank test of a zero median difference."),
        Since(4),
    ]
    detectable_effect: Annotated[
        Number,
        Field(
            description="Smallest mean difference the paired t-test detects at 80% power with "
            "these seeds."
        ),
        Since(4),
    ]
    verdict: Annotated[Literal["better", "worse", "equivalent", "inconclusive"], Since(4)]
    seeds_needed: Annotated[
        int | None,
        Field(
            description="For an inconclusive comparison: paired seeds that would decide it at "
            "80% power if the observed mean and spread held."
        ),
        Since(4),
    ]
    difference_ci95_sampled: NotRequired[
        Annotated[
            tuple[float, float] | None,
            Field(
                description="The same comparison's 95% interval on the last in-training estimate "
                "(val_loss_sampled), where every run has one."
            ),
        ]
    ]


class ModelSummary(TypedDict):
    """One model's runs over seeds: sizes, losses, throughput, and a quantum kind's paired
    comparisons with each of its controls."""

    model: str
    n_seeds: Annotated[int, Field(ge=1)]
    params: Annotated[int, Field(ge=1)]
    val_tokens: NotRequired[int | None]
    val_loss_mean: Number
    val_loss_std: Number
    val_loss_ci95: Interval
    train_loss_mean: Number
    train_loss_std: Number
    train_loss_ci95: Interval
    tokens_per_s_mean: Number
    tokens_per_s_std: NotRequired[Number]
    compile_s_mean: NotRequired[Number]
    compile_s_std: NotRequired[Number]
    wall_s_mean: NotRequired[Number]
    wall_s_std: NotRequired[Number]
    peak_rss_mb_mean: NotRequired[Number]
    peak_rss_mb_std: NotRequired[Number]
    tokens_per_s_all_seeds_mean: NotRequired[Number]
    seeds_together: NotRequired[int]
    comparisons: list[PairedComparison]


class SampleDifference(TypedDict):
    """How the greedy samples of two models of the same seed differ."""

    a: str
    b: str
    seed: int
    compared_tokens: int
    hamming: int
    agreement: Number
    jaccard: Number
    levenshtein: int


class Architecture(TypedDict):
    """The architecture (what a checkpoint is), without the head kind, which each run names."""

    __pydantic_config__ = ConfigDict(
        json_schema_extra={
            "not": {"anyOf": [{"required": ["device"]}, {"required": ["quantum_device"]}]}
        }
    )
    vocab_size: int
    n_embd: int
    n_head: int
    n_layer: int
    block_size: int
    dropout: float
    quantum_heads: NotRequired[int | None]
    ffn_width: NotRequired[int | None]
    n_qubits: int


class QuantumDevice(TypedDict):
    """Where the quantum heads ran, kept apart from the architecture."""

    device: str
    shots: int | None
    noise: str | None
    aer_threads: int | None
    backend: NotRequired[str | None]


class TrainSettings(TypedDict):
    """The optimisation settings (``TrainConfig``), without the seed."""

    batch_size: int
    learning_rate: float
    max_iters: int
    eval_interval: int
    eval_iters: int
    final_eval_tokens: NotRequired[int]
    weight_decay: NotRequired[float]
    weight_decay_on: NotRequired[Literal["all", "matrices"]]
    beta1: NotRequired[float]
    beta2: NotRequired[float]
    eps: NotRequired[float]
    quantum_learning_rate: NotRequired[float | None]
    warmup_iters: NotRequired[int]
    lr_schedule: NotRequired[str]
    min_learning_rate: NotRequired[float]
    grad_clip: NotRequired[float | None]
    steps_per_call: NotRequired[int]


class Engine(TypedDict):
    """How the training engine ran the seeds."""

    seeds_in_parallel: int | None
    mesh: dict[str, int] | None
    processes: Annotated[int, Field(ge=1)]
    ckpt_every: int | None


class SampleSettings(TypedDict):
    """How each run's sample was generated."""

    prompt: str
    new_tokens: int
    decoding: str


class ComparisonConfig(TypedDict):
    """What was trained, on what, and how."""

    preset: str
    models: Annotated[list[str], Field(min_length=1)]
    seeds: Annotated[list[int], Field(min_length=1)]
    model: Architecture
    quantum_device: Annotated[QuantumDevice, Since(2)]
    train: TrainSettings
    engine: Annotated[Engine, Since(2)]
    sample: SampleSettings
    margin: NotRequired[
        Annotated[
            float,
            Field(
                gt=0,
                description="The smallest effect of interest in nats, declared before the run "
                "(--margin).",
            ),
        ]
    ]


class Environment(TypedDict):
    """The machine and the package versions a run used."""

    versions: dict[str, str | None]
    python: str
    platform: str
    processor: NotRequired[str]
    cpu_count: int | None
    jax_backend: str
    jax_devices: list[str]
    command: NotRequired[
        Annotated[
            str,
            Field(
                description="The command line that wrote the report, for docs/results.md "
                "(absent before it was recorded)."
            ),
        ]
    ]


class Comparison(TypedDict):
    """The comparison report: configuration, environment, every run and what the seeds say."""

    schema_version: Literal[4]
    status: Annotated[Literal["running", "done", "failed", "interrupted"], Since(2)]
    config: ComparisonConfig
    environment: Environment
    runs: list[RunRecord]
    summary: Annotated[list[ModelSummary], Since(3)]
    quantum_resources: Annotated[
        dict[str, dict[str, Any]],
        Field(description="Per quantum kind: its transpiled circuit and its cost on a QPU."),
    ]
    sample_differences: list[SampleDifference]
    conclusion: Annotated[
        str, Field(description="Written from the comparisons, never by hand."), Since(3)
    ]


# --- bench.json ----------------------------------------------------------------------------------


class Peak(TypedDict):
    """The practical peak: a large float32 matmul in the same process."""

    matmul_size: int
    seconds: float
    flops_per_s: float


class Probe(TypedDict):
    """One timed circuit call of a device that runs circuits on the host."""

    bindings: int
    per_circuit_s: float
    executions_per_binding: float
    circuits_per_step: float
    step_s: float


class SweepPoint(TypedDict):
    """The swept field and its value at this entry."""

    field: str
    value: int | float | str


class BenchEntry(TypedDict):
    """One (model, device[, swept value]) measurement, or the bare Aer job (``raw-aer``)."""

    model: str
    device: str | None
    seeds: NotRequired[int]
    over_budget: NotRequired[
        Annotated[
            bool,
            Field(description="Not trained, or one step overran: tokens/s are an estimate."),
        ]
    ]
    probe: NotRequired[Probe]
    steps: NotRequired[int]
    train_s: NotRequired[float | None]
    compile_s: NotRequired[float | None]
    compile_cache: NotRequired[str | None]
    tokens_per_s: Number
    circuit_executions_per_step: Number
    circuits_per_s: float
    executions_counted: NotRequired[str]
    flops_per_step: NotRequired[Number]
    flops_counted: NotRequired[str]
    flops_per_s: NotRequired[Number]
    peak_fraction: NotRequired[Number]
    bindings: NotRequired[int]
    seconds: NotRequired[float]
    sweep: NotRequired[SweepPoint]


class Growth(TypedDict):
    """How a line's time per token grows with the swept value."""

    kind: Literal["exponential", "power"]
    factor_per_unit: NotRequired[float]
    exponent: NotRequired[float]
    over: tuple[float, float]


class Crossover(TypedDict):
    """Between which swept values one line overtakes another."""

    overtakes: str
    overtaken: str
    between: tuple[int | float | str, int | float | str]


class SweepSummary(TypedDict):
    """The sweep's values, each line's growth and the crossovers."""

    field: str
    values: NotRequired[list[int | float | str]]
    growth: dict[str, Growth | None]
    crossovers: list[Crossover]


class Bench(TypedDict):
    """The benchmark: configuration, environment, the peak and every entry."""

    preset: str
    model: dict[str, Any]
    train: dict[str, Any]
    environment: Environment
    peak: Peak
    entries: list[BenchEntry]
    sweep: NotRequired[SweepSummary]


# --- schemas and validation ----------------------------------------------------------------------

SCHEMAS: Mapping[str, tuple[type, str, str]] = types.MappingProxyType(
    {
        "results": (
            Comparison,
            "qgpt-jax comparison report (results.json)",
            "Written by `python -m experiments.compare`, atomically, at the start and after every"
            " finished group of runs. schema_version 2 added schema_version, status, per-run "
            "status, the engine fields (seed groups, compile cache, resume) and "
            "config.quantum_device (the device fields apart from config.model); files without "
            "schema_version are version 1. schema_version 3 made summary a list (one entry per "
            "model, with 95% intervals and paired comparisons), added conclusion, and per run "
            "attention and hidden_width (models such as classical-matched:enhance differ from the"
            " shared config). schema_version 4 added config.margin, per comparison margin, "
            "tost_p, p_nonparametric, detectable_effect, verdict and seeds_needed, and per run "
            "train_tokens and val_tokens (what the final losses cover: the whole-split estimate "
            "of train.final_eval_tokens, or the last in-training estimate) and val_loss_sampled "
            "(that last in-training estimate).",
        ),
        "bench": (
            Bench,
            "qgpt-jax benchmark (bench.json)",
            "Written by `python -m experiments.bench`: the training throughput of each model on "
            "each device, measured in one process, with the FLOP rate against a matmul peak and, "
            "with --sweep, the cost curves' growth and crossovers.",
        ),
    }
)
"""Each schema's record, title and description, by name (``<name>.schema.json``)."""
SCHEMA_ID = "https://github.com/qgpt-jax/qgpt-jax/schemas/{name}.schema.json"


def schema(name: str) -> dict:
    """The JSON Schema (draft 2020-12) of ``<name>.json``, generated from its record."""
    record, title, description = SCHEMAS[name]
    generated = adapter(record).json_schema()
    generated.pop("title", None)
    generated.pop("description", None)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID.format(name=name),
        "title": title,
        "description": description,
        **generated,
    }


def schema_file(name: str) -> Path:
    """Where the package ships ``schema(name)``."""
    return Path(__file__).parent / "schemas" / f"{name}.schema.json"


def schema_text(name: str) -> str:
    """``schema(name)`` as the committed file holds it."""
    return json.dumps(schema(name), indent=2, ensure_ascii=False) + "\n"


def _unwrap(tp) -> tuple[Any, int]:
    """``tp`` without ``NotRequired``, ``Annotated`` and ``None``, and its ``Since`` version."""
    version = 1
    while True:
        if get_origin(tp) is NotRequired:
            tp = get_args(tp)[0]
        elif get_origin(tp) is Annotated:
            tp, *meta = get_args(tp)
            version = max([version, *(m.version for m in meta if isinstance(m, Since))])
        elif get_origin(tp) in (Union, types.UnionType) and type(None) in get_args(tp):
            others = [a for a in get_args(tp) if a is not type(None)]
            if len(others) != 1:
                return tp, version
            tp = others[0]
        else:
            return tp, version


def _since(loc: tuple, record: type) -> int:
    """The latest ``Since`` version along an error's location in ``record``: the version a file
    must have for that part of it to be checked."""
    version, tp = 1, record
    for key in loc:
        tp, added = _unwrap(tp)
        version = max(version, added)
        if get_origin(tp) in (list, dict):
            tp = get_args(tp)[-1]  # ``key`` is an index or a key: the items' type
        elif is_typeddict(tp) and isinstance(key, str):
            tp = get_type_hints(tp, include_extras=True).get(key)
        else:
            return version
    return max(version, _unwrap(tp)[1])


def check_results(data: Any, path: Path, then: str = "") -> None:
    """``check`` a ``results.json`` against the records of its own ``schema_version``, after
    refusing one of a newer version (``then``: what the user does about that, e.g. resume)."""
    version = data.get("schema_version", 1) if isinstance(data, dict) else 1
    if not isinstance(version, int) or version > RESULTS_SCHEMA_VERSION:
        raise ConfigError(
            f"{path} was written by a newer qgpt-jax (results schema {version}, this version "
            f"reads up to {RESULTS_SCHEMA_VERSION}){then}"
        )
    check(data, Comparison, path, version)


@functools.cache
def adapter(record: type) -> TypeAdapter:
    """``record``'s pydantic validator (built once: building one walks every nested record)."""
    return TypeAdapter(record)


def check(data: Any, record: type, path: Path, version: int | None = None) -> None:
    """Raise a one-line ``ConfigError`` naming ``path`` and the first bad field when ``data``
    is not a valid ``record``; of a ``results.json`` schema ``version`` (default: the current
    one), the fields ``Since`` a later version are not checked, nor the version number."""
    current = RESULTS_SCHEMA_VERSION if version is None else version
    try:
        adapter(record).validate_python(data)
    except ValidationError as exc:
        errors = [
            e
            for e in exc.errors()
            if _since(e["loc"], record) <= current
            and not (e["loc"] == ("schema_version",) and current < RESULTS_SCHEMA_VERSION)
        ]
        if errors:
            where = ".".join(map(str, errors[0]["loc"])) or "the top level"
            of = "" if version is None else f"; schema_version {version}"
            raise ConfigError(
                f"{path} is not a valid {path.name}: {where}: {errors[0]['msg']} "
                f"({len(errors)} problem{'s' * (len(errors) > 1)}{of})"
            ) from None
