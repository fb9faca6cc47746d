"""docs/results.md from named runs (qgpt_jax.results_doc, experiments.results_doc)."""

from __future__ import annotations

import json

import pytest
from test_study import synthetic_results

ENVIRONMENT = {"cpu_count": 2, "processor": "x86_64", "platform": "Linux", "jax_backend": "cpu",
               "versions": {"jax": "0.0"}, "command": "python -m experiments.compare --x",
               "python": "3.11.7", "jax_devices": ["TFRT_CPU_0"]}


def write_study(folder, preset: str, effect: float, command: bool = True):
    """A study's results.json as compare writes it, with a known environment and step count."""
    results = synthetic_results(effect, preset)
    results["status"] = "done"
    results["config"]["train"]["max_iters"] = 123
    results["environment"] = ENVIRONMENT if command else {k: v for k, v in ENVIRONMENT.items()
                                                          if k != "command"}  # fmt: skip
    results["conclusion"] = "The written conclusion."
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps(results))
    return results


def test_the_page_holds_each_runs_figures_with_its_command(tmp_path, corpus_path, capsys):
    from experiments import bench, results_doc

    original = write_study(tmp_path / "study-original", "original", effect=0.0)
    write_study(tmp_path / "study-small", "small", effect=0.05, command=False)
    bench.main(["--preset", "tiny", "--models", "classical", "--seconds", "0.01", "--max-steps",
                "2", "--data", str(corpus_path), "--out", str(tmp_path / "bench-tiny")])
    out = tmp_path / "docs" / "results.md"
    results_doc.main([str(tmp_path / f) for f in ("study-original", "study-small", "bench-tiny")]
                     + ["--out", str(out)])  # fmt: skip
    page = out.read_text()
    assert "## Study at `original`: 5 seeds, 123 steps (study-original)" in page
    assert "Command: `python -m experiments.compare --x`" in page
    # an older report without its command: the one its configuration implies
    assert "--models classical,classical-matched:qsann,qsann,qsann-surrogate" in page
    qsann = next(e for e in original["summary"] if e["model"] == "qsann")
    assert f"| qsann | 1,000 | {qsann['val_loss_mean']:.4f} ± {qsann['val_loss_std']:.4f} |" in page
    assert "## Benchmark at `tiny` (bench-tiny)" in page and "| classical | - |" in page
    assert "## The study across sizes" in page and "better (-0.05" in page
    assert (tmp_path / "docs" / "results-sizes.png").read_bytes()[:4] == b"\x89PNG"


def test_a_folder_without_results_is_one_line(tmp_path, capsys):
    from experiments import results_doc

    with pytest.raises(SystemExit) as exit_info:
        results_doc.main([str(tmp_path), "--out", str(tmp_path / "results.md")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path} holds neither results.json nor bench.json")
    assert not (tmp_path / "results.md").exists()
