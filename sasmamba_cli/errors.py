"""Library exceptions. Only the CLI turns them into messages and exit codes."""


class SasmambaError(Exception):
    """Base class: a user-facing problem with a message that says expected vs found and how to fix."""

    exit_code = 1


class InputError(SasmambaError):
    """Missing, unreadable, corrupt or unsupported input file."""

    exit_code = 2


class NoPersonError(SasmambaError):
    """A video or keypoint file with no usable person track."""

    exit_code = 3


class OutputError(SasmambaError):
    """Writing the outputs failed (disk full, read-only or vanished folder): nothing of the clip is
    left in --out; finished clips are kept and a rerun resumes."""

    exit_code = 4
