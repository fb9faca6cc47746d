"""qgpt_jax.study: model names, capacity-matched controls, intervals, paired tests, conclusion."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from qgpt_jax.config import ModelConfig
from qgpt_jax.errors import ConfigError
from qgpt_jax.study import (
    conclusion,
    describe,
    holm,
    model_configs,
    parameter_count,
    parse_models,
    summary,
)


def test_classical_matched_expands_to_one_control_per_quantum_kind():
    assert parse_models("classical,classical-matched,enhance,qsann,enhance-surrogate") == [
        "classical", "classical-matched:enhance", "classical-matched:qsann", "enhance", "qsann",
        "enhance-surrogate",
    ]
    assert parse_models("classical-matched:kernel") == ["classical-matched:kernel"]
    assert parse_models("study") == [
        "classical", "classical-matched:enhance", "classical-matched:qsann",
        "classical-matched:kernel", "enhance", "enhance-surrogate", "qsann", "qsann-surrogate",
        "kernel", "kernel-surrogate",
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


def test_no_effect_is_reported_as_no_difference():
    runs = synthetic_runs(effect=0.0)
    text = conclusion(summary(runs, MODELS))
    assert "qsann against qsann-surrogate (5 paired seeds): no difference at 95%" in text
    assert "Answer: no quantum kind (qsann) beats both" in text


def test_a_kind_trained_without_controls_answers_nothing():
    runs = [r for r in synthetic_runs(effect=0.01) if r["model"] in ("qsann", "classical")]
    text = conclusion(summary(runs, ["classical", "qsann"]))
    assert "not answered by this run" in text
