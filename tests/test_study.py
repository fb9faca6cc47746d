"""qgpt_jax.study: model names, capacity-matched controls, intervals, paired tests, conclusion."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from qgpt_jax.config import ModelConfig, TrainConfig
from qgpt_jax.errors import ConfigError
from qgpt_jax.study import (
    POWER,
    VERDICTS,
    conclusion,
    describe,
    detectable_effect,
    holm,
    model_configs,
    nonparametric_p,
    parameter_count,
    parse_models,
    seeds_needed,
    summary,
    tost_p,
    verdict,
    verdict_table,
)


def test_classical_matched_expands_to_one_control_per_quantum_kind():
    assert parse_models("classical,classical-matched,enhance,qsann,enhance-surrogate") == [
        "classical", "classical-matched:enhance", "classical-matched:qsann", "enhance", "qsann",
        "enhance-surrogate",
    ]
    assert parse_models("classical-matched:kernel") == ["classical-matched:kernel"]
    assert parse_models("study") == [
        "classical", "classical-matched:enhance", "classical-matched:qsann",
        "classical-matched:kernel", "classical-matched:qkv", "classical-matched:qasa",
        "classical-matched:orthogonal", "classical-matched:quixer", "enhance", "enhance-surrogate",
        "qsann", "qsann-surrogate", "kernel", "kernel-surrogate", "qkv", "qkv-surrogate", "qasa",
        "qasa-surrogate", "orthogonal", "orthogonal-surrogate", "quixer", "quixer-surrogate",
    ]
    with pytest.raises(ConfigError, match="sized to a quantum kind"):
        parse_models("classical,classical-matched")
    with pytest.raises(ConfigError, match="takes a quantum kind"):
        parse_models("classical-matched:classical")
    with pytest.raises(ConfigError, match="unknown model quantum"):
        parse_models("classical,quantum")


@pytest.mark.parametrize("preset", ["original", "original-large"])
@pytest.mark.parametrize("kind", ["original", "enhance", "qsann", "kernel"])
def test_classical_matched_is_within_one_percent(preset, kind):
    mc = ModelConfig.from_preset(preset)
    configs = model_configs([kind, f"classical-matched:{kind}"], mc)
    matched = configs[f"classical-matched:{kind}"]
    target = parameter_count(configs[kind])
    assert matched.attention == "classical" and matched.ffn_width is not None
    assert abs(parameter_count(matched) - target) <= 0.01 * target


def test_describe_is_students_t_interval():
    values = [2.51, 2.49, 2.55, 2.47, 2.50]
    d = describe(values)
    low, high = stats.t.interval(0.95, 4, loc=np.mean(values), scale=stats.sem(values))
    assert d["n"] == 5 and d["ci95"] == pytest.approx([low, high])
    assert d["std"] == pytest.approx(np.std(values, ddof=1))
    assert describe([1.0])["ci95"] is None and describe([])["mean"] is None


def test_holm_matches_a_worked_example():
    # Four p-values; Holm multiplies the sorted ones by 4, 3, 2, 1 and keeps them monotone.
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def synthetic_runs(effect: float, noise: float = 0.002, seeds=range(5)) -> list[dict]:
    """Runs where qsann beats its controls by ``effect`` nats, with seed-shared variation."""
    rng = np.random.default_rng(0)
    runs = []
    for seed in seeds:
        shared = rng.normal(2.5, 0.05)  # the seed's batches make every model better or worse
        for model, offset in (
            ("classical", 0.0),
            ("classical-matched:qsann", 0.0),
            ("qsann-surrogate", 0.0),
            ("qsann", -effect),
        ):
            runs.append({
                "model": model, "seed": seed, "params": 1000, "val_loss":
                shared + offset + rng.normal(0, noise), "train_loss": shared,
                "tokens_per_s": 100.0, "compile_s": 1.0, "wall_s": 2.0, "peak_rss_mb": 500.0,
            })
    return runs


MODELS = ["classical", "classical-matched:qsann", "qsann", "qsann-surrogate"]


def synthetic_results(effect: float = 0.0, preset: str = "tiny") -> dict:
    """A whole ``results.json`` made by compare's own builders (``new_results``, ``run_entry``,
    ``summarize``) from ``synthetic_runs``' losses: what the report of such a study holds."""
    from qgpt_jax.compare import new_results, run_entry, summarize
    from qgpt_jax.engine import TrainResult

    mc, tc = ModelConfig.from_preset("original"), TrainConfig.from_preset("tiny")
    configs = model_configs(MODELS, mc)
    engine = {"seeds_in_parallel": None, "mesh": None, "processes": 1, "ckpt_every": None}
    results = new_results(preset, MODELS, list(range(5)), 0.01, mc, tc, engine, 2)
    for r in synthetic_runs(effect):
        losses = {"train_loss": r["train_loss"], "val_loss": r["val_loss"]}
        result = TrainResult(
            model=r["model"], seed=r["seed"], params={}, step=2, params_count=r["params"],
            step_losses=[2.7, 2.6], evals=[{"step": 2, **losses}], seed_group=[r["seed"]],
            compile_s=r["compile_s"], wall_s=r["wall_s"], peak_rss_mb=r["peak_rss_mb"],
            tokens_per_s=r["tokens_per_s"], tokens_per_s_all_seeds=r["tokens_per_s"],
        )  # fmt: skip
        run = run_entry(r["model"], configs[r["model"]], tc, result)
        results["runs"].append({**run, "sample": "ab", "sample_tokens": [1, 2], "checkpoint": "c"})
    results["quantum_resources"] = {}
    return summarize(results)


