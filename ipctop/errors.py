"""Errors fit to show a user: one line, and the exit status the command should end with."""

from __future__ import annotations

from pathlib import Path

EXIT_OK = 0
EXIT_NOTHING = 1
"""Nothing to receive, not found where that is the answer, leaks found."""
EXIT_ERROR = 2
"""Bad usage or a failure."""


class IpcError(Exception):
    """A failure with a message for the user. ``exit_code`` is what the CLI exits with."""

    exit_code: int = EXIT_ERROR

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(IpcError):
    """The user's input is wrong (exit 2)."""


class NotFound(IpcError):
    """The object named does not exist (exit 1 where that is the answer)."""

    exit_code = EXIT_NOTHING


class ParseError(IpcError):
    """A /proc file did not look as the kernel writes it; names the file and the line."""

    def __init__(self, path: str | Path, lineno: int, message: str) -> None:
        super().__init__(f"{path}:{lineno}: {message}")
        self.path = str(path)
        self.lineno = lineno
