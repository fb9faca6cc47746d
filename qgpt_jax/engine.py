"""The training engine: the one host loop around the pure programs of ``qgpt_jax.train``.

``compare``, ``bench`` and the evaluation tools all train through ``Trainer`` (compiled programs and
device placement for one model's seeds) and ``Run`` (one run of those seeds: its state, what it
has measured, and the host loop of chunks of fused steps, evaluations, checkpoints, progress and
the NaN check), which ``train_seeds`` opens inside the run's circuit executors. Everything that
touches the host lives here; the maths stays pure in ``train.py``.

All seeds of a model train as ONE compiled program with a leading seed axis, optionally spread
over a device mesh (``qgpt_jax.parallel``). A run's circuit executor is opened when the run starts
and dropped when it ends (``executor_scope``); its counts are this run's alone.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import resource
import time
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from qgpt_jax.attention import circuits_per_forward, executor_scope, kind_of
from qgpt_jax.compile_cache import CacheOutcome, bypassed, cache_entries
from qgpt_jax.config import ModelConfig, TrainConfig
from qgpt_jax.data import Dataset
from qgpt_jax.errors import CheckpointError, NonFiniteLossError, QuantumExecutionError
from qgpt_jax.model import count_params
from qgpt_jax.parallel import (
    MeshSpec,
    check_fits,
    is_main_process,
    padded_seed_count,
    to_global,
    to_host,
)
from qgpt_jax.profiling import summarize_trace
from qgpt_jax.quantum.devices import DEVICES
from qgpt_jax.runtime import raise_if_interrupted, return_freed_memory
from qgpt_jax.train import build_programs, final_sweeps


@dataclass
class TrainResult:
    """One seed's run: its final parameters, losses and what it cost.

    Seeds trained together share one compilation and one training clock: ``compile_s`` and
    ``train_s`` are the group's, ``tokens_per_s`` is this seed's own tokens over that time and
    ``tokens_per_s_all_seeds`` the group's aggregate.
    """

    model: str
    seed: int
    params: dict
    step: int
    params_count: int
    step_losses: list[float]
    evals: list[dict] = field(default_factory=list)
    seed_group: list[int] = field(default_factory=list)
    """The seeds trained together with this one (itself included)."""
    compile_s: float = 0.0
    compile_cache: CacheOutcome = CacheOutcome.OFF
    train_s: float = 0.0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    peak_rss_mb: float = 0.0
    tokens_per_s: float | None = None
    tokens_per_s_all_seeds: float | None = None
    circuit_executions: dict = field(default_factory=dict)
    profile: dict = field(default_factory=dict)
    resumed_from: int | None = None
    final_estimate: dict = field(default_factory=dict)
    """The final (train, validation) losses over whole splits and the tokens they cover
    (``TrainConfig.final_eval_tokens``); empty when the last in-training estimate stands in."""

    @property
    def final(self) -> dict:
        """The final losses: the whole-split estimate if there is one, else the last evaluation."""
        if self.final_estimate:
            return self.final_estimate
        return self.evals[-1] if self.evals else {}


@contextlib.contextmanager
def quantum_failures_are_fatal(mc: ModelConfig):
    """Turn a failure inside a quantum head into one clear error: no classical fallback."""
    try:
        yield
    except (jax.errors.JaxRuntimeError, QuantumExecutionError, ValueError) as exc:
        # an eagerly run host callback's failure arrives as a ValueError naming CpuCallback
        callback = not isinstance(exc, ValueError) or "CpuCallback" in str(exc)
        if not kind_of(mc).runs_circuits or not callback:
            raise
        lines = [line for line in str(exc).splitlines() if line.strip()] or [repr(exc)]
        if isinstance(exc, QuantumExecutionError):
            cause = lines[0]
        else:
            cause = next((line for line in reversed(lines) if "Error" in line), lines[-1])
        raise QuantumExecutionError(
            f"quantum head failed on device {mc.device!r} ({cause.strip()[:300]}); the run stops "
            f"here instead of falling back to classical attention"
        ) from exc


def process_peak_rss_mb() -> float:
    """The process's resident-memory high-water mark so far (compilation included)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def release_compiled() -> None:
    """Drop compiled programs and traces once a model is done, and hand freed memory back.

    XLA keeps every compiled executable and jaxpr of the process alive; a default compare
    compiles three models, whose caches would otherwise add up (measured: ~150 MB per quantum
    model). The persistent compilation cache still holds them on disk. Handing the freed pages
    back to the system acts on the whole process's heap: ``runtime.return_freed_memory``.
    """
    build_programs.cache_clear()
    jax.clear_caches()
    return_freed_memory()