def test_paired_differences_find_an_effect_that_seeds_hide():
    runs = synthetic_runs(effect=0.01)
    entries = {e["model"]: e for e in summary(runs, MODELS)}
    qsann = entries["qsann"]
    assert [c["control"] for c in qsann["comparisons"]] == [
        "classical", "classical-matched:qsann", "qsann-surrogate"]
    for c in qsann["comparisons"]:
        assert c["seeds"] == [0, 1, 2, 3, 4]
        assert c["difference_mean"] == pytest.approx(-0.01, abs=0.004)
        assert c["p_holm"] < 0.05 and c["p_holm"] >= c["p_value"]
    # Unpaired, the seed-to-seed spread (0.05) swamps the 0.01 effect: the intervals overlap.
    assert qsann["val_loss_ci95"][1] > entries["qsann-surrogate"]["val_loss_ci95"][0]
    for control in ("classical", "classical-matched:qsann", "qsann-surrogate"):
        assert entries[control]["comparisons"] == []
    text = conclusion(list(entries.values()))
    assert "qsann against qsann-surrogate (5 paired seeds): validation loss lower by" in text
    assert "Answer: qsann beats both its surrogate and classical-matched at 95%" in text


def test_a_known_equivalence_is_stated_as_a_bound():
    runs = synthetic_runs(effect=0.0)  # no effect, differences spread 0.003: well inside 0.01
    entries = summary(runs, MODELS)
    for c in entries[MODELS.index("qsann")]["comparisons"]:
        assert c["verdict"] == "equivalent" and c["tost_p"] < 0.05 and c["margin"] == 0.01
        assert c["seeds_needed"] is None
    text = conclusion(entries)
    assert "qsann against qsann-surrogate (5 paired seeds): equivalent within +/-0.01" in text
    assert "Answer: no quantum kind (qsann) beats both" in text
    assert "qsann is equivalent to both within +/-0.01 nats" in text
    # The same data against a margin it cannot establish: no longer equivalent, and not a gain.
    strict = summary(runs, MODELS, margin=0.0005)[MODELS.index("qsann")]["comparisons"]
    assert {c["verdict"] for c in strict} == {"inconclusive"}


def test_pure_noise_is_inconclusive_and_says_how_many_seeds_would_decide():
    runs = synthetic_runs(effect=0.0, noise=0.03)
    entries = summary(runs, MODELS)
    comparisons = entries[MODELS.index("qsann")]["comparisons"]
    assert {c["verdict"] for c in comparisons} == {"inconclusive"}
    for c in comparisons:
        assert c["detectable_effect"] > 0.03  # 5 seeds cannot see a difference of one noise std
        assert c["seeds_needed"] is None or c["seeds_needed"] > 5
    table = "\n".join(verdict_table(entries))
    assert "| qsann | 1,000 | inconclusive (" in table and "vs its surrogate" in table
    assert "no difference at 95%" in conclusion(entries)


