"""The tools beside training: benchmark, component evaluation, circuit drawing, profile summary."""

import dataclasses
import json

import jax
import numpy as np
import pytest

from qgpt_jax.attention import KINDS
from qgpt_jax.compile_cache import CacheOutcome
from qgpt_jax.config import ModelConfig, TrainConfig
from qgpt_jax.engine import estimate_losses_of, train
from qgpt_jax.errors import ConfigError
from qgpt_jax.evaluation import evaluate_components
from qgpt_jax.model import init
from qgpt_jax.train import RunKeys


@pytest.fixture(scope="module")
def enhance_config(dataset):
    return ModelConfig.from_preset(
        "tiny", attention="enhance", vocab_size=dataset.tokenizer.vocab_size
    )


def test_bench_writes_one_entry_per_model_and_device(corpus_path, tmp_path, capsys):
    from experiments.bench import main

    main(["--preset", "tiny", "--models", "classical,original", "--devices", "default.qubit,aer",
          "--seconds", "0.01", "--max-steps", "2", "--data", str(corpus_path),
          "--out", str(tmp_path)])
    bench = json.loads((tmp_path / "bench.json").read_text())
    entries = {(e["model"], e["device"]): e for e in bench["entries"]}
    assert set(entries) == {("classical", None), ("original", "default.qubit"), ("original", "aer"),
                            ("raw-aer", "aer")}
    for entry in bench["entries"]:
        assert {"model", "device", "tokens_per_s", "circuit_executions_per_step",
                "circuits_per_s"} <= set(entry)
        # Circuits per second, as each kind of entry derives it: a bare Aer job's bindings over
        # its time; an over-budget estimate's one circuit over its probed time; a trained entry's
        # circuits per step times steps per second (2 x 8 tokens a step): 0 for classical.
        if entry["model"] == "raw-aer":
            expected = entry["bindings"] / entry["seconds"]
        elif entry["steps"] == 0:
            expected = 1 / entry["probe"]["per_circuit_s"]
        else:
            expected = entry["circuit_executions_per_step"] * entry["tokens_per_s"] / (2 * 8)
        assert entry["circuits_per_s"] == pytest.approx(expected, rel=1e-9), entry
        assert (entry["circuits_per_s"] > 0) == (entry["model"] != "classical"), entry
    # tiny preset: 1 layer x 2 original heads x batch 2 circuits forward; parameter shift adds two
    # executions per ansatz angle (12) for each.
    # The host device is timed on one call first; at a 0.01 s budget a step is over it, so the
    # entry is that call's estimate, with the per-circuit time and the same circuit count.
    aer = entries[("original", "aer")]
    assert aer["circuit_executions_per_step"] == 1 * 2 * 2 * (1 + 2 * 12)
    assert aer["over_budget"] and aer["steps"] == 0 and aer["compile_s"] is None
    assert aer["probe"]["per_circuit_s"] > 0 and aer["probe"]["step_s"] > 0.01
    assert aer["tokens_per_s"] == pytest.approx(2 * 8 / aer["probe"]["step_s"])
    assert entries[("original", "default.qubit")]["circuit_executions_per_step"] == 1 * 2 * 2
    classical = entries[("classical", None)]
    assert classical["tokens_per_s"] > 0 and classical["steps"] >= 1  # in-graph: measured
    # XLA's cost analysis of one step, and the rate against the matmul peak of the same process.
    assert classical["flops_per_step"] > 0 and bench["peak"]["flops_per_s"] > 0
    assert classical["peak_fraction"] == pytest.approx(
        classical["flops_per_s"] / bench["peak"]["flops_per_s"]
    )
    assert (tmp_path / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (tmp_path / "bench.md").read_text()
    assert "over budget" in report and "GFLOP/s" in report
    assert "raw-aer" in capsys.readouterr().out


def test_bench_sweep_measures_each_value_and_plots(corpus_path, tmp_path):
    from experiments.bench import main

    main(["--preset", "tiny", "--models", "classical,original", "--devices", "default.qubit",
          "--sweep", "n_qubits=2,3,4", "--seconds", "0.01", "--max-steps", "2",
          "--data", str(corpus_path), "--out", str(tmp_path)])
    bench = json.loads((tmp_path / "bench.json").read_text())
    swept = [(e["model"], e["sweep"]["value"]) for e in bench["entries"]]
    # n_qubits changes no classical model: measured once, a reference level.
    assert swept == [("classical", 2), ("original", 2), ("original", 3), ("original", 4)]
    growth = bench["sweep"]["growth"]["original on default.qubit"]
    assert growth["kind"] == "exponential" and growth["factor_per_unit"] > 0
    assert bench["sweep"]["growth"]["classical"] is None
    assert (tmp_path / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "## Growth" in (tmp_path / "bench.md").read_text()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("n_qubits", "FIELD=V1"),
        ("attention=classical,enhance", "cannot vary"),
        ("n_embd=16,big", "must be numbers"),
        ("preset=original,huge", "unknown preset"),
    ],
)
def test_bad_sweeps_are_config_errors(text, message):
    from qgpt_jax.sweep import Sweep

    with pytest.raises(ConfigError, match=message):
        Sweep.parse(text)


