"""User-facing errors: each one is printed as a single line by the CLI, without a traceback."""


class Phase4AError(Exception):
    """A mistake the user can fix; the message names the bad value and the fix."""


class ConfigError(Phase4AError):
    """An unknown config key, a value of the wrong type, or a value out of range."""


class DataError(Phase4AError):
    """Input data that is missing, unreadable or inconsistent."""


class MissingInputError(Phase4AError):
    """An artefact an earlier step should have written is absent."""


class WeightsError(Phase4AError):
    """Pretrained weights that cannot be downloaded, found or loaded."""


class OutputError(Phase4AError):
    """An output location that cannot be written, or holds a run that must not be overwritten."""


class RunDirBusyError(OutputError):
    """The run directory is being written by another process (phase4a/lock.py)."""
