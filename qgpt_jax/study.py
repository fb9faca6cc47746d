"""The study: which models to train, and what their seeds say with intervals and paired tests.

Models are named on the command line by attention kind (``qgpt_jax.attention.KINDS``, surrogates
included) or as ``classical-matched``: the classical model with its feed-forward width resized so
that its parameter count is within 1% of a quantum kind's. ``classical-matched:<kind>`` names the
kind; plain ``classical-matched`` gives one per quantum kind in the list.

Every quantum kind is compared, seed by seed (every model sees the same batches for a seed), with
each control that was trained: ``classical``, ``classical-matched:<kind>`` and ``<kind>-surrogate``.
Only a difference to the surrogate can be credited to the circuit; one to ``classical-matched``
rules out mere extra parameters.

"Not significant" is not "no effect". Each comparison is therefore also tested for equivalence
(two one-sided paired t-tests against a smallest effect of interest, the margin, declared before
the run) and without assuming normality (Wilcoxon's signed-rank test), and it states the smallest
difference its seeds could detect at 80% power. Its verdict is one word: ``better``, ``worse``,
``equivalent`` (within +/- the margin) or ``inconclusive``, with the seeds that would decide an
inconclusive one.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
from scipy import optimize, stats

from qgpt_jax.attention import KINDS, SURROGATE_SUFFIX, validated
from qgpt_jax.config import LEGACY_NAMES, ModelConfig
from qgpt_jax.errors import ConfigError
from qgpt_jax.model import count_params, init
from qgpt_jax.records import ModelSummary, PairedComparison, RunRecord, Stat

CLASSICAL_MATCHED = "classical-matched"
STUDY = "study"


def study_models() -> list[str]:
    """``--models study``: every causal quantum kind of the registry with all three of its
    controls (the original's head is not causal, so a language model's loss says nothing about
    it)."""
    return [
        "classical",
        CLASSICAL_MATCHED,
        *(
            name
            for kind in KINDS.values()
            if kind.runs_circuits and kind.causal
            for name in (kind.name, kind.name + SURROGATE_SUFFIX)
        ),
    ]


def study_kinds() -> list[str]:
    """The quantum kinds ``--models study`` trains."""
    return [m for m in study_models() if m in KINDS and KINDS[m].runs_circuits]


MATCH_TOLERANCE = 0.01
"""``classical-matched`` is within this fraction of its quantum kind's parameter count."""
CONFIDENCE = 0.95
POWER = 0.8
"""The power at which ``detectable_effect`` and ``seeds_needed`` are stated."""
DEFAULT_MARGIN = 0.01
"""The smallest effect of interest in validation nats per character (see the README): 1% of
a ~1.9-2.5 nat loss is ~0.4-0.5%, below what separates the presets' classical models after
training and about the seed-to-seed spread of the whole-split estimate."""
MAX_SEEDS = 1000
"""``seeds_needed`` reports none beyond this many (the design cannot decide the comparison)."""
VERDICTS = ("better", "worse", "equivalent", "inconclusive")


def parse_models(text: str) -> list[str]:
    """Model names from ``--models``: kinds, ``classical-matched``, ``classical-matched:K`` and
    ``study`` (``study_models()``)."""
    names = [LEGACY_NAMES.get(m.strip(), m.strip()) for m in text.split(",") if m.strip()]
    names = [n for name in names for n in (study_models() if name == STUDY else [name])]
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
            configs[model] = validated(matched_classical(target))
        else:
            configs[model] = validated(dataclasses.replace(mc, attention=model))
    return configs


def describe(values) -> Stat:
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


def tost_p(differences, margin: float) -> float | None:
    """Two one-sided paired t-tests of equivalence: the larger p of "mean difference > -margin"
    and "mean difference < +margin"; below alpha, the difference lies within +/- ``margin``."""
    d = np.asarray(differences, dtype=float)
    if d.size < 2 or np.ptp(d) == 0:
        return None
    above = stats.ttest_1samp(d, -margin, alternative="greater").pvalue
    below = stats.ttest_1samp(d, margin, alternative="less").pvalue
    return float(max(above, below))


def nonparametric_p(differences) -> float | None:
    """Wilcoxon's signed-rank test of a zero median difference (exact for few seeds), which does
    not assume the differences are normal. With n seeds its smallest two-sided p is 2 / 2^n
    (1/16 for 5), so at least 6 are needed to reach 0.05."""
    d = np.asarray(differences, dtype=float)
    if d.size < 2 or not np.any(d != 0):
        return None
    return float(stats.wilcoxon(d).pvalue)


