"""Train several models over several seeds on the same batches and write a comparison report."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import os
from pathlib import Path

import jax
import jax.numpy as jnp

from qgpt_jax.attention import circuits_per_forward, executor_scope, kind_of
from qgpt_jax.checkpoint import save_checkpoint
from qgpt_jax.config import LEGACY_NAMES, ModelConfig, TrainConfig
from qgpt_jax.data import Dataset
from qgpt_jax.engine import quantum_failures_are_fatal, release_compiled, train_seeds
from qgpt_jax.errors import CheckpointError, ConfigError, NonFiniteLossError, QGPTError
from qgpt_jax.generate import generate
from qgpt_jax.model import sown
from qgpt_jax.parallel import MeshSpec, check_fits, is_main_process
from qgpt_jax.records import (
    RESULTS_SCHEMA_VERSION,
    Comparison,
    Engine,
    RunRecord,
    SampleDifference,
    check_results,
)
from qgpt_jax.reports.comparison import render_markdown
from qgpt_jax.reports.measures import environment, sample_difference
from qgpt_jax.reports.plots import plot_loss_curves, plot_study
from qgpt_jax.run_state import RunCheckpoints
from qgpt_jax.storage import StorageError, atomic_write_json, atomic_write_text, exclusive_use
from qgpt_jax.study import (
    DEFAULT_MARGIN,
    conclusion,
    model_configs,
    path_name,
    summary,
)
from qgpt_jax.tensorboard import write_run as write_tensorboard_run

SAMPLE_PROMPT = "\n"  # the original generated from a single newline
SAMPLE_TOKENS = 120  # the original's sample length


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"--seeds takes comma-separated integers, got {text!r}") from None
    if not seeds:
        raise ConfigError("--seeds needs at least one integer")
    return list(dict.fromkeys(seeds))


def sampled_tokens(mc: ModelConfig, tc: TrainConfig) -> int:
    """Tokens of one in-training loss estimate of a split (``eval_iters`` random batches)."""
    return tc.eval_iters * tc.batch_size * mc.block_size


def run_entry(model: str, mc: ModelConfig, tc: TrainConfig, result, status="done") -> RunRecord:
    """The ``results.json`` record of one seed's run of ``model`` (without its sample); its keys
    are ``RunRecord``'s, from which the schema is generated."""
    run: RunRecord = {
        "model": model,
        "attention": mc.attention,
        "hidden_width": mc.hidden_width,
        "seed": result.seed,
        "status": status,
        "params": result.params_count,
        "iters": tc.max_iters,
        "steps_done": len(result.step_losses),
        "train_loss": result.final.get("train_loss"),
        "val_loss": result.final.get("val_loss"),
        # The whole-split estimate's coverage, and the last in-training (sampled) estimate that
        # stood in for it before: their intervals say what the wider estimate buys.
        "train_tokens": result.final.get("train_tokens", sampled_tokens(mc, tc)),
        "val_tokens": result.final.get("val_tokens", sampled_tokens(mc, tc)),
        "val_loss_sampled": result.evals[-1]["val_loss"] if result.evals else None,
        "tokens_per_s": result.tokens_per_s,
        "tokens_per_s_all_seeds": result.tokens_per_s_all_seeds,
        "seeds_together": len(result.seed_group),
        "seed_group": result.seed_group,
        "compile_s": result.compile_s,
        "compile_cache": result.compile_cache.value,
        "train_s": result.train_s,
        "wall_s": result.wall_s,
        "cpu_s": result.cpu_s,
        "peak_rss_mb": result.peak_rss_mb,
        "resumed_from_step": result.resumed_from,
        "evals": result.evals,
        "step_losses": result.step_losses,
    }
    if result.profile:
        run["profile"] = result.profile
    if kind_of(mc).runs_circuits:
        run.update(
            device=mc.device,
            n_qubits=mc.n_qubits,
            shots=mc.shots,
            noise=mc.noise,
            circuit_executions=result.circuit_executions,
        )
    return run


