"""qgpt_jax.checkpoint: round trips, mismatches, garbage, atomic writes."""

from __future__ import annotations

import dataclasses
import errno
import json
import os

import jax
import numpy as np
import pytest
from flax import serialization, traverse_util

import qgpt_jax
from qgpt_jax.checkpoint import FILENAME, load_checkpoint, load_metadata, save_checkpoint
from qgpt_jax.config import ModelConfig
from qgpt_jax.data import CharTokenizer
from qgpt_jax.errors import CheckpointError
from qgpt_jax.model import forward, init
from qgpt_jax.storage import StorageError


@pytest.fixture(scope="module")
def saved_model(tiny_model_config, dataset):
    return tiny_model_config, init(tiny_model_config, jax.random.key(0)), dataset.tokenizer


def assert_trees_equal(a, b):
    flat_a, flat_b = traverse_util.flatten_dict(a), traverse_util.flatten_dict(b)
    assert set(flat_a) == set(flat_b)
    for path in flat_a:
        assert np.shape(flat_a[path]) == np.shape(flat_b[path]), path
        np.testing.assert_array_equal(flat_a[path], flat_b[path], err_msg=str(path))


def test_round_trip_into_a_folder(tmp_path, saved_model):
    config, params, tokenizer = saved_model
    folder = tmp_path / "run" / "checkpoints" / "classical-seed0"
    target = save_checkpoint(folder, config, params, tokenizer, metadata={"seed": 0, "note": "x"})
    assert target == folder / FILENAME and target.is_file()
    for path in (folder, target):  # the folder or the file itself
        loaded_config, loaded_params, loaded_tokenizer = load_checkpoint(path)
        assert loaded_config == config
        assert loaded_tokenizer == tokenizer
        assert isinstance(loaded_tokenizer, CharTokenizer)
        assert_trees_equal(loaded_params, params)
    assert load_metadata(folder) == {"seed": 0, "note": "x"}
    # The loaded model computes the same logits.
    idx = np.asarray([tokenizer.encode("First C")])
    np.testing.assert_array_equal(forward(config, params, idx),
                                  forward(loaded_config, loaded_params, idx))


def test_top_level_api_round_trip(tmp_path, saved_model):
    config, params, tokenizer = saved_model
    qgpt_jax.save_checkpoint(tmp_path / "ckpt", config, params, tokenizer)
    loaded_config, loaded_params, _ = qgpt_jax.load_checkpoint(tmp_path / "ckpt")
    assert loaded_config == config
    assert_trees_equal(loaded_params, params)
    assert load_metadata(tmp_path / "ckpt") == {}


def test_round_trip_to_a_named_file(tmp_path, saved_model):
    config, params, tokenizer = saved_model
    target = save_checkpoint(tmp_path / "model.msgpack", config, params, tokenizer)
    assert target == tmp_path / "model.msgpack"
    assert load_checkpoint(target)[0] == config


def test_quantum_config_round_trips(tmp_path, tiny_model_config, dataset):
    config = dataclasses.replace(tiny_model_config, attention="enhance", n_qubits=3)
    shapes = jax.eval_shape(lambda: init(config, jax.random.key(0)))
    rng = np.random.default_rng(0)
    params = jax.tree_util.tree_map(lambda s: rng.normal(size=s.shape).astype(s.dtype), shapes)
    save_checkpoint(tmp_path, config, params, dataset.tokenizer)
    loaded_config, loaded_params, _ = load_checkpoint(tmp_path)
    assert loaded_config == config
    assert (loaded_config.attention, loaded_config.n_qubits, loaded_config.shots) == (
        "enhance", 3, None)
    assert_trees_equal(loaded_params, params)


def test_load_with_an_explicit_matching_config(tmp_path, saved_model):
    config, params, tokenizer = saved_model
    save_checkpoint(tmp_path, config, params, tokenizer)
    same_shapes = dataclasses.replace(config, dropout=0.3)
    assert load_checkpoint(tmp_path, config=same_shapes)[0] == same_shapes


@pytest.mark.parametrize(
    "change, expected",
    [(dict(n_layer=2), "missing block_1"),
     (dict(attention="enhance"), "missing block_0/sa/quantum_heads"),
     (dict(n_embd=16), "has shape"),
     (dict(vocab_size=65), "has shape (47,")],
)
def test_mismatching_config_is_explained(tmp_path, saved_model, change, expected):
    config, params, tokenizer = saved_model
    save_checkpoint(tmp_path, config, params, tokenizer)
    other = dataclasses.replace(config, **change)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(tmp_path, config=other)
    message = str(info.value)
    assert "does not match the model config" in message and expected in message
    assert "load it with the config it was saved with" in message


