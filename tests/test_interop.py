"""Importing PyTorch checkpoints of the original project (``qgpt_jax.interop``).

The reference below is a PyTorch model written from the original's description, with exactly the
original's state-dict key names; its quantum head evaluates the circuit with Qiskit's own library
circuits and ``Statevector``, so agreement does not depend on our circuit code.
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import jax.numpy as jnp  # noqa: E402
from qiskit.circuit.library import real_amplitudes, zz_feature_map  # noqa: E402
from qiskit.quantum_info import SparsePauliOp, Statevector  # noqa: E402

from experiments.import_original import main as import_main  # noqa: E402
from qgpt_jax.checkpoint import load_checkpoint, load_metadata  # noqa: E402
from qgpt_jax.errors import CheckpointError  # noqa: E402
from qgpt_jax.interop import load_original_checkpoint, load_original_vocabulary  # noqa: E402
from qgpt_jax.model import forward  # noqa: E402

VOCAB = 65
CHARS = "\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
N_QUBITS = 4


def qiskit_parity(angles: np.ndarray, weights: np.ndarray) -> float:
    """<Z...Z> of the original's circuit, computed by Qiskit itself."""
    n = len(angles)
    feature_map = zz_feature_map(n, reps=1, entanglement="circular")
    ansatz = real_amplitudes(n, reps=2, entanglement="circular")
    values = dict(zip(feature_map.parameters, angles.tolist(), strict=True))
    values.update(zip(ansatz.parameters, weights.tolist(), strict=True))
    circuit = feature_map.compose(ansatz).assign_parameters(values)
    return float(np.real(Statevector(circuit).expectation_value(SparsePauliOp("Z" * n))))


class Head(nn.Module):
    def __init__(self, n_embd, head_size, block_size):
        super().__init__()
        self.key = nn.Linear(n_embd, head_size, bias=False)
        self.query = nn.Linear(n_embd, head_size, bias=False)
        self.value = nn.Linear(n_embd, head_size, bias=False)
        self.register_buffer("tril", torch.tril(torch.ones(block_size, block_size)))

    def attention(self, x):
        B, T, C = x.shape
        k, q, v = self.key(x), self.query(x), self.value(x)
        wei = q @ k.transpose(-2, -1) * C**-0.5
        wei = wei.masked_fill(self.tril[:T, :T] == 0, float("-inf")).softmax(dim=-1)
        return wei, q, v

    def forward(self, x):
        wei, _, v = self.attention(x)
        return wei @ v


class CircuitWeights(nn.Module):
    """Stands in for the original's TorchConnector: one parameter saved under two names."""

    def __init__(self, n_weights):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_weights))
        self.register_parameter("_weights", self.weight)


class QuantumHead(Head):
    def __init__(self, n_embd, head_size, block_size, n_qubits):
        super().__init__(n_embd, head_size, block_size)
        self.n_qubits = n_qubits
        self.quantum_scale = nn.Parameter(torch.randn(()))
        self.quantum_attention_network = CircuitWeights(3 * n_qubits)

    def forward(self, x):
        wei, q, v = self.attention(x)
        if x.shape[1] >= self.n_qubits:
            angles = torch.tanh(q[:, : self.n_qubits, :].mean(-1)).detach().double().numpy()
            weights = self.quantum_attention_network.weight.detach().double().numpy()
            z = torch.tensor([qiskit_parity(a, weights) for a in angles])
            wei = wei + torch.sigmoid(z.mean()).float() * self.quantum_scale
        return wei @ v


class MultiHead(nn.Module):
    def __init__(self, n_embd, n_head, block_size, quantum):
        super().__init__()
        hs = n_embd // n_head
        if quantum:
            n_quantum = min(n_head, 2)
            self.quantum_heads = nn.ModuleList(
                QuantumHead(n_embd, hs, block_size, N_QUBITS) for _ in range(n_quantum)
            )
            self.classical_heads = nn.ModuleList(
                Head(n_embd, hs, block_size) for _ in range(n_head - n_quantum)
            )
            self.all_heads = [*self.quantum_heads, *self.classical_heads]
        else:
            self.heads = nn.ModuleList(Head(n_embd, hs, block_size) for _ in range(n_head))
            self.all_heads = list(self.heads)
        self.proj = nn.Linear(n_embd, n_embd)

    def forward(self, x):
        return self.proj(torch.cat([head(x) for head in self.all_heads], dim=-1))


