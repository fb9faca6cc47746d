"""qgpt_jax.engine: seeds as one program, a device mesh and several processes, resuming a killed
run bitwise, and the stop on a non-finite loss."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from qgpt_jax import compile_cache
from qgpt_jax.compile_cache import CacheOutcome
from qgpt_jax.config import ModelConfig, TrainConfig
from qgpt_jax.engine import release_compiled, train, train_seeds
from qgpt_jax.errors import NonFiniteLossError

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("kind", ["classical", "original", "enhance"])
def test_seeds_as_one_program_match_each_seed_alone(kind, tiny_model_config, dataset):
    """Every seed of a vmapped group sees exactly its own batches and dropout masks."""
    mc = dataclasses.replace(tiny_model_config, attention=kind, dropout=0.1)
    # The learning rate of the original preset (tiny's 1e-2 amplifies float rounding chaotically).
    tc = TrainConfig.from_preset("tiny", max_iters=200, eval_interval=100, steps_per_call=50,
                                 learning_rate=1e-3)
    together = train_seeds(mc, tc, [0, 1], dataset, progress=False)
    assert [r.seed for r in together] == [0, 1]
    assert together[0].step_losses != together[1].step_losses
    for run in together:
        alone = train(mc, dataclasses.replace(tc, seed=run.seed), dataset, progress=False)
        assert len(run.step_losses) == len(alone.step_losses) == 200
        np.testing.assert_allclose(run.step_losses, alone.step_losses, atol=1e-5, rtol=0)
        for a, b in zip(run.evals, alone.evals, strict=True):
            assert a["step"] == b["step"]
            np.testing.assert_allclose(
                [a["train_loss"], a["val_loss"]], [b["train_loss"], b["val_loss"]], atol=1e-5
            )
        assert run.circuit_executions == alone.circuit_executions
        assert run.seed_group == [0, 1] and alone.seed_group == [run.seed]
        assert run.tokens_per_s_all_seeds == pytest.approx(2 * run.tokens_per_s)


def test_second_compilation_is_read_from_the_persistent_cache(dataset):
    """The test session's cache (conftest) is on; a model no other test builds compiles once."""
    mc = ModelConfig.from_preset("tiny", n_embd=6, vocab_size=dataset.tokenizer.vocab_size)
    tc = TrainConfig.from_preset("tiny", max_iters=3, eval_interval=3)
    first = train(mc, tc, dataset, progress=False)
    release_compiled()  # forget everything compiled in memory, as a new process would
    second = train(mc, tc, dataset, progress=False)
    assert first.compile_cache is CacheOutcome.MISS and second.compile_cache is CacheOutcome.HIT
    assert first.step_losses == second.step_losses


def test_compile_cache_location(monkeypatch, tmp_path):
    monkeypatch.delenv(compile_cache.ENV_VAR, raising=False)
    assert compile_cache.resolve() == compile_cache.default_location()
    assert compile_cache.resolve(str(tmp_path)) == tmp_path
    monkeypatch.setenv(compile_cache.ENV_VAR, "off")
    assert compile_cache.resolve() is None
    assert compile_cache.resolve(str(tmp_path)) == tmp_path  # the flag wins
    monkeypatch.setenv(compile_cache.ENV_VAR, str(tmp_path / "env"))
    assert compile_cache.resolve() == tmp_path / "env"
    assert compile_cache.resolve("OFF") is None


def test_cache_outcomes_are_recorded_as_the_strings_reports_hold():
    """A run's outcome is a ``CacheOutcome``; results.json records its value, the readable string
    reports have always held, which reads back as the same member (reports from before load)."""
    from importlib import resources

    recorded = ["off", "hit (read)", "miss (compiled)", "not cacheable (host callbacks)",
                "bypassed (profiled run)"]
    assert [outcome.value for outcome in CacheOutcome] == recorded
    assert [CacheOutcome.recorded(value) for value in recorded] == list(CacheOutcome)
    assert CacheOutcome.recorded(None) is None and CacheOutcome.recorded("warm") is None
    assert f"compile 1.0s ({CacheOutcome.MISS})" == "compile 1.0s (miss (compiled))"
    schema = json.loads(
        resources.files("qgpt_jax").joinpath("schemas/results.schema.json").read_text()
    )
    assert schema["$defs"]["RunRecord"]["properties"]["compile_cache"]["enum"] == recorded


@pytest.mark.parametrize("device", ["aer", "lightning.qubit"])
def test_host_device_counts_each_seed_of_a_group(device, dataset):
    """Host devices get every seed's bindings; each run's count is its own share."""
    mc = ModelConfig.from_preset(
        "tiny", attention="enhance", device=device, vocab_size=dataset.tokenizer.vocab_size
    )
    tc = TrainConfig.from_preset("tiny", max_iters=2, eval_interval=2, eval_iters=1,
                                 steps_per_call=2)
    together = train_seeds(mc, tc, [0, 1], dataset, progress=False)
    alone = train(mc, tc, dataset, progress=False)
    np.testing.assert_allclose(together[0].step_losses, alone.step_losses, atol=1e-5)
    assert together[0].circuit_executions[device] == alone.circuit_executions[device] > 0


