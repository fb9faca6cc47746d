"""Put studies at several sizes side by side: one verdict table and one plot of each kind's gap.

Example:
    python -m experiments.study_sizes runs/study-original runs/study-original-large \
        runs/study-small --out runs/study-sizes
"""

from __future__ import annotations

import argparse
from pathlib import Path

from qgpt_jax.cli import ArgumentParser, main_guard


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="python -m experiments.study_sizes",
        description="Read the results.json of study runs at several sizes (nox -s study-all "
        "writes runs/study-PRESET) and write OUT/sizes.md (kinds x controls x sizes in "
        "verdict words) and OUT/sizes.png (each kind's difference to its surrogate and to "
        "classical-matched, with its 95%% interval and the margin, against parameter count).",
    )
    parser.add_argument("runs", nargs="+", help="output folders of compare --models study runs")
    parser.add_argument("--out", required=True, help="folder for sizes.md and sizes.png")
    return parser


@main_guard
def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    from qgpt_jax.compare import load_results
    from qgpt_jax.errors import ConfigError
    from qgpt_jax.reports.plots import plot_sizes
    from qgpt_jax.storage import atomic_write_text, ensure_writable
    from qgpt_jax.study import across_sizes, sizes_table

    reports = {}
    for run in map(Path, args.runs):
        if not (run / "results.json").is_file():
            raise ConfigError(
                f"{run} holds no results.json; pass the output folders of compare --models study "
                "runs (nox -s study-all writes runs/study-PRESET)"
            )
        results = load_results(run)
        reports[f"{results['config']['preset']} ({run.name})"] = results
    rows = across_sizes(reports)
    out = Path(args.out)
    ensure_writable(out)
    table = sizes_table(rows)
    text = "# The study at several sizes\n\n" + "\n".join(table) + "\n"
    atomic_write_text(out / "sizes.md", text)
    plot_sizes(rows, out / "sizes.png")
    print("\n".join(table))
    print(f"wrote {out / 'sizes.md'} and {out / 'sizes.png'}")


if __name__ == "__main__":
    main()