class Block(nn.Module):
    def __init__(self, n_embd, n_head, block_size, quantum):
        super().__init__()
        self.sa = MultiHead(n_embd, n_head, block_size, quantum)
        self.ffwd = nn.Module()
        self.ffwd.net = nn.Sequential(
            nn.Linear(n_embd, 4 * n_embd), nn.ReLU(), nn.Linear(4 * n_embd, n_embd)
        )
        self.ln1 = nn.LayerNorm(n_embd)
        self.ln2 = nn.LayerNorm(n_embd)

    def forward(self, x):
        x = x + self.sa(self.ln1(x))
        return x + self.ffwd.net(self.ln2(x))


class OriginalGPT(nn.Module):
    def __init__(self, n_embd, n_head, n_layer, block_size, quantum):
        super().__init__()
        self.token_embedding_table = nn.Embedding(VOCAB, n_embd)
        self.position_embedding_table = nn.Embedding(block_size, n_embd)
        self.blocks = nn.Sequential(
            *(Block(n_embd, n_head, block_size, quantum) for _ in range(n_layer))
        )
        self.ln_f = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, VOCAB)

    def forward(self, idx):
        T = idx.shape[1]
        x = self.token_embedding_table(idx) + self.position_embedding_table(torch.arange(T))
        return self.lm_head(self.ln_f(self.blocks(x)))


def make_original(tmp_path, quantum: bool, n_head: int = 2, meta_extra=None, seed: int = 0):
    """A randomly initialised reference model, saved as the original saves its checkpoints."""
    torch.manual_seed(seed)
    dims = dict(n_embd=16, n_head=n_head, n_layer=2, block_size=8)
    model = OriginalGPT(**dims, quantum=quantum).eval()
    with torch.no_grad():  # LayerNorms start at (1, 0); perturb them so a swap would show
        for name, p in model.named_parameters():
            if ".ln" in name or name.startswith("ln_f"):
                p.add_(0.1 * torch.randn_like(p))
    meta = {**dims, "dropout": 0.1, **(meta_extra or {})}
    path = tmp_path / ("quantum.pt" if quantum else "classical.pt")
    torch.save(
        {
            "model_state_dict": model.state_dict(),
            "vocab_size": VOCAB,
            "model_type": "quantum" if quantum else "classical",
            "meta": meta,
        },
        path,
    )
    return model, path


@pytest.mark.parametrize(
    ("quantum", "n_head"),
    [(False, 2), (False, 4), (True, 2), (True, 4)],
    ids=["classical", "classical-4heads", "quantum", "quantum-4heads"],
)
def test_imported_logits_match_pytorch(tmp_path, quantum, n_head):
    model, path = make_original(tmp_path, quantum, n_head)
    config, params = load_original_checkpoint(path)
    assert config.attention == ("original" if quantum else "classical")
    assert (config.n_head, config.n_layer, config.vocab_size) == (n_head, 2, VOCAB)
    generator = torch.Generator().manual_seed(1)
    idx = torch.randint(0, VOCAB, (3, config.block_size), generator=generator)
    with torch.no_grad():
        expected = model(idx).numpy()
    got = np.asarray(forward(config, params, jnp.asarray(idx.numpy(), dtype=jnp.int32)))
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)


def test_quantum_heads_contribute(tmp_path):
    """Guards the parity test: with the circuit term removed the logits must differ."""
    model, path = make_original(tmp_path, quantum=True)
    config, params = load_original_checkpoint(path)
    for block in ("block_0", "block_1"):
        params[block]["sa"]["quantum_heads"]["quantum_scale"] = np.zeros(2, np.float32)
    generator = torch.Generator().manual_seed(2)
    idx = torch.randint(0, VOCAB, (2, config.block_size), generator=generator)
    with torch.no_grad():
        expected = model(idx).numpy()
    got = np.asarray(forward(config, params, jnp.asarray(idx.numpy(), dtype=jnp.int32)))
    assert np.abs(got - expected).max() > 1e-3


