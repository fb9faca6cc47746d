"""User-facing errors.

Every problem a user can fix (bad corpus, bad config, unknown device, wrong checkpoint) is raised as
a ``QGPTError`` whose message is one line naming the problem and the fix. The command-line entry
points print that line and exit with status 2 instead of showing a traceback.
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
