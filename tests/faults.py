"""Run ``python -m experiments.compare`` with one fault injected, as a machine would cause it.

``python tests/faults.py FAULT N [compare arguments]``, FAULT one of:

* ``kill-report``: SIGKILL at the N-th report file (``results.json`` / ``results.md``), after its
  temporary file is written and before it is renamed into place;
* ``kill-in-checkpoint``: SIGKILL while the N-th run checkpoint is being written, ``$FAULT_DELAY``
  seconds (default 0) after orbax creates its temporary folder (if the save ends first, just
  after it);
* ``kill-after-checkpoint``: SIGKILL once the N-th run checkpoint is complete;
* ``full-checkpoint``, ``full-report``, ``full-tensorboard``: the N-th write of that kind fails with
  ``OSError(ENOSPC)``, as on a full disk (for the report, the ``fsync`` of ``results.json``'s
  temporary file; for TensorBoard, the event file's flush, where a real full disk shows).

Test code only: the library has no fault hooks.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import threading
import time

TMP = ".orbax-checkpoint-tmp"
"""What orbax's temporary folder of a checkpoint being written is called."""


def _count(limit: int):
    calls = [0]

    def reached() -> bool:
        calls[0] += 1
        return calls[0] == limit

    return reached


def _kill() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _disk_full():
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def install(fault: str, n: int) -> None:
    import orbax.checkpoint as ocp
    from tensorboardX import record_writer

    from qgpt_jax.run_state import RunCheckpoints

    reached = _count(n)
    if fault in ("kill-report", "full-report"):
        replace, fsync = os.replace, os.fsync
        report = ("results.json", "results.md")

        def faulty_replace(src, dst, *args, **kwargs):
            if fault == "kill-report" and os.path.basename(dst) in report and reached():
                _kill()
            return replace(src, dst, *args, **kwargs)

        def faulty_fsync(fd):
            name = os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))
            if fault == "full-report" and name.startswith(".results.json.") and reached():
                _disk_full()
            return fsync(fd)

        os.replace, os.fsync = faulty_replace, faulty_fsync
    elif fault in ("kill-in-checkpoint", "kill-after-checkpoint"):
        save = RunCheckpoints.save
        delay = float(os.environ.get("FAULT_DELAY", "0"))

        def kill_once_writing(directory):
            """SIGKILL ``delay`` seconds after orbax's temporary folder of the save appears."""
            while True:
                if any(TMP in p.name for p in directory.iterdir()):
                    time.sleep(delay)
                    _kill()
                time.sleep(0.0002)

        def faulty_save(self, *args, **kwargs):
            last = reached()
            if last and fault == "kill-in-checkpoint":
                watcher = threading.Thread(target=kill_once_writing, args=(self.directory,))
                watcher.daemon = True
                watcher.start()
            save(self, *args, **kwargs)
            if last:
                _kill()  # the in-checkpoint kill came too late: kill here, just after

        RunCheckpoints.save = faulty_save
    elif fault == "full-checkpoint":
        save = ocp.CheckpointManager.save

        def faulty_manager_save(self, *args, **kwargs):
            if reached():
                _disk_full()
            return save(self, *args, **kwargs)

        ocp.CheckpointManager.save = faulty_manager_save
    elif fault == "full-tensorboard":
        flush = record_writer.RecordWriter.flush

        def faulty_flush(self):
            if reached():
                _disk_full()
            return flush(self)

        record_writer.RecordWriter.flush = faulty_flush
    else:
        raise SystemExit(f"unknown fault {fault}")


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    fault, n, *argv = sys.argv[1:]
    install(fault, int(n))
    from experiments.compare import main

    main(argv)
