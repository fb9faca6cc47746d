"""The study: which models to train, and what their seeds say with intervals and paired tests.

Models are named on the command line by attention kind (``qgpt_jax.attention.KINDS``, surrogates
included) or as ``classical-matched``: the classical model with its feed-forward width resized so
that its parameter count is within 1% of a quantum kind's. ``classical-matched:<kind>`` names the
kind; plain ``classical-matched`` gives one per quantum kind in the list.

Every quantum kind is compared, seed by seed (every model sees the same batches for a seed), with
each control that was trained: ``classical``, ``classical-matched:<kind>`` and ``<kind>-surrogate``.
Only a difference to the surrogate can be credited to the circuit; one to ``classical-matched``
rules out mere extra parameters.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
from scipy import stats

from qgpt_jax.attention import KINDS, SURROGATE_SUFFIX
from qgpt_jax.config import LEGACY_NAMES, ModelConfig
from qgpt_jax.errors import ConfigError
from qgpt_jax.model import count_params, init

CLASSICAL_MATCHED = "classical-matched"
STUDY = "study"
STUDY_MODELS = (
    "classical",
    CLASSICAL_MATCHED,
    "enhance",
    "enhance-surrogate",
    "qsann",
    "qsann-surrogate",
    "kernel",
    "kernel-surrogate",
)
"""``--models study``: every causal quantum kind with all three of its controls."""
MATCH_TOLERANCE = 0.01
"""``classical-matched`` is within this fraction of its quantum kind's parameter count."""
CONFIDENCE = 0.95


def parse_models(text: str) -> list[str]:
    """Model names from ``--models``: kinds, ``classical-matched``, ``classical-matched:K`` and
    ``study`` (``STUDY_MODELS``)."""
    names = [LEGACY_NAMES.get(m.strip(), m.strip()) for m in text.split(",") if m.strip()]
    names = [n for name in names for n in (STUDY_MODELS if name == STUDY else [name])]
    quantum = [n for n in names if n in KINDS and KINDS[n].runs_circuits]
    models = []
    for name in names:
        if name == CLASSICAL_MATCHED:
            if not quantum:
                raise ConfigError(
                    "classical-matched is sized to a quantum kind: add one to --models (e.g. "
                    "enhance) or name it as classical-matched:enhance"
                )
            models += [f"{CLASSICAL_MATCHED}:{k}" for k in quantum]
        elif name.startswith(CLASSICAL_MATCHED + ":"):
            target = LEGACY_NAMES.get(name.split(":", 1)[1], name.split(":", 1)[1])
            if target not in KINDS or not KINDS[target].runs_circuits:
                choices = ", ".join(k for k, kind in KINDS.items() if kind.runs_circuits)
                raise ConfigError(
                    f"{name}: classical-matched takes a quantum kind to match ({choices})"
                )
            models.append(f"{CLASSICAL_MATCHED}:{target}")
        elif name in KINDS:
            models.append(name)
        else:
            raise ConfigError(
                f"unknown model {name}; choose from: {', '.join(KINDS)}, {CLASSICAL_MATCHED}, "
                f"{CLASSICAL_MATCHED}:<kind>, {STUDY} (comma-separated)"
            )
    if not models:
        raise ConfigError("--models needs at least one model")
    return list(dict.fromkeys(models))


def path_name(model: str) -> str:
    """The model's name as a file or folder name."""
    return model.replace(":", "-")


def parameter_count(config: ModelConfig) -> int:
    """Parameters of ``config`` from shapes alone (nothing is computed)."""
    return count_params(jax.eval_shape(lambda: init(config, jax.random.key(0))))


def matched_classical(config: ModelConfig) -> ModelConfig:
    """The classical model of ``config``'s size whose feed-forward width brings its parameter
    count closest to ``config``'s (within ``MATCH_TOLERANCE``, else a ``ConfigError``)."""
    target = parameter_count(config)
    classical = dataclasses.replace(config, attention="classical", ffn_width=None)
    base = parameter_count(classical)
    per_unit = config.n_layer * (2 * config.n_embd + 1)  # one hidden unit: fc column, bias, row
    width = classical.hidden_width + round((target - base) / per_unit)
    if width < 1:
        raise ConfigError(
            f"no classical model of n_embd {config.n_embd} is as small as {config.attention} "
            f"({target:,} parameters); classical-matched cannot be built at this size"
        )
    matched = dataclasses.replace(classical, ffn_width=width)
    count = parameter_count(matched)
    if abs(count - target) > MATCH_TOLERANCE * target:
        raise ConfigError(
            f"classical-matched reaches {count:,} parameters, not within 1% of "
            f"{config.attention}'s {target:,}; choose a larger n_embd"
        )
    return matched


