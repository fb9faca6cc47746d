"""The command-line entry points, run in-process: a full tiny comparison, generation, bad input."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import jax
import numpy as np
import pytest

from experiments import compare as compare_cli
from experiments import generate as generate_cli
from qgpt_jax.attention import circuits_per_forward
from qgpt_jax.checkpoint import load_checkpoint, load_metadata
from qgpt_jax.engine import train_seeds
from qgpt_jax.generate import generate
from qgpt_jax.model import count_params, init
from qgpt_jax.storage import LOCK_NAME

REPO = Path(__file__).resolve().parents[1]
RUN_FIELDS = {"model", "seed", "params", "iters", "train_loss", "val_loss", "tokens_per_s",
              "compile_s", "wall_s", "cpu_s", "peak_rss_mb", "sample"}
VERSIONED = ("jax", "flax", "optax", "pennylane", "qiskit", "qiskit-aer")


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def strict_json(text: str):
    """json.loads that refuses NaN and Infinity (not JSON, and other tools reject them)."""

    def reject(constant):
        raise ValueError(f"results.json contains {constant}, which is not valid JSON")

    return json.loads(text, parse_constant=reject)


@pytest.fixture(scope="module")
def comparison(tmp_path_factory, corpus_path):
    """``python -m experiments.compare`` for two models and two seeds on the tiny preset."""
    out = tmp_path_factory.mktemp("compare") / "out"
    argv = ["--preset", "tiny", "--iters", "4", "--models", "classical,enhance",
            "--seeds", "0,1", "--data", str(corpus_path), "--out", str(out), "--no-progress",
            "--tensorboard", str(out.parent / "tensorboard")]
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        compare_cli.main(argv)
    results = strict_json((out / "results.json").read_text(encoding="utf-8"))
    return out, results, stdout.getvalue(), stderr.getvalue()


# --- compare -------------------------------------------------------------------------------------


def test_compare_writes_the_report_files(comparison):
    out, _, stdout, stderr = comparison
    names = {p.relative_to(out).as_posix() for p in files_under(out)}
    assert names == {
        "results.md", "results.json", "loss_curves.png", "loss_vs_params.png", "throughput.png",
        *(f"checkpoints/{m}-seed{s}/checkpoint.msgpack"
          for m in ("classical", "enhance") for s in (0, 1)),
        LOCK_NAME,  # the run's lock on the folder, left for the next run to take
    }  # and no leftover temporary files
    assert (out / "loss_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"report: {out / 'results.md'}" in stdout
    assert "classical: train" in stdout and "enhance: train" in stdout
    assert "error" not in stderr.lower()


def read_scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """Scalars of the TensorBoard event files in ``folder`` (TFRecord framing, Event protos)."""
    import struct

    from tensorboardX.proto import event_pb2

    scalars: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(folder.glob("events.out.tfevents.*")):
        data = path.read_bytes()
        position = 0
        while position < len(data):
            (length,) = struct.unpack("<Q", data[position : position + 8])
            event = event_pb2.Event.FromString(data[position + 12 : position + 12 + length])
            position += 12 + length + 4
            for value in event.summary.value:
                scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
    return scalars


def test_tensorboard_event_files_hold_each_runs_metrics(comparison):
    out, results, _, _ = comparison
    for run in results["runs"]:
        scalars = read_scalars(out.parent / "tensorboard" / f"{run['model']}-seed{run['seed']}")
        steps = scalars["train/step_loss"]
        assert [s for s, _ in steps] == list(range(1, len(run["step_losses"]) + 1))
        np.testing.assert_allclose([v for _, v in steps], run["step_losses"], rtol=1e-6)
        assert [s for s, _ in scalars["eval/val_loss"]] == [e["step"] for e in run["evals"]]
        np.testing.assert_allclose([v for _, v in scalars["eval/val_loss"]],
                                   [e["val_loss"] for e in run["evals"]], rtol=1e-6)


def test_results_json_layout(comparison, dataset):
    _, results, _, _ = comparison
    assert {"config", "environment", "runs", "summary", "sample_differences"} <= set(results)
    config = results["config"]
    assert config["preset"] == "tiny"
    assert config["models"] == ["classical", "enhance"] and config["seeds"] == [0, 1]
    assert config["model"]["vocab_size"] == dataset.tokenizer.vocab_size
    assert config["train"]["max_iters"] == 4
    env = results["environment"]
    for name in VERSIONED:
        assert env["versions"][name] == metadata.version(name), name
    assert env["cpu_count"] == os.cpu_count()
    assert env["jax_backend"] == jax.default_backend()


def test_results_json_follows_its_schema(comparison):
    """A real report validates against the JSON Schema shipped in the package."""
    from importlib import resources

    import jsonschema

    _, results, _, _ = comparison
    schema = json.loads(
        resources.files("qgpt_jax").joinpath("schemas/results.schema.json").read_text()
    )
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(results, schema)
    assert results["schema_version"] == 4 and results["status"] == "done"
    broken = {**results, "status": "finished"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)
    without_runs_status = {**results, "runs": [{**results["runs"][0], "status": "maybe"}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(without_runs_status, schema)


def test_every_run_is_reported(comparison, tiny_model_config):
    _, results, _, _ = comparison
    runs = results["runs"]
    assert [(r["model"], r["seed"]) for r in runs] == [
        ("classical", 0), ("classical", 1), ("enhance", 0), ("enhance", 1)]
    for run in runs:
        assert RUN_FIELDS <= set(run), run["model"]
        assert run["iters"] == 4
        for key in ("train_loss", "val_loss"):
            assert isinstance(run[key], float) and 0 < run[key] < 10
        for key in ("tokens_per_s", "compile_s", "wall_s", "cpu_s", "peak_rss_mb"):
            assert run[key] > 0, key
        assert run["sample"].startswith("\n") and len(run["sample"]) == 1 + 120
        assert [e["step"] for e in run["evals"]] == [0, 4]
        assert len(run["step_losses"]) == 4
    for run in runs:
        config = dataclasses.replace(tiny_model_config, attention=run["model"])
        expected = count_params(jax.eval_shape(lambda c=config: init(c, jax.random.key(0))))
        assert run["params"] == expected
    for run in runs[2:]:
        assert run["device"] == "default.qubit" and run["n_qubits"] == 4
        assert run["circuit_executions"]["default.qubit"] == 640  # see test_train
    assert runs[0]["train_loss"] != runs[1]["train_loss"]  # the seeds differ


def test_summary_and_sample_differences(comparison):
    _, results, _, _ = comparison
    runs = results["runs"]
    summary = {entry["model"]: entry for entry in results["summary"]}
    assert list(summary) == ["classical", "enhance"]
    mean = (runs[0]["val_loss"] + runs[1]["val_loss"]) / 2
    assert summary["classical"]["n_seeds"] == 2
    assert math.isclose(summary["classical"]["val_loss_mean"], mean, rel_tol=1e-9)
    low, high = summary["classical"]["val_loss_ci95"]
    assert low < mean < high
    (comparison,) = summary["enhance"]["comparisons"]  # paired with classical, seed by seed
    assert comparison["control"] == "classical" and comparison["seeds"] == [0, 1]
    differences = [
        next(r["val_loss"] for r in runs if r["model"] == "enhance" and r["seed"] == s)
        - next(r["val_loss"] for r in runs if r["model"] == "classical" and r["seed"] == s)
        for s in (0, 1)
    ]
    assert comparison["differences"] == pytest.approx(differences)
    assert comparison["p_holm"] == comparison["p_value"]  # one test: nothing to adjust
    assert "enhance against classical (2 paired seeds)" in results["conclusion"]
    assert "not answered by this run" in results["conclusion"]  # no surrogate, no matched control
    diffs = results["sample_differences"]
    assert [(d["a"], d["b"], d["seed"]) for d in diffs] == [
        ("classical", "enhance", 0), ("classical", "enhance", 1)]
    for d in diffs:
        a = next(r for r in runs if r["model"] == "classical" and r["seed"] == d["seed"])
        b = next(r for r in runs if r["model"] == "enhance" and r["seed"] == d["seed"])
        hamming = sum(x != y for x, y in zip(a["sample"], b["sample"], strict=True))
        assert d["compared_tokens"] == 121 and d["hamming"] == hamming
        assert math.isclose(d["agreement"], (121 - hamming) / 121)
        assert 0 <= d["jaccard"] <= 1 and d["levenshtein"] <= hamming


def test_results_md(comparison):
    out, results, _, _ = comparison
    text = (out / "results.md").read_text(encoding="utf-8")
    assert text.startswith("# qgpt-jax comparison")
    assert "Preset `tiny`" in text and "2 seeds (0, 1)" in text
    assert "| classical |" in text and "| enhance |" in text
    assert "### Quantum runs" in text and "| enhance | 0 | default.qubit | 4 | exact |" in text
    assert "![loss curves](loss_curves.png)" in text
    assert "## How the samples differ" in text
    for run in results["runs"]:
        assert run["sample"] in text


def test_compare_matches_the_library(comparison, tiny_model_config, tiny_train_config, dataset):
    """The command line builds the same configs as the library presets: same losses."""
    _, results, _, _ = comparison
    direct = train_seeds(tiny_model_config, tiny_train_config, [0, 1], dataset, progress=False)
    for run, result in zip(results["runs"][:2], direct, strict=True):
        assert run["step_losses"] == result.step_losses
        assert run["evals"] == result.evals


def test_checkpoints_load(comparison, dataset):
    out, results, _, _ = comparison
    for run in results["runs"]:
        folder = out / "checkpoints" / f"{run['model']}-seed{run['seed']}"
        config, params, tokenizer = load_checkpoint(folder)
        assert config.attention == run["model"]
        assert tokenizer == dataset.tokenizer
        assert count_params(params) == run["params"]
        assert load_metadata(folder)["seed"] == run["seed"]
        # The reported sample is the checkpoint's greedy continuation of a newline.
        tokens = generate(config, params, tokenizer.encode("\n"), 20)
        assert run["sample"].startswith(tokenizer.decode(tokens))


def test_zero_iterations_write_strict_json(tmp_path, corpus_path):
    """``max_iters=0`` is a valid config (an untrained baseline); its report must still be JSON."""
    out = tmp_path / "out"
    with contextlib.redirect_stdout(io.StringIO()):
        compare_cli.main(["--preset", "tiny", "--iters", "0", "--models", "classical",
                          "--seeds", "0", "--data", str(corpus_path), "--out", str(out),
                          "--no-progress"])
    results = strict_json((out / "results.json").read_text(encoding="utf-8"))
    assert results["runs"][0]["iters"] == 0
    assert [e["step"] for e in results["runs"][0]["evals"]] == [0]


# --- noise at inference --------------------------------------------------------------------------


def test_noise_reports_a_checkpoint_on_every_setting(comparison, corpus_path, tmp_path, capsys):
    from experiments import noise as noise_cli

    out, results, _, _ = comparison
    checkpoint = out / "checkpoints" / "enhance-seed0"
    report = tmp_path / "noise.json"
    noise_cli.main(["--checkpoint", str(checkpoint), "--preset", "tiny", "--eval-iters", "2",
                    "--data", str(corpus_path), "--json", str(report),
                    "--on", "default.qubit", "--on", "aer", "--on", "aer:shots=64,noise=manila"])
    rows = strict_json(report.read_text(encoding="utf-8"))["rows"]
    assert [(r["device"], r["shots"], r["noise"]) for r in rows] == [
        ("default.qubit", None, None), ("aer", None, None), ("aer", 64, "manila")]
    exact, aer, noisy = rows
    assert aer["val_loss"] == pytest.approx(exact["val_loss"], abs=1e-5)
    assert noisy["val_loss"] != pytest.approx(exact["val_loss"], abs=1e-5)
    config, _, _ = load_checkpoint(checkpoint)
    per_forward = circuits_per_forward(config, 2, config.block_size)  # tiny: batch 2
    assert exact["circuit_executions"] == aer["circuit_executions"] == per_forward * 2 * 2
    # The same batches as compare's final estimate when eval_iters match.
    printed = capsys.readouterr().out
    assert "manila" in printed and f"{noisy['val_loss']:.4f}" in printed


@pytest.mark.parametrize("extra, expected", [
    (["--on", "aer:shots=lots"], "cannot read the device setting 'aer:shots=lots'"),
    (["--on", "braket.local"], "unknown quantum device 'braket.local'"),
    (["--on", "default.qubit:shots=10"], "computes exact expectation values"),
])
def test_noise_bad_settings(comparison, capfd, extra, expected):
    from experiments import noise as noise_cli

    out, _, _, _ = comparison
    with pytest.raises(SystemExit) as exc:
        noise_cli.main(["--checkpoint", str(out / "checkpoints" / "enhance-seed0"), *extra])
    assert exc.value.code == 2
    err = capfd.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expected in err


def test_noise_refuses_a_classical_checkpoint(comparison, capfd):
    from experiments import noise as noise_cli

    out, _, _, _ = comparison
    with pytest.raises(SystemExit) as exc:
        noise_cli.main(["--checkpoint", str(out / "checkpoints" / "classical-seed0")])
    assert exc.value.code == 2 and "runs no circuit" in capfd.readouterr().err


def test_noise_on_ibm_runtime_fake_backends_records_jobs(comparison, corpus_path, tmp_path,
                                                         capsys):
    """A trained enhance checkpoint through Runtime's local testing mode on two fake backends:
    every call is one job of one PUB, the job ids land in the report, and the loss is that of
    Aer with the same backend's noise model within shot noise."""
    from experiments import noise as noise_cli

    out, _, _, _ = comparison
    report = tmp_path / "runtime.json"
    noise_cli.main(["--checkpoint", str(out / "checkpoints" / "enhance-seed0"), "--preset", "tiny",
                    "--eval-iters", "2", "--data", str(corpus_path), "--json", str(report),
                    "--on", "ibm.runtime:shots=2000,backend=fake_manila",
                    "--on", "aer:shots=2000,noise=manila",
                    "--on", "ibm.runtime:shots=2000,backend=fake_nairobi",
                    "--on", "aer:shots=2000,noise=nairobi"])
    rows = strict_json(report.read_text(encoding="utf-8"))["rows"]
    printed = capsys.readouterr().out
    for runtime_row, aer_row in (rows[:2], rows[2:]):
        submitted = runtime_row["ibm_runtime"]
        assert submitted["local_testing"] and submitted["jobs"] == submitted["pubs"] > 0
        assert len(set(submitted["job_ids"])) == submitted["jobs"]
        assert submitted["shots"] == runtime_row["circuit_executions"] * 2000
        assert runtime_row["circuit_executions"] == aer_row["circuit_executions"]
        assert "ibm_runtime" not in aer_row
        assert runtime_row["val_loss"] == pytest.approx(aer_row["val_loss"], abs=0.02)
        assert f"IBM Runtime on {submitted['backend']}: {submitted['jobs']:,} jobs" in printed