def _nct_cdf(x: float, df: int, shift: float) -> float:
    """The noncentral t's CDF; where scipy's series does not converge (few degrees of freedom and
    a large shift give NaN), the normal approximation ``Phi(x - shift)``, accurate there."""
    value = stats.nct.cdf(x, df, shift)
    return float(value) if np.isfinite(value) else float(stats.norm.cdf(x - shift))


def difference_power(effect: float, std: float, n: int, alpha: float = 1 - CONFIDENCE) -> float:
    """Power of the two-sided paired t-test with ``n`` seeds against a true mean difference of
    ``effect`` nats when the differences spread with ``std`` (the noncentral t)."""
    df, critical = n - 1, stats.t.ppf(1 - alpha / 2, n - 1)
    shift = abs(effect) * np.sqrt(n) / std
    return 1.0 - _nct_cdf(critical, df, shift) + _nct_cdf(-critical, df, shift)


def equivalence_power(
    effect: float, std: float, n: int, margin: float, alpha: float = 1 - CONFIDENCE
) -> float:
    """Power of the TOST at ``margin`` with ``n`` seeds when the true mean difference is
    ``effect`` (the usual noncentral-t approximation, the two tests sharing one variance)."""
    df, critical = n - 1, stats.t.ppf(1 - alpha, n - 1)
    scale = np.sqrt(n) / std
    power = _nct_cdf(-critical, df, (effect - margin) * scale) - _nct_cdf(
        critical, df, (effect + margin) * scale
    )
    return max(power, 0.0)


def detectable_effect(std: float | None, n: int, alpha: float = 1 - CONFIDENCE) -> float | None:
    """The smallest mean difference the paired t-test detects at ``POWER`` with ``n`` seeds whose
    differences spread with ``std``: what this design could have found."""
    if std is None or std <= 0 or n < 2:
        return None
    high = std
    while difference_power(high, std, n, alpha) < POWER:
        high *= 2
    return float(optimize.brentq(lambda e: difference_power(e, std, n, alpha) - POWER, 0, high))


def seeds_needed(mean: float, std: float | None, margin: float, alpha=1 - CONFIDENCE) -> int | None:
    """Paired seeds at which, if the observed mean and spread are the truth, the comparison would
    be decided at ``POWER``: shown different when the mean lies outside the margin, equivalent
    when inside. ``None`` beyond ``MAX_SEEDS`` (a mean at the margin's edge is never decided)."""
    if std is None or std <= 0:
        return None
    for n in range(2, MAX_SEEDS + 1):
        if abs(mean) >= margin:
            power = difference_power(mean, std, n, alpha)
        else:
            power = equivalence_power(mean, std, n, margin, alpha)
        if power >= POWER:
            return n
    return None


def verdict(comparison: dict, alpha: float = 1 - CONFIDENCE) -> str:
    """One word for a comparison. ``equivalent``: the TOST puts the difference within +/- the
    margin (a real but smaller difference is no effect of interest, so this comes first);
    ``better`` / ``worse``: the Holm-adjusted t-test finds a difference (negative: the quantum
    kind's loss is lower); otherwise ``inconclusive``."""
    if comparison["tost_p"] is not None and comparison["tost_p"] < alpha:
        return "equivalent"
    if comparison["p_holm"] is not None and comparison["p_holm"] < alpha:
        return "better" if comparison["difference_mean"] < 0 else "worse"
    return "inconclusive"


