"""User-facing errors.

Every problem a user can fix (bad corpus, bad config, unknown device, wrong checkpoint) is raised as
a ``QGPTError`` whose message is one line naming the problem and the fix. The command-line entry
points print that line and exit with the error's ``exit_code`` instead of showing a traceback:
2 for bad input, 3 when a quantum head cannot run, 4 when training diverges (a non-finite loss),
130 when interrupted.
"""


class QGPTError(Exception):
    """A problem with the user's input, explained in one line."""

    exit_code = 2


class ConfigError(QGPTError, ValueError):
    """An impossible or unknown configuration value."""


class DataError(QGPTError):
    """The corpus is missing, unreadable or unusable."""


class CheckpointError(QGPTError):
    """A checkpoint is missing, malformed, or does not match the requested config."""


class QuantumExecutionError(QGPTError):
    """A quantum head could not run; there is no classical fallback."""

    exit_code = 3


class NonFiniteLossError(QGPTError):
    """Training produced a NaN or infinite loss; the run stopped at that chunk."""

    exit_code = 4

    def __init__(self, message: str, partial=None):
        super().__init__(message)
        self.partial = partial
        """What the run had measured up to the failure (the engine's per-seed results)."""