def test_noise_on_an_ibm_backend_without_an_account_exits_3_without_secrets(
    comparison, corpus_path, capfd, monkeypatch
):
    import qiskit_ibm_runtime

    from experiments import noise as noise_cli
    from qgpt_jax.quantum import ibm_runtime

    token = "a1" * 48

    class NoAccount:
        def __init__(self, *args, **kwargs):
            raise qiskit_ibm_runtime.accounts.AccountNotFoundError(f"no account for {token}")

    monkeypatch.setattr(qiskit_ibm_runtime, "QiskitRuntimeService", NoAccount)
    ibm_runtime.runtime_backend.cache_clear()
    out, _, _, _ = comparison
    with pytest.raises(SystemExit) as exc:
        noise_cli.main([
            "--checkpoint", str(out / "checkpoints" / "enhance-seed0"), "--preset", "tiny",
            "--eval-iters", "1", "--data", str(corpus_path),
            "--on", "ibm.runtime:shots=64,backend=ibm_torino",
        ])
    ibm_runtime.runtime_backend.cache_clear()
    captured = capfd.readouterr()
    assert exc.value.code == 3, captured.err
    assert len(captured.err.strip().splitlines()) == 1 and "save_account" in captured.err
    assert token not in captured.err + captured.out


# --- generate ------------------------------------------------------------------------------------