def model_configs(models: list[str], mc: ModelConfig) -> dict[str, ModelConfig]:
    """The configuration of every named model, from the shared one."""
    configs = {}
    for model in models:
        if model.startswith(CLASSICAL_MATCHED + ":"):
            target = dataclasses.replace(mc, attention=model.split(":", 1)[1])
            configs[model] = matched_classical(target)
        else:
            configs[model] = dataclasses.replace(mc, attention=model)
    return configs


def describe(values) -> dict:
    """Mean, sample standard deviation and the 95% t-interval of the mean over seeds."""
    values = np.asarray([v for v in values if v is not None], dtype=float)
    n = int(values.size)
    if n == 0:
        return {"n": 0, "mean": None, "std": None, "ci95": None}
    mean = float(values.mean())
    if n == 1:
        return {"n": 1, "mean": mean, "std": 0.0, "ci95": None}
    std = float(values.std(ddof=1))
    if std == 0:  # every seed gave the same value (e.g. a group's shared compile time)
        return {"n": n, "mean": mean, "std": 0.0, "ci95": [mean, mean]}
    low, high = stats.t.interval(CONFIDENCE, n - 1, loc=mean, scale=stats.sem(values))
    return {"n": n, "mean": mean, "std": std, "ci95": [float(low), float(high)]}