def test_sweep_configs_apply_the_value_last():
    from qgpt_jax.sweep import Sweep

    sweep = Sweep.parse("n_embd=16,32")
    assert sweep.values == (16, 32) and sweep.classical_varies
    mc, tc = sweep.configs(32, "original", {"n_head": 4}, {"batch_size": 3})
    assert (mc.n_embd, mc.n_head, tc.batch_size) == (32, 4, 3)
    mc, tc = Sweep.parse("preset=original,small").configs("small", "original", {}, {})
    assert (mc.n_embd, mc.n_layer, mc.block_size, tc.batch_size) == (128, 4, 64, 32)
    assert not Sweep.parse("n_qubits=4,6").classical_varies


def test_bench_marks_cached_compilations_from_the_recorded_outcome():
    """bench.json records the outcome's string; the report reads it back, old files included."""
    from qgpt_jax.reports.bench import _cached

    assert _cached({"compile_cache": CacheOutcome.HIT.value}) == " (cached)"
    assert _cached({"compile_cache": "hit (read)"}) == " (cached)"  # a bench.json from before
    assert _cached({"compile_cache": CacheOutcome.MISS.value}) == ""
    assert _cached({"compile_cache": None}) == "" and _cached({}) == ""


def _swept(model, device, value, tokens_per_s):
    return {"model": model, "device": device, "sweep": {"field": "x", "value": value},
            "tokens_per_s": tokens_per_s, "over_budget": False}


def test_growth_and_crossovers_of_cost_curves():
    from qgpt_jax.sweep import crossovers, growth

    # Time per token doubling per qubit from the middle point on.
    doubling = [_swept("enhance", "default.qubit", n, 2.0 ** -n) for n in (4, 6, 8, 10)]
    assert growth(doubling, "n_qubits")["factor_per_unit"] == pytest.approx(2.0)
    # tokens/s ~ 1/x^2: time per token grows as x^2.
    square = [_swept("enhance", "default.qubit", x, 1.0 / x**2) for x in (16, 32, 64, 128)]
    assert growth(square, "n_embd")["exponent"] == pytest.approx(2.0)
    flat = [_swept("enhance", "lightning.qubit", n, 2.0 ** -7) for n in (4, 6, 8, 10)]
    (found,) = crossovers(doubling + flat + [_swept("classical", None, 4, 1.0)])
    assert found == {"overtakes": "enhance on lightning.qubit",
                     "overtaken": "enhance on default.qubit", "between": [6, 8]}


def test_evaluate_components(enhance_config, dataset):
    key = jax.random.key(0)
    params = init(enhance_config, RunKeys.from_seed(0).init)  # what a run with seed 0 starts from
    tc = TrainConfig.from_preset("tiny", eval_iters=3)
    result = evaluate_components(enhance_config, tc, params, dataset, key)
    heads = result["heads"]
    assert heads["output_shape"] == heads["input_shape"][:2] + [enhance_config.head_size]
    assert heads["heads"] == ["classical", "enhance", "enhance-surrogate"]
    assert all(d > 0 for d in heads["mean_abs_difference"].values())
    assert all(s > 0 for s in heads["seconds_per_call"].values())
    model = result["model"]
    on, off = model["val_loss"], model["val_loss_off"]
    assert model["eval_batches"] == 3
    assert model["difference"] == pytest.approx(on - off)
    assert model["difference"] != 0
    # Fresh weights predict about uniformly; the quantum-on loss is the engine's estimate.
    assert abs(on - np.log(dataset.tokenizer.vocab_size)) < 0.5
    trained = train(enhance_config, dataclasses.replace(tc, max_iters=0), dataset, progress=False)
    assert on == pytest.approx(trained.evals[-1]["val_loss"], abs=1e-6)