def test_generate_continues_the_prompt(comparison, capsys):
    """--greedy: the argmax text; by default: sampled at temperature 0.8 over the top 200 (all
    of a small vocabulary), seed 0."""
    out, _, _, _ = comparison
    checkpoint = out / "checkpoints" / "classical-seed0"
    config, params, tokenizer = load_checkpoint(checkpoint)
    prompt = tokenizer.encode("First")
    generate_cli.main(["--checkpoint", str(checkpoint), "--tokens", "10", "--greedy", "First"])
    text = capsys.readouterr().out
    assert text.startswith("First") and text.endswith("\n")
    assert len(text) == len("First") + 10 + 1
    assert text[:-1] == tokenizer.decode(generate(config, params, prompt, 10))
    generate_cli.main(["--checkpoint", str(checkpoint), "--tokens", "10", "First"])
    sampled = generate(config, params, prompt, 10, key=jax.random.key(0), temperature=0.8,
                       top_k=config.vocab_size)
    assert capsys.readouterr().out[:-1] == tokenizer.decode(sampled)
    assert sampled != generate(config, params, prompt, 10)


def test_generate_sampling_is_seeded(comparison, capsys):
    out, _, _, _ = comparison
    checkpoint = str(out / "checkpoints" / "enhance-seed1" / "checkpoint.msgpack")
    argv = ["--checkpoint", checkpoint, "--tokens", "30", "--sample", "--top-k", "5", "All"]
    generate_cli.main([*argv, "--seed", "3"])
    first = capsys.readouterr().out
    generate_cli.main([*argv, "--seed", "3"])
    assert capsys.readouterr().out == first and first.startswith("All")
    generate_cli.main([*argv, "--seed", "4"])
    assert capsys.readouterr().out != first