def finish_run(
    model, mc, tc, result, tokenizer, checkpoint_dir: Path, sample_tokens: int
) -> RunRecord:
    """Sample and checkpoint one finished seed; its complete ``results.json`` record."""
    with quantum_failures_are_fatal(mc), executor_scope(mc):
        tokens = generate(mc, result.params, tokenizer.encode(SAMPLE_PROMPT), sample_tokens)
    save_checkpoint(
        checkpoint_dir,
        mc,
        result.params,
        tokenizer,
        metadata={"seed": result.seed, "train": tc.to_dict()},
    )
    run: RunRecord = {
        **run_entry(model, mc, tc, result),
        "sample": tokenizer.decode(tokens),
        "sample_tokens": tokens,
        "checkpoint": str(checkpoint_dir),
    }
    kind = kind_of(mc)
    if kind.post_selection is not None and kind.runs_circuits:  # on text the model wrote
        window = jnp.asarray(tokens[-mc.block_size :], jnp.int32)[None]
        with executor_scope(mc):
            kept = sown(mc, result.params, window, kind.post_selection)
            run["kept_shot_share"] = float(jnp.mean(kept))
    return run


def run_state_dir(out: str | Path, model: str, seeds: list[int]) -> Path:
    """Where ``compare`` keeps the run checkpoints of one model's seed group."""
    return Path(out) / "state" / f"{model}-seeds{'-'.join(map(str, seeds))}"


def seed_groups(seeds: list[int], in_parallel: int | None) -> list[list[int]]:
    """Seeds trained together as one program: all of them, or groups of ``in_parallel``."""
    n = in_parallel or len(seeds)
    if n < 1:
        raise ConfigError(f"--seeds-in-parallel must be at least 1, got {n}")
    return [seeds[i : i + n] for i in range(0, len(seeds), n)]


def load_results(out: Path) -> Comparison:
    """The ``results.json`` of an earlier run in ``out``, for ``--resume``: checked against the
    records of its own schema version (``records.check``), so a damaged report is one line."""
    path = Path(out) / "results.json"
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path} does not exist, so {out} holds no run to resume; pass the output folder "
            f"of an earlier compare run, or start a new one with --out"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path} is not a readable results file ({exc}); cannot resume") from None
    if not isinstance(results, dict) or not isinstance(results.get("config"), dict):
        raise ConfigError(f"{path} is not a qgpt-jax results file; cannot resume")
    check_results(results, path, then="; resume it with that version")
    for run in results.get("runs", []):  # model names from before the rename
        run["model"] = LEGACY_NAMES.get(run["model"], run["model"])
    return results


def compare(
    models: list[str],
    seeds: list[int],
    mc: ModelConfig,
    tc: TrainConfig,
    dataset: Dataset,
    out: Path,
    *,
    preset: str,
    progress: bool = True,
    profile_dir: str | None = None,
    log=print,
    sample_tokens: int = SAMPLE_TOKENS,
    mesh=None,
    seeds_in_parallel: int | None = None,
    ckpt_every: int | None = None,
    keep_checkpoints: int = 2,
    resume: bool = False,
    force: bool = False,
    tensorboard_dir: str | None = None,
    margin: float = DEFAULT_MARGIN,
) -> Comparison:
    """Train every model over every seed, then write ``results.json``, ``results.md``, a plot.

    The seeds of a model train as one program (or in groups of ``seeds_in_parallel``).
    ``results.json`` is rewritten atomically after every finished group with a ``status``
    (``running``, ``done``, ``failed``, ``interrupted``). With ``resume``, groups already done in
    ``out/results.json`` are kept, and an interrupted group continues from its newest run
    checkpoint (written every ``ckpt_every`` steps into ``out/state/``). With
    ``tensorboard_dir``, each finished run's metrics also go to TensorBoard event files there.
    ``margin`` is the study's smallest effect of interest in nats (its equivalence tests).
    """
    configs = check_request(
        models, mc, dataset, tc, mesh=mesh, ckpt_every=ckpt_every, margin=margin
    )
    mc = dataclasses.replace(mc, vocab_size=dataset.tokenizer.vocab_size)
    groups, keep = seed_groups(seeds, seeds_in_parallel), keep_checkpoints
    out = Path(out)
    # One run per output folder, held for this run's life (the kernel releases it on a kill).
    with exclusive_use(out) if is_main_process() else contextlib.nullcontext():
        done, earlier = finished_runs(out, resume=resume, force=force)
        engine = engine_record(seeds_in_parallel, mesh, ckpt_every)
        results = new_results(preset, models, seeds, margin, mc, tc, engine, sample_tokens)
        results["quantum_resources"] = resources_of(configs, tc, dataset)
        results["runs"] = list(done.values())  # kept in every rewrite of the report
        if earlier.get("command"):  # the command that configured the run, not `--resume OUT`
            results["environment"]["command"] = earlier["command"]
        session = _Session(out, results, tc, models, seeds, log)
        how = dict(sample_tokens=sample_tokens, tensorboard_dir=tensorboard_dir, mesh=mesh)
        how |= dict(
            progress=progress, profile_dir=profile_dir, ckpt_every=ckpt_every, resume=resume
        )
        with session.reporting(resumed=resume):
            for (model, config), group in itertools.product(configs.items(), groups):
                if all((model, seed) in done for seed in group):
                    log(f"{model} seeds {group}: done in the earlier run, not retrained")
                    continue
                checkpoints = group_checkpoints(out, model, group, ckpt_every, resume, keep)
                session.train_group(model, config, group, dataset, checkpoints, **how)
        return results


