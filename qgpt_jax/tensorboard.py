"""Training metrics as TensorBoard event files, one run folder per model and seed.

Written from a finished (or stopped) run's record, so training itself makes no extra host syncs:
per-step training loss, the evaluations (train and validation loss) and the throughput. Open with
``tensorboard --logdir DIR``, the viewer the profiler traces already use.

The events are written by tensorboardX's event-file writer in this thread, not through its
``SummaryWriter``, whose background thread would lose a failed write (or, its queue full, hang
the run): a full disk is one line here, and the partial event file is removed.
"""

from __future__ import annotations

import time
from pathlib import Path

from qgpt_jax.storage import writing
from qgpt_jax.study import path_name


def scalars(run: dict):
    """``(tag, value, step)`` of every metric in one ``results.json`` run record."""
    for step, loss in enumerate(run["step_losses"], start=1):
        yield "train/step_loss", loss, step
    for evaluation in run["evals"]:
        yield "eval/train_loss", evaluation["train_loss"], evaluation["step"]
        yield "eval/val_loss", evaluation["val_loss"], evaluation["step"]
    if run.get("tokens_per_s"):
        yield "speed/tokens_per_s", run["tokens_per_s"], len(run["step_losses"])


def write_run(directory: str | Path, run: dict) -> Path:
    """Event files for one ``results.json`` run record under ``directory/<model>-seed<N>``."""
    from tensorboardX.event_file_writer import EventsWriter
    from tensorboardX.proto.event_pb2 import Event
    from tensorboardX.summary import scalar

    folder = Path(directory) / f"{path_name(run['model'])}-seed{run['seed']}"
    with writing(f"TensorBoard events in {folder}"):
        folder.mkdir(parents=True, exist_ok=True)
        before = set(folder.iterdir())
        try:
            writer = EventsWriter(str(folder / "events"))
            for tag, value, step in scalars(run):
                writer.write_event(
                    Event(wall_time=time.time(), step=step, summary=scalar(tag, value))
                )
            writer.close()  # flushes and fsyncs: where a full disk shows
        except BaseException:
            for partial in set(folder.iterdir()) - before:
                partial.unlink(missing_ok=True)
            raise
    return folder