def test_generate_runs_a_checkpoint_on_another_device(comparison, capsys):
    """Trained on default.qubit, generated on the batched Aer path: the same greedy text."""
    out, _, _, _ = comparison
    checkpoint = str(out / "checkpoints" / "enhance-seed0")
    generate_cli.main(["--checkpoint", checkpoint, "--tokens", "12", "--greedy", "All"])
    here = capsys.readouterr().out
    generate_cli.main(["--checkpoint", checkpoint, "--tokens", "12", "--greedy", "--device", "aer",
                       "All"])
    assert capsys.readouterr().out == here
    generate_cli.main(["--checkpoint", checkpoint, "--tokens", "12", "--device", "aer",
                       "--shots", "64", "--noise", "manila", "All"])
    noisy = capsys.readouterr().out
    assert noisy.startswith("All") and len(noisy) == len(here)


@pytest.mark.parametrize(
    "checkpoint, extra, expected",
    [("classical-seed0", ["--device", "aer"], "classical model; --device only applies"),
     ("enhance-seed0", ["--shots", "10"], "computes exact expectation values"),
     ("enhance-seed0", ["--device", "cirq.simulator"], "unknown quantum device 'cirq.simulator'"),
     ("enhance-seed0", ["--device", "aer", "--noise", "atlantis"], "atlantis")],
    ids=["classical", "shots-on-default-qubit", "unknown-device", "unknown-noise"],
)
def test_generate_device_flags_are_checked(comparison, capfd, checkpoint, extra, expected):
    out, _, _, _ = comparison
    with pytest.raises(SystemExit) as info:
        generate_cli.main(["--checkpoint", str(out / "checkpoints" / checkpoint), *extra, "A"])
    assert info.value.code == 2
    assert expected in assert_one_error_line(capfd, expected)


