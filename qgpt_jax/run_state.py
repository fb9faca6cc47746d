"""Checkpoints of a whole training run, so that a killed run continues where it stopped.

A run state is the train state of every seed trained together (parameters, optimizer state, step,
with the leading seed axis and, on a mesh, its sharding) plus a JSON record of everything the host
loop accumulated (losses and evaluations so far, training time, circuit counts, configs,
vocabulary, seeds; the run's keys are a function of the seeds and the step). orbax writes each
checkpoint into a temporary folder and renames it when complete, so a checkpoint on disk is whole
or absent, and keeps the newest ``keep``. Sharded and multi-host states are saved by every process
writing its own shards.

What a machine can do to them: a kill during a save leaves a temporary folder, which orbax clears
at the next start; a checkpoint damaged afterwards (a missing or corrupted file) is found by the
sha256 list of its files written after it (``DIGEST_NAME``), set aside (moved, never deleted),
and the run continues from the newest one that is whole; a checkpoint written by a newer version
of the record's layout is refused rather than guessed at.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

import jax
import orbax.checkpoint as ocp
from flax import serialization

from qgpt_jax.errors import CheckpointError
from qgpt_jax.storage import atomic_write_bytes, writing

DIGEST_NAME = "qgpt-files.sha256.json"
"""In each checkpoint's folder: the sha256 of every other file in it, written once it is complete,
so that damage is found before orbax reads a byte (a checkpoint without one is left to orbax)."""
RUN_STATE_FORMAT = 1
"""Version of the host record's layout (``record["format"]``; absent before it was introduced)."""


class DamagedCheckpointError(CheckpointError):
    """A run checkpoint's files are missing or cannot be read."""

    def __init__(self, directory: Path, step: int, reason: str):
        super().__init__(
            f"run checkpoint {directory} step {step} cannot be restored ({reason}); resume with "
            f"the configuration it was written with, or start afresh"
        )
        self.reason = reason