def chunk_plan(start: int, stop: int, max_steps: int, every: tuple[int, ...]) -> list[int]:
    """Lengths of the compiled calls from step ``start`` to ``stop``.

    Calls end at every multiple of each number in ``every`` (evaluations, checkpoints) and are at
    most ``max_steps`` long. One compiled program runs every length (the trip count is traced).
    """
    points = {stop} | {k for n in every if n for k in range(n, stop, n)}
    lengths, position = [], start
    for point in sorted(p for p in points if p > start):
        while position < point:
            lengths.append(min(max_steps, point - position))
            position += lengths[-1]
    return lengths


@dataclasses.dataclass(frozen=True)
class CompiledPrograms:
    """The ahead-of-time compiled programs of one ``Trainer`` (``None``: not compiled)."""

    init: Any
    train_chunk: Any | None
    evaluate: Any | None


class Trainer:
    """The compiled programs of one model's seeds, and their inputs placed on the devices.

    ``compile()`` compiles ahead of time (timed apart from training); ``init()`` makes the state of
    every seed; ``run(state, n)`` trains ``n`` steps in one call and returns host losses
    ``(S, n)``; ``evaluate(state, step)`` returns host (train, validation) losses ``(S, 2)``.
    """

    def __init__(
        self,
        mc: ModelConfig,
        tc: TrainConfig,
        seeds: list[int],
        dataset: Dataset,
        mesh=None,
    ):
        self.mc, self.tc, self.seeds = mc, dataclasses.replace(tc, seed=0), list(seeds)
        if mesh is not None:
            check_fits(
                MeshSpec(**mesh.shape),
                tc.batch_size,
                mc.device if kind_of(mc).runs_circuits else None,
            )
        # On a mesh whose seed axis does not divide the seeds, the last seed is repeated to fill
        # it; the repeats' results are dropped.
        padded = padded_seed_count(len(self.seeds), mesh)
        self.program_seeds = self.seeds + self.seeds[-1:] * (padded - len(self.seeds))
        in_graph = not kind_of(mc).runs_circuits or DEVICES[mc.device].in_graph
        # Host-callback programs call this run's executor: they are built per run, never reused.
        build = build_programs if in_graph else build_programs.__wrapped__
        self.programs = build(mc, self.tc, len(self.program_seeds), mesh)
        p = self.programs
        self.tokens = to_global(dataset.tokens, p.replicated)
        self.n_train = to_global(np.int32(dataset.n_train), p.replicated)
        self.n_train_host = dataset.n_train
        self.seed_array = to_global(np.asarray(self.program_seeds, np.int32), p.seed_sharding)
        self._scalars: dict[int, jax.Array] = {}
        self._compiled: CompiledPrograms | None = None

    def _scalar(self, value: int):
        if value not in self._scalars:
            self._scalars[value] = to_global(np.int32(value), self.programs.replicated)
        return self._scalars[value]

    def compile(self, training: bool = True, evaluation: bool = True) -> float:
        """Compile init, the fused steps (unless not ``training``) and the loss estimate (unless
        not ``evaluation``); return the seconds it took."""
        start = time.perf_counter()
        p = self.programs
        state = jax.eval_shape(p.init, self.seed_array)
        args = (state, self.tokens, self.n_train, self.seed_array, self._scalar(0))
        eval_args = (*args, self._scalar(-1))
        # Tracing stays on this thread (quantum heads find their executors in its context);
        # XLA compiles the lowered programs on threads of its own, side by side.
        lowered = [
            p.init.lower(self.seed_array),
            p.train_chunk.lower(*args) if training else None,
            p.evaluate.lower(*eval_args) if evaluation else None,
        ]
        with concurrent.futures.ThreadPoolExecutor(len(lowered)) as pool:
            futures = [pool.submit(x.compile) if x is not None else None for x in lowered]
            self._compiled = CompiledPrograms(
                *(f.result() if f is not None else None for f in futures)
            )
        return time.perf_counter() - start

    def program_text(self) -> str:
        """The compiled fused-steps program as HLO text (its instructions keep their op names,
        which the profile reads to time each named part)."""
        return self._compiled.train_chunk.as_text()

    def step_flops(self) -> float | None:
        """FLOPs of one training step of one seed, from XLA's cost analysis of the compiled
        fused-steps program (it counts a loop body once; the body holds every seed's step).

        Circuits simulated on the host (callback devices) are not part of the program and are
        not counted. ``None`` where the backend gives no analysis."""
        program = self._compiled.train_chunk
        analysis = program.cost_analysis() if program is not None else None
        if isinstance(analysis, list):  # older JAX: one dict per program
            analysis = analysis[0] if analysis else None
        if not analysis or "flops" not in analysis:
            return None
        return float(analysis["flops"]) / len(self.program_seeds)

    def init(self):
        return self._compiled.init(self.seed_array)

    def run(self, state, n_steps: int):
        state, losses = self._compiled.train_chunk(
            state, self.tokens, self.n_train, self.seed_array, self._scalar(n_steps)
        )
        losses = to_host(losses)[: len(self.seeds), :n_steps]  # one host sync per chunk
        return state, losses

    def evaluate(self, state, step: int) -> np.ndarray:
        """(train, validation) loss estimates at ``step`` on random batches: (seeds, 2)."""
        losses = self._compiled.evaluate(
            state, self.tokens, self.n_train, self.seed_array, self._scalar(step), self._scalar(-1)
        )
        return to_host(losses)[: len(self.seeds), :, 0]

    def final_sweeps(self) -> int:
        """Calls of the loss program the final estimate makes."""
        n_val = self.tokens.shape[0] - self.n_train_host
        return final_sweeps(self.tc, self.mc.block_size, (self.n_train_host, n_val))

    def final_losses(self, state) -> tuple[np.ndarray, list[int]]:
        """The final estimate: (train, validation) mean loss over every non-overlapping window of
        each split, up to ``final_eval_tokens`` spread evenly, (seeds, 2); and the tokens each
        split's estimate covers. Accumulated on the device, one host sync at the end."""
        parts = [
            self._compiled.evaluate(
                state, self.tokens, self.n_train, self.seed_array, self._scalar(0), sweep
            )
            for sweep in map(self._scalar, range(self.final_sweeps()))
        ]
        stacked = to_host(jnp.stack(parts))[:, : len(self.seeds)]  # (sweeps, S, 2, 2)
        means, counts = stacked[..., 0], stacked[..., 1]
        losses = (means * counts).sum(0) / counts.sum(0)
        windows = counts[:, 0].sum(0)  # the same for every seed
        return losses, [int(round(w)) * self.mc.block_size for w in windows]

    @property
    def max_steps(self) -> int:
        return self.programs.max_steps