def test_evaluate_components_rejects_a_classical_model(enhance_config, dataset):
    classical = dataclasses.replace(enhance_config, attention="classical")
    params = init(classical, jax.random.key(0))
    with pytest.raises(ConfigError, match="compares a quantum"):
        evaluate_components(classical, TrainConfig(), params, dataset, jax.random.key(0))


@pytest.mark.parametrize("kind", ["qsann", "kernel-surrogate"])
def test_evaluate_components_of_kinds_without_a_switch(kind, enhance_config, dataset):
    config = dataclasses.replace(enhance_config, attention=kind)
    tc = TrainConfig.from_preset("tiny", eval_iters=2)
    # A trained model (the preset's steps, evaluated at 0 and at the end), so that the loss of
    # the parameters given is told apart from an untrained model's.
    run = train(config, dataclasses.replace(tc, eval_interval=tc.max_iters), dataset,
                progress=False)
    result = evaluate_components(config, tc, run.params, dataset, jax.random.key(0))
    assert result["model"]["switch"] is False and "val_loss_off" not in result["model"]
    # The model's own head first, then classical's and its counterpart's differences from it:
    # a surrogate is compared with its quantum kind, a quantum kind with its surrogate.
    counterpart = kind.removesuffix("-surrogate") if kind.endswith("-surrogate") else kind + (
        "-surrogate")
    heads = result["heads"]
    assert heads["heads"] == ["classical", kind, counterpart]
    assert set(heads["mean_abs_difference"]) == {"classical", counterpart}
    assert all(d > 0 for d in heads["mean_abs_difference"].values())
    assert list(heads["seconds_per_call"]) == heads["heads"]
    # The engine's estimate on the batches a seed-0 run evaluates at step 0: of the untrained
    # start it is that run's first evaluation; of the trained parameters it beats a uniform guess,
    # and it is the loss reported.
    untrained, trained = estimate_losses_of(
        config, tc, [init(config, RunKeys.from_seed(0).init), run.params], dataset
    )[:, 1]
    assert untrained == pytest.approx(run.evals[0]["val_loss"], abs=1e-6)
    assert trained < np.log(dataset.tokenizer.vocab_size) < untrained
    assert result["model"]["val_loss"] == pytest.approx(trained, abs=1e-6)


def test_switching_off_enhance_zeroes_only_the_scales(enhance_config):
    params = init(enhance_config, jax.random.key(0))
    off = KINDS["enhance"].switch_off(params)
    heads = off["block_0"]["sa"]["quantum_heads"]
    np.testing.assert_array_equal(heads["quantum_scale"], 0.0)
    np.testing.assert_array_equal(
        heads["circuit_weights"], params["block_0"]["sa"]["quantum_heads"]["circuit_weights"]
    )