def test_extra_parameters_are_named(tmp_path, saved_model):
    config, params, tokenizer = saved_model
    save_checkpoint(tmp_path, config, params, tokenizer)
    one_head = dataclasses.replace(config, n_head=1)  # same tree, other shapes
    bigger = dataclasses.replace(config, n_layer=2)
    shapes = jax.eval_shape(lambda: init(bigger, jax.random.key(0)))
    zeros = jax.tree_util.tree_map(lambda s: np.zeros(s.shape, s.dtype), shapes)
    save_checkpoint(tmp_path / "deeper", bigger, zeros, tokenizer)
    with pytest.raises(CheckpointError, match="unexpected block_1/"):
        load_checkpoint(tmp_path / "deeper", config=config)
    with pytest.raises(CheckpointError, match="has shape"):
        load_checkpoint(tmp_path, config=one_head)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "nowhere")


@pytest.mark.parametrize(
    "payload",
    [b"\x00\x01garbage\xff" * 10, b"", serialization.msgpack_serialize({"hello": "world"}),
     serialization.msgpack_serialize([1, 2, 3]),
     serialization.msgpack_serialize({"format": "something-else/9"})],
    ids=["bytes", "empty", "other-dict", "list", "other-format"],
)
def test_garbage_files_are_rejected(tmp_path, payload):
    target = tmp_path / FILENAME
    target.write_bytes(payload)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(tmp_path)
    assert str(target) in str(info.value)


def _tagged(**fields) -> bytes:
    """A payload with the right format tag and (by default) well-formed fields."""
    payload = {"format": "qgpt-jax/1", "config": json.dumps({"n_embd": 8, "n_head": 2}),
               "vocab": "ab", "metadata": "{}", "params": {}}
    payload.update(fields)
    return serialization.msgpack_serialize({k: v for k, v in payload.items() if v is not None})


@pytest.mark.parametrize(
    "payload",
    [_tagged(config=None, vocab=None, metadata=None, params=None),
     _tagged(config="{not json"),
     _tagged(config=json.dumps({"n_embd": 8, "n_head": 2, "flux_capacitor": 1})),
     _tagged(config=json.dumps({"n_embd": 8, "n_head": 3})),
     _tagged(params=None)],
    ids=["only-the-tag", "config-not-json", "unknown-config-field", "invalid-config",
         "no-params"],
)
def test_malformed_checkpoint_with_the_right_tag_is_rejected(tmp_path, payload):
    """A damaged or foreign file that carries the format tag is still a CheckpointError (the CLI
    turns only QGPTErrors into one line; anything else is a traceback)."""
    (tmp_path / FILENAME).write_bytes(payload)
    with pytest.raises(CheckpointError, match=str(tmp_path)):
        load_checkpoint(tmp_path)


def test_truncated_checkpoint_is_rejected(tmp_path, saved_model):
    config, params, tokenizer = saved_model
    target = save_checkpoint(tmp_path, config, params, tokenizer)
    target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path)


def test_save_is_atomic(tmp_path, saved_model, monkeypatch):
    config, params, tokenizer = saved_model
    save_checkpoint(tmp_path, config, params, tokenizer)
    assert os.listdir(tmp_path) == [FILENAME]
    # Overwriting keeps one valid file holding the new parameters.
    doubled = jax.tree_util.tree_map(lambda p: 2 * p + 1, params)
    save_checkpoint(tmp_path, config, doubled, tokenizer, metadata={"v": 2})
    assert os.listdir(tmp_path) == [FILENAME]
    assert_trees_equal(load_checkpoint(tmp_path)[1], doubled)
    # A write that fails halfway leaves the previous checkpoint whole and no temporary file.

    def broken_replace(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(StorageError, match="no space left on the device"):
        save_checkpoint(tmp_path, config, params, tokenizer)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == [FILENAME]
    assert_trees_equal(load_checkpoint(tmp_path)[1], doubled)
    assert load_metadata(tmp_path) == {"v": 2}


def test_checkpoint_written_before_the_rename_loads(tmp_path):
    """A checkpoint whose config says attention="seed" (the old name) loads as "original"."""
    config = ModelConfig.from_preset("tiny", attention="original", vocab_size=5)
    params = init(config, jax.random.key(0))
    target = save_checkpoint(tmp_path, config, params, CharTokenizer(tuple("abcde")))
    payload = serialization.msgpack_restore(target.read_bytes())
    old = json.loads(payload["config"])
    old["attention"] = "seed"
    payload["config"] = json.dumps(old)
    target.write_bytes(serialization.msgpack_serialize(payload))
    loaded, _, _ = load_checkpoint(tmp_path)
    assert loaded == config


def test_checkpoint_records_the_device_apart_from_the_architecture(tmp_path):
    config = ModelConfig.from_preset("tiny", attention="enhance", vocab_size=5, device="aer",
                                     shots=128)
    target = save_checkpoint(tmp_path, config, init(config, jax.random.key(0)),
                             CharTokenizer(tuple("abcde")))
    payload = serialization.msgpack_restore(target.read_bytes())
    assert json.loads(payload["config"]) == config.architecture()
    assert json.loads(payload["trained_on"]) == {"device": "aer", "shots": 128, "noise": None,
                                                 "aer_threads": None}
    loaded, _, _ = load_checkpoint(tmp_path)
    assert loaded == config  # runs where it was trained unless told otherwise
    assert loaded.on(device="default.qubit", shots=None).architecture() == config.architecture()