def estimate_losses_of(
    mc: ModelConfig, tc: TrainConfig, params: list, dataset: Dataset, seed: int = 0
) -> np.ndarray:
    """(train, validation) loss estimates ``(len(params), 2)`` of several parameter sets of one
    model, on the batches the run with ``seed`` evaluates at step 0, as one program."""
    return estimate_losses_counted(mc, tc, params, dataset, seed)[0]


def estimate_losses_counted(
    mc: ModelConfig, tc: TrainConfig, params: list, dataset: Dataset, seed: int = 0
) -> tuple[np.ndarray, int, dict | None]:
    """``estimate_losses_of``, the circuits it ran (counted by the device on host devices, from
    shapes for in-graph simulation, 0 for models without circuits) and what it submitted to IBM
    Runtime (``None`` on other devices)."""
    with quantum_failures_are_fatal(mc), executor_scope(mc) as executors:
        trainer = Trainer(mc, tc, [seed] * len(params), dataset)
        trainer.compile(training=False)
        stacked = jax.tree_util.tree_map(lambda *leaves: np.stack(leaves), *params)
        state = trainer.init().replace(params=stacked)
        losses = trainer.evaluate(state, 0)
        counted = executors.executions() if executors is not None else None
        submitted = executors.submitted() if executors is not None else None
    if counted is None:  # 2 splits of eval_iters batches per parameter set
        per_forward = circuits_per_forward(mc, tc.batch_size, mc.block_size)
        counted = per_forward * 2 * tc.eval_iters * len(params)
    return losses, counted, submitted


