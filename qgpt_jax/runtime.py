"""Process-wide set-up: every change qgpt-jax makes outside its own objects, in one place.

``import qgpt_jax`` changes nothing global: no warning filter, logger level, environment variable
or JAX lowering rule (``tests/test_runtime.py`` checks in a fresh interpreter). The command-line
entry points make those changes on purpose, once their arguments parse, through
``cli.setup_runtime``, which calls ``configure_process``. A script or notebook that wants what the
entry points get calls it itself, first::

    import qgpt_jax
    qgpt_jax.configure_process()

Without it the library computes the same numbers; it is slower under a seed axis and noisier.

``configure_process`` runs three steps, each idempotent (so is the whole):

1. ``configure_xla``: adds ``--xla_cpu_multi_thread_eigen=false`` (and, for a ``--mesh`` on a
   CPU, ``--xla_force_host_platform_device_count``) to ``$XLA_FLAGS``. This model's matmuls are
   tiny; Eigen's thread pool costs more in synchronisation than it gains (measured: ~360 ->
   ~245 us per original-preset train step on 2 cores). The flags act only if set before JAX creates
   its CPU backend (the first computation or device query, not ``import jax``), and they reach
   subprocesses through the environment. Flags the user already set are kept.
2. ``unroll_threefry_on_cpu``: registers JAX's unrolled threefry2x32 lowering for the CPU, as JAX
   lowers it on other platforms. jax 0.10 lowers the hash on CPU as a rolled loop of 5
   iterations; XLA unrolls it for one key, but not for a batch of keys, so under the seed axis
   every fold_in and split of a step became a while loop of tuple copies (measured at the original
   preset, 5 seeds: 11 loops and ~330 copy launches per step, ~30% of the step). Upstream JAX
   switched the CPU lowering to unrolled loops for the same reason (jax-ml/jax#37872). The hash
   and its values are unchanged; every program lowered afterwards in the process (anyone's, not
   only qgpt-jax's) uses it. It reaches JAX internals through ``qgpt_jax.private_api``.
3. ``quiet_libraries``: ignores DeprecationWarning, FutureWarning, numpy's ``astype`` casts and
   PennyLane's warnings (they would break progress bars and results tables), silences JAX's
   host-callback logger (a failing quantum device is reported as one error line by the entry
   point; JAX would also log its traceback). (It no longer sets ``TF_CPP_MIN_LOG_LEVEL``: JAX
   sets it to 1 when imported, so the ``setdefault("2")`` this step used to make never acted.)

``return_freed_memory`` is not set-up: ``engine.release_compiled`` calls it once a model is done.
It lives here because it acts on the whole process's heap (glibc's ``malloc_trim`` hands the
pages freed by dropping XLA's executables back to the system), not on qgpt-jax's objects, and it
is the package's only foreign-function call (``ctypes``). ``malloc_trim`` is a public GNU libc
function, not a private API; on another C library it is skipped.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
import threading
import warnings

SMALL_MODEL_XLA_FLAGS = ("--xla_cpu_multi_thread_eigen=false",)
"""XLA CPU flags of every entry point (see step 1 above)."""

IGNORED_WARNINGS = (
    {"category": DeprecationWarning},
    {"category": FutureWarning},
    {"message": ".*astype.*"},
    {"module": "pennylane.*"},
)
"""The ``warnings.filterwarnings("ignore", **kwargs)`` of ``quiet_libraries``."""


def configure_process(host_devices: int = 1) -> None:
    """Every process-wide step of the entry points, in the order JAX needs (see the module's
    docstring); call it before the first JAX computation. Idempotent."""
    configure_xla(host_devices)
    unroll_threefry_on_cpu()
    quiet_libraries()


def configure_xla(host_devices: int = 1) -> None:
    """Add this project's XLA CPU flags to ``$XLA_FLAGS`` unless the user already set them.

    ``host_devices`` > 1 splits the CPU into that many XLA devices (each runs on its own thread),
    so that a ``--mesh`` can spread seeds or batches over the cores. Must run before JAX creates
    its CPU backend: importing JAX does not, the first computation or device query does.
    """
    flags = os.environ.get("XLA_FLAGS", "")
    wanted = list(SMALL_MODEL_XLA_FLAGS)
    if host_devices > 1:
        wanted.append(f"--xla_force_host_platform_device_count={host_devices}")
    for flag in wanted:
        if flag.split("=")[0] not in flags:
            flags = f"{flags} {flag}".strip()
    os.environ["XLA_FLAGS"] = flags


def unroll_threefry_on_cpu() -> bool:
    """Lower threefry2x32 on CPU with its rounds unrolled (step 2 of the module's docstring).

    Returns whether this call registered it (``False``: it already was). Raises a ``QGPTError``
    naming JAX's version if JAX's internals moved (``qgpt_jax.private_api``).
    """
    from jax.interpreters import mlir

    from qgpt_jax.private_api import cpu_lowering_rule, threefry_rules

    primitive, unrolled, _ = threefry_rules()
    if cpu_lowering_rule(primitive) is unrolled:
        return False
    mlir.register_lowering(primitive, unrolled, platform="cpu")
    return True


def threefry_unrolled_on_cpu() -> bool:
    """Whether this process lowers threefry2x32 on CPU with unrolled rounds."""
    from qgpt_jax.private_api import cpu_lowering_rule, threefry_rules

    primitive, unrolled, _ = threefry_rules()
    return cpu_lowering_rule(primitive) is unrolled


def quiet_libraries() -> None:
    """Keep third-party warnings and logs out of the way of progress bars and results (step 3).

    Idempotent: ``warnings.filterwarnings`` moves an identical filter to the front instead of
    adding it twice."""
    from qgpt_jax.private_api import jax_callback_logger

    jax_callback_logger().setLevel(logging.CRITICAL)
    for kwargs in IGNORED_WARNINGS:
        warnings.filterwarnings("ignore", **kwargs)


def return_freed_memory() -> None:
    """Hand the heap pages the process has freed back to the system (glibc's ``malloc_trim``);
    a no-op where the C library is not glibc."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class KeptInterrupt:
    """A SIGINT handler that raises ``KeyboardInterrupt`` and remembers that it fired.

    Python runs a signal handler between bytecodes of the main thread, wherever it is; when that
    is inside a garbage-collector callback (JAX registers one, seen while a program compiles),
    the interpreter prints "Exception ignored" and the interrupt is lost: the run went on to the
    end and exited 0. Remembering it lets the engine raise it again at its next check
    (``raise_if_interrupted``), so Ctrl-C always ends a run with its report marked interrupted.
    """

    def __init__(self):
        self.requested = False

    def __call__(self, signum, frame):
        self.requested = True
        raise KeyboardInterrupt


@contextlib.contextmanager
def interrupts_kept():
    """Install ``KeptInterrupt`` for SIGINT while the block runs (the entry points' main), and
    keep the interpreter from printing an interrupt it lost (it is raised again); then put back
    what was there. A process that ignores SIGINT keeps ignoring it."""
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT) if main else None
    if not main or previous in (signal.SIG_IGN, None):
        yield
        return
    signal.signal(signal.SIGINT, KeptInterrupt())
    unraisable = sys.unraisablehook

    def quiet_lost_interrupt(info):  # it is raised again, so its "Exception ignored" is noise
        if not isinstance(info.exc_value, KeyboardInterrupt):
            unraisable(info)

    sys.unraisablehook = quiet_lost_interrupt
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        sys.unraisablehook = unraisable


def raise_if_interrupted() -> None:
    """Raise the ``KeyboardInterrupt`` of a Ctrl-C that Python swallowed (see ``KeptInterrupt``);
    nothing when none came or outside an entry point."""
    handler = signal.getsignal(signal.SIGINT)
    if isinstance(handler, KeptInterrupt) and handler.requested:
        handler.requested = False
        raise KeyboardInterrupt
