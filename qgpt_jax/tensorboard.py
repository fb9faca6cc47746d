"""Training metrics as TensorBoard event files, one run folder per model and seed.

Written from a finished (or stopped) run's record, so training itself makes no extra host syncs:
per-step training loss, the evaluations (train and validation loss) and the throughput. Open with
``tensorboard --logdir DIR``, the viewer the profiler traces already use.
"""

from __future__ import annotations

from pathlib import Path

from qgpt_jax.study import path_name


def write_run(directory: str | Path, run: dict) -> Path:
    """Event files for one ``results.json`` run record under ``directory/<model>-seed<N>``."""
    from tensorboardX import SummaryWriter

    folder = Path(directory) / f"{path_name(run['model'])}-seed{run['seed']}"
    with SummaryWriter(logdir=str(folder)) as writer:
        for step, loss in enumerate(run["step_losses"], start=1):
            writer.add_scalar("train/step_loss", loss, step)
        for evaluation in run["evals"]:
            writer.add_scalar("eval/train_loss", evaluation["train_loss"], evaluation["step"])
            writer.add_scalar("eval/val_loss", evaluation["val_loss"], evaluation["step"])
        if run.get("tokens_per_s"):
            writer.add_scalar("speed/tokens_per_s", run["tokens_per_s"], len(run["step_losses"]))
    return folder