def train_seeds(
    mc: ModelConfig,
    tc: TrainConfig,
    seeds: list[int],
    dataset: Dataset,
    *,
    mesh=None,
    progress: bool = True,
    profile_dir: str | None = None,
    description: str | None = None,
    checkpoints=None,
    ckpt_every: int | None = None,
    resume: bool = False,
) -> list[TrainResult]:
    """Train ``mc`` with every seed of ``seeds`` as one program; one ``TrainResult`` per seed.

    ``checkpoints`` (a ``RunCheckpoints``) receives the whole run state every ``ckpt_every`` steps
    and at the end; with ``resume`` the run continues from its newest checkpoint. A non-finite
    loss stops the run at that chunk with ``NonFiniteLossError`` (the last good checkpoint stays).
    """
    options = RunOptions(progress, profile_dir, description, checkpoints, ckpt_every, resume)
    with quantum_failures_are_fatal(mc), executor_scope(mc) as executor:
        return Run(mc, tc, seeds, dataset, mesh, executor, options).to_the_end()


def train(mc: ModelConfig, tc: TrainConfig, dataset: Dataset, **kwargs) -> TrainResult:
    """Train ``mc`` with the single seed ``tc.seed``."""
    return train_seeds(mc, tc, [tc.seed], dataset, **kwargs)[0]


def compile_counting_cache(
    trainer: Trainer, bypass: bool = False, **parts
) -> tuple[float, CacheOutcome]:
    """``trainer.compile(**parts)``: its seconds, and whether the persistent compilation cache
    served it (a compilation that adds no cache entry was read from it). ``bypass`` compiles
    without the cache: a profile reads the op names of the program, which the cache does not
    key on."""
    if bypass:
        with bypassed():
            return trainer.compile(**parts), CacheOutcome.BYPASSED
    mc = trainer.mc
    entries_before = cache_entries()
    seconds = trainer.compile(**parts)
    if entries_before is None:
        return seconds, CacheOutcome.OFF
    if kind_of(mc).runs_circuits and not DEVICES[mc.device].in_graph:
        return seconds, CacheOutcome.NOT_CACHEABLE
    return seconds, CacheOutcome.MISS if cache_entries() > entries_before else CacheOutcome.HIT


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """How a run reports, profiles and keeps its state (``train_seeds``' keyword arguments)."""

    progress: bool = True
    profile_dir: str | None = None
    """Profile the second fused-steps call (the first when there is one) into this folder."""
    description: str | None = None
    """The progress bar's label (default: the kind and its seeds)."""
    checkpoints: Any = None
    """A ``RunCheckpoints`` that receives the whole run state."""
    ckpt_every: int | None = None
    resume: bool = False
    """Continue from the newest checkpoint in ``checkpoints``, if it holds one."""


