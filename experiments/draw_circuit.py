"""Draw the quantum attention head's circuit as text and as a PNG.

Example:
    python -m experiments.draw_circuit --n-qubits 4 --out runs/circuit
"""

from __future__ import annotations

import argparse

from qgpt_jax.cli import ArgumentParser, main_guard, setup_runtime


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="python -m experiments.draw_circuit",
        description="Write OUT/quantum_attention_circuit.txt and .png: Qiskit's ZZ feature map "
        "(reps 1, circular) and RealAmplitudes (reps 2, circular), measured as <Z...Z>.",
    )
    parser.add_argument("--n-qubits", type=int, default=4, help="circuit width (default 4)")
    parser.add_argument("--out", default="runs/circuit", help="output folder")
    return parser


@main_guard
def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    setup_runtime()
    from pathlib import Path

    from qgpt_jax.config import ModelConfig
    from qgpt_jax.quantum.drawing import draw_circuit
    from qgpt_jax.reports.plots import save_figure
    from qgpt_jax.storage import atomic_write_text, ensure_writable

    ModelConfig(attention="enhance", n_qubits=args.n_qubits)  # validates the qubit count
    out = Path(args.out)
    ensure_writable(out)
    text, figure = draw_circuit(args.n_qubits)
    atomic_write_text(out / "quantum_attention_circuit.txt", text + "\n")
    save_figure(figure, out / "quantum_attention_circuit.png")
    print(text)
    print(
        f"wrote {out / 'quantum_attention_circuit.txt'} and {out / 'quantum_attention_circuit.png'}"
    )


if __name__ == "__main__":
    main()
