"""IPC churn: processes that create and drop /dev/shm files, pipes and sockets, and fork
short-lived children, as fast as they can. For the TUI's churn test and for measuring by hand.

Every churner is a forked process in one new process group, bounded in time (it stops by
itself after ``seconds``) and killed with its parent (PR_SET_PDEATHSIG), so a failed test
cannot leave it running; :meth:`Churn.stop` kills the group and unlinks what is left.

    .venv/bin/python tests/churn.py --seconds 60     # by hand, next to a running ipctop
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import signal
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

KINDS = ("shm", "pipe", "socket", "fork")
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _shm(prefix: str, until: float) -> None:
    n = 0
    base = f"/dev/shm/{prefix}-{os.getpid()}-"
    while time.monotonic() < until:
        path = base + str(n % 64)
        n += 1
        try:
            os.close(os.open(path, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600))
            os.unlink(path)
        except OSError:
            time.sleep(0.001)


def _pipe(prefix: str, until: float) -> None:
    held: list[tuple[int, int]] = []
    while time.monotonic() < until:
        held.append(os.pipe())
        if len(held) > 32:  # a few live at any moment, so scans see some
            for fd in held.pop(0):
                os.close(fd)


def _socket(prefix: str, until: float) -> None:
    held: list[tuple[socket.socket, socket.socket]] = []
    while time.monotonic() < until:
        held.append(socket.socketpair())
        if len(held) > 32:
            for s in held.pop(0):
                s.close()


def _fork(prefix: str, until: float) -> None:
    while time.monotonic() < until:
        try:
            pid = os.fork()
        except OSError:
            time.sleep(0.01)
            continue
        if pid == 0:
            os._exit(0)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


_BODIES: dict[str, Callable[[str, float], None]] = {
    "shm": _shm, "pipe": _pipe, "socket": _socket, "fork": _fork}


@dataclass
class Churn:
    """Churners started by :meth:`start`; :meth:`stop` ends them (idempotent)."""

    prefix: str
    pgid: int = 0
    pids: list[int] = field(default_factory=list)

    def start(self, seconds: float, kinds: Sequence[str] = KINDS, per_kind: int = 1) -> Churn:
        until = time.monotonic() + seconds
        for kind in kinds:
            for _ in range(per_kind):
                pid = os.fork()
                if pid == 0:  # the churner: never returns into the caller
                    code = 0
                    try:
                        os.setpgid(0, self.pgid)
                        _die_with_parent()
                        signal.signal(signal.SIGINT, signal.SIG_DFL)
                        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                        _BODIES[kind](self.prefix, until)
                    except BaseException:
                        code = 1
                    finally:
                        os._exit(code)
                with contextlib.suppress(OSError):  # also in the parent: no race on the group
                    os.setpgid(pid, self.pgid or pid)
                if not self.pgid:
                    self.pgid = pid
                self.pids.append(pid)
        return self

    def alive(self) -> int:
        """How many churners are still running (reaps those that ended)."""
        n = 0
        for pid in self.pids:
            with contextlib.suppress(ChildProcessError):
                done, _ = os.waitpid(pid, os.WNOHANG)
                n += done == 0
        return n

    def stop(self) -> None:
        for pid in self.pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for pid in self.pids:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        self.pids.clear()
        for name in os.listdir("/dev/shm"):
            if name.startswith(self.prefix + "-"):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join("/dev/shm", name))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--per-kind", type=int, default=1)
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--prefix", default=f"ipctop-churn-{os.getpid()}")
    args = parser.parse_args(argv)
    churn = Churn(args.prefix).start(args.seconds, args.kinds.split(","), args.per_kind)
    try:
        while churn.alive():
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        churn.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