def engine_record(seeds_in_parallel: int | None, mesh, ckpt_every: int | None) -> Engine:
    """How the runs were laid out: what a resumed run must repeat."""
    return {
        "seeds_in_parallel": seeds_in_parallel,
        "mesh": dict(mesh.shape) if mesh is not None else None,
        "processes": jax.process_count(),
        "ckpt_every": ckpt_every,
    }


def group_checkpoints(
    out: Path, model: str, group: list[int], ckpt_every, resume: bool, keep: int
) -> RunCheckpoints | None:
    """Where a seed group's run state goes, when the run writes or reads any."""
    if not (ckpt_every or resume):
        return None
    return RunCheckpoints(run_state_dir(out, path_name(model), group), keep)


def resources_of(configs: dict[str, ModelConfig], tc: TrainConfig, dataset: Dataset) -> dict:
    """``quantum_resources`` of every model that runs circuits."""
    return {
        model: quantum_resources(config, tc, dataset)
        for model, config in configs.items()
        if kind_of(config).runs_circuits
    }


def check_request(
    models: list[str],
    mc: ModelConfig,
    dataset: Dataset,
    tc: TrainConfig,
    *,
    mesh,
    ckpt_every,
    margin,
) -> dict[str, ModelConfig]:
    """Every model's configuration, once the whole request is known to be possible: fail before
    training anything, not at the first model that cannot run."""
    if not margin > 0:
        raise ConfigError(f"--margin must be a positive number of nats, got {margin}")
    mc = dataclasses.replace(mc, vocab_size=dataset.tokenizer.vocab_size)
    configs = model_configs(models, mc)  # validates each
    if mesh is not None:
        for config in configs.values():
            device = config.device if kind_of(config).runs_circuits else None
            check_fits(MeshSpec(**mesh.shape), tc.batch_size, device)
    if ckpt_every is not None and ckpt_every < 1:
        raise ConfigError(f"--ckpt-every must be a positive number of steps, got {ckpt_every}")
    return configs


def finished_runs(
    out: Path, *, resume: bool, force: bool
) -> tuple[dict[tuple[str, int], RunRecord], dict]:
    """The runs an earlier report in ``out`` finished, by (model, seed), and its environment,
    when resuming it; a report already there is kept unless the run resumes or replaces it
    (``force``)."""
    if not resume and not force and (out / "results.json").exists():
        raise ConfigError(
            f"{out} already holds a report; continue it with --resume {out}, replace it with "
            f"--force, or choose another --out"
        )
    earlier = load_results(out) if resume else {}
    done = {
        (r["model"], r["seed"]): r
        for r in earlier.get("runs", [])
        if r.get("status", "done") == "done"  # reports before schema 2 hold finished runs only
    }
    return done, earlier.get("environment", {})


