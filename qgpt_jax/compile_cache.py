"""JAX's persistent compilation cache, on by default for the command-line tools.

A run compiles the same programs as the run before it (the same model at the same sizes): with the
cache, the second compilation is read from disk (measured on a 2-core CPU: 6.3 s -> 0.4 s for the
classical train chunk). The cache lives in the user's cache folder; ``--compile-cache DIR`` or
``$QGPT_COMPILE_CACHE`` moves it, and the value ``off`` disables it. Programs that call back into
Python (host quantum devices) cannot be cached by JAX and are compiled every run.

A damaged cache (entries truncated or overwritten, as after a crash or a full disk) never changes
a result: JAX ignores an entry it cannot read and compiles the program again. It warns once per
entry; here that becomes one line per process naming the folder and the fix. A folder that
cannot be written is said once too, and the run compiles without the cache.
"""

from __future__ import annotations

import contextlib
import enum
import os
import sys
import tempfile
import types
import warnings
from pathlib import Path

import platformdirs

ENV_VAR = "QGPT_COMPILE_CACHE"
OFF = "off"
JAX_CACHE_PROBLEMS = types.MappingProxyType(
    {
        "Error reading persistent compilation cache entry": "damaged entries, which were ignored "
        "and compiled again",
        "Error writing persistent compilation cache entry": "entries that could not be written",
    }
)
"""The start of JAX's warning for each kind of cache problem, and what it means for a run."""


class CacheOutcome(enum.Enum):
    """What served a run's compilation (``engine.compile_counting_cache``).

    Code compares members; each value is the one readable form of an outcome, the string that
    ``results.json`` and ``bench.json`` record and the terminal shows (``str``), and
    ``CacheOutcome.recorded`` reads a recorded string back, so reports written before load.
    """

    OFF = "off"
    HIT = "hit (read)"
    MISS = "miss (compiled)"
    NOT_CACHEABLE = "not cacheable (host callbacks)"
    BYPASSED = "bypassed (profiled run)"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def recorded(cls, value: str | None) -> CacheOutcome | None:
        """The outcome a report records as ``value``; ``None`` where it records none we know."""
        try:
            return cls(value)
        except ValueError:
            return None


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
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            pass
    except OSError as exc:
        print(
            f"note: the compilation cache {folder} cannot be written ({exc.strerror}); compiling "
            f"without it (choose another folder with --compile-cache or ${ENV_VAR})",
            file=sys.stderr,
        )
        jax.config.update("jax_compilation_cache_dir", None)
        return None
    _ProblemsOnce.install(folder)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    return folder


class _ProblemsOnce:
    """``warnings.showwarning`` that says each kind of cache problem once, in one line, and
    passes every other warning on unchanged."""

    def __init__(self, show):
        self.show, self.folder, self.said = show, None, set()

    @classmethod
    def install(cls, folder: Path) -> None:
        if not isinstance(warnings.showwarning, cls):
            warnings.showwarning = cls(warnings.showwarning)
        warnings.showwarning.folder = folder

    def __call__(self, message, category, filename, lineno, file=None, line=None):
        text = str(message)
        problem = next(
            (p for start, p in JAX_CACHE_PROBLEMS.items() if text.startswith(start)), None
        )
        if problem is None:
            return self.show(message, category, filename, lineno, file, line)
        if problem not in self.said:
            self.said.add(problem)
            print(
                f"note: the compilation cache {self.folder} has {problem}; results are not "
                f"affected (delete the folder to rebuild it, or pass --compile-cache off)",
                file=sys.stderr,
            )
        return None


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
