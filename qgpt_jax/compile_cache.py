"""JAX's persistent compilation cache, on by default for the command-line tools.

A run compiles the same programs as the run before it (the same model at the same sizes): with the
cache, the second compilation is read from disk (measured on a 2-core CPU: 6.3 s -> 0.4 s for the
classical train chunk). The cache lives in the user's cache folder; ``--compile-cache DIR`` or
``$QGPT_COMPILE_CACHE`` moves it, and the value ``off`` disables it. Programs that call back into
Python (host quantum devices) cannot be cached by JAX and are compiled every run.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import platformdirs

ENV_VAR = "QGPT_COMPILE_CACHE"
OFF = "off"


def default_location() -> Path:
    return Path(platformdirs.user_cache_dir("qgpt-jax")) / "xla"


def resolve(location: str | None = None) -> Path | None:
    """The cache folder from the flag, then the environment, then the default; ``None`` if off."""
    value = location or os.environ.get(ENV_VAR) or str(default_location())
    return None if value.strip().lower() == OFF else Path(value).expanduser()


def enable(location: str | None = None) -> Path | None:
    """Switch the persistent cache on (every program, however fast it compiles) or off."""
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    folder = resolve(location)
    # JAX opens its cache at the first compilation and keeps that folder; start afresh so that a
    # process switching folders (a test session, a notebook) really uses the new one.
    compilation_cache.reset_cache()
    if folder is None:
        jax.config.update("jax_compilation_cache_dir", None)
        return None
    folder.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    return folder


def cache_entries() -> int | None:
    """Number of entries in the active persistent cache; ``None`` when it is off.

    A compilation that adds no entry was served from the cache (a warm compile).
    """
    import jax

    folder = jax.config.jax_compilation_cache_dir
    if not folder or not Path(folder).is_dir():
        return None
    return sum(1 for entry in Path(folder).iterdir() if not entry.name.startswith("."))


@contextlib.contextmanager
def bypassed():
    """Compile without the persistent cache (neither read nor written) inside the block.

    JAX keys cached programs by their computation, not by the op names in their metadata, so a
    cached program may carry the op names (``jax.named_scope`` paths) of older code: a profile,
    which reads them, needs the program compiled from the code that runs."""
    import jax

    enabled = jax.config.jax_enable_compilation_cache
    jax.config.update("jax_enable_compilation_cache", False)
    try:
        yield
    finally:
        jax.config.update("jax_enable_compilation_cache", enabled)