def paired_comparisons(
    runs: list[RunRecord],
    models: list[str],
    metric: str = "val_loss",
    margin: float = DEFAULT_MARGIN,
) -> list[PairedComparison]:
    """Every quantum kind against each of its controls, paired by seed: the per-seed differences
    (kind minus control; negative means the kind's loss is lower), their mean, 95% t-interval and
    paired t-test p-value, Holm-adjusted over all comparisons made; the equivalence and signed-rank
    p-values, the detectable effect and the verdict (see the module docstring)."""
    by_model = {m: {r["seed"]: r[metric] for r in runs if r["model"] == m} for m in models}
    comparisons = []
    for kind in models:
        if kind not in KINDS or not KINDS[kind].runs_circuits:
            continue
        for control in controls_of(kind, models):
            seeds = sorted(set(by_model[kind]) & set(by_model[control]))
            a = np.array([by_model[kind][s] for s in seeds], dtype=float)
            b = np.array([by_model[control][s] for s in seeds], dtype=float)
            entry: PairedComparison = {
                "model": kind,
                "control": control,
                "metric": metric,
                "seeds": seeds,
                "differences": (a - b).tolist(),
                **{f"difference_{k}": v for k, v in describe(a - b).items() if k != "n"},
                "p_value": None,
                "p_holm": None,
                "margin": margin,
                "tost_p": tost_p(a - b, margin),
                "p_nonparametric": nonparametric_p(a - b),
            }
            entry["detectable_effect"] = detectable_effect(entry["difference_std"], len(seeds))
            if len(seeds) > 1 and np.ptp(a - b) > 0:
                entry["p_value"] = float(stats.ttest_rel(a, b).pvalue)
            comparisons.append(entry)
    tested = [c for c in comparisons if c["p_value"] is not None]
    for c, adjusted in zip(tested, holm([c["p_value"] for c in tested]), strict=True):
        c["p_holm"] = adjusted
    for c in comparisons:
        c["verdict"] = verdict(c)
        c["seeds_needed"] = (
            seeds_needed(c["difference_mean"], c["difference_std"], margin)
            if c["verdict"] == "inconclusive" and c["difference_mean"] is not None
            else None
        )
    return comparisons


def summary(
    runs: list[RunRecord], models: list[str], margin: float = DEFAULT_MARGIN
) -> list[ModelSummary]:
    """One entry per model with finished runs: sizes, losses and throughput over seeds, and for
    quantum kinds their paired ``comparisons`` with each control."""
    done = [m for m in models if any(r["model"] == m for r in runs)]
    comparisons = paired_comparisons(runs, done, margin=margin)
    if runs and all(r.get("val_loss_sampled") is not None for r in runs):
        # The same comparisons on the last in-training estimate (eval_iters random batches):
        # what the whole-split estimate narrows.
        sampled = paired_comparisons(runs, done, "val_loss_sampled", margin)
        for c, s in zip(comparisons, sampled, strict=True):
            c["difference_ci95_sampled"] = s["difference_ci95"]
    entries = []
    for model in done:
        mine = [r for r in runs if r["model"] == model]
        entry: ModelSummary = {"model": model, "n_seeds": len(mine), "params": mine[0]["params"]}
        entry["val_tokens"] = mine[0].get("val_tokens")
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


def _seeds_needed(c: dict) -> str:
    if c["seeds_needed"] is None:
        return ""
    return f"; about {c['seeds_needed']} paired seeds would decide it"


def interval_narrowing(entries: list[dict]) -> float | None:
    """The median ratio of the paired 95% interval widths, last in-training estimate over the
    final one (2.0: the final estimate's intervals are half as wide); ``None`` without both."""
    ratios = [
        (c["difference_ci95_sampled"][1] - c["difference_ci95_sampled"][0])
        / (c["difference_ci95"][1] - c["difference_ci95"][0])
        for e in entries
        for c in e["comparisons"]
        if c.get("difference_ci95_sampled")
        and c["difference_ci95"]
        and c["difference_ci95"][1] > c["difference_ci95"][0]
    ]
    return float(np.median(ratios)) if ratios else None


def control_role(control: str) -> str:
    """Which of the three controls ``control`` is: classical, classical-matched or surrogate."""
    if control.endswith(SURROGATE_SUFFIX):
        return "surrogate"
    return control.split(":", 1)[0]


def verdict_table(entries: list[dict]) -> list[str]:
    """The verdicts as a markdown table: one row per quantum kind, one column per control."""
    rows = []
    for e in entries:
        if not e["comparisons"]:
            continue
        cells = {control_role(c["control"]): c for c in e["comparisons"]}
        roles = ("classical", CLASSICAL_MATCHED, "surrogate")
        rows.append(
            f"| {e['model']} | {e['params']:,} | "
            + " | ".join(_verdict_cell(cells.get(role)) for role in roles)
            + " |"
        )
    if not rows:
        return []
    return [
        "| quantum kind | params | vs classical | vs classical-matched | vs its surrogate |",
        "| --- | ---: | --- | --- | --- |",
        *rows,
    ]