def test_missing_key_is_named(tmp_path):
    _, path = make_original(tmp_path, quantum=True)
    payload = torch.load(path, weights_only=False)
    del payload["model_state_dict"]["blocks.1.sa.quantum_heads.0.quantum_scale"]
    torch.save(payload, path)
    key = r"blocks\.1\.sa\.quantum_heads\.0\.quantum_scale"
    with pytest.raises(CheckpointError, match=f"missing {key}"):
        load_original_checkpoint(path)


def test_wrong_shape_and_unknown_model_type(tmp_path):
    _, path = make_original(tmp_path, quantum=False)
    payload = torch.load(path, weights_only=False)
    payload["meta"]["n_embd"] = 32
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="token_embedding_table.weight has shape"):
        load_original_checkpoint(path)
    payload["meta"]["n_embd"] = 16
    payload["model_type"] = "hybrid"
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="model_type 'hybrid'"):
        load_original_checkpoint(path)


def test_not_a_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="no file at"):
        load_original_checkpoint(tmp_path / "absent.pt")
    path = tmp_path / "list.pt"
    torch.save([1, 2, 3], path)
    with pytest.raises(CheckpointError, match="not a dict"):
        load_original_checkpoint(path)
    torch.save({"state_dict": {}}, path)
    with pytest.raises(CheckpointError, match="model_state_dict"):
        load_original_checkpoint(path)


@pytest.mark.parametrize(
    "vocab",
    [{"chars": list(CHARS)}, {"itos": dict(enumerate(CHARS))},
     {"stoi": {c: i for i, c in enumerate(CHARS)}}],
    ids=["chars", "itos", "stoi"],
)
def test_vocabulary_from_meta(tmp_path, vocab):
    _, path = make_original(tmp_path, quantum=False, meta_extra=vocab)
    assert "".join(load_original_vocabulary(path).chars) == CHARS


def test_import_cli_roundtrip(tmp_path, capsys):
    _, path = make_original(tmp_path, quantum=True, meta_extra={"chars": list(CHARS)})
    out = tmp_path / "imported"
    import_main([str(path), "--out", str(out)])
    assert str(out) in capsys.readouterr().out
    config, params = load_original_checkpoint(path)
    saved_config, saved_params, tokenizer = load_checkpoint(out)
    assert saved_config == config
    assert "".join(tokenizer.chars) == CHARS
    np.testing.assert_array_equal(
        saved_params["block_1"]["sa"]["quantum_heads"]["circuit_weights"][1],
        params["block_1"]["sa"]["quantum_heads"]["circuit_weights"][1],
    )
    assert load_metadata(out)["imported_from"] == str(path.resolve())


def test_import_cli_vocabulary_from_data(tmp_path, capsys):
    _, path = make_original(tmp_path, quantum=False)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(CHARS * 3, encoding="utf-8")
    with pytest.raises(SystemExit) as exc:
        import_main([str(path), "--out", str(tmp_path / "a")])
    assert exc.value.code == 2
    assert "--data" in capsys.readouterr().err
    import_main([str(path), "--out", str(tmp_path / "b"), "--data", str(corpus)])
    assert "".join(load_checkpoint(tmp_path / "b")[2].chars) == CHARS
    corpus.write_text(CHARS[:-1] * 3, encoding="utf-8")
    with pytest.raises(SystemExit):
        import_main([str(path), "--out", str(tmp_path / "c"), "--data", str(corpus)])
    assert "vocab_size 65" in capsys.readouterr().err


def test_import_cli_bad_path(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        import_main([str(tmp_path / "absent.pt"), "--out", str(tmp_path / "out")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "absent.pt" in err
    assert len(err.strip().splitlines()) == 1


def test_config_inferred_when_meta_is_missing(tmp_path):
    """Older saves may lack meta or model_type; the weights then say what the model is."""
    _, path = make_original(tmp_path, quantum=True, n_head=4)
    expected, _ = load_original_checkpoint(path)
    payload = torch.load(path, weights_only=False)
    del payload["meta"], payload["model_type"], payload["vocab_size"]
    torch.save(payload, path)
    config, _ = load_original_checkpoint(path)
    assert config == dataclasses.replace(expected, dropout=config.dropout)


def test_missing_torch_names_the_extra(tmp_path, monkeypatch):
    _, path = make_original(tmp_path, quantum=False)
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(CheckpointError, match=r"pip install 'qgpt-jax\[torch\]'"):
        load_original_checkpoint(path)
