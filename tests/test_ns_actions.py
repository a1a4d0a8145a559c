"""`--ns PID` on the action commands: each acts inside the IPC and mount namespaces of PID (a
member of namespaces a forked child made), never on the host's object of the same key or name;
checked from outside with nsenter. The member is killed at teardown, also on failure."""

from __future__ import annotations

import os
import subprocess
import sys

import posix_ipc
import pytest
import sysv_ipc
from conftest import Cleanup, Spawn, unique_key, unique_name
from test_namespaces import private_namespaces

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="building namespaces needs root")


def ipctop(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ipctop", *args], capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=120)


def nsenter(pid: int, flag: str, *cmd: str) -> str:
    return subprocess.run(["nsenter", "-t", str(pid), flag, *cmd], capture_output=True,
                          text=True, check=True, timeout=60).stdout


def inside_keys(pid: int) -> set[str]:
    """The SysV shm keys (hex) inside the namespaces of ``pid``, as the kernel lists them."""
    rows = nsenter(pid, "-i", "cat", "/proc/sysvipc/shm").splitlines()[1:]
    return {f"0x{int(r.split()[0]) & 0xFFFFFFFF:08x}" for r in rows}


def test_actions_with_ns_act_inside_only(spawn: Spawn, cleanup: Cleanup) -> None:
    member = spawn(lambda: private_namespaces())
    pid = str(member.pid)
    key = unique_key()
    hexkey = f"0x{key:08x}"
    outside = sysv_ipc.SharedMemory(key, sysv_ipc.IPC_CREX, size=4096)  # the same key outside
    cleanup(outside.remove)
    cleanup(outside.detach)
    outside.write(b"outside")

    made = ipctop("create", "sysv-shm", hexkey, "--size", "8192", "--ns", pid)
    assert made.returncode == 0, made.stderr
    assert hexkey in inside_keys(member.pid)

    wrote = ipctop("write", "sysv-shm", "--key", hexkey, "inside", "--offset", "0", "--ns", pid)
    assert wrote.returncode == 0, wrote.stderr
    read = ipctop("read", "sysv-shm", "--key", hexkey, "--length", "6", "--raw", "--ns", pid)
    assert read.returncode == 0 and read.stdout == "inside", read.stderr
    assert outside.read(7) == b"outside"  # the host's segment of the same key is untouched

    removed = ipctop("rm", "sysv-shm", "--key", hexkey, "--yes", "--ns", pid)
    assert removed.returncode == 0, removed.stderr
    assert hexkey not in inside_keys(member.pid)
    assert sysv_ipc.SharedMemory(key).id == outside.id  # still there outside

    # Queues, semaphores and /dev/shm files inside
    assert ipctop("create", "sysv-msg", hexkey, "--ns", pid).returncode == 0
    assert ipctop("send", "sysv-msg", "--key", hexkey, "hi", "--ns", pid).returncode == 0
    got = ipctop("recv", "sysv-msg", "--key", hexkey, "--ns", pid)
    assert got.returncode == 0 and got.stdout.strip() == "type 1: hi", got.stderr
    msgs = nsenter(member.pid, "-i", "cat", "/proc/sysvipc/msg")
    assert str(key) in msgs or str(key - (1 << 32)) in msgs
    assert ipctop("create", "sysv-sem", hexkey, "--value", "2", "--ns", pid).returncode == 0
    op = ipctop("sem", "sysv-sem", "--key", hexkey, "--op", "1", "--ns", pid)
    assert op.returncode == 0 and op.stdout.strip() == "3", op.stderr

    name = f"/{unique_name()}"
    host_file = posix_ipc.SharedMemory(name, posix_ipc.O_CREX, size=4096)  # same name outside
    host_file.close_fd()
    cleanup(lambda: posix_ipc.unlink_shared_memory(name))
    assert ipctop("create", "posix-shm", name, "--size", "1K", "--ns", pid).returncode == 0
    listing = nsenter(member.pid, "-m", "stat", "-c", "%n %s", f"/dev/shm{name}")
    assert listing.strip() == f"/dev/shm{name} 1024"
    assert os.stat(f"/dev/shm{name}").st_size == 4096
    assert ipctop("rm", "posix-shm", name, "--yes", "--ns", pid).returncode == 0
    assert os.path.exists(f"/dev/shm{name}")  # outside: kept

    q = f"/{unique_name()}"
    assert ipctop("create", "posix-mq", q, "--ns", pid).returncode == 0
    assert ipctop("send", "posix-mq", q, "deep", "--ns", pid).returncode == 0
    assert nsenter(member.pid, "-m", "cat", f"/dev/mqueue{q}").startswith("QSIZE:4")
    with pytest.raises(posix_ipc.ExistentialError):
        posix_ipc.MessageQueue(q)  # not on the host


def test_ns_errors_are_one_line(spawn: Spawn) -> None:
    gone = ipctop("rm", "sysv-shm", "1", "--yes", "--ns", "999999999")
    assert gone.returncode == 2 and gone.stderr == "ipctop: no process 999999999\n"
    bad = ipctop("rm", "sysv-shm", "1", "--yes", "--ns", "abc")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "not a process id" in bad.stderr
    member = spawn(lambda: private_namespaces())
    missing = ipctop("rm", "sysv-shm", "--key", "0x7ffffff1", "--yes", "--ns", str(member.pid))
    assert missing.returncode == 1 and missing.stderr.startswith("ipctop: no sysv-shm with key")
    assert missing.stderr.count("\n") == 1
