"""A listening socket's queue counts connections, not bytes: the kernel reports a listener's
accept queue (and a TCP listener's backlog limit) in the fields that hold bytes for every other
socket, as ``ss`` shows them under Recv-Q / Send-Q. The tables say "1 conn" / "max 5" for UNIX
and TCP listeners alike (one rule, in ipctop.columns); a UDP socket never listens, so its queue
stays bytes. JSON keeps its numbers.

Real sockets held by this test, and a real ``ipctop`` process reading them.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest
from conftest import unique_name

from ipctop.columns import SENDQ, SOCKET_QUEUED, listening
from ipctop.kinds import InetSocket, UnixSocket
from ipctop.output_options import Style
from ipctop.table import render
from ipctop.ui.widgets.detail_pane import field_text

BACKLOG = 5


def ipctop(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ipctop", *args], capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=120)


@pytest.fixture
def tcp_listener() -> Iterator[int]:
    """A TCP listener on loopback with one connection waiting to be accepted: its inode."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as lst, \
            socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
        lst.bind(("127.0.0.1", 0))
        lst.listen(BACKLOG)
        client.connect(lst.getsockname())
        yield _inode(lst)


@pytest.fixture
def unix_listener() -> Iterator[int]:
    """A UNIX stream listener (abstract name) with one connection waiting: its inode."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as lst, \
            socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        lst.bind("\0" + unique_name())
        lst.listen(BACKLOG)
        client.connect(lst.getsockname())
        yield _inode(lst)


def _inode(sock: socket.socket) -> int:
    import os

    return os.fstat(sock.fileno()).st_ino


def _row(text: str, inode: int) -> list[str]:
    return next(line.split() for line in text.splitlines() if line.split()[:1] == [str(inode)])


def test_tcp_listener_queue_is_connections_in_every_table_form(tcp_listener: int) -> None:
    cols = "INODE,STATE,QUEUED,SENDQ"
    out = ipctop("snapshot", "--kind", "inet-socket", "-o", cols)
    assert out.returncode == 0, out.stderr
    assert _row(out.stdout, tcp_listener) == [str(tcp_listener), "listen", "1", "conn", "max",
                                              str(BACKLOG)]
    # --bytes prints sizes as bytes; a count of connections is not a size, so it stays.
    raw = ipctop("snapshot", "--kind", "inet-socket", "-o", cols, "--raw", "-n", "-b")
    assert f"{tcp_listener} listen 1\\x20conn max\\x20{BACKLOG}" in raw.stdout.splitlines()
    # JSON keeps the kernel's numbers in their fields.
    doc = json.loads(ipctop("snapshot", "--kind", "inet-socket", "--json").stdout)
    obj = next(o for o in doc["objects"] if o["id"] == str(tcp_listener))
    assert (obj["state"], obj["bytes"], obj["send_bytes"]) == ("listen", 1, BACKLOG)


def test_unix_listener_queue_is_connections(unix_listener: int) -> None:
    out = ipctop("snapshot", "--kind", "unix-socket", "-o", "INODE,STATE,QUEUED", "-b")
    assert out.returncode == 0, out.stderr
    assert _row(out.stdout, unix_listener) == [str(unix_listener), "listen", "1", "conn"]


def test_udp_queue_stays_bytes() -> None:
    """A bound UDP socket with a datagram queued: its queue is memory, in bytes."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        server.bind(("127.0.0.1", 0))
        client.connect(server.getsockname())
        client.send(b"x" * 100)
        inode = _inode(server)
        out = ipctop("snapshot", "--kind", "inet-socket", "-o", "INODE,STATE,QUEUED", "-b")
        row = _row(out.stdout, inode)
        assert row[1] == "unconnected" and row[2].isdigit() and int(row[2]) >= 100
        human = _row(ipctop("snapshot", "--kind", "inet-socket",
                            "-o", "INODE,QUEUED").stdout, inode)
        assert human[1][-1] in "BK" and "conn" not in human


def test_one_rule_for_the_tables_and_the_detail_pane() -> None:
    """The same objects through the CLI renderer and the TUI's detail pane."""
    tcp = InetSocket(id="11", proto="tcp", family="ipv4", state="listen", local="0.0.0.0:80",
                     bytes=2, send_bytes=4096)
    established = InetSocket(id="12", proto="tcp", family="ipv4", state="established",
                             local="127.0.0.1:80", remote="127.0.0.1:5000", bytes=2,
                             send_bytes=4096)
    unix = UnixSocket(id="13", type="stream", state="listen", bytes=1)
    assert listening(tcp) and listening(unix) and not listening(established)
    text = render([SOCKET_QUEUED, SENDQ], [tcp, established], 0.0, Style(headings=False))
    assert text.splitlines() == ["2 conn  max 4096", "    2B      4.0K"]
    assert SOCKET_QUEUED.text(unix) == "1 conn"
    assert field_text("bytes", 1, 0.0, unix) == "1 connection waiting to be accepted"
    assert field_text("send_bytes", 4096, 0.0, tcp) == "backlog of 4096 connections"
    assert field_text("send_bytes", 4096, 0.0, established) == "4.0K (4096)"


def test_tui_shows_a_tcp_listener_queue_as_connections() -> None:
    """The TUI's TCP/UDP view draws the same column (Pilot, a fake collector)."""
    from fakes import FakeCollector
    from test_ui_app import make_app, running, sync

    from ipctop.model import Kind

    fake = FakeCollector()
    fake.add(InetSocket(id="778001", proto="tcp", family="ipv4", state="listen",
                        local="127.0.0.1:8080", bytes=3, send_bytes=128))

    @sync
    async def check() -> None:
        app = make_app(fake)
        async with running(app) as pilot:
            app.action_view(1 + list(Kind).index(Kind.INET_SOCKET))
            await pilot.pause()
            cells = [str(c) for c in app.table.get_row("inet_socket:778001")]
            assert "3 conn" in cells and "max 128" in cells
            assert not any(c.endswith("B") for c in cells)

    check()
