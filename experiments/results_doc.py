"""Write docs/results.md from named runs: every figure from a run's own results or bench file.

Example:
    python -m experiments.results_doc runs/study-original runs/study-original-large \
        runs/bench-kinds --out docs/results.md
"""

from __future__ import annotations

import argparse
from pathlib import Path

from qgpt_jax.cli import ArgumentParser, main_guard


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="python -m experiments.results_doc",
        description="Read the results.json (compare, study) or bench.json (bench) of each run "
        "folder and write one markdown page of their figures, each section with the command "
        "and machine that made it; with several studies, their verdicts side by side and a "
        "plot of each kind's gap against parameter count beside the page.",
    )
    parser.add_argument("runs", nargs="+", help="output folders of compare or bench runs")
    parser.add_argument("--out", default="docs/results.md", help="the page (default %(default)s)")
    return parser


@main_guard
def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    from qgpt_jax.reports.plots import plot_sizes
    from qgpt_jax.results_doc import render
    from qgpt_jax.storage import atomic_write_text, ensure_writable

    out = Path(args.out)
    ensure_writable(out.parent)
    plot = out.with_name(out.stem + "-sizes.png")
    text, rows = render([Path(r) for r in args.runs], plot.name)
    if rows:
        plot_sizes(rows, plot)
    atomic_write_text(out, text)
    print(f"wrote {out}" + (f" and {plot}" if rows else ""))


if __name__ == "__main__":
    main()