def test_draw_circuit_writes_text_and_png(tmp_path, capsys):
    from experiments.draw_circuit import main

    main(["--n-qubits", "3", "--out", str(tmp_path)])
    text = (tmp_path / "quantum_attention_circuit.txt").read_text()
    assert text.count("RY") == 9 and "Z@Z@Z" in text
    png = (tmp_path / "quantum_attention_circuit.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert "RY" in capsys.readouterr().out


def test_profile_summary_names_the_costly_operations(enhance_config, dataset, tmp_path):
    tc = TrainConfig.from_preset("tiny", max_iters=20, eval_interval=10, steps_per_call=10)
    result = train(enhance_config, tc, dataset, progress=False, profile_dir=str(tmp_path))
    profile = result.profile
    # The cache keys programs without their op names: a profiled run compiles its own program.
    assert result.compile_cache is CacheOutcome.BYPASSED
    assert profile["steps"] == 10
    assert profile["op_launches_per_step"] > 10
    top = profile["top"]
    assert top and all(t["us_per_step"] > 0 for t in top)
    # Sorted by time; each share is its time over the total, which the top entries bound.
    assert [t["us_per_step"] for t in top] == sorted((t["us_per_step"] for t in top), reverse=True)
    for t in top:
        assert t["share"] == pytest.approx(t["us_per_step"] / profile["op_us_per_step"])
    assert sum(t["us_per_step"] for t in top) <= profile["op_us_per_step"] * (1 + 1e-9)
    assert list(tmp_path.rglob("*.xplane.pb"))
    # By named part: the parts of the step show up (tiny has no classical heads, and XLA may
    # fuse the loss into the output layer's operations), and they add up to all operations.
    parts = {p["part"]: p for p in profile["parts"]}
    assert {"batch", "embedding", "attention", "heads_enhance", "circuit", "feed_forward",
            "output", "optimizer"} <= set(parts)
    assert all(p["us_per_step"] > 0 for p in parts.values())
    assert sum(p["us_per_step"] for p in parts.values()) == pytest.approx(
        profile["op_us_per_step"]
    )
    assert profile["host"] == []  # default.qubit runs in the graph


def test_profile_times_the_host_work_of_a_callback_device(dataset, tmp_path):
    config = ModelConfig.from_preset(
        "tiny", attention="original", device="aer", vocab_size=dataset.tokenizer.vocab_size
    )
    tc = TrainConfig.from_preset("tiny", max_iters=4, eval_interval=2, steps_per_call=2,
                                 eval_iters=1)
    profile = train(config, tc, dataset, progress=False, profile_dir=str(tmp_path)).profile
    host = {h["work"]: h for h in profile["host"]}
    assert {"aer bind", "aer submit", "aer simulate", "aer read results"} <= set(host)
    # One forward and one gradient job per step (the tiny model has one layer).
    assert host["aer simulate"]["calls_per_step"] == pytest.approx(2)
    circuit = next(p for p in profile["parts"] if p["part"] == "circuit")
    # The callback that runs the jobs is the circuit's time, and holds the host's work.
    assert circuit["share"] > 0.5
    assert circuit["us_per_step"] >= host["aer simulate"]["us_per_step"]


@pytest.mark.parametrize(
    ("op_name", "part"),
    [
        ("jit(f)/while/body/transpose(jvp(GPT))/block_0/attention/sa/heads_qsann/vmap(q)/circuit/"
         "dot", "circuit"),
        ("jit(f)/while/body/jvp(GPT)/block_1/attention/sa/heads_classical/mul", "heads_classical"),
        ("jit(f)/while/body/jvp(GPT)/block_1/attention/sa/proj/dot", "attention"),
        ("jit(f)/while/body/optimizer/add", "optimizer"),
        ("jit(f)/while/body/vmap(jit(_threefry_fold_in))/xor", "other (step keys, loop)"),
    ],
)
def test_part_of_names_the_innermost_part(op_name, part):
    from qgpt_jax.profiling import part_of

    assert part_of(op_name) == part


@pytest.mark.parametrize("kind", ["original", "enhance"])
def test_hardware_estimate_matches_what_the_batched_aer_path_ran(kind, dataset):
    from qgpt_jax.compare import qpu_cost
    from qgpt_jax.train import final_sweeps

    config = ModelConfig.from_preset(
        "tiny", attention=kind, device="aer", vocab_size=dataset.tokenizer.vocab_size
    )
    tc = TrainConfig.from_preset("tiny", max_iters=3, eval_interval=2, eval_iters=1,
                                 steps_per_call=1)
    result = train(config, tc, dataset, progress=False)
    splits = (dataset.n_train, len(dataset.tokens) - dataset.n_train)
    estimate = qpu_cost(config, tc, final_sweeps(tc, config.block_size, splits))
    assert final_sweeps(tc, config.block_size, splits) == 8 // 2  # 8 windows, 2 per call
    assert result.circuit_executions["aer"] == estimate["executions_per_run"]


def test_gpu_script_dry_mode_runs_every_step(corpus_path, tmp_path):
    """scripts/gpu.sh --dry: the GPU run's three benches at CPU sizes and their page, so that the
    script a GPU session runs once cannot rot unnoticed."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "gpu"
    env = {**os.environ, "QGPT_DATA": str(corpus_path), "PYTHON": sys.executable,
           "QGPT_WHEELS": str(tmp_path / "no-wheels")}
    done = subprocess.run(["bash", str(root / "scripts" / "gpu.sh"), "--dry", str(out)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    benches = {name: json.loads((out / name / "bench.json").read_text())
               for name in ("sizes", "seeds", "qubits")}
    assert len(benches["sizes"]["entries"]) == 4  # classical and enhance at two presets
    assert {e["seeds"] for e in benches["seeds"]["entries"]} == {2}
    assert len(benches["qubits"]["entries"]) == 2  # enhance at two qubit counts
    page = (out / "gpu.md").read_text()
    assert page.count("## Benchmark") == 3, page
    assert "done in" in done.stdout
