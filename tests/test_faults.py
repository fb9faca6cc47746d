"""What a user's machine does to a run: kills at any moment, two runs into one folder, a damaged
compilation cache, damaged run files, a full disk (docs/faults.md).

Each case runs ``python -m experiments.compare`` as a user would (through ``tests/faults.py`` where
a fault is injected) and checks the outcome against an uninterrupted run of the same arguments:
the final losses, evaluations and samples must be bitwise the same.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qgpt_jax.run_state import DIGEST_NAME, file_digests
from qgpt_jax.storage import LOCK_NAME, FolderInUseError, exclusive_use

REPO = Path(__file__).resolve().parents[1]
DRIVER = REPO / "tests" / "faults.py"
STATE = Path("state") / "classical-seeds0"

# Two seed groups (two report writes between them), a checkpoint every call, two kept.
RUN = ["--preset", "tiny", "--models", "classical", "--seeds", "0,1", "--seeds-in-parallel", "1",
       "--iters", "300", "--steps-per-call", "20", "--eval-interval", "100",
       "--ckpt-every", "20", "--sample-tokens", "8", "--no-progress"]


def compare(args, *, fault=None, n=1, env=None, wait=True, corpus):
    command = [sys.executable, "-m", "experiments.compare"]
    if fault:
        command = [sys.executable, str(DRIVER), fault, str(n)]
    command += [*args, "--data", str(corpus)]
    kwargs = dict(cwd=REPO, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                  stderr=subprocess.PIPE, text=True)
    if not wait:
        return subprocess.Popen(command, **kwargs)
    return subprocess.run(command, timeout=600, **kwargs)


def outcome(out: Path) -> list[dict]:
    """What an interrupted run must reproduce exactly, per run."""
    report = json.loads((out / "results.json").read_text())
    assert report["status"] == "done"
    keys = ("model", "seed", "step_losses", "evals", "train_loss", "val_loss", "sample")
    return [{k: run[k] for k in keys} for run in report["runs"]]


def snapshot(folder: Path) -> dict:
    """Every file's bytes, but the run lock's (each run names itself in it)."""
    return {
        p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file() and p.name != LOCK_NAME
    }


def one_line(result, code=2) -> str:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("error: "), result.stderr
    return lines[-1]


def checkpoint_steps(out: Path) -> list[int]:
    folder = out / STATE
    if not folder.is_dir():
        return []
    return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit())


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, corpus_path):
    out = tmp_path_factory.mktemp("uninterrupted") / "run"
    result = compare([*RUN, "--out", str(out)], corpus=corpus_path)
    assert result.returncode == 0, result.stderr
    return outcome(out)


def finish(out: Path, corpus) -> None:
    """Continue ``out`` to the end as the user is told to: ``--resume``, or start it again where
    no report was written yet."""
    if (out / "results.json").exists():
        result = compare(["--resume", str(out)], corpus=corpus)
    else:
        result = compare([*RUN, "--out", str(out)], corpus=corpus)
    assert result.returncode == 0, result.stderr


# --- kills at any moment ------------------------------------------------------------------------

PHASES = ("time", "in-checkpoint", "report")
KILL_POINTS = 2 * len(PHASES)


def test_kills_at_random_moments_resume_to_the_uninterrupted_result(
    tmp_path, corpus_path, uninterrupted
):
    """Seeded random kill points, each in the run that the previous kill's resume started, two in
    each phase (in a drawn order): at a random moment, inside a run checkpoint's write (the n-th,
    a random delay into it), at a report write (the n-th)."""
    draw = random.Random(19)
    out = tmp_path / "run"
    landed = dict.fromkeys(PHASES, 0)
    for where in draw.sample(PHASES * 2, KILL_POINTS):
        resuming = (out / "results.json").exists()
        args = ["--resume", str(out)] if resuming else [*RUN, "--out", str(out)]
        if where == "time":
            process = compare(args, wait=False, corpus=corpus_path)
            time.sleep(draw.uniform(2.0, 12.0))
            process.send_signal(signal.SIGKILL)
            process.communicate()
        elif where == "in-checkpoint":
            result = compare(args, fault="kill-in-checkpoint", n=draw.randint(1, 12),
                             env={"FAULT_DELAY": f"{draw.uniform(0.0, 0.01):.4f}"},
                             corpus=corpus_path)
            assert result.returncode in (-signal.SIGKILL, 0), result.stderr
        else:
            result = compare(args, fault="kill-report", n=draw.randint(1, 4), corpus=corpus_path)
            assert result.returncode in (-signal.SIGKILL, 0), result.stderr
        landed[where] += 1
        if (out / "results.json").exists():  # whatever was killed, the report on disk is whole
            assert json.loads((out / "results.json").read_text())["config"]["seeds"] == [0, 1]
    finish(out, corpus_path)
    assert outcome(out) == uninterrupted
    assert sum(landed.values()) == KILL_POINTS


def test_a_kill_inside_a_checkpoint_write_resumes_from_the_one_before(
    tmp_path, corpus_path, uninterrupted
):
    out = tmp_path / "run"
    killed = compare([*RUN, "--out", str(out)], fault="kill-in-checkpoint", n=3,
                     corpus=corpus_path)  # as soon as the third checkpoint's folder appears
    assert killed.returncode == -signal.SIGKILL
    leftovers = [p.name for p in (out / STATE).iterdir() if not p.name.isdigit()]
    assert checkpoint_steps(out) == [20, 40] and leftovers  # the third was half-written
    finish(out, corpus_path)
    assert outcome(out) == uninterrupted
    assert not [p for p in (out / STATE).iterdir() if "tmp" in p.name]  # cleared on resume


def test_a_kill_at_the_report_write_leaves_the_old_report_and_resumes(
    tmp_path, corpus_path, uninterrupted
):
    out = tmp_path / "run"
    # Report writes: results.json (running), then results.json and results.md after seed 0.
    killed = compare([*RUN, "--out", str(out)], fault="kill-report", n=3, corpus=corpus_path)
    assert killed.returncode == -signal.SIGKILL
    report = json.loads((out / "results.json").read_text())  # the new one, renamed in place
    assert report["status"] == "running" and [r["seed"] for r in report["runs"]] == [0]
    assert not (out / "results.md").exists()  # its temporary file was never renamed
    finish(out, corpus_path)
    assert outcome(out) == uninterrupted


# --- one run per output folder ------------------------------------------------------------------


def test_the_folder_lock_refuses_a_second_holder(tmp_path):
    with exclusive_use(tmp_path):
        with pytest.raises(FolderInUseError, match=rf"in use by another run \(pid {os.getpid()}"):
            with exclusive_use(tmp_path):
                pass
    with exclusive_use(tmp_path):  # released at the end of the block
        pass


def test_two_runs_into_one_folder_one_refused_at_once(tmp_path, corpus_path, uninterrupted):
    out = tmp_path / "run"
    first, second = (compare([*RUN, "--out", str(out)], wait=False, corpus=corpus_path)
                     for _ in range(2))
    results = {}
    for process in (first, second):
        stdout, stderr = process.communicate(timeout=600)
        results[process.pid] = subprocess.CompletedProcess(
            process.args, process.returncode, stdout, stderr
        )
    refused = [r for r in results.values() if r.returncode != 0]
    assert len(refused) == 1, [r.stderr for r in results.values()]
    line = one_line(refused[0])
    winner = next(pid for pid, r in results.items() if r.returncode == 0)
    assert f"is in use by another run (pid {winner}," in line
    assert "choose another --out" in line
    assert outcome(out) == uninterrupted  # the refused run wrote nothing into it


def test_resume_of_a_live_run_is_refused_and_a_killed_run_leaves_no_lock(tmp_path, corpus_path):
    out = tmp_path / "run"
    args = [*RUN, "--iters", "100000", "--out", str(out)]  # alive for the whole test
    live = compare(args, wait=False, corpus=corpus_path)
    deadline = time.monotonic() + 120
    while not checkpoint_steps(out) and time.monotonic() < deadline:
        time.sleep(0.05)
    refused = compare(["--resume", str(out)], corpus=corpus_path)
    assert f"in use by another run (pid {live.pid}," in one_line(refused)
    assert live.poll() is None
    live.send_signal(signal.SIGKILL)
    live.communicate()
    with exclusive_use(out):  # the kernel released the killed run's lock
        assert (out / LOCK_NAME).exists()


# --- a damaged compilation cache ----------------------------------------------------------------


def cache_notes(result) -> list[str]:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "Warning" not in result.stderr
    return [line for line in result.stderr.splitlines() if "compilation cache" in line]


def test_a_damaged_compilation_cache_is_said_once_and_changes_nothing(
    tmp_path, corpus_path, uninterrupted
):
    """Half the entries overwritten with garbage, half truncated (JAX keys its entries by the
    folder too, so the damage is done in place)."""
    cache = tmp_path / "xla"
    args = [*RUN, "--compile-cache", str(cache)]
    filled = compare([*args, "--out", str(tmp_path / "first")], corpus=corpus_path)
    assert cache_notes(filled) == []
    entries = sorted(p for p in cache.iterdir() if p.is_file())
    assert len(entries) > 2
    for i, entry in enumerate(entries):
        payload = entry.read_bytes()
        entry.write_bytes(os.urandom(len(payload)) if i % 2 else payload[: len(payload) // 2])
    out = tmp_path / "second"
    notes = cache_notes(compare([*args, "--out", str(out)], corpus=corpus_path))
    assert len(notes) == 1 and notes[0].startswith("note: ") and "damaged entries" in notes[0]
    assert outcome(out) == uninterrupted


def test_an_unwritable_compilation_cache_is_said_once_and_changes_nothing(
    tmp_path, corpus_path, uninterrupted
):
    (tmp_path / "blocked").write_text("a file where the cache folder would go")
    cache = tmp_path / "blocked" / "xla"
    out = tmp_path / "run"
    result = compare([*RUN, "--compile-cache", str(cache), "--out", str(out)], corpus=corpus_path)
    notes = cache_notes(result)
    assert len(notes) == 1 and "cannot be written" in notes[0] and "without it" in notes[0]
    assert outcome(out) == uninterrupted


# --- damaged run files --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stopped_once(tmp_path_factory, corpus_path):
    """A run killed just after its third run checkpoint (steps 20, 40, 60 written, two kept)."""
    out = tmp_path_factory.mktemp("stopped") / "run"
    killed = compare([*RUN, "--out", str(out)], fault="kill-after-checkpoint", n=3,
                     corpus=corpus_path)
    assert killed.returncode == -signal.SIGKILL
    assert checkpoint_steps(out) == [40, 60]
    return out


@pytest.fixture()
def stopped(stopped_once, tmp_path):
    """A copy of ``stopped_once`` for one test to damage."""
    return Path(shutil.copytree(stopped_once, tmp_path / "run"))


def damage_files(step: Path, how: str) -> None:
    """``missing``: the largest array file of a checkpoint deleted; ``corrupt``: every file of it
    overwritten with garbage."""
    files = sorted((p for p in step.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    assert files
    if how == "missing":
        files[-1].unlink()
    else:
        for path in files:
            path.write_bytes(b"\x00garbage" * 8)


@pytest.mark.parametrize("how", ["missing", "corrupt"])
def test_a_damaged_newest_checkpoint_resumes_from_the_one_before(
    stopped, corpus_path, uninterrupted, how
):
    damage_files(stopped / STATE / "60", how)
    damaged = snapshot(stopped / STATE / "60")
    result = compare(["--resume", str(stopped)], corpus=corpus_path)
    assert result.returncode == 0, result.stderr
    note = [line for line in result.stderr.splitlines() if "damaged" in line]
    assert len(note) == 1 and "continuing from step 40" in note[0], result.stderr
    assert outcome(stopped) == uninterrupted
    kept = stopped / "state" / "classical-seeds0.damaged" / "60"
    assert snapshot(kept) == {kept / p.relative_to(stopped / STATE / "60"): b
                              for p, b in damaged.items()}  # set aside, byte for byte


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        ("all-checkpoints", "every run checkpoint in"),
        ("newer-checkpoint", "written by a newer qgpt-jax"),
        ("truncated-report", "is not a readable results file"),
        ("newer-report", "written by a newer qgpt-jax"),
    ],
)
def test_damage_that_cannot_be_resumed_is_one_line_and_touches_nothing(
    stopped, corpus_path, damage, expected
):
    if damage == "all-checkpoints":
        for step in checkpoint_steps(stopped):
            damage_files(stopped / STATE / str(step), "corrupt")
    elif damage == "newer-checkpoint":
        for record in (stopped / STATE).glob("*/record/metadata"):  # whole, by a newer version
            record.write_text(json.dumps({**json.loads(record.read_text()), "format": 99}))
            folder = record.parent.parent
            (folder / DIGEST_NAME).write_text(json.dumps(file_digests(folder)))
    elif damage == "truncated-report":
        report = stopped / "results.json"
        report.write_bytes(report.read_bytes()[:100])
    else:
        report = stopped / "results.json"
        report.write_text(json.dumps({**json.loads(report.read_text()), "schema_version": 99}))
    before = snapshot(stopped)
    result = compare(["--resume", str(stopped)], corpus=corpus_path)
    assert expected in one_line(result)
    assert snapshot(stopped) == before


# --- a full disk --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "n", "names"),
    [
        ("full-checkpoint", 4, "run checkpoint"),
        ("full-report", 2, "results.json"),
        ("full-tensorboard", 1, "TensorBoard"),
    ],
)
def test_a_full_disk_is_one_line_keeps_what_was_written_and_resumes(
    tmp_path, corpus_path, uninterrupted, fault, n, names
):
    out = tmp_path / "run"
    args = [*RUN, "--out", str(out), "--tensorboard", str(tmp_path / "tb")]
    failed = compare(args, fault=fault, n=n, corpus=corpus_path)
    line = one_line(failed)
    assert "no space left on the device" in line and names in line
    assert f"--resume {out}" in line
    report = json.loads((out / "results.json").read_text())  # the last complete one
    assert report["status"] in ("running", "failed")
    if fault == "full-checkpoint":
        assert checkpoint_steps(out) == [40, 60]  # the newest complete ones stay
    assert not list(out.glob(".*.tmp"))
    finish(out, corpus_path)
    assert outcome(out) == uninterrupted
