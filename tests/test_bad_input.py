"""Every bad input, as a table: one line naming the problem and the fix, the documented exit code,
no traceback, and no earlier result touched (README, "Troubleshooting")."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from experiments import compare as compare_cli
from experiments import evaluate_components as evaluate_cli
from experiments import generate as generate_cli
from qgpt_jax.storage import LOCK_NAME

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def earlier(tmp_path_factory, corpus_path):
    """A finished tiny comparison whose files must survive every bad input byte for byte."""
    out = tmp_path_factory.mktemp("earlier") / "run"
    with contextlib.redirect_stdout(io.StringIO()):
        compare_cli.main(["--preset", "tiny", "--iters", "4", "--models", "classical,enhance",
                          "--seeds", "0", "--data", str(corpus_path), "--out", str(out),
                          "--no-progress", "--sample-tokens", "4"])
    return out


def snapshot(folder: Path) -> dict:
    """Every file's bytes, but the run lock's (each run names itself in it)."""
    return {
        p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file() and p.name != LOCK_NAME
    }


def write(path: Path, payload: bytes) -> str:
    path.write_bytes(payload)
    return str(path)


def checkpoint_copy(t: Path, earlier: Path, name: str, damage=None) -> str:
    """A copy of one of the earlier run's checkpoints, optionally damaged."""
    folder = t / f"ckpt-{name}"
    folder.mkdir()
    payload = (earlier / "checkpoints" / name / "checkpoint.msgpack").read_bytes()
    write(folder / "checkpoint.msgpack", damage(payload) if damage else payload)
    return str(folder)


TINY = ["--preset", "tiny", "--iters", "2", "--no-progress"]

