"""qgpt_jax.records: the typed records, the schemas generated from them, validation on load."""

from __future__ import annotations

import copy
import json

import jsonschema
import pytest
from test_study import synthetic_results

from qgpt_jax.compare import load_results
from qgpt_jax.errors import ConfigError
from qgpt_jax.records import SCHEMAS, Bench, check, schema, schema_file, schema_text


@pytest.mark.parametrize("name", list(SCHEMAS))
def test_committed_schemas_are_the_generated_ones(name):
    """An edit to a record without ``python -m experiments.schemas`` fails here."""
    assert schema_file(name).read_text(encoding="utf-8") == schema_text(name), (
        f"{schema_file(name)} is stale: run python -m experiments.schemas"
    )
    jsonschema.Draft202012Validator.check_schema(schema(name))


def test_the_schemas_command_checks_and_writes(tmp_path, monkeypatch, capsys):
    from experiments import schemas

    schemas.main(["--check"])  # the committed files are current: no exit
    monkeypatch.setattr("qgpt_jax.records.schema_file", lambda name: tmp_path / f"{name}.json")
    with pytest.raises(SystemExit) as exit_info:
        schemas.main(["--check"])
    assert exit_info.value.code == 1
    assert capsys.readouterr().err.count("\n") == 1
    schemas.main([])
    assert json.loads((tmp_path / "results.json").read_text()) == schema("results")
    schemas.main(["--check"])


def write(folder, results) -> None:
    folder.mkdir(exist_ok=True)
    (folder / "results.json").write_text(json.dumps(results))


def test_a_report_of_the_builders_validates_and_loads(tmp_path):
    results = synthetic_results()
    jsonschema.validate(results, schema("results"))
    write(tmp_path, results)
    assert load_results(tmp_path)["summary"] == results["summary"]


def broken_reports():
    results = synthetic_results()
    bad_status = {**copy.deepcopy(results), "status": "finished"}
    without_group = copy.deepcopy(results)
    del without_group["runs"][1]["seed_group"]
    bad_verdict = copy.deepcopy(results)
    bad_verdict["summary"][2]["comparisons"][0]["verdict"] = "maybe"
    return [(bad_status, "status"), (without_group, "runs.1.seed_group"),
            (bad_verdict, "summary.2.comparisons.0.verdict")]  # fmt: skip


@pytest.mark.parametrize(("broken", "field"), broken_reports())
def test_a_broken_report_is_rejected_in_one_line(tmp_path, broken, field):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema("results"))
    write(tmp_path, broken)
    with pytest.raises(ConfigError) as info:
        load_results(tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{tmp_path / 'results.json'} is not a valid results.json: {field}:")


def version_1_report() -> dict:
    """A minimal report of before schema_version 2: no status, engine, device config, seed
    groups or conclusion, and its summary in the old layout (a dict)."""
    run = {"model": "classical", "seed": 0, "params": 100, "iters": 2, "steps_done": 2,
           "train_loss": 2.5, "val_loss": 2.6, "tokens_per_s": 10.0, "compile_s": 1.0,
           "train_s": 1.0, "wall_s": 2.0, "cpu_s": 2.0, "peak_rss_mb": 300.0,
           "evals": [{"step": 2, "train_loss": 2.5, "val_loss": 2.6}], "step_losses": [2.7, 2.6],
           "sample": "ab", "sample_tokens": [1, 2]}  # fmt: skip
    return {
        "config": {
            "preset": "tiny", "models": ["classical"], "seeds": [0],
            "model": {"vocab_size": 65, "n_embd": 16, "n_head": 2, "n_layer": 2, "block_size": 8,
                      "dropout": 0.1, "n_qubits": 4, "device": "default.qubit"},
            "train": {"batch_size": 4, "learning_rate": 1e-3, "max_iters": 2,
                      "eval_interval": 1, "eval_iters": 1},
            "sample": {"prompt": "\n", "new_tokens": 2, "decoding": "greedy"},
        },  # fmt: skip
        "environment": {"versions": {"jax": "0.6"}, "python": "3.11", "platform": "Linux",
                        "cpu_count": 2, "jax_backend": "cpu", "jax_devices": ["cpu"]},
        "runs": [run],
        "summary": {"classical": {"val_loss": 2.6}},
        "quantum_resources": {},
        "sample_differences": [],
    }  # fmt: skip


def test_an_older_report_is_checked_for_what_its_version_had(tmp_path):
    old = version_1_report()
    with pytest.raises(jsonschema.ValidationError):  # not a report of the current schema
        jsonschema.validate(old, schema("results"))
    write(tmp_path, old)
    assert load_results(tmp_path)["runs"][0]["seed"] == 0
    write(tmp_path, {**old, "schema_version": 2})  # a version 2 report has a status
    with pytest.raises(ConfigError, match=r": status: Field required \(\d+ problems"):
        load_results(tmp_path)
    broken = version_1_report()
    broken["runs"][0]["params"] = "many"  # a field version 1 had
    write(tmp_path, broken)
    with pytest.raises(ConfigError, match=r"runs\.0\.params: Input should be a valid integer"):
        load_results(tmp_path)
    results = synthetic_results()
    for c in results["summary"][2]["comparisons"]:
        del c["verdict"]  # added in version 4
    write(tmp_path, {**results, "schema_version": 3})
    load_results(tmp_path)
    write(tmp_path, results)
    with pytest.raises(ConfigError, match=r"summary\.2\.comparisons\.0\.verdict: Field required"):
        load_results(tmp_path)


def test_a_bench_of_the_builders_validates(tmp_path, dataset, tiny_model_config):
    from qgpt_jax.bench import measure_matmul_peak, measure_training
    from qgpt_jax.config import TrainConfig
    from qgpt_jax.reports.measures import environment
    from qgpt_jax.sweep import sweep_summary

    tc = TrainConfig.from_preset("tiny")
    entry = measure_training(tiny_model_config, tc, dataset, seconds=0.01, max_steps=2)
    swept = [{**entry, "tokens_per_s": s, "sweep": {"field": "n_embd", "value": v}}
             for v, s in ((8, 100.0), (16, 50.0), (32, 20.0))]  # fmt: skip
    bench: Bench = {
        "preset": "tiny",
        "model": tiny_model_config.to_dict(),
        "train": tc.to_dict(),
        "environment": environment(),
        "peak": measure_matmul_peak(size=64, repeats=1),
        "entries": [entry, *swept],
        "sweep": {**sweep_summary(swept, "n_embd"), "values": [8, 16, 32]},
    }
    bench = json.loads(json.dumps(bench))
    jsonschema.validate(bench, schema("bench"))
    check(bench, Bench, tmp_path / "bench.json")
    del bench["entries"][0]["circuits_per_s"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bench, schema("bench"))
    with pytest.raises(ConfigError, match=r"entries\.0\.circuits_per_s: Field required"):
        check(bench, Bench, tmp_path / "bench.json")
