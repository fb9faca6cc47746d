"""Command-line plumbing shared by the ``experiments`` entry points.

Every field of ``ModelConfig`` and ``TrainConfig`` becomes a ``--flag`` (``n_embd`` ->
``--n-embd``); ``configs_from_args`` is the single place where the command line turns into
config objects. ``main_guard`` turns user errors into one line on stderr and a non-zero exit,
without a traceback. ``setup_runtime`` is the entry points' explicit set-up of the process (XLA
flags, JAX's threefry lowering, warning filters: ``qgpt_jax.runtime``); importing changes nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import sys
import types
import typing

from qgpt_jax.attention import validated
from qgpt_jax.config import DeviceConfig, ModelConfig, TrainConfig
from qgpt_jax.errors import QGPTError
from qgpt_jax.presets import presets_help

FLAG_HELP = types.MappingProxyType(
    {
        "vocab_size": "vocabulary size (set from the corpus when training)",
        "attention": "attention kind of the special heads: "
        "a registered kind (python -m experiments.compare --help lists them) or <kind>-surrogate",
        "quantum_heads": "heads per layer of the chosen kind (default: min(n_head, 2))",
        "ffn_width": "hidden width of the feed-forward layers (default: 4 * n_embd)",
        "device": "where quantum heads run: "
        "default.qubit, lightning.qubit, qiskit.aer, aer, qgpt.aer, ibm.runtime",
        "shots": "samples per circuit on Aer devices (default: exact expectation values)",
        "noise": "fake IBM backend whose noise model Aer uses, e.g. manila or nairobi",
        "aer_threads": "threads for Aer (default: $AER_THREADS or the CPU count)",
        "backend": "IBM Runtime backend of --device ibm.runtime: fake_manila, fake_torino, ... "
        "(Runtime's local testing mode, no account) or one of your account's, e.g. ibm_torino",
        "steps_per_call": "training steps fused into one compiled lax.scan call",
        "quantum_learning_rate": "learning rate for circuit weights and quantum scales",
        "max_iters": "training steps per run",
        "final_eval_tokens": "tokens per split of the final loss estimate: every non-overlapping "
        "window up to this many, spread over the split (0: the last in-training estimate)",
        "warmup_iters": "steps of linear learning-rate warmup (0: none)",
        "lr_schedule": "learning rate after warmup: "
        "constant or cosine (decays to --min-learning-rate)",
        "weight_decay_on": "parameters weight decay shrinks: all (the original) or matrices "
        "(nanoGPT: matmul kernels and embeddings only)",
        "grad_clip": "clip gradients to this global norm (default: no clipping)",
    }
)
FLAG_ALIASES = types.MappingProxyType({"aer_threads": ("--threads",), "max_iters": ("--iters",)})
SKIP_FLAGS = frozenset({"seed"})  # --seeds takes its place


class ArgumentParser(argparse.ArgumentParser):
    """argparse, with a usage error as one line (the problem and where help is), exit code 2."""

    def error(self, message: str):
        self.exit(2, f"error: {message}; see {self.prog} --help\n")


def _flag_type(tp):
    """The argparse type of a field annotation: ``int | None`` -> ``int``."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        return next(a for a in typing.get_args(tp) if a is not type(None))
    return tp


def add_config_flags(
    parser: argparse.ArgumentParser, classes=(ModelConfig, DeviceConfig, TrainConfig), skip=()
) -> None:
    """One ``--flag`` per config field except ``skip``; "not given" by default, so presets
    apply."""
    for cls in classes:
        group = parser.add_argument_group(f"{cls.__name__} fields (override the preset)")
        hints = typing.get_type_hints(cls)
        for field in dataclasses.fields(cls):
            if (
                field.name in SKIP_FLAGS
                or field.name in skip
                or dataclasses.is_dataclass(hints[field.name])
            ):
                continue
            flag = "--" + field.name.replace("_", "-")
            help_text = FLAG_HELP.get(field.name, field.name.replace("_", " "))
            aliases = FLAG_ALIASES.get(field.name, ())
            group.add_argument(
                flag,
                *aliases,
                dest=field.name,
                type=_flag_type(hints[field.name]),
                default=None,
                help=f"{help_text} (default {field.default!r})",
            )