def _verdict_cell(c: dict | None) -> str:
    if c is None:
        return "not trained"
    seeds = f", {c['seeds_needed']} seeds to decide" if c["seeds_needed"] else ""
    return f"{c['verdict']} ({c['difference_mean']:+.4f}{seeds})"


def _sentence(c: dict, alpha: float) -> str:
    """One comparison of the conclusion in words."""
    n = len(c["seeds"])
    what = f"{c['model']} against {c['control']} ({n} paired seed{'s' * (n != 1)})"
    if c["p_holm"] is None:
        return f"{what}: {c['difference_mean']:+.4f} nats, too few seeds for a test."
    if c["verdict"] == "equivalent":
        return (
            f"{what}: equivalent within +/-{c['margin']:g} nats ({_interval(c)}; TOST p = "
            f"{c['tost_p']:.3g})."
        )
    if c["p_holm"] < alpha:
        direction = "lower" if c["difference_mean"] < 0 else "higher"
        return (
            f"{what}: validation loss {direction} by {abs(c['difference_mean']):.4f} nats "
            f"({_interval(c)}; Holm-adjusted p = {c['p_holm']:.3g}), a difference at 95%."
        )
    return (
        f"{what}: no difference at 95% ({_interval(c)}; Holm-adjusted p = {c['p_holm']:.3g}), "
        f"nor shown equivalent within +/-{c['margin']:g} nats (inconclusive{_seeds_needed(c)})."
    )


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
    sentences = [_sentence(c, alpha) for c in comparisons]

    def with_both(e):
        needed = {f"{CLASSICAL_MATCHED}:{e['model']}", e["model"] + SURROGATE_SUFFIX}
        return {c["control"]: c["verdict"] for c in e["comparisons"] if c["control"] in needed}

    asked = {e["model"]: both for e in entries if len(both := with_both(e)) == 2}
    winners = [m for m, v in asked.items() if set(v.values()) == {"better"}]
    bounded = [m for m, v in asked.items() if set(v.values()) == {"equivalent"}]
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
    if bounded:
        margin = next(c["margin"] for e in entries for c in e["comparisons"])
        answer += (
            f" {', '.join(bounded)} {'is' if len(bounded) == 1 else 'are'} equivalent to both "
            f"within +/-{margin:g} nats: a gain larger than that is ruled out at 95%."
        )
    return (
        f"Paired by seed, validation loss, kind minus control (negative: the quantum kind is "
        f"better); p-values from paired t-tests, Holm-adjusted over the {n_tests} tests; "
        "equivalence from two one-sided tests against the margin. "
        + " ".join(sentences)
        + " "
        + answer
    )


def across_sizes(reports: dict[str, dict]) -> list[dict]:
    """One row per (size, kind, control) from the ``results.json`` of studies at several sizes
    (``{label: results}``): parameters, mean difference, 95% interval, margin and verdict."""
    rows = []
    for label, results in reports.items():
        for entry in results.get("summary", []):
            for c in entry["comparisons"]:
                if "verdict" not in c:
                    raise ConfigError(
                        f"the {label} report predates verdicts (results.json schema 4); rerun "
                        "its study or resume it with this version"
                    )
                rows.append({
                    "size": label, "model": c["model"], "control": control_role(c["control"]),
                    "params": entry["params"], "difference_mean": c["difference_mean"],
                    "difference_ci95": c["difference_ci95"], "margin": c["margin"],
                    "verdict": c["verdict"], "seeds": len(c["seeds"]),
                })  # fmt: skip
    return rows


def sizes_table(rows: list[dict]) -> list[str]:
    """The verdicts of ``across_sizes`` as markdown: kinds x controls, one column per size."""
    sizes = list(dict.fromkeys(r["size"] for r in rows))
    keys = list(dict.fromkeys((r["model"], r["control"]) for r in rows))
    cells = {(r["model"], r["control"], r["size"]): r for r in rows}
    lines = [
        "| quantum kind | control | " + " | ".join(sizes) + " |",
        "| --- | --- |" + " --- |" * len(sizes),
    ]
    for model, control in keys:
        found = [cells.get((model, control, size)) for size in sizes]
        lines.append(
            f"| {model} | {control} | "
            + " | ".join(
                "not trained"
                if r is None
                else f"{r['verdict']} ({r['difference_mean']:+.4f}, {r['params']:,} params)"
                for r in found
            )  # fmt: skip
            + " |"
        )
    return lines
