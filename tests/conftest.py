"""Shared fixtures: a small generated corpus, its dataset, tiny configs and an isolated environment.

Nothing here touches the network or the user's real cache: ``XDG_CACHE_HOME`` (what
``platformdirs`` reads on Linux) points into a temporary folder for the whole session. The real
tiny-shakespeare corpus is used only where a test asks for ``real_or_generated_corpus`` and
``$QGPT_DATA`` is set (CI sets it); otherwise the generated corpus stands in.

JAX's persistent compilation cache is pointed at a session temporary folder so that identical
programs (the same tiny train step compiled by several tests) are compiled once per session; each
test still compiles through the library's own code path.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import jax
import pytest

from qgpt_jax.config import ModelConfig, TrainConfig
from qgpt_jax.data import ENV_VAR, load_dataset
from qgpt_jax.runtime import unroll_threefry_on_cpu

LINES = (
    "First Citizen: Before we proceed any further, hear me speak.",
    "All: Speak, speak.",
    "First Citizen: You are all resolved rather to die than to famish?",
    "All: Resolved. resolved.",
    "Second Citizen: One word, good citizens. We are accounted poor citizens.",
    "MENENIUS: What work's, my countrymen, in hand? Where go you with bats and clubs?",
    "The matter? speak, I pray you; what is the cause of all this noise!",
)


def make_corpus_text(min_chars: int = 6000) -> str:
    """Repeated English-like lines: a few KB, deterministic, easy to learn."""
    block = "\n".join(LINES) + "\n\n"
    return block * (min_chars // len(block) + 1)


_COMPILE_CACHE_OPTIONS = {
    "jax_compilation_cache_dir": None,  # set in pytest_configure
    "jax_persistent_cache_min_compile_time_secs": 0,
    "jax_persistent_cache_min_entry_size_bytes": -1,
}
_saved_jax_options: dict = {}


def pytest_configure(config):
    """Point JAX's persistent compilation cache at a fresh folder before anything compiles, and
    lower threefry as the entry points do.

    ``import qgpt_jax`` changes nothing global; the entry points' set-up does
    (``qgpt_jax.runtime.configure_process``). Of its steps the tests take the one that shapes every
    compiled program, the unrolled threefry lowering (values unchanged, seed-batched steps
    faster), explicitly here. Not the XLA flags (tests that need them set them for their own
    subprocesses) nor the warning filters (tests check warnings; pyproject.toml filters them).
    """
    unroll_threefry_on_cpu()
    folder = tempfile.mkdtemp(prefix="qgpt-jax-test-compile-cache-")
    config._qgpt_compile_cache = folder
    for name, value in _COMPILE_CACHE_OPTIONS.items():
        _saved_jax_options[name] = getattr(jax.config, name)
        jax.config.update(name, folder if value is None else value)


def pytest_unconfigure(config):
    for name, value in _saved_jax_options.items():
        jax.config.update(name, value)
    folder = getattr(config, "_qgpt_compile_cache", None)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def isolated_cache_home(tmp_path_factory):
    """``platformdirs`` (and so ``qgpt_jax.data.cache_path``) looks only in a temporary folder."""
    cache_home = tmp_path_factory.mktemp("xdg-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(cache_home))
        yield cache_home


@pytest.fixture(scope="session")
def corpus_text() -> str:
    return make_corpus_text()


@pytest.fixture(scope="session")
def corpus_path(tmp_path_factory, corpus_text) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text(corpus_text, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def real_or_generated_corpus(corpus_path) -> Path:
    """The real corpus when ``$QGPT_DATA`` names one (as in CI), else the generated corpus."""
    real = os.environ.get(ENV_VAR)
    return Path(real) if real else corpus_path


@pytest.fixture(scope="session")
def dataset(corpus_path):
    return load_dataset(corpus_path, block_size=8)


@pytest.fixture(scope="session")
def tiny_model_config(dataset) -> ModelConfig:
    """The ``tiny`` preset (classical) sized to the generated corpus's vocabulary."""
    return ModelConfig.from_preset("tiny", vocab_size=dataset.tokenizer.vocab_size)


@pytest.fixture(scope="session")
def tiny_train_config() -> TrainConfig:
    return TrainConfig.from_preset("tiny", max_iters=4)


@pytest.fixture(autouse=True)
def restore_xla_flags():
    """Entry points add XLA flags to the environment (a --mesh on a CPU asks for host devices);
    subprocesses started by later tests must not inherit what an earlier test set."""
    before = os.environ.get("XLA_FLAGS")
    yield
    if before is None:
        os.environ.pop("XLA_FLAGS", None)
    else:
        os.environ["XLA_FLAGS"] = before
