"""Read back a ``jax.profiler`` trace: where did the time of the profiled training steps go?

The trace is read with JAX's own reader (``jax.profiler.ProfileData`` over the ``.xplane.pb``).
Every XLA operation event names its HLO instruction; the compiled program's HLO text gives that
instruction's ``op_name``, the path of ``jax.named_scope`` names it was traced under. The model
and the train step name their parts (``PROFILE_PARTS``), so operation time adds up
by part, forward and backward together (JAX keeps the scope names inside ``transpose(jvp(...))``).
Host work of callback devices is annotated ``host: ...`` (``HOST_PREFIX``) and timed apart.
"""

from __future__ import annotations

import collections
import dataclasses
import re
from pathlib import Path

PROFILE_PARTS = (
    "batch",
    "embedding",
    "attention",
    "circuit",
    "feed_forward",
    "output",
    "loss",
    "optimizer",
)
"""The ``jax.named_scope`` names that the train step (``batch``, ``loss``, ``optimizer``), the model
and ``qgpt_jax.attention.base.run_circuit`` (``circuit``) give their parts; a layer's head groups
are ``heads_<kind>`` (``qgpt_jax.model.head_scopes``)."""
HOST_PREFIX = "host: "
"""Prefix of the ``jax.profiler.TraceAnnotation`` names given to host-side device work."""
OTHER = "other (step keys, loop)"
CONTROL_FLOW = ("while", "conditional", "call")
"""Operations that run others (the fused steps' loop): their time contains their body's, so it
is kept apart rather than added."""

_COMPUTATION = re.compile(r"^(?:ENTRY\s+)?%?([\w.\-]+)\s.*\{\s*$")
_INSTRUCTION_NAME = re.compile(r"^\s+(?:ROOT\s+)?%?([\w.\-]+) = ")
_OP_NAME = re.compile(r'op_name="([^"]*)"')
_CALLS = re.compile(r"calls=%?([\w.\-]+)")
_OPERAND = re.compile(r"%([\w.\-]+)")


def op_category(name: str) -> str:
    """``dot.123`` -> ``dot``; ``multiply_reduce_fusion.4`` -> ``multiply_reduce_fusion``."""
    return name.split(".")[0]


def scope_names(hlo_text: str) -> dict[str, str]:
    """HLO instruction name -> the ``op_name`` (named-scope path) XLA kept in its metadata.

    Some fusions (the CPU backend's library fusions) carry no metadata of their own: they take
    the op name of the computation they call (its root's, else its first instruction's), and
    failing that (a weight-gradient matmul XLA rewrote) the op name of their first operand."""
    names, calls, operands, computation_names = {}, {}, {}, {}
    computation, first, root = None, None, None
    for line in hlo_text.splitlines():
        header = _COMPUTATION.match(line)
        if header:
            computation, first, root = header.group(1), None, None
            continue
        if line.strip() == "}" and computation is not None:
            computation_names[computation] = root or first
            computation = None
            continue
        instruction = _INSTRUCTION_NAME.match(line)
        if instruction is None:
            continue
        name = instruction.group(1)
        op_name = _OP_NAME.search(line)
        if op_name:
            names[name] = op_name.group(1)
            first = first or op_name.group(1)
            if line.lstrip().startswith("ROOT"):
                root = op_name.group(1)
        called = _CALLS.search(line)
        if called:
            calls[name] = called.group(1)
            operands[name] = _OPERAND.findall(line[instruction.end() : called.start()])
    for name, computation in calls.items():  # in program order: operands come first
        if name in names:
            continue
        if computation_names.get(computation):
            names[name] = computation_names[computation]
        else:
            named = [names[operand] for operand in operands[name] if operand in names]
            if named:
                names[name] = named[0]
    return names


def part_of(op_name: str) -> str:
    """The innermost named part on an ``op_name`` path: ``.../heads_enhance/.../circuit/...`` is
    ``circuit``; a head group is ``heads_<kind>``; a path without one is ``OTHER``."""
    for scope in reversed(op_name.split("/")):
        if scope in PROFILE_PARTS or scope.startswith("heads_"):
            return scope
    return OTHER


def _newest(profile_dir: str | Path, pattern: str) -> Path | None:
    found = sorted(Path(profile_dir).rglob(pattern), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


@dataclasses.dataclass
class _Tally:
    """Running sums of one trace's events, kept apart so reading and reporting split cleanly."""

    total_us: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    count: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    part_us: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    part_count: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    host_us: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    host_count: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    loop_us: float = 0.0


def _tally_events(planes, scopes: dict[str, str]) -> _Tally:
    """Sort every event into host work, control flow or an operation (and its part), once."""
    tally = _Tally()
    for plane in planes:
        for line in plane.lines:
            for event in line.events:
                name, us = event.name, event.duration_ns / 1e3
                if name.startswith(HOST_PREFIX):
                    tally.host_us[name.removeprefix(HOST_PREFIX)] += us
                    tally.host_count[name.removeprefix(HOST_PREFIX)] += 1
                    continue
                if "hlo_op" not in dict(event.stats):
                    continue  # profiler bookkeeping, Python frames, "end:" markers
                if op_category(name) in CONTROL_FLOW:
                    tally.loop_us += us
                    continue
                tally.total_us[op_category(name)] += us
                tally.count[op_category(name)] += 1
                if scopes:
                    part = part_of(scopes.get(name, ""))
                    tally.part_us[part] += us
                    tally.part_count[part] += 1
    return tally


def _per_step(tally: _Tally, trace: Path, steps: int, top: int, by_part: bool) -> dict:
    """Turn the trace's sums into per-step figures and shares, the form the report compares."""
    ops_us = sum(tally.total_us.values())
    summary = {
        "trace": str(trace),
        "steps": steps,
        "op_launches_per_step": sum(tally.count.values()) / steps,
        "op_us_per_step": ops_us / steps,
        "control_flow_us_per_step": tally.loop_us / steps,
        "top": [
            {
                "category": name,
                "us_per_step": us / steps,
                "launches_per_step": tally.count[name] / steps,
                "share": us / ops_us,
            }
            for name, us in tally.total_us.most_common(top)
        ],
        "host": [
            {
                "work": name,
                "us_per_step": us / steps,
                "calls_per_step": tally.host_count[name] / steps,
            }
            for name, us in tally.host_us.most_common()
        ],
    }
    if by_part:
        summary["parts"] = [
            {
                "part": part,
                "us_per_step": us / steps,
                "launches_per_step": tally.part_count[part] / steps,
                "share": us / ops_us,
            }
            for part, us in tally.part_us.most_common()
        ]
    return summary


def summarize_trace(
    profile_dir: str | Path, steps: int, hlo_text: str | None = None, top: int = 8
) -> dict:
    """Per-step time of the newest trace under ``profile_dir``: by XLA operation category, by
    model part (when the program's ``hlo_text`` is given) and host-side device work.

    Operation times are summed over the threads that ran them, so on several cores a step's
    operation time can exceed its wall time; compare shares.
    """
    from jax.profiler import ProfileData

    trace = _newest(profile_dir, "*.xplane.pb")
    if trace is None:
        return {}
    scopes = scope_names(hlo_text) if hlo_text else {}
    tally = _tally_events(ProfileData.from_file(str(trace)).planes, scopes)
    return _per_step(tally, trace, steps, top, by_part=bool(scopes))
