"""Write the JSON Schemas of results.json and bench.json from their records (qgpt_jax.records).

Examples:
    python -m experiments.schemas            # regenerate qgpt_jax/schemas/*.schema.json
    python -m experiments.schemas --check    # exit 1 if a committed schema is out of date
"""

from __future__ import annotations

import argparse

from qgpt_jax.cli import ArgumentParser, main_guard


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="python -m experiments.schemas",
        description="Generate qgpt_jax/schemas/results.schema.json and bench.schema.json from "
        "the typed records of qgpt_jax.records (each written atomically).",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 with one line if a committed schema differs from the "
        "generated one",
    )
    return parser


@main_guard
def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    import sys

    from qgpt_jax.records import SCHEMAS, schema_file, schema_text
    from qgpt_jax.storage import atomic_write_text

    for name in SCHEMAS:
        path, text = schema_file(name), schema_text(name)
        if not args.check:
            atomic_write_text(path, text)
            print(f"wrote {path}")
        elif not path.is_file() or path.read_text(encoding="utf-8") != text:
            print(
                f"error: {path} differs from its records; run python -m experiments.schemas",
                file=sys.stderr,
            )
            sys.exit(1)


if __name__ == "__main__":
    main()
