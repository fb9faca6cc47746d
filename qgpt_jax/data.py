"""The tiny-shakespeare corpus: where it comes from, how it is tokenised, how batches are drawn.

The corpus is looked up, in order, at an explicit path (``--data``), at ``$QGPT_DATA``, in the
user's cache directory, and finally downloaded from its canonical location, checked against its
sha256 and written atomically into the cache.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import platformdirs

from qgpt_jax.errors import DataError
from qgpt_jax.storage import atomic_write_bytes

CORPUS_URL = (
    "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
)
CORPUS_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
CORPUS_FILENAME = "tinyshakespeare.txt"
ENV_VAR = "QGPT_DATA"
TRAIN_FRACTION = 0.9


def cache_path() -> Path:
    return Path(platformdirs.user_cache_dir("qgpt-jax")) / CORPUS_FILENAME


def download_corpus(destination: Path, url: str = CORPUS_URL, timeout: float = 30.0) -> Path:
    """Download the corpus, verify its sha256 and write it atomically to ``destination``."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        payload = response.read()
    digest = hashlib.sha256(payload).hexdigest()
    if digest != CORPUS_SHA256:
        raise DataError(
            f"downloaded corpus from {url} has sha256 {digest}, expected {CORPUS_SHA256}; "
            f"download it yourself and pass --data PATH"
        )
    atomic_write_bytes(destination, payload)
    return destination


def resolve_corpus(path: str | os.PathLike | None = None) -> Path:
    """Find the corpus: explicit path, then ``$QGPT_DATA``, then the cache, then a download."""
    if path is not None:
        return Path(path)
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    cached = cache_path()
    if cached.is_file():
        return cached
    try:
        return download_corpus(cached)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise DataError(
            f"no corpus found and the download failed ({exc.__class__.__name__}); supply it with "
            f"--data PATH, the {ENV_VAR} environment variable, or by placing it at {cached}"
        ) from None


def read_corpus(path: str | os.PathLike | None = None, min_chars: int = 100) -> str:
    """Read and validate the corpus text (UTF-8, non-empty, long enough to split and batch)."""
    resolved = resolve_corpus(path)
    if not resolved.is_file():
        raise DataError(f"corpus file {resolved} does not exist; pass --data PATH or set {ENV_VAR}")
    raw = resolved.read_bytes()
    if not raw:
        raise DataError(f"corpus file {resolved} is empty; point --data at tiny-shakespeare")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"corpus file {resolved} is not UTF-8 text (bad byte at offset {exc.start}); "
            f"point --data at a UTF-8 text file"
        ) from None
    if "\x00" in text:
        raise DataError(
            f"corpus file {resolved} holds NUL bytes, so it is binary, not text; point --data at "
            f"a UTF-8 text file"
        )
    if len(text) < min_chars:
        raise DataError(
            f"corpus file {resolved} has {len(text)} characters, need at least {min_chars}; "
            f"use a longer text"
        )
    return text


@dataclass(frozen=True)
class CharTokenizer:
    """Character-level tokenizer: the vocabulary is the sorted set of characters, as originally."""

    chars: tuple[str, ...]

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        return cls(tuple(sorted(set(text))))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    @property
    def _index(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.chars)}

    def encode(self, text: str) -> list[int]:
        index = self._index
        unknown = sorted({c for c in text if c not in index})
        if unknown:
            raise DataError(
                f"text contains characters outside the vocabulary: "
                f"{', '.join(repr(c) for c in unknown)}; use only characters seen in the corpus"
            )
        return [index[c] for c in text]

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)


@dataclass(frozen=True)
class Dataset:
    """Token ids of the whole corpus; the first ``n_train`` are the training split."""

    tokenizer: CharTokenizer
    tokens: jax.Array  # (N,) int32
    n_train: int

    def bounds(self, split: str) -> tuple[int, int]:
        """``[start, stop)`` of a split within ``tokens``."""
        return {"train": (0, self.n_train), "val": (self.n_train, int(self.tokens.shape[0]))}[split]


def load_dataset(
    path: str | os.PathLike | None = None,
    block_size: int = 8,
    tokenizer: CharTokenizer | None = None,
) -> Dataset:
    """Read, tokenise and split the corpus 90/10 into train and validation.

    ``tokenizer`` (a checkpoint's) replaces the corpus's own vocabulary; a corpus character
    outside it is an error naming the character.
    """
    text = read_corpus(path)
    if tokenizer is None:
        tokenizer = CharTokenizer.from_text(text)
    try:
        ids = np.asarray(tokenizer.encode(text), dtype=np.int32)
    except DataError as exc:
        raise DataError(
            f"corpus {resolve_corpus(path)} does not fit the checkpoint's vocabulary ({exc})"
        ) from None
    n_train = int(TRAIN_FRACTION * len(ids))
    n_val = len(ids) - n_train
    if min(n_train, n_val) <= block_size + 1:
        raise DataError(
            f"corpus is too short for block_size {block_size}: its validation split has "
            f"{n_val} tokens; use a longer corpus or a smaller --block-size"
        )
    return Dataset(tokenizer, jnp.asarray(ids), n_train)


def get_batch(
    tokens: jax.Array, key: jax.Array, batch_size: int, block_size: int, start=0, stop=None
):
    """Random windows of ``tokens[start:stop]``: inputs (B, T) and next-token targets (B, T).

    Pure and jittable (``start``/``stop`` may be traced): the same key gives the same batch.
    """
    stop = tokens.shape[0] if stop is None else stop
    starts = jax.random.randint(key, (batch_size,), start, stop - block_size)
    offsets = jnp.arange(block_size)
    x = tokens[starts[:, None] + offsets]  # (B, T)
    y = tokens[starts[:, None] + offsets + 1]  # (B, T)
    return x, y
