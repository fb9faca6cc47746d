"""Read back a ``jax.profiler`` trace: where did the time of the profiled training steps go?"""

from __future__ import annotations

import collections
import gzip
import json
from pathlib import Path

# Trace events that are host-side bookkeeping, not XLA operations of the program.
HOST_EVENT_PREFIXES = (
    "$",
    "ThunkExecutor",
    "PjitFunction",
    "Common",
    "Parse",
    "ExecuteReplicated",
    "end:",
)


def op_category(name: str) -> str:
    """``dot.123`` -> ``dot``; ``multiply_reduce_fusion.4`` -> ``multiply_reduce_fusion``."""
    return name.split(".")[0]


def summarize_trace(profile_dir: str | Path, steps: int, top: int = 8) -> dict:
    """Per-step time by XLA operation category in the newest trace under ``profile_dir``."""
    traces = sorted(Path(profile_dir).rglob("*.trace.json.gz"), key=lambda p: p.stat().st_mtime)
    if not traces:
        return {}
    with gzip.open(traces[-1]) as f:
        events = json.load(f)["traceEvents"]
    total_us = collections.Counter()
    count = collections.Counter()
    for event in events:
        name = event.get("name", "")
        if event.get("ph") == "X" and not name.startswith(HOST_EVENT_PREFIXES):
            total_us[op_category(name)] += event["dur"]
            count[op_category(name)] += 1
    ops_us = sum(total_us.values())
    return {
        "trace": str(traces[-1]),
        "steps": steps,
        "op_launches_per_step": sum(count.values()) / steps,
        "op_us_per_step": ops_us / steps,
        "top": [
            {
                "category": name,
                "us_per_step": us / steps,
                "launches_per_step": count[name] / steps,
                "share": us / ops_us,
            }
            for name, us in total_us.most_common(top)
        ],
    }