# name: (tool, argv from (tmp_path, corpus, earlier run), expected text, exit code)
CASES = {
    # the corpus
    "missing-corpus": ("compare", lambda t, c, e: ["--data", str(t / "missing.txt")],
                       "does not exist", 2),
    "empty-corpus": ("compare", lambda t, c, e: ["--data", write(t / "empty.txt", b"")],
                     "is empty", 2),
    "non-utf8-corpus": ("compare", lambda t, c, e: [
        "--data", write(t / "latin.txt", "Señor ".encode("latin-1") * 50)], "not UTF-8", 2),
    "binary-corpus": ("compare", lambda t, c, e: [
        "--data", write(t / "blob.bin", bytes(range(1, 128)) * 4 + b"\x00" * 64)],
        "binary, not text", 2),
    "short-corpus": ("compare", lambda t, c, e: ["--data", write(t / "short.txt", b"To be.")],
                     "need at least 100", 2),
    "corpus-outside-checkpoint-vocabulary": ("evaluate", lambda t, c, e: [
        "--checkpoint", str(e / "checkpoints" / "enhance-seed0"),
        "--data", write(t / "other.txt", ("Zebra quartz vex jumps! " * 20).encode())],
        "does not fit the checkpoint's vocabulary", 2),
    # invalid configuration fields
    "zero-n-embd": ("compare", lambda t, c, e: ["--data", str(c), "--n-embd", "0"],
                    "n_embd must be a positive integer", 2),
    "negative-n-layer": ("compare", lambda t, c, e: ["--data", str(c), "--n-layer", "-1"],
                         "n_layer must be a positive integer", 2),
    "wrong-type": ("compare", lambda t, c, e: ["--data", str(c), "--n-embd", "wide"],
                   "argument --n-embd: invalid int value: 'wide'", 2),
    "indivisible-heads": ("compare", lambda t, c, e: [
        "--data", str(c), "--preset", "original", "--n-head", "3"], "divisible by n_head (3)", 2),
    "dropout-out-of-range": ("compare", lambda t, c, e: ["--data", str(c), "--dropout", "1.5"],
                             "dropout must be in [0, 1)", 2),
    "negative-learning-rate": ("compare", lambda t, c, e: [
        "--data", str(c), "--learning-rate", "-0.1"], "learning_rate must be positive", 2),
    "too-many-qubits-for-backend": ("compare", lambda t, c, e: [
        "--data", str(c), "--models", "enhance", "--device", "aer", "--noise", "manila",
        "--n-qubits", "7"], "manila", 2),
    # unknown names
    "unknown-preset": ("compare", lambda t, c, e: ["--data", str(c), "--preset", "huge"],
                       "unknown preset", 2),
    "unknown-model": ("compare", lambda t, c, e: ["--data", str(c), "--models", "classical,qnn"],
                      "unknown model qnn", 2),
    "unknown-device": ("compare", lambda t, c, e: [
        "--data", str(c), "--models", "enhance", "--device", "qpu"],
        "unknown quantum device 'qpu'", 2),
    "unknown-noise-backend": ("compare", lambda t, c, e: [
        "--data", str(c), "--models", "enhance", "--device", "aer", "--noise", "atlantis"],
        "atlantis", 2),
    "shots-on-exact-device": ("compare", lambda t, c, e: [
        "--data", str(c), "--models", "enhance", "--shots", "100"],
        "exact expectation values", 2),
    "bad-seeds": ("compare", lambda t, c, e: ["--data", str(c), "--seeds", "0,one"],
                  "--seeds takes comma-separated integers", 2),
    "bad-mesh": ("compare", lambda t, c, e: ["--data", str(c), "--mesh", "model=2"],
                 "--mesh takes axis=size pairs", 2),
    # In a fresh process a CPU mesh makes its own devices; this one already has one.
    "mesh-larger-than-the-machine": ("compare", lambda t, c, e: [
        "--data", str(c), "--mesh", "data=3"], "needs 3 devices but JAX sees 1", 2),
    "negative-sample-tokens": ("compare", lambda t, c, e: [
        "--data", str(c), "--sample-tokens", "-1"], "--sample-tokens must be >= 0", 2),
    # checkpoints
    "checkpoint-folder-without-checkpoint": ("generate", lambda t, c, e: [
        "--checkpoint", str(t)], "no checkpoint at", 2),
    "truncated-checkpoint": ("generate", lambda t, c, e: [
        "--checkpoint", checkpoint_copy(t, e, "classical-seed0", lambda b: b[: len(b) // 2])],
        "not a qgpt-jax checkpoint", 2),
    "corrupted-checkpoint": ("generate", lambda t, c, e: [
        "--checkpoint", checkpoint_copy(t, e, "classical-seed0", lambda b: b"\x93" + b[1:])],
        "checkpoint", 2),
    "checkpoint-of-another-architecture": ("evaluate", lambda t, c, e: [
        "--checkpoint", str(e / "checkpoints" / "enhance-seed0"), "--data", str(c),
        "--n-embd", "16"], "the checkpoint was trained with n_embd=8, not 16", 2),
    "checkpoint-of-another-kind": ("evaluate", lambda t, c, e: [
        "--checkpoint", str(e / "checkpoints" / "classical-seed0"), "--data", str(c)],
        "classical model; pass one of a quantum or surrogate kind", 2),
    "unknown-character-in-prompt": ("generate", lambda t, c, e: [
        "--checkpoint", str(e / "checkpoints" / "classical-seed0"), "Zebra™"],
        "outside the vocabulary", 2),
    # output folders and resuming
    "out-already-holds-a-report": ("compare", lambda t, c, e: [
        "--data", str(c), "--out", str(e)], "already holds a report", 2),
    "out-not-writable": ("compare", lambda t, c, e: [
        "--data", str(c), "--out", str(Path(write(t / "a-file", b"x")) / "out")],
        "cannot write to output folder", 2),
    "resume-without-a-run": ("compare", lambda t, c, e: ["--resume", str(t)],
                             "holds no run to resume", 2),
    "resume-with-new-config": ("compare", lambda t, c, e: [
        "--resume", str(e), "--n-embd", "32"], "--resume continues the run as it was", 2),
}
TOOLS = {"compare": compare_cli.main, "generate": generate_cli.main,
         "evaluate": evaluate_cli.main}


def test_the_table_is_large():
    assert len(CASES) >= 25


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_gets_one_line_and_touches_nothing(case, tmp_path, corpus_path, earlier, capfd):
    tool, make_argv, expected, code = CASES[case]
    before = snapshot(earlier)
    out = tmp_path / "new-run"
    argv = make_argv(tmp_path, corpus_path, earlier)
    if tool == "compare":
        argv = ([] if "--resume" in argv else TINY) + argv
        if "--out" not in argv and "--resume" not in argv:
            argv += ["--out", str(out)]
    capfd.readouterr()
    with pytest.raises(SystemExit) as info:
        TOOLS[tool](argv)
    assert info.value.code == code
    captured = capfd.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("error: ") and expected in lines[0], lines[0]
    assert "Traceback" not in captured.err + captured.out
    assert snapshot(earlier) == before  # earlier results untouched
    assert not (out / "results.json").exists()  # nothing half-written


@pytest.mark.parametrize("after_s", [0.2, 3.0], ids=["while-compiling", "while-training"])
def test_interrupt_leaves_a_readable_partial_report(tmp_path, corpus_path, after_s):
    """Ctrl-C: exit 130, one line, and results.json marked interrupted."""
    out = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "experiments.compare", "--preset", "tiny", "--models",
         "classical", "--seeds", "0", "--iters", "200000", "--eval-interval", "100000",
         "--data", str(corpus_path), "--out", str(out), "--no-progress"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ},
        # A shell without job control starts background jobs with SIGINT ignored, and Python
        # keeps an inherited "ignore": give the run Ctrl-C's default, as a terminal would.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if (out / "results.json").exists():
            break
        time.sleep(0.05)
    time.sleep(after_s)  # compilation takes about 2 s here
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert err.strip().splitlines()[-1] == "interrupted" and "Traceback" not in err
    report = json.loads((out / "results.json").read_text())
    assert report["status"] == "interrupted"
