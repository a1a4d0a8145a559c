"""Shared fixtures: unique IPC names, and forked children that hold IPC objects for a test.

Several engineers run tests on one machine at once, so every fixture here makes names nobody else
uses and cleans up only what it made, also when the test fails.

- ``unique_name()``: "ipctop-test-<pid>-<n>-<random>", usable as a POSIX name after a "/", a file
  name, or (``unique_key()``) a SysV key.
- ``spawn(body)``: fork a child that runs ``body()`` (which sets up what the child should hold and
  may return bytes to report), then waits, holding everything, until the test ends. The parent
  gets a :class:`Child` once ``body`` has returned, so there is no sleep-and-hope; at teardown the
  child is killed and reaped.
- ``run_and_exit(body)``: fork a child that runs ``body()`` and exits at once (a creator that is
  gone, a reader with other credentials); returns what it reported, fails the test if it raised.
- ``cleanup(undo)``: register an undo step (remove a segment, unlink a name); the steps run in
  reverse order at teardown, also when the test fails, each one's error ignored.
- ``tag``: a :class:`Tag`, one random hex tag put in every SysV key and POSIX name a test makes,
  so ``--filter`` on it selects only that test's objects (for tests that remove what matches).
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import random
import signal
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

_counter = itertools.count()


def unique_name() -> str:
    """A name no other test or process on this machine uses."""
    return f"ipctop-test-{os.getpid()}-{next(_counter)}-{random.randrange(1 << 30):x}"


def unique_key() -> int:
    """A SysV key (positive, below 2**31) very unlikely to be in use; callers use IPC_CREX."""
    return random.randrange(0x10000000, 0x7FFFFFFF)


@dataclass
class Child:
    """A forked child, waiting until teardown (or :meth:`stop`)."""

    pid: int
    report: bytes
    """What ``body`` returned."""
    _go: int

    def stop(self) -> None:
        """Kill and reap the child now (idempotent)."""
        if self.pid <= 0:
            return
        with contextlib.suppress(OSError):
            os.close(self._go)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        self.pid = -self.pid


Cleanup = Callable[[Callable[[], object]], None]
"""The type of the ``cleanup`` fixture."""


@pytest.fixture
def cleanup() -> Iterator[Cleanup]:
    """Register undo steps; they run in reverse order at teardown, even when the test fails.

    An undo that raises (the object is already gone, say) is ignored so the others still run.
    """
    todo: list[Callable[[], object]] = []
    yield todo.append
    for undo in reversed(todo):
        with contextlib.suppress(Exception):
            undo()


@dataclass
class Tag:
    """A random tag in every key and name a test makes: SysV keys read "0x<tag>NN" and POSIX
    names "/ipctop5-0x<tag>NN-<what>", so :attr:`text` matches this test's objects only."""

    undo: Cleanup
    """Registers the removal of what the test made (the ``cleanup`` fixture)."""
    hex6: str = field(default_factory=lambda: f"{random.randrange(0x100000, 0x7FFFFF):06x}")
    n: int = 0

    @property
    def text(self) -> str:
        """What --filter gets: a substring of this test's keys and names only."""
        return f"0x{self.hex6}"

    def key(self) -> int:
        self.n += 1
        return int(f"{self.hex6}{self.n:02x}", 16)

    def name(self, what: str) -> str:
        self.n += 1
        return f"/ipctop5-0x{self.hex6}{self.n:02x}-{what}"


def _named_by_me() -> set[str]:
    """The /dev/shm and /dev/mqueue entries whose name ``unique_name()`` made in this process."""
    mark = f"ipctop-test-{os.getpid()}-"
    found: set[str] = set()
    for where in ("/dev/shm", "/dev/mqueue"):
        with contextlib.suppress(OSError):
            found |= {f"{where}/{n}" for n in os.listdir(where) if mark in n}
    return found


