"""Checkpoints of a whole training run, so that a killed run continues where it stopped.

A run state is the train state of every seed trained together (parameters, optimizer state, step,
with the leading seed axis and, on a mesh, its sharding) plus a JSON record of everything the host
loop accumulated (losses and evaluations so far, training time, circuit counts, configs,
vocabulary, seeds; the run's keys are a function of the seeds and the step). orbax writes each
checkpoint into a temporary folder and renames it when complete, so a checkpoint on disk is whole
or absent, and keeps the newest ``keep``. Sharded and multi-host states are saved by every process
writing its own shards.
"""

from __future__ import annotations

import logging
from pathlib import Path

import jax
import orbax.checkpoint as ocp
from flax import serialization

from qgpt_jax.errors import CheckpointError


class RunCheckpoints:
    """The checkpoints of one training run (one model's seeds) in ``directory``."""

    def __init__(self, directory: str | Path, keep: int = 2):
        if keep < 1:
            raise CheckpointError(f"keep must be at least 1 checkpoint, got {keep}")
        self.directory = Path(directory).absolute()
        logging.getLogger("absl").setLevel(logging.WARNING)  # orbax logs every save at INFO
        self.manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(
                max_to_keep=keep, create=True, enable_async_checkpointing=False
            ),
        )

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def save(self, step: int, state, record: dict) -> None:
        """Write the state and the host record at ``step`` (every process calls this)."""
        self.manager.save(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(serialization.to_state_dict(state)),
                record=ocp.args.JsonSave(record),
            ),
        )
        self.manager.wait_until_finished()

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

    def _unreadable(self, step: int, exc: Exception) -> CheckpointError:
        message = " ".join(str(exc).split())[:200]
        return CheckpointError(
            f"run checkpoint {self.directory} step {step} cannot be restored ({message}); "
            f"resume with the configuration it was written with, or start afresh"
        )

    def close(self) -> None:
        self.manager.close()