def new_results(
    preset, models, seeds, margin, mc, tc, engine: Engine, sample_tokens: int
) -> Comparison:
    """A ``results.json`` with its configuration and no runs yet (``summary`` and the rest are
    filled in by ``write_report``)."""
    return {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "status": "running",
        "config": {
            "preset": preset,
            "models": models,
            "seeds": seeds,
            "margin": margin,
            "model": {k: v for k, v in mc.architecture().items() if k != "attention"},
            "quantum_device": mc.quantum_device.to_dict(),
            "train": {k: v for k, v in tc.to_dict().items() if k != "seed"},
            "engine": engine,
            "sample": {"prompt": SAMPLE_PROMPT, "new_tokens": sample_tokens, "decoding": "greedy"},
        },
        "environment": environment(),
        "runs": [],
    }


class _Session:
    """One compare run's output folder: what it trains next, records and writes."""

    def __init__(self, out: Path, results: Comparison, tc: TrainConfig, models, seeds, log):
        self.out, self.results, self.tc, self.log = out, results, tc, log
        self.order = {(m, s): i for i, (m, s) in enumerate(itertools.product(models, seeds))}
        self.main = is_main_process()

    def write(self, status: str, best_effort: bool = False) -> None:
        """The report as it stands (``best_effort``: a failed write is left to the error that
        is already on its way)."""
        if not self.main:
            return
        self.results["runs"].sort(
            key=lambda r: self.order.get((r["model"], r["seed"]), len(self.order))
        )
        self.results["status"] = status
        try:
            write_report(self.out, self.results, self.tc)
        except StorageError:
            if not best_effort:
                raise

    @contextlib.contextmanager
    def reporting(self, resumed: bool):
        """The report's status around the training: ``running`` from the start (a resumed report
        once there is something new in it), then ``done``, ``interrupted`` or ``failed``; a
        checkpoint error leaves the report as it was (nothing new was trained)."""
        if not resumed:
            self.write("running")
        try:
            yield
        except KeyboardInterrupt:
            self.write("interrupted")
            raise
        except StorageError as exc:  # a full disk: what is on it stays, resumable once freed
            self.write("failed", best_effort=True)
            raise StorageError(f"{exc}, then continue with --resume {self.out}") from None
        except CheckpointError:
            raise
        except QGPTError:
            self.write("failed")
            raise
        self.write("done")

    def train_group(
        self,
        model,
        config,
        group,
        dataset,
        checkpoints,
        *,
        sample_tokens,
        tensorboard_dir,
        **engine,
    ) -> None:
        """Train ``group``'s seeds of ``model``, record each, free the compiled programs and
        rewrite the report."""
        for result in self.train(model, config, group, dataset, checkpoints=checkpoints, **engine):
            self.record(model, config, group, result, dataset, sample_tokens, tensorboard_dir)
        release_compiled()
        self.write("running")

    def train(self, model, config, group, dataset, *, profile_dir, checkpoints, **engine):
        """``group``'s seeds of ``model`` trained as one program (a diverged run is recorded as
        failed before its error goes on)."""
        label = f"{path_name(model)}-seeds{'-'.join(map(str, group))}"
        try:
            return train_seeds(
                config,
                self.tc,
                group,
                dataset,
                profile_dir=os.path.join(profile_dir, label) if profile_dir else None,
                description=f"{model} seed{'s' * (len(group) > 1)} {','.join(map(str, group))}",
                checkpoints=checkpoints,
                **engine,
            )
        except NonFiniteLossError as exc:
            self.results["runs"] += [
                run_entry(model, config, self.tc, r, status="failed") for r in exc.partial or []
            ]
            raise
        finally:
            if checkpoints is not None:
                checkpoints.close()

    def record(self, model, config, group, result, dataset, sample_tokens, tensorboard_dir):
        """A trained seed's run record (its checkpoint and sample on the main process)."""
        if self.main:
            checkpoint_dir = self.out / "checkpoints" / f"{path_name(model)}-seed{result.seed}"
            run = finish_run(
                model, config, self.tc, result, dataset.tokenizer, checkpoint_dir, sample_tokens
            )
        else:
            run = run_entry(model, config, self.tc, result)
        self.results["runs"].append(run)
        if tensorboard_dir and self.main:
            write_tensorboard_run(tensorboard_dir, run)
        self.log(
            f"{model} seed {result.seed}: train {run['train_loss']:.4f}  val "
            f"{run['val_loss']:.4f}  {run['tokens_per_s'] or 0:,.0f} tokens/s "
            f"({len(group)} seed(s) together: {run['tokens_per_s_all_seeds'] or 0:,.0f})"
            f"  compile {run['compile_s']:.1f}s ({run['compile_cache']})"
        )


