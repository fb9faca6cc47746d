"""The tools beside training: benchmark, component evaluation, circuit drawing, profile summary."""

import dataclasses
import json

import jax
import numpy as np
import pytest

from qgpt_jax.attention import KINDS
from qgpt_jax.config import ModelConfig, TrainConfig
from qgpt_jax.engine import train
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
        assert entry["circuits_per_s"] >= 0
    # tiny preset: 1 layer x 2 seed heads x batch 2 circuits forward; parameter shift adds two
    # executions per ansatz angle (12) for each.
    assert entries[("original", "aer")]["circuit_executions_per_step"] == 1 * 2 * 2 * (1 + 2 * 12)
    assert entries[("original", "default.qubit")]["circuit_executions_per_step"] == 1 * 2 * 2
    assert entries[("classical", None)]["tokens_per_s"] > 0
    assert (tmp_path / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "raw-aer" in capsys.readouterr().out


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
    assert on == pytest.approx(trained.final["val_loss"], abs=1e-6)


def test_evaluate_components_rejects_a_classical_model(enhance_config, dataset):
    classical = dataclasses.replace(enhance_config, attention="classical")
    params = init(classical, jax.random.key(0))
    with pytest.raises(ConfigError, match="compares a quantum"):
        evaluate_components(classical, TrainConfig(), params, dataset, jax.random.key(0))


@pytest.mark.parametrize("kind", ["qsann", "kernel-surrogate"])
def test_evaluate_components_of_kinds_without_a_switch(kind, enhance_config, dataset):
    config = dataclasses.replace(enhance_config, attention=kind)
    params = init(config, jax.random.key(0))
    tc = TrainConfig.from_preset("tiny", eval_iters=2)
    result = evaluate_components(config, tc, params, dataset, jax.random.key(0))
    assert result["model"]["switch"] is False and "val_loss_off" not in result["model"]
    assert set(result["heads"]["heads"]) == {"classical", "qsann", "qsann-surrogate"} or set(
        result["heads"]["heads"]
    ) == {"classical", "kernel", "kernel-surrogate"}
    assert abs(result["model"]["val_loss"] - np.log(dataset.tokenizer.vocab_size)) < 1.0


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
    assert profile["steps"] == 10
    assert profile["op_launches_per_step"] > 10
    top = profile["top"]
    assert top and all(t["us_per_step"] > 0 for t in top)
    # Sorted by time; each share is its time over the total, which the top entries bound.
    assert [t["us_per_step"] for t in top] == sorted((t["us_per_step"] for t in top), reverse=True)
    for t in top:
        assert t["share"] == pytest.approx(t["us_per_step"] / profile["op_us_per_step"])
    assert sum(t["us_per_step"] for t in top) <= profile["op_us_per_step"] * (1 + 1e-9)
    # The circuit's gate-by-gate simulation shows up: enhance heads on default.qubit.
    assert any("reduce" in t["category"] or "pad" in t["category"] for t in top)
    assert list(tmp_path.rglob("*.xplane.pb"))


@pytest.mark.parametrize("kind", ["original", "enhance"])
def test_hardware_estimate_matches_what_the_batched_aer_path_ran(kind, dataset):
    from qgpt_jax.quantum.resources import hardware_estimate

    config = ModelConfig.from_preset(
        "tiny", attention=kind, device="aer", vocab_size=dataset.tokenizer.vocab_size
    )
    tc = TrainConfig.from_preset("tiny", max_iters=3, eval_interval=2, eval_iters=1,
                                 steps_per_call=1)
    result = train(config, tc, dataset, progress=False)
    estimate = hardware_estimate(config, tc)
    assert result.circuit_executions["aer"] == estimate["executions_per_run"]
