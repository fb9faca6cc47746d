"""The report renderers: each section says what its records hold, nothing where they hold none."""

from __future__ import annotations

import inspect

import pytest
from test_study import synthetic_results

from qgpt_jax.reports import comparison
from qgpt_jax.reports.bench import format_entry, is_estimated, render_bench


@pytest.fixture(scope="module")
def results():
    return synthetic_results(effect=0.02)


def test_the_report_is_its_sections_in_order(results):
    text = comparison.render_markdown(results)
    assert text == "\n".join(line for s in comparison.SECTIONS for line in s(results))
    lines = text.splitlines()
    headings = [line for line in lines if line.startswith("#") and ", seed " not in line]
    assert headings == [
        "# qgpt-jax comparison",
        "## Configuration",
        "## Conclusion",
        "## Results",
        "### Paired comparisons (validation loss, kind minus control)",
        "### Quantum runs",
        "## Loss curves",
        "## Samples",
        "## How the samples differ",
        "## Environment",
    ]


def test_sections_without_records_say_nothing(results):
    # The synthetic study profiled nothing and estimated no QPU cost.
    assert comparison.profiles(results) == []
    assert comparison.hardware_section(results) == []
    done = {**results, "status": "done"}
    assert comparison.header(done)[2].startswith("Preset `tiny`")  # no status line
    assert comparison.header({**results, "status": "running"})[2] == (
        "**Status: running** (this report covers the runs finished so far)."
    )
    classical = {**results, "runs": [r for r in results["runs"] if "device" not in r]}
    assert comparison.quantum_runs(classical) == []


def test_every_quantum_run_has_its_device_row(results):
    quantum = [r for r in results["runs"] if "device" in r]
    lines = comparison.quantum_runs(results)
    assert len(quantum) > 0 and len(lines) == 5 + len(quantum)
    for run, line in zip(quantum, lines[5:], strict=True):
        assert line.startswith(f"| {run['model']} | {run['seed']} | {run['device']} |")


def test_every_model_and_comparison_has_its_row(results):
    table = "\n".join(comparison.results_table(results))
    for entry in results["summary"]:
        assert f"| {entry['model']} | {entry['params']:,} | {entry['n_seeds']} |" in table
    rows = comparison.comparison_rows(results["summary"])
    assert len(rows) == sum(len(e["comparisons"]) for e in results["summary"]) > 0
    assert all(row.count("|") == 12 for row in rows)  # 11 cells, as the header has


def test_a_profiled_run_gets_its_tables(results):
    part = {"us_per_step": 10.0, "launches_per_step": 3, "share": 0.5}
    run = {
        **results["runs"][0],
        "profile": {
            "op_launches_per_step": 6,
            "op_us_per_step": 20.0,
            "trace": "t",
            "parts": [{"part": "attention", **part}],
            "top": [{"category": "dot", **part}],
            "host": [{"work": "aer job", "us_per_step": 5.0, "calls_per_step": 1.0}],
        },
    }
    lines = comparison.profiles({**results, "runs": [run]})
    assert "| attention | 10.0 | 3 | 50% |" in lines and "| dot | 10.0 | 3 | 50% |" in lines
    assert "| aer job | 5.0 | 1.0 |" in lines


def test_no_renderer_is_longer_than_fifty_lines():
    long = {
        name: len(inspect.getsource(fn).splitlines())
        for module in (comparison, inspect.getmodule(render_bench))
        for name, fn in inspect.getmembers(module, inspect.isfunction)
        if fn.__module__ == module.__name__
    }
    assert {name: n for name, n in long.items() if n > 50} == {}, long


def test_an_estimated_bench_entry_says_so():
    entry = {
        "model": "enhance",
        "device": "aer",
        "tokens_per_s": 3.0,
        "over_budget": True,
        "steps": 0,
        "probe": {"step_s": 9.0, "circuits_per_step": 100, "per_circuit_s": 0.09},
    }
    assert is_estimated(entry) and not is_estimated({**entry, "steps": 2})
    assert "OVER BUDGET" in format_entry(entry) and "not trained" in format_entry(entry)