def controls_of(kind: str, models: list[str]) -> list[str]:
    """The controls of quantum ``kind`` among ``models``, strongest last."""
    wanted = ["classical", f"{CLASSICAL_MATCHED}:{kind}", kind + SURROGATE_SUFFIX]
    return [m for m in wanted if m in models]


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment for multiple comparisons (scipy.stats offers only the
    Benjamini-Hochberg and -Yekutieli ones): the k-th smallest of m p-values times (m - k + 1),
    made monotone, capped at 1."""
    order = np.argsort(p_values)
    m = len(p_values)
    adjusted = np.empty(m)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted.tolist()


def paired_comparisons(runs: list[dict], models: list[str], metric: str = "val_loss") -> list:
    """Every quantum kind against each of its controls, paired by seed: the per-seed differences
    (kind minus control; negative means the kind's loss is lower), their mean, 95% t-interval and
    paired t-test p-value, Holm-adjusted over all comparisons made."""
    by_model = {m: {r["seed"]: r[metric] for r in runs if r["model"] == m} for m in models}
    comparisons = []
    for kind in models:
        if kind not in KINDS or not KINDS[kind].runs_circuits:
            continue
        for control in controls_of(kind, models):
            seeds = sorted(set(by_model[kind]) & set(by_model[control]))
            a = np.array([by_model[kind][s] for s in seeds], dtype=float)
            b = np.array([by_model[control][s] for s in seeds], dtype=float)
            entry = {
                "model": kind,
                "control": control,
                "metric": metric,
                "seeds": seeds,
                "differences": (a - b).tolist(),
                **{f"difference_{k}": v for k, v in describe(a - b).items() if k != "n"},
                "p_value": None,
                "p_holm": None,
            }
            if len(seeds) > 1 and np.ptp(a - b) > 0:
                entry["p_value"] = float(stats.ttest_rel(a, b).pvalue)
            comparisons.append(entry)
    tested = [c for c in comparisons if c["p_value"] is not None]
    for c, adjusted in zip(tested, holm([c["p_value"] for c in tested]), strict=True):
        c["p_holm"] = adjusted
    return comparisons


def summary(runs: list[dict], models: list[str]) -> list[dict]:
    """One entry per model with finished runs: sizes, losses and throughput over seeds, and for
    quantum kinds their paired ``comparisons`` with each control."""
    done = [m for m in models if any(r["model"] == m for r in runs)]
    comparisons = paired_comparisons(runs, done)
    entries = []
    for model in done:
        mine = [r for r in runs if r["model"] == model]
        entry = {"model": model, "n_seeds": len(mine), "params": mine[0]["params"]}
        for key in ("val_loss", "train_loss", "tokens_per_s", "compile_s", "wall_s", "peak_rss_mb"):
            d = describe([r.get(key) for r in mine])
            entry.update({f"{key}_mean": d["mean"], f"{key}_std": d["std"]})
            if key.endswith("loss"):
                entry[f"{key}_ci95"] = d["ci95"]
        # Seeds trained together share one clock: the aggregate counts each group once.
        groups = {tuple(r.get("seed_group", [r["seed"]])): r for r in mine}.values()
        entry["tokens_per_s_all_seeds_mean"] = describe(
            [r.get("tokens_per_s_all_seeds") for r in groups]
        )["mean"]
        entry["seeds_together"] = max(r.get("seeds_together", 1) for r in mine)
        entry["comparisons"] = [c for c in comparisons if c["model"] == model]
        entries.append(entry)
    return entries


def _interval(c: dict) -> str:
    low, high = c["difference_ci95"] or (c["difference_mean"], c["difference_mean"])
    return f"{c['difference_mean']:+.4f} nats, unadjusted 95% CI {low:+.4f} to {high:+.4f}"


def conclusion(entries: list[dict], alpha: float = 1 - CONFIDENCE) -> str:
    """A paragraph written from the comparisons: which quantum kinds differ from which control at
    95% (Holm-adjusted), in which direction and by how much, and the answer to the study's
    question."""
    comparisons = [c for e in entries for c in e["comparisons"]]
    if not comparisons:
        return (
            "No quantum kind was trained together with a control, so there is nothing to compare."
        )
    n_tests = sum(c["p_holm"] is not None for c in comparisons)
    sentences = []
    for c in comparisons:
        n = len(c["seeds"])
        what = f"{c['model']} against {c['control']} ({n} paired seed{'s' * (n != 1)})"
        if c["p_holm"] is None:
            sentences.append(f"{what}: {c['difference_mean']:+.4f} nats, too few seeds for a test.")
        elif c["p_holm"] < alpha:
            direction = "lower" if c["difference_mean"] < 0 else "higher"
            sentences.append(
                f"{what}: validation loss {direction} by {abs(c['difference_mean']):.4f} nats "
                f"({_interval(c)}; Holm-adjusted p = {c['p_holm']:.3g}), a difference at 95%."
            )
        else:
            sentences.append(
                f"{what}: no difference at 95% ({_interval(c)}; Holm-adjusted p = "
                f"{c['p_holm']:.3g})."
            )
    winners = []
    for e in entries:
        beaten = {
            c["control"]
            for c in e["comparisons"]
            if c["p_holm"] is not None and c["p_holm"] < alpha and c["difference_mean"] < 0
        }
        needed = {f"{CLASSICAL_MATCHED}:{e['model']}", e["model"] + SURROGATE_SUFFIX}
        controls = {c["control"] for c in e["comparisons"]}
        if needed <= controls and needed <= beaten:
            winners.append(e["model"])
    asked = [
        e["model"]
        for e in entries
        if {f"{CLASSICAL_MATCHED}:{e['model']}", e["model"] + SURROGATE_SUFFIX}
        <= {c["control"] for c in e["comparisons"]}
    ]
    if not asked:
        answer = (
            "No quantum kind was trained with both its surrogate and classical-matched, so the "
            "study's question (does a circuit beat both at 95%?) is not answered by this run."
        )
    elif winners:
        answer = (
            f"Answer: {', '.join(winners)} beat{'s' * (len(winners) == 1)} both its surrogate "
            "and classical-matched at 95% confidence."
        )
    else:
        answer = (
            f"Answer: no quantum kind ({', '.join(asked)}) beats both its surrogate and "
            "classical-matched at 95% confidence in this run."
        )
    return (
        f"Paired by seed, validation loss, kind minus control (negative: the quantum kind is "
        f"better); p-values from paired t-tests, Holm-adjusted over the {n_tests} tests. "
        + " ".join(sentences)
        + " "
        + answer
    )


def plot_study(runs: list[dict], entries: list[dict], path_params, path_speed, title: str):
    """Final validation loss against parameter count (one point per seed), and tokens/s per
    model (mean with the seeds' standard deviation)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from qgpt_jax.report import save_figure

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for e in entries:
        mine = [r for r in runs if r["model"] == e["model"] and r.get("val_loss") is not None]
        ax.scatter(
            [r["params"] for r in mine], [r["val_loss"] for r in mine], label=e["model"], s=22
        )
    ax.set_xlabel("parameters")
    ax.set_ylabel("final validation loss (nats/char)")
    ax.set_title(f"{title}: one point per seed")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path_params)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(entries)), 4.5))
    names = [e["model"] for e in entries]
    ax.bar(
        names,
        [e["tokens_per_s_mean"] or 0 for e in entries],
        yerr=[e["tokens_per_s_std"] or 0 for e in entries],
        capsize=3,
    )
    if any(e["tokens_per_s_mean"] for e in entries):
        ax.set_yscale("log")
    ax.set_ylabel("training tokens/s per seed (excl. compile)")
    ax.set_title(title)
    ax.tick_params(axis="x", rotation=30)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")
    ax.grid(alpha=0.3, axis="y")
    save_figure(fig, path_speed)
    plt.close(fig)