class Run:
    """One run of a model's seeds as one program: its compiled programs (``trainer``), its
    state, what it has done and measured so far, and the host loop that drives it to the end
    (``to_the_end``), evaluating, checkpointing and profiling on the way."""

    def __init__(self, mc, tc, seeds, dataset, mesh, executor, options: RunOptions):
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        self.mc, self.tc, self.seeds, self.dataset = mc, tc, list(seeds), dataset
        self.executor, self.options = executor, options
        self.trainer = Trainer(mc, tc, seeds, dataset, mesh)
        self.compile_s, self.compile_cache = compile_counting_cache(
            self.trainer, bypass=options.profile_dir is not None
        )
        self.state = self.trainer.init()
        self.step, self.train_s, self.forwards, self.earlier_circuits = 0, 0.0, 0, 0
        self.step_losses: list[list[float]] = [[] for _ in seeds]
        self.evals: list[list[dict]] = [[] for _ in seeds]
        self.resumed_from: int | None = None
        self.profile: dict = {}
        self.final_estimates: list[dict] = [{} for _ in seeds]

    def identity(self) -> dict:
        """What a run checkpoint must match to be resumed by this run."""
        return {
            "seeds": self.seeds,
            "model_config": self.mc.to_dict(),
            "train_config": dataclasses.replace(self.tc, seed=0).to_dict(),
            "vocab": "".join(self.dataset.tokenizer.chars),
        }

    def record(self) -> dict:
        """The host record saved beside the train state in a run checkpoint."""
        return {
            **self.identity(),
            "step": self.step,
            "step_losses": self.step_losses,
            "evals": self.evals,
            "train_s": self.train_s,
            "forwards": self.forwards,
            "circuit_executions": self.host_circuits(),
        }

    def restore(self, checkpoints) -> None:
        """Continue from the newest whole checkpoint that this run wrote."""

        def same_run(record: dict) -> None:
            for key, value in self.identity().items():
                if record.get(key) != value:
                    raise CheckpointError(
                        f"run checkpoint in {checkpoints.directory} was written with another "
                        f"{key} than this run's (another corpus, seeds or configuration); resume "
                        f"with the same ones or start afresh"
                    )

        _, record, self.state = checkpoints.restore_newest(self.state, same_run)
        self.step = self.resumed_from = record["step"]
        self.step_losses, self.evals = record["step_losses"], record["evals"]
        self.train_s, self.forwards = record["train_s"], record["forwards"]
        self.earlier_circuits = record["circuit_executions"]

    def evaluate(self) -> None:
        losses = self.trainer.evaluate(self.state, self.step)
        self.forwards += 2 * self.tc.eval_iters
        for evals, (train_loss, val_loss) in zip(self.evals, losses, strict=True):
            evals.append(
                {"step": self.step, "train_loss": float(train_loss), "val_loss": float(val_loss)}
            )

    def estimate_final(self) -> None:
        """The whole-split loss estimate of the trained state (``final_eval_tokens``)."""
        if not self.tc.final_eval_tokens:
            return
        losses, tokens = self.trainer.final_losses(self.state)
        self.forwards += 2 * self.tc.eval_iters * self.trainer.final_sweeps()
        for i, (train_loss, val_loss) in enumerate(losses):
            self.final_estimates[i] = {
                "train_loss": float(train_loss),
                "val_loss": float(val_loss),
                "train_tokens": tokens[0],
                "val_tokens": tokens[1],
            }

    def train(self, n: int, profile_dir: str | None = None) -> None:
        """``n`` steps in one call; a non-finite loss stops the run (its losses are not kept)."""
        if profile_dir is not None:
            jax.profiler.start_trace(profile_dir)
        start = time.perf_counter()
        self.state, losses = self.trainer.run(self.state, n)  # the old state is donated
        self.train_s += time.perf_counter() - start
        if profile_dir is not None:
            jax.profiler.stop_trace()
            self.profile = summarize_trace(
                profile_dir, steps=n, hlo_text=self.trainer.program_text()
            )
        bad = ~np.isfinite(losses)
        if bad.any():
            seed_index, offset = np.argwhere(bad)[0]
            raise NonFiniteLossError(
                f"training loss of model {self.mc.attention} seed {self.seeds[seed_index]} "
                f"became {losses[seed_index, offset]} at step {self.step + offset + 1}; the run "
                f"stops here",
                partial=self.results(),
            )
        for mine, new in zip(self.step_losses, losses, strict=True):
            mine.extend(float(x) for x in new)
        self.step += n
        self.forwards += n

    def to_the_end(self) -> list[TrainResult]:
        """Train to ``max_iters`` (from the newest checkpoint with ``resume``), evaluating every
        ``eval_interval`` steps and checkpointing every ``ckpt_every``; then the final estimate."""
        tc, checkpoints = self.tc, self.options.checkpoints
        if (
            self.options.resume
            and checkpoints is not None
            and checkpoints.latest_step() is not None
        ):
            self.restore(checkpoints)
        bar = self.progress_bar()
        if self.step == 0:
            self.evaluate()
        every = (tc.eval_interval, self.options.ckpt_every)
        lengths = chunk_plan(self.step, tc.max_iters, self.trainer.max_steps, every)
        for index, n in enumerate(lengths):
            self.train_chunk(n, profiled=index == min(1, len(lengths) - 1))
            if self.step % tc.eval_interval == 0 or self.step == tc.max_iters:
                self.evaluate()
                vals = " ".join(f"{e[-1]['val_loss']:.3f}" for e in self.evals)
                bar.set_postfix_str(f"val {vals}", refresh=False)
            self.checkpoint(final=False)
            bar.update(n)
        bar.close()
        self.checkpoint(final=True)
        self.estimate_final()
        return self.results()

    def progress_bar(self):
        return tqdm(
            total=self.tc.max_iters,
            initial=self.step,
            desc=self.options.description
            or f"{self.mc.attention} seeds {','.join(map(str, self.seeds))}",
            disable=not self.options.progress or not is_main_process(),
            unit="step",
            dynamic_ncols=True,
            leave=False,
        )

    def train_chunk(self, n: int, profiled: bool) -> None:
        """``train(n)``, profiled when asked; a non-finite loss says what the checkpoints kept."""
        raise_if_interrupted()  # a Ctrl-C Python lost while compiling or in the last chunk
        profile_dir = self.options.profile_dir if profiled else None
        try:
            self.train(n, profile_dir)
        except NonFiniteLossError as exc:
            checkpoints = self.options.checkpoints
            last = checkpoints.latest_step() if checkpoints is not None else None
            kept = f"the last good checkpoint (step {last}) stays" if last else "no checkpoint"
            raise NonFiniteLossError(
                f"{exc} ({kept}); lower --learning-rate or check the data", exc.partial
            ) from None

    def checkpoint(self, final: bool) -> None:
        """Save the run state every ``ckpt_every`` steps and at ``max_iters``; with ``final``,
        whenever the newest checkpoint is not of this step."""
        checkpoints, every = self.options.checkpoints, self.options.ckpt_every
        if checkpoints is None:
            return
        due = (every and self.step % every == 0) or self.step == self.tc.max_iters
        if (checkpoints.latest_step() != self.step) if final else due:
            checkpoints.save(self.step, self.state, self.record())

    def host_circuits(self) -> int:
        measured = self.executor.executions() if self.executor is not None else None
        return 0 if measured is None else self.earlier_circuits + measured

    def circuit_counts(self) -> dict:
        """Circuit executions of ONE seed: counted by the device for host devices, from shapes
        for in-graph simulation."""
        mc, S = self.mc, len(self.seeds)
        if self.executor is None:
            return {}
        if self.executor.executions() is None:
            per_forward = circuits_per_forward(mc, self.tc.batch_size, mc.block_size)
            return {
                mc.device: self.forwards * per_forward,
                "counted": "from shapes; backprop gradients "
                "reuse the forward simulation and add no executions",
            }
        counts = {
            # Seeds trained together do the same work: the device's count splits evenly.
            mc.device: self.host_circuits() // S,
            "counted": f"by the device ({DEVICES[mc.device].diff_method} gradients included; "
            f"{S} seed(s) in one program, split evenly)",
        }
        submitted = self.executor.submitted()
        if submitted is not None:  # this process's Runtime jobs, for all seeds together
            counts["ibm_runtime"] = submitted
        return counts

    def results(self) -> list[TrainResult]:
        """One result per seed: its parameters, losses and measurements so far."""
        params = to_host(self.state.params)
        S, tokens_per_step = len(self.seeds), self.tc.batch_size * self.mc.block_size
        steps_trained = len(self.step_losses[0])
        per_seed = steps_trained * tokens_per_step / self.train_s if self.train_s > 0 else None
        circuits = self.circuit_counts()
        results = []
        for i, seed in enumerate(self.seeds):
            own = jax.tree_util.tree_map(lambda x, i=i: x[i], params)
            results.append(
                TrainResult(
                    model=self.mc.attention,
                    seed=seed,
                    params=own,
                    step=self.step,
                    params_count=count_params(own),
                    step_losses=list(self.step_losses[i]),
                    evals=list(self.evals[i]),
                    seed_group=list(self.seeds),
                    compile_s=self.compile_s,
                    compile_cache=self.compile_cache,
                    train_s=self.train_s,
                    wall_s=time.perf_counter() - self.wall0,
                    cpu_s=time.process_time() - self.cpu0,
                    peak_rss_mb=process_peak_rss_mb(),
                    tokens_per_s=per_seed,
                    tokens_per_s_all_seeds=per_seed * S if per_seed else None,
                    circuit_executions=circuits,
                    profile=self.profile,
                    resumed_from=self.resumed_from,
                    final_estimate=dict(self.final_estimates[i]),
                )
            )
        return results