def test_tost_and_wilcoxon_follow_their_definitions():
    d = np.array([0.004, -0.002, 0.001, 0.003, -0.001, 0.002])
    lower = stats.ttest_1samp(d, -0.01, alternative="greater").pvalue
    upper = stats.ttest_1samp(d, 0.01, alternative="less").pvalue
    assert tost_p(d, 0.01) == pytest.approx(max(lower, upper))
    assert tost_p(d, 0.0001) > 0.5  # a margin far inside the spread: no equivalence
    # Every difference of one sign: the exact signed-rank p is 2 / 2^n.
    assert nonparametric_p([0.1, 0.2, 0.3, 0.4, 0.5]) == pytest.approx(2 / 32)
    assert nonparametric_p([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]) == pytest.approx(2 / 64)
    assert nonparametric_p([0.0, 0.0]) is None and tost_p([0.1], 0.01) is None


def test_detectable_effect_has_the_stated_power_by_simulation():
    std, n = 0.02, 8
    effect = detectable_effect(std, n)
    rng = np.random.default_rng(1)
    samples = rng.normal(effect, std, size=(4000, n))
    rejected = stats.ttest_1samp(samples, 0.0, axis=1).pvalue < 0.05
    assert rejected.mean() == pytest.approx(POWER, abs=0.03)
    assert detectable_effect(std, 2 * n) < effect  # more seeds, smaller detectable effect
    # seeds_needed: at the returned count the simulated power reaches POWER, one fewer does not.
    needed = seeds_needed(0.02, std, margin=0.01)
    powers = [
        (stats.ttest_1samp(rng.normal(0.02, std, (4000, k)), 0.0, axis=1).pvalue < 0.05).mean()
        for k in (needed - 1, needed)
    ]
    assert powers[0] < POWER + 0.03 and powers[1] > POWER - 0.03


def test_verdict_words():
    base = {"tost_p": None, "p_holm": None, "difference_mean": -0.02}
    assert verdict(base) == "inconclusive"
    assert verdict({**base, "p_holm": 0.01}) == "better"
    assert verdict({**base, "p_holm": 0.01, "difference_mean": 0.02}) == "worse"
    assert verdict({**base, "p_holm": 0.01, "tost_p": 0.01}) == "equivalent"
    assert set(VERDICTS) == {"better", "worse", "equivalent", "inconclusive"}


def test_a_kind_trained_without_controls_answers_nothing():
    runs = [r for r in synthetic_runs(effect=0.01) if r["model"] in ("qsann", "classical")]
    text = conclusion(summary(runs, ["classical", "qsann"]))
    assert "not answered by this run" in text


def test_sizes_side_by_side(tmp_path):
    """Two sizes of a synthetic study: one table row per kind and control, one plot."""
    from qgpt_jax.reports.plots import plot_sizes
    from qgpt_jax.study import across_sizes, sizes_table

    small = {"summary": summary(synthetic_runs(effect=0.0), MODELS)}
    large = {"summary": summary(synthetic_runs(effect=0.05), MODELS)}
    rows = across_sizes({"original": small, "small": large})
    assert len(rows) == 2 * 3  # qsann against three controls at two sizes
    table = sizes_table(rows)
    assert table[0] == "| quantum kind | control | original | small |"
    surrogate_row = next(line for line in table if "| qsann | surrogate |" in line)
    assert "equivalent (" in surrogate_row and "better (-0.05" in surrogate_row
    plot_sizes(rows, tmp_path / "sizes.png")
    assert (tmp_path / "sizes.png").read_bytes()[:4] == b"\x89PNG"
    old = {"summary": [{**e, "comparisons": [{k: v for k, v in c.items() if k != "verdict"}
                                             for c in e["comparisons"]]} for e in small["summary"]]}
    with pytest.raises(ConfigError, match="predates verdicts"):
        across_sizes({"old": old})


def test_study_sizes_command(tmp_path, capsys):
    from experiments import study_sizes

    run = tmp_path / "study-original"
    run.mkdir()
    (run / "results.json").write_text(json.dumps(synthetic_results(preset="original")))
    study_sizes.main([str(run), "--out", str(tmp_path / "sizes")])
    assert "| qsann | surrogate | equivalent (" in (tmp_path / "sizes" / "sizes.md").read_text()
    assert (tmp_path / "sizes" / "sizes.png").exists()
    with pytest.raises(SystemExit) as exit_info:
        study_sizes.main([str(tmp_path / "missing"), "--out", str(tmp_path / "x")])
    assert exit_info.value.code == 2
    missing = tmp_path / "missing"
    assert capsys.readouterr().err.startswith(f"error: {missing} holds no results.json")