class RunCheckpoints:
    """The checkpoints of one training run (one model's seeds) in ``directory``."""

    def __init__(self, directory: str | Path, keep: int = 2):
        if keep < 1:
            raise CheckpointError(f"keep must be at least 1 checkpoint, got {keep}")
        self.directory = Path(directory).absolute()
        # orbax logs every save at INFO and a damaged checkpoint at ERROR (with its whole spec);
        # this class says what matters in one line.
        logging.getLogger("absl").setLevel(logging.CRITICAL)
        self.manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(
                max_to_keep=keep,
                create=True,
                enable_async_checkpointing=False,
                cleanup_tmp_directories=True,  # what a kill during a save left behind
            ),
        )

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def save(self, step: int, state, record: dict) -> None:
        """Write the state and the host record at ``step`` (every process calls this)."""
        with writing(f"run checkpoint {self.directory} step {step}"):
            self.manager.save(
                step,
                args=ocp.args.Composite(
                    state=ocp.args.StandardSave(serialization.to_state_dict(state)),
                    record=ocp.args.JsonSave({**record, "format": RUN_STATE_FORMAT}),
                ),
            )
            self.manager.wait_until_finished()
            if jax.process_index() == 0:
                folder = self.directory / str(step)
                atomic_write_bytes(folder / DIGEST_NAME, json.dumps(file_digests(folder)).encode())

    def record(self, step: int | None = None) -> tuple[int, dict]:
        """``(step, host record)`` of the checkpoint at ``step`` (default: the newest)."""
        step = self.latest_step() if step is None else step
        if step is None:
            raise CheckpointError(
                f"no run checkpoint in {self.directory}; start the run without --resume"
            )
        try:
            restored = self.manager.restore(
                step, args=ocp.args.Composite(record=ocp.args.JsonRestore())
            )
        except Exception as exc:  # orbax raises many types for a damaged or foreign checkpoint
            raise self._unreadable(step, exc) from None
        return step, restored.record

    def restore(self, like_state, step: int):
        """The train state at ``step``, laid out (shapes, shardings) as ``like_state``."""
        target = jax.tree_util.tree_map(
            ocp.utils.to_shape_dtype_struct, serialization.to_state_dict(like_state)
        )
        try:
            restored = self.manager.restore(
                step, args=ocp.args.Composite(state=ocp.args.StandardRestore(target))
            )
        except Exception as exc:  # orbax raises many types for a damaged or foreign checkpoint
            raise self._unreadable(step, exc) from None
        return serialization.from_state_dict(like_state, restored.state)

    def restore_newest(self, like_state, check: Callable[[dict], None], log=None):
        """``(step, record, state)`` of the newest checkpoint that is whole and passes ``check``
        (which raises a ``CheckpointError`` for a record this run must not continue).

        Damaged newer checkpoints are moved into ``<directory>.damaged/`` (so that this run's
        next saves do not meet them) and named in one line to ``log``."""
        damaged = []
        for step in sorted(self.manager.all_steps(), reverse=True):
            try:
                self.verify(step)
                _, record = self.record(step)
                if not isinstance(record, dict):
                    raise DamagedCheckpointError(
                        self.directory, step, "its record is not an object"
                    )
                if record.get("format", 1) > RUN_STATE_FORMAT:
                    raise CheckpointError(
                        f"run checkpoint {self.directory} step {step} was written by a newer "
                        f"qgpt-jax (run-state format {record['format']}, this version reads up "
                        f"to {RUN_STATE_FORMAT}); resume it with that version"
                    )
                check(record)
                state = self.restore(like_state, step)
            except DamagedCheckpointError as exc:
                damaged.append((step, exc))
                continue
            if damaged:
                aside = self._set_aside([s for s, _ in damaged])
                (log or _stderr)(
                    f"note: run checkpoint step(s) {', '.join(str(s) for s, _ in damaged)} in "
                    f"{self.directory} are damaged ({damaged[0][1].reason}); moved to {aside}, "
                    f"continuing from step {step}"
                )
            return step, record, state
        if damaged:
            raise CheckpointError(
                f"every run checkpoint in {self.directory} is damaged (step {damaged[0][0]}: "
                f"{damaged[0][1].reason}); start the run afresh without --resume (they are kept)"
            )
        raise CheckpointError(
            f"no run checkpoint in {self.directory}; start the run without --resume"
        )

    def verify(self, step: int) -> None:
        """Raise ``DamagedCheckpointError`` if a file of the checkpoint at ``step`` is missing or
        differs from what its file list says was written."""
        folder = self.directory / str(step)
        try:
            expected = json.loads((folder / DIGEST_NAME).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return  # written before file lists, or killed just before its list: orbax decides
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            expected = None
        if not isinstance(expected, dict):
            raise DamagedCheckpointError(self.directory, step, "its file list is unreadable")
        actual = file_digests(folder)
        missing = sorted(set(expected) - set(actual))
        changed = sorted(
            name for name in expected if name in actual and actual[name] != expected[name]
        )
        if missing:
            raise DamagedCheckpointError(
                self.directory, step, f"{len(missing)} file(s) missing, such as {missing[0]}"
            )
        if changed:
            raise DamagedCheckpointError(
                self.directory, step, f"{len(changed)} file(s) changed, such as {changed[0]}"
            )

    def _set_aside(self, steps: list[int]) -> Path:
        aside = self.directory.with_name(self.directory.name + ".damaged")
        aside.mkdir(exist_ok=True)
        for step in steps:
            target = aside / str(step)
            if target.exists():  # set aside before: keep both
                target = aside / f"{step}-{time.strftime('%Y%m%d-%H%M%S')}"
            (self.directory / str(step)).rename(target)
        self.manager.reload()
        return aside

    def _unreadable(self, step: int, exc: Exception) -> CheckpointError:
        # tensorstore appends its whole spec after "See full TensorStore details"
        message = " ".join(str(exc).split("See full")[0].split())[:160].rstrip(". ")
        return DamagedCheckpointError(self.directory, step, message)

    def close(self) -> None:
        self.manager.close()


def file_digests(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` but its file list, by relative path."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != DIGEST_NAME
    }


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)