def test_compare_help_runs_as_a_module():
    proc = subprocess.run([sys.executable, "-m", "experiments.compare", "--help"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "--models" in proc.stdout and "--preset" in proc.stdout and "--n-embd" in proc.stdout


# --- bad input -----------------------------------------------------------------------------------


def assert_one_error_line(capfd, expected: str) -> str:
    captured = capfd.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("error: ") and expected in lines[0], lines[0]
    assert "Traceback" not in captured.err + captured.out
    return lines[0]


def test_generate_out_of_vocabulary_prompt(comparison, capfd):
    out, _, _, _ = comparison
    checkpoint = str(out / "checkpoints" / "classical-seed0")
    with pytest.raises(SystemExit) as info:
        generate_cli.main(["--checkpoint", checkpoint, "--tokens", "3", "Zebra™"])
    assert info.value.code == 2
    line = assert_one_error_line(capfd, "outside the vocabulary")
    assert "'™'" in line


@pytest.mark.parametrize(
    "extra, expected",
    [(["--top-k", "0", "--sample"], "top_k"), (["--temperature", "0", "--sample"], "temperature"),
     (["--tokens", "-1"], "--tokens")],
    ids=["top-k", "temperature", "tokens"],
)
def test_generate_bad_arguments(comparison, capfd, extra, expected):
    out, _, _, _ = comparison
    checkpoint = str(out / "checkpoints" / "classical-seed0")
    with pytest.raises(SystemExit) as info:
        generate_cli.main(["--checkpoint", checkpoint, *extra, "First"])
    assert info.value.code == 2
    assert_one_error_line(capfd, expected)


@pytest.mark.parametrize("what", ["missing", "garbage"])
def test_generate_bad_checkpoint(tmp_path, capfd, what):
    checkpoint = tmp_path / "ckpt"
    if what == "garbage":
        checkpoint.mkdir()
        (checkpoint / "checkpoint.msgpack").write_bytes(b"\xc1 not msgpack at all")
    with pytest.raises(SystemExit) as info:
        generate_cli.main(["--checkpoint", str(checkpoint), "First"])
    assert info.value.code == 2
    assert_one_error_line(capfd, "no checkpoint at" if what == "missing" else "not a qgpt-jax")


def test_resume_reads_a_report_written_before_the_rename(tmp_path, corpus_path, capsys):
    """A results.json whose model is still called "seed" resumes: its finished runs are kept;
    one from before the whole-split estimate (schema 4) resumes with the 20-batch estimate."""
    out = tmp_path / "old"
    compare_cli.main(["--preset", "tiny", "--iters", "2", "--models", "original", "--seeds", "0",
                      "--data", str(corpus_path), "--out", str(out), "--no-progress",
                      "--sample-tokens", "2"])
    report = json.loads((out / "results.json").read_text())
    del report["config"]["train"]["final_eval_tokens"]
    report["config"]["models"] = ["seed"]
    report["config"]["preset"] = "tiny"
    for run in report["runs"]:
        run["model"] = "seed"
    (out / "results.json").write_text(json.dumps(report))
    resumed_args = compare_cli.resumed_arguments(
        compare_cli.build_parser().parse_args(["--resume", str(out)])
    )
    assert resumed_args.final_eval_tokens == 0  # not the tiny preset's 64
    capsys.readouterr()
    compare_cli.main(["--resume", str(out), "--data", str(corpus_path), "--no-progress"])
    assert "done in the earlier run, not retrained" in capsys.readouterr().out
    resumed = json.loads((out / "results.json").read_text())
    assert resumed["status"] == "done"
    assert [r["model"] for r in resumed["runs"]] == ["original"]
    assert resumed["runs"][0]["step_losses"] == report["runs"][0]["step_losses"]


def test_a_resumed_report_keeps_the_command_that_configured_it(
    tmp_path, corpus_path, monkeypatch, capsys
):
    """docs/results.md quotes a report's command: after `--resume OUT` it is still the one
    that chose the models, seeds and preset."""
    out = tmp_path / "run"
    first = ["--preset", "tiny", "--iters", "2", "--models", "classical", "--seeds", "0,1",
             "--seeds-in-parallel", "1", "--data", str(corpus_path), "--out", str(out),
             "--no-progress", "--sample-tokens", "2"]  # fmt: skip
    monkeypatch.setattr(sys, "orig_argv", ["python", "-m", "experiments.compare", *first])
    compare_cli.main(first)
    report = json.loads((out / "results.json").read_text())
    report["runs"] = report["runs"][:1]  # as if killed after the first seed
    (out / "results.json").write_text(json.dumps(report))
    again = ["--resume", str(out), "--data", str(corpus_path), "--no-progress"]
    monkeypatch.setattr(sys, "orig_argv", ["python", "-m", "experiments.compare", *again])
    compare_cli.main(again)
    resumed = json.loads((out / "results.json").read_text())
    assert [r["seed"] for r in resumed["runs"]] == [0, 1]
    assert resumed["environment"]["command"] == report["environment"]["command"]
    assert "--seeds 0,1" in resumed["environment"]["command"]
    assert "--resume" not in resumed["environment"]["command"]