@pytest.fixture(autouse=True)
def _nothing_left_behind(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test that leaves a POSIX object it named behind (and remove it): leftovers pile
    up over runs as leaks that other tests and every ``ipctop leaks`` then see."""
    before = _named_by_me()
    yield
    left = sorted(_named_by_me() - before)
    for path in left:
        with contextlib.suppress(OSError):
            os.unlink(path)
    if left:
        pytest.fail(f"{request.node.nodeid} left behind {', '.join(left)}", pytrace=False)


@pytest.fixture
def tag(cleanup: Cleanup) -> Tag:
    """A fresh :class:`Tag` whose objects are removed at teardown."""
    return Tag(cleanup)


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def on_terminal(argv: list[str], columns: int = 80, rows: int = 24,
                env: dict[str, str] | None = None) -> str:
    """Run ``ipctop argv`` with a pseudo-terminal ``columns`` x ``rows`` as its stdin and
    stdout, as a person at a terminal would (``env``: variables to set, e.g. COLUMNS); its
    output once it exits (CR LF made LF)."""
    import fcntl
    import pty
    import struct
    import sys
    import termios

    pid, fd = pty.fork()
    if pid == 0:
        try:
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
            os.environ.pop("COLUMNS", None)
            os.environ.update(env or {})
            os.execv(sys.executable, [sys.executable, "-m", "ipctop", *argv])
        finally:
            os._exit(127)
    out = b""
    try:
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(fd)
        os.waitpid(pid, 0)
    return out.decode(errors="replace").replace("\r\n", "\n")


def run_and_exit(body: Callable[[], bytes | None]) -> bytes:
    """Fork a child that runs ``body`` and exits; reap it; return what it reported."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(r)
            os.write(w, b"+" + (body() or b""))
        except BaseException as err:
            code = 1
            with contextlib.suppress(OSError):
                os.write(w, b"!" + repr(err).encode())
        finally:
            os._exit(code)
    os.close(w)
    try:
        data = _read_all(r)
    finally:
        os.close(r)
        os.waitpid(pid, 0)
    assert data.startswith(b"+"), f"child failed: {data[1:].decode(errors='replace')}"
    return data[1:]


Spawn = Callable[[Callable[[], "bytes | None"]], Child]
"""The type of the ``spawn`` fixture."""


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """Fork children that run a setup body and then hold still; all killed at teardown.

    ``body`` runs in the child; an exception there fails the test with the child's traceback.
    """
    children: list[Child] = []

    def start(body: Callable[[], bytes | None]) -> Child:
        ready_r, ready_w = os.pipe()
        go_r, go_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: never return into pytest
            code = 0
            try:
                os.close(ready_r)
                os.close(go_w)
                out = body() or b""
                os.write(ready_w, b"+" + out)
                os.close(ready_w)
                os.read(go_r, 1)  # until the parent closes its end or kills us
            except BaseException:
                code = 1
                with contextlib.suppress(OSError):
                    os.write(ready_w, b"!" + traceback.format_exc().encode())
            finally:
                os._exit(code)
        os.close(ready_w)
        os.close(go_r)
        child = Child(pid=pid, report=b"", _go=go_w)
        children.append(child)
        try:
            data = _read_all(ready_r)
        finally:
            os.close(ready_r)
        if not data.startswith(b"+"):
            raise AssertionError(f"child {pid} failed: {data[1:].decode(errors='replace')}")
        child.report = data[1:]
        return child

    try:
        yield start
    finally:
        for child in children:
            child.stop()


# --------------------------------------------------------------- the CLI as another user

_CLI_RUNTIME = ("ipctop", "psutil", "sysv_ipc", "posix_ipc", "pyinotify", "asyncore", "shtab")
"""What ``python -m ipctop`` imports outside the standard library (asyncore: pyasyncore)."""
_readable_copy: list[str] = []


def _setpriv(uid: int) -> list[str]:
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]


def ipctop_argv(uid: int | None = None) -> list[str]:
    """The argv prefix that runs ``python -m ipctop``, as ``uid`` if given.

    Another user cannot import from a checkout it cannot reach: a clone under root's home
    (0700 on Debian) is the usual case. Then the modules the CLI needs are copied once into a
    directory everyone can read, and the base interpreter runs them from there."""
    if uid is None:
        return [sys.executable, "-m", "ipctop"]
    import importlib.util
    import shutil
    import subprocess
    import tempfile

    direct = [*_setpriv(uid), sys.executable]
    probe = subprocess.run([*direct, "-c", "import ipctop.cli, psutil"], capture_output=True,
                           timeout=60, check=False)
    if probe.returncode == 0:
        return [*direct, "-m", "ipctop"]
    if not _readable_copy:
        where = tempfile.mkdtemp(prefix="ipctop-cli-copy-")
        os.chmod(where, 0o755)
        atexit.register(shutil.rmtree, where, True)
        for name in _CLI_RUNTIME:
            spec = importlib.util.find_spec(name)
            if spec is None or spec.origin is None:
                continue
            if spec.submodule_search_locations:
                shutil.copytree(os.path.dirname(spec.origin), os.path.join(where, name),
                                ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(spec.origin, where)
        _readable_copy.append(where)
    runner = (f"import sys; sys.path.insert(0, {_readable_copy[0]!r}); import runpy; "
              "runpy.run_module('ipctop', run_name='__main__', alter_sys=True)")
    return [*_setpriv(uid), getattr(sys, "_base_executable", sys.executable), "-s", "-c",
            runner]
