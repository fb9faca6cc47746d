"""qgpt_jax.data: corpus lookup and download, validation, tokenizer, split, batches."""

from __future__ import annotations

import hashlib
import io
import os
import urllib.error
import urllib.request
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import qgpt_jax.data as data
from qgpt_jax.data import (
    CORPUS_SHA256,
    ENV_VAR,
    CharTokenizer,
    download_corpus,
    get_batch,
    load_dataset,
    read_corpus,
    resolve_corpus,
)
from qgpt_jax.errors import DataError
from qgpt_jax.storage import atomic_write_bytes

# --- tokenizer -----------------------------------------------------------------------------------


def test_vocabulary_is_the_sorted_character_set():
    tok = CharTokenizer.from_text("hello, world\n")
    assert tok.chars == ("\n", " ", ",", "d", "e", "h", "l", "o", "r", "w")
    assert tok.vocab_size == 10
    assert list(tok.chars) == sorted(tok.chars)


def test_round_trip(corpus_text):
    tok = CharTokenizer.from_text(corpus_text)
    sample = corpus_text[:500]
    ids = tok.encode(sample)
    assert all(isinstance(i, int) and 0 <= i < tok.vocab_size for i in ids)
    assert tok.decode(ids) == sample
    assert tok.decode(np.asarray(ids, dtype=np.int32)) == sample  # arrays decode too


def test_encode_is_the_index_in_the_sorted_vocabulary():
    tok = CharTokenizer.from_text("cab")
    assert tok.encode("abcab") == [0, 1, 2, 0, 1]


def test_unknown_characters_are_named():
    tok = CharTokenizer.from_text("abc")
    with pytest.raises(DataError) as info:
        tok.encode("abzé")
    message = str(info.value)
    assert "'z'" in message and "'é'" in message
    assert "'a'" not in message


# --- dataset and split ---------------------------------------------------------------------------


def test_split_is_90_10(dataset, corpus_text):
    n = len(corpus_text)
    assert dataset.tokens.shape == (n,)
    assert dataset.tokens.dtype == jnp.int32
    assert dataset.n_train == int(0.9 * n)
    assert dataset.bounds("train") == (0, dataset.n_train)
    assert dataset.bounds("val") == (dataset.n_train, n)
    assert dataset.tokenizer.decode(dataset.tokens) == corpus_text


def test_real_or_generated_corpus(real_or_generated_corpus):
    """With ``$QGPT_DATA`` (CI) this checks the real tiny-shakespeare; else the generated text."""
    ds = load_dataset(real_or_generated_corpus, block_size=8)
    raw = Path(real_or_generated_corpus).read_bytes()
    text = raw.decode("utf-8")
    assert int(ds.tokens.shape[0]) == len(text)
    assert ds.n_train == int(0.9 * len(text))
    assert ds.tokenizer == CharTokenizer.from_text(text)
    if os.environ.get(ENV_VAR):
        assert hashlib.sha256(raw).hexdigest() == CORPUS_SHA256
        assert ds.tokenizer.vocab_size == 65  # the original preset's vocab_size
        assert (ds.n_train, int(ds.tokens.shape[0])) == (1_003_854, 1_115_394)


# --- batches -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def counting_tokens():
    return jnp.arange(200, dtype=jnp.int32)  # token value == position


def test_same_key_same_batch(dataset):
    key = jax.random.key(3)
    x1, y1 = get_batch(dataset.tokens, key, 4, 8)
    x2, y2 = get_batch(dataset.tokens, key, 4, 8)
    assert x1.shape == y1.shape == (4, 8)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)


def test_different_key_different_batch(counting_tokens):
    x1, _ = get_batch(counting_tokens, jax.random.key(0), 8, 8)
    x2, _ = get_batch(counting_tokens, jax.random.key(1), 8, 8)
    assert not np.array_equal(x1, x2)


def test_targets_are_inputs_shifted_by_one(dataset):
    x, y = get_batch(dataset.tokens, jax.random.key(5), 6, 8)
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])
    tokens = np.asarray(dataset.tokens)
    for row_x, row_y in zip(np.asarray(x), np.asarray(y), strict=True):
        # Each row is a contiguous window of the corpus and y continues it by one.
        starts = [s for s in range(len(tokens) - 9) if np.array_equal(tokens[s : s + 8], row_x)]
        assert any(np.array_equal(tokens[s + 1 : s + 9], row_y) for s in starts)


@pytest.mark.parametrize("start, stop", [(0, 50), (120, 200), (37, 47)])
def test_windows_stay_inside_the_split(counting_tokens, start, stop):
    for seed in range(5):
        x, y = get_batch(counting_tokens, jax.random.key(seed), 64, 8, start, stop)
        x, y = np.asarray(x), np.asarray(y)
        assert x.min() >= start and y.max() < stop
        np.testing.assert_array_equal(y, x + 1)
        np.testing.assert_array_equal(np.diff(x, axis=1), 1)  # contiguous windows


def test_get_batch_jits_with_traced_bounds(counting_tokens):
    fn = jax.jit(get_batch, static_argnums=(2, 3))
    key = jax.random.key(9)
    x, y = fn(counting_tokens, key, 16, 8, jnp.int32(150), jnp.int32(170))
    assert int(x.min()) >= 150 and int(y.max()) < 170
    x_eager, _ = get_batch(counting_tokens, key, 16, 8, 150, 170)
    np.testing.assert_array_equal(x, x_eager)


