"""ipctop: a top for inter-process communication on Linux."""

__version__ = "0.1.0"