def summarize(results: Comparison) -> Comparison:
    """``results`` with what its finished runs say: ``summary``, ``conclusion`` and
    ``sample_differences`` (recomputed from the runs, never carried over from an older file)."""
    runs = [r for r in results["runs"] if r.get("status") == "done"]
    cfg = results["config"]
    results["summary"] = summary(runs, cfg["models"], cfg.get("margin", DEFAULT_MARGIN))
    results["conclusion"] = conclusion(results["summary"])
    results["sample_differences"] = sample_differences(runs)
    return results


def write_report(out: Path, results: Comparison, tc: TrainConfig) -> None:
    """``results.json`` (atomically), and when runs have finished ``results.md`` and the plot."""
    summarize(results)
    runs = [r for r in results["runs"] if r.get("status") == "done"]
    cfg = results["config"]
    atomic_write_json(out / "results.json", results)
    if runs:
        seeds = ", ".join(map(str, cfg["seeds"]))
        title = f"preset {cfg['preset']}: {tc.max_iters} steps, seeds {seeds}"
        plot_loss_curves(runs, out / "loss_curves.png", title)
        plot_study(
            runs, results["summary"], out / "loss_vs_params.png", out / "throughput.png", title
        )
        atomic_write_text(out / "results.md", render_markdown(results))


def quantum_resources(mc: ModelConfig, tc: TrainConfig, dataset: Dataset) -> dict:
    """Transpiled circuit size and the cost of this training run on a QPU, for one head kind."""
    from qgpt_jax.quantum.resources import RESOURCE_FIELDS, circuit_resources
    from qgpt_jax.train import final_sweeps

    splits = (dataset.n_train, len(dataset.tokens) - dataset.n_train)
    backend = mc.backend or mc.noise or "generic all-to-all device (basis rz, sx, x, cx)"
    kind = kind_of(mc)
    if kind.hardware is not None:  # its own QPU circuit (a kind with one runs without noise)
        own = kind.hardware(mc, tc.batch_size, mc.block_size)
        circuit = {k: own[k] for k in (*RESOURCE_FIELDS, "note")}
    else:
        circuit = circuit_resources(mc.n_qubits, mc.noise, kind.circuit, backend=mc.backend)
    cost = qpu_cost(mc, tc, final_sweeps(tc, mc.block_size, splits), circuit.get("shot_s"))
    return {"backend": backend, **circuit, **cost}


def qpu_cost(
    mc: ModelConfig, tc: TrainConfig, final_sweeps: int, shot_s: float | None = None
) -> dict:
    """``hardware_estimate`` of ``mc``'s kind: its circuits per forward pass as hardware runs
    them (one per binding, as on ``aer``, or the kind's own QPU circuits) and the angles a
    parameter-shift gradient shifts."""
    from qgpt_jax.quantum.resources import hardware_estimate, jobs_per_forward, shifted_angles

    kind = kind_of(mc)
    jobs_forward = None
    if kind.hardware is not None:
        own = kind.hardware(mc, tc.batch_size, mc.block_size)
        forward = mc.n_layer * mc.n_quantum_heads * own["circuits_per_head"]
        shifted = own["shifted"]
    else:
        on_qpu = mc.on(device="aer", shots=mc.shots, noise=None, backend=None)
        forward = circuits_per_forward(on_qpu, tc.batch_size, mc.block_size)
        shifted = shifted_angles(kind, mc.n_qubits)
        if mc.backend is not None:  # what the run submits to IBM Runtime, job by job
            jobs_forward = jobs_per_forward(mc)
    return hardware_estimate(mc, tc, forward, shifted, final_sweeps, shot_s, jobs_forward)


def sample_differences(runs: list[RunRecord]) -> list[SampleDifference]:
    """The original's statistics between the greedy samples of every pair of models, per seed."""
    diffs = []
    for a, b in itertools.combinations(runs, 2):
        if a["seed"] == b["seed"] and a["model"] != b["model"]:
            stats = sample_difference(
                a["sample_tokens"], b["sample_tokens"], a["sample"], b["sample"]
            )
            diffs.append({"a": a["model"], "b": b["model"], "seed": a["seed"], **stats})
    return diffs