def add_preset_flag(parser: argparse.ArgumentParser, default: str = "original") -> None:
    parser.add_argument(
        "--preset",
        default=default,
        help=f"named configuration (default {default}): {presets_help()}",
    )


def overrides_for(cls, args: argparse.Namespace) -> dict:
    return {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(cls)
        if getattr(args, f.name, None) is not None
    }


def configs_from_args(args: argparse.Namespace) -> tuple[ModelConfig, TrainConfig]:
    """The one conversion from parsed flags to (validated) config objects."""
    mc = ModelConfig.from_preset(
        args.preset, **overrides_for(ModelConfig, args), **overrides_for(DeviceConfig, args)
    )
    tc = TrainConfig.from_preset(args.preset, **overrides_for(TrainConfig, args))
    return validated(mc), tc


def main_guard(func):
    """Run ``func``; print user errors as one line and exit non-zero instead of a traceback."""

    @functools.wraps(func)
    def wrapper(argv=None):
        from qgpt_jax.runtime import interrupts_kept

        try:
            with interrupts_kept():
                return func(argv)
        except QGPTError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            sys.stdout.flush()
            sys.stderr.flush()
            # XLA may still be compiling or running on its own threads, and the interpreter's
            # shutdown can crash in their destructors (seen: SIGSEGV after Ctrl-C during a
            # compile). Reports are written atomically before this point, so end here.
            os._exit(130)

    return wrapper


def add_engine_flags(parser: argparse.ArgumentParser) -> None:
    """How a run uses the machine: devices, hosts, the compilation cache."""
    group = parser.add_argument_group("engine (devices, hosts, compilation cache)")
    group.add_argument(
        "--mesh",
        metavar="AXIS=N[,AXIS=N]",
        help="spread each run over devices: data=4 splits every batch over 4 devices "
        "(parameters replicated, gradients reduced by XLA); seed=2,data=2 also puts the seeds on "
        "different devices. Default: one device, no sharding",
    )
    group.add_argument(
        "--coordinator",
        metavar="HOST:PORT",
        help="join a multi-process run whose process 0 listens here (with --num-processes and "
        "--process-id; JAX_COORDINATOR_ADDRESS etc. work too)",
    )
    group.add_argument("--num-processes", type=int, help="processes in a multi-process run")
    group.add_argument("--process-id", type=int, help="this process's index, 0 to N-1")
    group.add_argument(
        "--compile-cache",
        metavar="DIR|off",
        help="JAX's persistent compilation cache (default: $QGPT_COMPILE_CACHE, else "
        "qgpt-jax/xla in the user's cache folder); 'off' disables it",
    )


def setup_runtime(args: argparse.Namespace | None = None):
    """What every entry point does once its arguments parse, in the order JAX needs.

    First the process-wide set-up of ``qgpt_jax.runtime.configure_process`` (XLA flags into the
    environment before JAX creates its CPU backend, since nothing here has touched a device yet;
    the unrolled threefry lowering; the warning and logging filters), then a multi-process run
    joins before any computation, then the compilation cache is switched on. Returns the device
    mesh of ``--mesh`` (or ``None``).
    """
    from qgpt_jax.parallel import MeshSpec, initialize_distributed, make_mesh
    from qgpt_jax.runtime import configure_process

    spec = MeshSpec.parse(args.mesh) if getattr(args, "mesh", None) else None
    multi_process = getattr(args, "coordinator", None) or os.environ.get("JAX_COORDINATOR_ADDRESS")
    # On one host, a mesh over the CPU gets as many CPU devices as it names.
    configure_process(spec.size if spec is not None and not multi_process else 1)
    from qgpt_jax import compile_cache

    if args is None:  # tools without engine flags still read and fill the default cache
        compile_cache.enable(None)
        return None
    initialize_distributed(
        getattr(args, "coordinator", None),
        getattr(args, "num_processes", None),
        getattr(args, "process_id", None),
    )
    compile_cache.enable(getattr(args, "compile_cache", None))
    return make_mesh(spec) if spec is not None else None