# --- corpus lookup -------------------------------------------------------------------------------


@pytest.fixture
def three_corpora(tmp_path, monkeypatch):
    """An explicit file, an env-var file and a cached file; downloads are forbidden."""
    explicit = tmp_path / "explicit.txt"
    env = tmp_path / "env.txt"
    cached = tmp_path / "cache" / "tinyshakespeare.txt"
    cached.parent.mkdir()
    for path in (explicit, env, cached):
        path.write_text(path.stem * 50)

    def no_download(*args, **kwargs):
        raise AssertionError("must not download when a corpus is available")

    monkeypatch.setattr(data, "cache_path", lambda: cached)
    monkeypatch.setattr(data, "download_corpus", no_download)
    monkeypatch.setenv(ENV_VAR, str(env))
    return explicit, env, cached


def test_explicit_path_wins(three_corpora):
    explicit, _, _ = three_corpora
    assert resolve_corpus(explicit) == explicit
    assert resolve_corpus(str(explicit)) == explicit
    assert read_corpus(explicit).startswith("explicit")


def test_env_var_beats_the_cache(three_corpora):
    _, env, _ = three_corpora
    assert resolve_corpus() == env
    assert read_corpus().startswith("env")


def test_cache_is_used_last(three_corpora, monkeypatch):
    _, _, cached = three_corpora
    monkeypatch.delenv(ENV_VAR)
    assert resolve_corpus() == cached
    monkeypatch.setenv(ENV_VAR, "")  # empty counts as unset
    assert resolve_corpus() == cached


def test_missing_cache_downloads_into_it(tmp_path, monkeypatch):
    cached = tmp_path / "cache" / "tinyshakespeare.txt"
    calls = []

    def fake_download(destination):
        calls.append(destination)
        atomic_write_bytes(destination, b"downloaded " * 20)
        return destination

    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setattr(data, "cache_path", lambda: cached)
    monkeypatch.setattr(data, "download_corpus", fake_download)
    assert read_corpus().startswith("downloaded")
    assert calls == [cached]


@pytest.mark.parametrize(
    "failure", [urllib.error.URLError("no network"), TimeoutError("slow"), OSError("refused")]
)
def test_offline_with_no_corpus_names_all_three_ways(tmp_path, monkeypatch, failure):
    cached = tmp_path / "cache" / "tinyshakespeare.txt"

    def failing_download(*args, **kwargs):
        raise failure

    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setattr(data, "cache_path", lambda: cached)
    monkeypatch.setattr(data, "download_corpus", failing_download)
    with pytest.raises(DataError) as info:
        resolve_corpus()
    message = str(info.value)
    assert "--data" in message and ENV_VAR in message and str(cached) in message
    assert "\n" not in message
    assert not cached.exists()


def test_default_cache_path_follows_xdg_cache_home(isolated_cache_home):
    assert data.cache_path() == isolated_cache_home / "qgpt-jax" / "tinyshakespeare.txt"


class FakeResponse(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def test_download_rejects_a_wrong_checksum(tmp_path, monkeypatch):
    destination = tmp_path / "cache" / "tinyshakespeare.txt"
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: FakeResponse(b"not it"))
    with pytest.raises(DataError) as info:
        download_corpus(destination)
    message = str(info.value)
    assert hashlib.sha256(b"not it").hexdigest() in message and CORPUS_SHA256 in message
    assert "--data" in message
    assert not destination.exists()
    assert not destination.parent.exists() or not any(destination.parent.iterdir())


def test_download_writes_verified_bytes(tmp_path, monkeypatch):
    payload = b"To be, or not to be: that is the question.\n" * 10
    destination = tmp_path / "cache" / "tinyshakespeare.txt"
    seen = {}

    def fake_urlopen(url, timeout):
        seen["url"] = url
        return FakeResponse(payload)

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    monkeypatch.setattr(data, "CORPUS_SHA256", hashlib.sha256(payload).hexdigest())
    assert download_corpus(destination) == destination
    assert destination.read_bytes() == payload
    assert seen["url"] == data.CORPUS_URL
    assert sorted(p.name for p in destination.parent.iterdir()) == [destination.name]


def test_resolve_propagates_a_checksum_failure(tmp_path, monkeypatch):
    cached = tmp_path / "cache" / "tinyshakespeare.txt"
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setattr(data, "cache_path", lambda: cached)
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: FakeResponse(b"evil"))
    with pytest.raises(DataError, match="sha256"):
        resolve_corpus()
    assert not cached.exists()


# --- corpus validation ---------------------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_corpus(tmp_path / "nope.txt")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        load_dataset(path)


def test_non_utf8_file(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("Señor, ".encode("latin-1") * 40)
    with pytest.raises(DataError, match="UTF-8") as info:
        load_dataset(path)
    assert "offset 2" in str(info.value)  # S, e, then the Latin-1 ñ


def test_too_short_file(tmp_path):
    path = tmp_path / "short.txt"
    path.write_text("Too short to train on.")
    with pytest.raises(DataError, match="at least 100"):
        load_dataset(path)


def test_too_short_for_the_block_size(tmp_path):
    path = tmp_path / "medium.txt"
    path.write_text("abcdefghij" * 30)  # 300 chars: val split of 30 tokens
    assert load_dataset(path, block_size=8).n_train == 270
    with pytest.raises(DataError, match="block_size 64"):
        load_dataset(path, block_size=64)
