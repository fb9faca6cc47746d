"""Whole quantum models agree across devices, and a failing quantum head stops the run."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qgpt_jax.config import DeviceConfig, ModelConfig, TrainConfig
from qgpt_jax.engine import train
from qgpt_jax.errors import QuantumExecutionError
from qgpt_jax.model import GPT, init
from qgpt_jax.quantum.aer import BatchedAerCircuit
from qgpt_jax.train import cross_entropy

# Small enough for pennylane-qiskit's per-circuit overhead: 2 qubits, 2 positions, 1 sequence.
TINY = dict(vocab_size=11, n_embd=8, n_head=2, n_layer=1, block_size=2, dropout=0.0, n_qubits=2)


def loss_and_grads(config: ModelConfig, params, idx):
    def loss(p):
        return cross_entropy(GPT(config).apply({"params": p}, idx), idx)

    return jax.jit(jax.value_and_grad(loss))(params)


@pytest.fixture(scope="module", params=["original", "enhance"])
def kind_reference(request):
    config = ModelConfig(attention=request.param, **TINY)
    params = init(config, jax.random.key(0))
    idx = jnp.array([[3, 7]], dtype=jnp.int32)
    return config, params, idx, loss_and_grads(config, params, idx)


@pytest.mark.parametrize("device", ["aer", "qgpt.aer", "qiskit.aer", "lightning.qubit"])
def test_models_agree_across_devices(kind_reference, device):
    config, params, idx, (ref_loss, ref_grads) = kind_reference
    other = config.on(device=device)
    logits = jax.jit(lambda p: GPT(other).apply({"params": p}, idx))(params)
    ref_logits = GPT(config).apply({"params": params}, idx)
    np.testing.assert_allclose(logits, ref_logits, atol=1e-5)
    loss, grads = loss_and_grads(other, params, idx)
    np.testing.assert_allclose(loss, ref_loss, atol=1e-5)
    jax.tree_util.tree_map(
        lambda g, r: np.testing.assert_allclose(g, r, atol=1e-4), grads, ref_grads
    )
    # The circuit really contributes: its weights get a gradient.
    assert np.abs(grads["block_0"]["sa"]["quantum_heads"]["circuit_weights"]).max() > 1e-6


def exploding_run(self, program, bindings):
    raise QuantumExecutionError("Aer job failed: simulator exploded")


def test_failing_quantum_head_stops_the_run(monkeypatch, dataset):
    config = ModelConfig(
        **{**TINY, "vocab_size": dataset.tokenizer.vocab_size, "block_size": 4, "n_qubits": 3},
        attention="enhance", quantum_device=DeviceConfig("aer"),
    )
    monkeypatch.setattr(BatchedAerCircuit, "run", exploding_run)
    tc = TrainConfig.from_preset("tiny", max_iters=2, eval_interval=2, steps_per_call=1)
    with pytest.raises(QuantumExecutionError, match="device 'aer'.*simulator exploded"):
        train(config, tc, dataset, progress=False)


def test_cli_reports_a_failing_device_in_one_line(monkeypatch, corpus_path, tmp_path, capsys):
    from experiments.compare import main

    monkeypatch.setattr(BatchedAerCircuit, "run", exploding_run)
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        main(["--preset", "tiny", "--iters", "2", "--models", "enhance", "--device", "aer",
              "--data", str(corpus_path), "--out", str(out), "--no-progress"])
    assert exit_info.value.code == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: quantum head failed on device 'aer'")
    assert "simulator exploded" in err[0] and "Traceback" not in err[0]
    results = json.loads((out / "results.json").read_text())
    assert results["status"] == "failed" and results["runs"] == []