def test_non_finite_loss_stops_the_run(tiny_model_config, dataset):
    tc = TrainConfig.from_preset("tiny", max_iters=100, learning_rate=1e30, steps_per_call=10)
    with pytest.raises(NonFiniteLossError, match=r"model classical seed 3 became nan at step \d+")\
            as failure:
        train(tiny_model_config, dataclasses.replace(tc, seed=3), dataset, progress=False)
    partial = failure.value.partial
    assert len(partial) == 1 and partial[0].seed == 3
    assert all(np.isfinite(partial[0].step_losses))  # only the good chunks were kept
    assert len(partial[0].step_losses) % 10 == 0 and len(partial[0].step_losses) < 100


def run_module(args, env=None, **kwargs):
    return subprocess.run(
        [sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=600,
        env={**os.environ, **(env or {})}, **kwargs,
    )


def test_compare_exits_4_on_a_non_finite_loss_and_keeps_the_last_good_checkpoint(
    tmp_path, corpus_path
):
    out = tmp_path / "out"
    result = run_module(
        ["-m", "experiments.compare", "--preset", "tiny", "--models", "classical", "--seeds", "0",
         "--iters", "60", "--learning-rate", "1e4", "--ckpt-every", "1",
         "--steps-per-call", "1", "--data", str(corpus_path), "--out", str(out),
         "--no-progress"]
    )  # diverges within a few steps, after the first checkpoints
    assert result.returncode == 4, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: training loss of model classical seed 0 became")
    failed_at = int(re.search(r"at step (\d+)", lines[-1]).group(1))
    assert f"the last good checkpoint (step {failed_at - 1}) stays" in lines[-1]
    assert "Traceback" not in result.stderr
    report = json.loads((out / "results.json").read_text())
    assert report["status"] == "failed"
    assert [r["status"] for r in report["runs"]] == ["failed"]
    state = out / "state" / "classical-seeds0"
    steps = sorted(int(p.name) for p in state.iterdir() if p.name.isdigit())
    assert steps and max(steps) == failed_at - 1  # no checkpoint of a diverged state


def test_resume_after_sigkill_continues_bitwise(tmp_path, corpus_path):
    args = ["-m", "experiments.compare", "--preset", "tiny", "--models", "classical",
            "--seeds", "0,1", "--iters", "20000", "--eval-interval", "5000",
            "--steps-per-call", "50", "--sample-tokens", "4", "--data", str(corpus_path),
            "--no-progress"]
    killed = tmp_path / "killed"
    state = killed / "state" / "classical-seeds0-1"
    process = subprocess.Popen(
        [sys.executable, *args, "--ckpt-every", "100", "--out", str(killed)], cwd=REPO,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if state.is_dir() and any(p.name.isdigit() for p in state.iterdir()):
            break
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, process.stderr.read().decode()
    partial = json.loads((killed / "results.json").read_text())
    assert partial["status"] == "running" and partial["runs"] == []

    resumed = run_module(["-m", "experiments.compare", "--resume", str(killed),
                          "--data", str(corpus_path), "--no-progress"])
    assert resumed.returncode == 0, resumed.stderr
    reference = run_module([*args, "--out", str(tmp_path / "reference")])
    assert reference.returncode == 0, reference.stderr
    after = json.loads((killed / "results.json").read_text())
    expected = json.loads((tmp_path / "reference" / "results.json").read_text())
    assert after["status"] == "done"
    for got, want in zip(after["runs"], expected["runs"], strict=True):
        assert 100 <= got["resumed_from_step"] < 20000
        assert got["step_losses"] == want["step_losses"]  # bitwise: the same floats
        assert got["evals"] == want["evals"]
        assert got["sample"] == want["sample"]


DATA_PARALLEL = textwrap.dedent("""
    import dataclasses, json, sys
    from qgpt_jax.cli import setup_runtime
    setup_runtime()
    from qgpt_jax.config import ModelConfig, TrainConfig
    from qgpt_jax.data import load_dataset
    from qgpt_jax.engine import train_seeds
    from qgpt_jax.errors import ConfigError
    from qgpt_jax.parallel import MeshSpec, make_mesh
    import jax
    dataset = load_dataset(sys.argv[1])
    tc = TrainConfig.from_preset("tiny", max_iters=30, eval_interval=10, batch_size=4)
    out = {"devices": len(jax.devices())}
    for kind in ("classical", "enhance"):
        mc = ModelConfig.from_preset("tiny", attention=kind, dropout=0.1,
                                     vocab_size=dataset.tokenizer.vocab_size)
        one = train_seeds(mc, tc, [0, 1], dataset, progress=False)
        data = train_seeds(mc, tc, [0, 1], dataset, progress=False,
                           mesh=make_mesh(MeshSpec(data=4)))
        both = train_seeds(mc, tc, [0, 1], dataset, progress=False,
                           mesh=make_mesh(MeshSpec(seed=2, data=2)))
        out[kind] = [[r.step_losses for r in runs] for runs in (one, data, both)]
    # Three seeds on a seed axis of two devices: padded to four, the repeat dropped.
    three = train_seeds(mc, tc, [0, 1, 2], dataset, progress=False)
    padded = train_seeds(mc, tc, [0, 1, 2], dataset, progress=False,
                         mesh=make_mesh(MeshSpec(seed=2, data=2)))
    out["padded"] = [[r.seed for r in padded], [r.step_losses for r in three],
                     [r.step_losses for r in padded]]
    try:
        aer = ModelConfig.from_preset("tiny", attention="enhance", device="aer",
                                      vocab_size=dataset.tokenizer.vocab_size)
        train_seeds(aer, tc, [0], dataset, progress=False, mesh=make_mesh(MeshSpec(data=4)))
        out["aer"] = "ran"
    except ConfigError as exc:
        out["aer"] = str(exc)
    try:
        odd = dataclasses.replace(tc, batch_size=6)
        train_seeds(mc, odd, [0], dataset, progress=False, mesh=make_mesh(MeshSpec(data=4)))
    except ConfigError as exc:
        out["odd_batch"] = str(exc)
    print(json.dumps(out))
""")


def test_data_parallel_on_four_devices_matches_one_device(corpus_path):
    result = run_module(
        ["-c", DATA_PARALLEL, str(corpus_path)],
        env={"XLA_FLAGS": "--xla_force_host_platform_device_count=4"},
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["devices"] == 4
    for kind in ("classical", "enhance"):
        one, data, both = out[kind]
        for sharded in (data, both):
            for a, b in zip(one, sharded, strict=True):
                assert len(a) == 30
                np.testing.assert_allclose(a, b, atol=1e-5, rtol=0, err_msg=kind)
    seeds, three, padded = out["padded"]
    assert seeds == [0, 1, 2]
    np.testing.assert_allclose(three, padded, atol=1e-5, rtol=0)
    assert "'aer' runs its circuits in a host callback" in out["aer"]
    assert "batch_size 6 does not divide over the mesh's data axis of 4" in out["odd_batch"]


TWO_PROCESSES = textwrap.dedent("""
    import json, sys
    from qgpt_jax.cli import setup_runtime
    setup_runtime()
    from qgpt_jax.parallel import MeshSpec, initialize_distributed, make_mesh
    initialize_distributed(sys.argv[2], 2, int(sys.argv[3]))
    import jax
    from qgpt_jax.config import ModelConfig, TrainConfig
    from qgpt_jax.data import load_dataset
    from qgpt_jax.engine import train_seeds
    dataset = load_dataset(sys.argv[1])
    mc = ModelConfig.from_preset("tiny", dropout=0.1, vocab_size=dataset.tokenizer.vocab_size)
    tc = TrainConfig.from_preset("tiny", max_iters=20, eval_interval=10, batch_size=4)
    runs = train_seeds(mc, tc, [0], dataset, progress=False, mesh=make_mesh(MeshSpec(data=2)))
    print(json.dumps({"process": jax.process_index(), "devices": len(jax.devices()),
                      "losses": runs[0].step_losses, "evals": runs[0].evals}))
""")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_train_data_parallel_like_one(corpus_path, tiny_model_config, dataset):
    coordinator = f"127.0.0.1:{free_port()}"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", TWO_PROCESSES, str(corpus_path), coordinator, str(i)],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "XLA_FLAGS": ""},  # one CPU device per process
        )
        for i in range(2)
    ]
    outputs = [p.communicate(timeout=600) for p in processes]
    for p, (_, err) in zip(processes, outputs, strict=True):
        assert p.returncode == 0, err
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    assert [r["process"] for r in results] == [0, 1]
    assert all(r["devices"] == 2 for r in results)
    mc = dataclasses.replace(tiny_model_config, dropout=0.1)
    tc = TrainConfig.from_preset("tiny", max_iters=20, eval_interval=10, batch_size=4)
    alone = train(mc, tc, dataset, progress=False)
    for r in results:
        np.testing.assert_allclose(r["losses"], alone.step_losses, atol=1e-5, rtol=0)
        np.testing.assert_allclose([e["val_loss"] for e in r["evals"]],
                                   [e["val_loss"] for e in alone.evals], atol=1e-5)
