"""Kernel limits: the live values against ``ipcs -l`` and statvfs, fixture trees for the rest."""

from __future__ import annotations

import mmap
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from fixtures_proc import write_file

from ipctop.collect.limits import read_limits
from ipctop.errors import ParseError


def _ipcs_l() -> dict[str, int]:
    out = subprocess.run(["ipcs", "-l"], capture_output=True, text=True, check=True).stdout
    return {m[1].strip(): int(m[2]) for m in re.finditer(r"^(.+?) = (\d+)\s*$", out, re.M)}


def test_live_limits_match_ipcs() -> None:
    lim = read_limits()
    ipcs = _ipcs_l()
    assert lim.page_size == mmap.PAGESIZE
    assert lim.msgmni == ipcs["max queues system wide"]
    assert lim.msgmax == ipcs["max size of message (bytes)"]
    assert lim.msgmnb == ipcs["default max size of queue (bytes)"]
    assert lim.shmmni == ipcs["max number of segments"]
    assert lim.semmni == ipcs["max number of arrays"]
    assert lim.semmsl == ipcs["max semaphores per array"]
    assert lim.semmns == ipcs["max semaphores system wide"]
    assert lim.semopm == ipcs["max ops per semop call"]
    assert lim.shmmax is not None and lim.shmmax // 1024 == ipcs["max seg size (kbytes)"]
    for value in (lim.mq_queues_max, lim.mq_msg_max, lim.mq_msgsize_max, lim.mq_msg_default,
                  lim.mq_msgsize_default):
        assert isinstance(value, int) and value > 0
    assert lim.devshm_size == shutil.disk_usage("/dev/shm").total
    assert lim.devshm_used is not None and 0 <= lim.devshm_used <= lim.devshm_size


def _tree(root: Path) -> None:
    kernel = root / "sys" / "kernel"
    for name, value in {"shmmax": "18446744073692774399", "shmall": "2097152", "shmmni": "4096",
                        "msgmax": "8192", "msgmnb": "16384", "msgmni": "32000"}.items():
        write_file(kernel / name, f"{value}\n")
    write_file(kernel / "sem", "250\t32000\t32\t128\n")
    mq = root / "sys" / "fs" / "mqueue"
    for name, value in {"queues_max": "256", "msg_max": "10", "msgsize_max": "8192",
                        "msg_default": "10", "msgsize_default": "8192"}.items():
        write_file(mq / name, f"{value}\n")


def test_fixture_limits(tmp_path: Path) -> None:
    _tree(tmp_path)
    write_file(tmp_path / "dev" / "shm" / "f", b"x" * 8192)
    lim = read_limits(tmp_path, tmp_path / "dev")
    assert (lim.shmmax, lim.shmall, lim.shmmni) == (18446744073692774399, 2097152, 4096)
    assert (lim.msgmax, lim.msgmnb, lim.msgmni) == (8192, 16384, 32000)
    assert (lim.semmsl, lim.semmns, lim.semopm, lim.semmni) == (250, 32000, 32, 128)
    assert (lim.mq_queues_max, lim.mq_msg_max, lim.mq_msgsize_max) == (256, 10, 8192)
    assert (lim.mq_msg_default, lim.mq_msgsize_default) == (10, 8192)
    # tmp_path's filesystem stands in for /dev/shm: statvfs of that directory
    assert lim.devshm_size == shutil.disk_usage(tmp_path).total


def test_missing_files_are_none(tmp_path: Path) -> None:
    write_file(tmp_path / "sys" / "kernel" / "shmmni", "4096\n")
    lim = read_limits(tmp_path, tmp_path)
    assert lim.shmmni == 4096
    assert lim.shmmax is None and lim.semmsl is None and lim.semmni is None
    assert lim.mq_queues_max is None and lim.mq_msgsize_default is None
    assert lim.devshm_size is None and lim.devshm_used is None


@pytest.mark.parametrize(
    ("relpath", "text", "message"),
    [
        ("sys/kernel/shmmni", "lots\n", "not a number: 'lots'"),
        ("sys/kernel/sem", "250 32000 32\n", "expected 4 number(s), got 3 field(s)"),
        ("sys/fs/mqueue/msg_max", "\n", "expected 1 number(s), got 0 field(s)"),
    ],
)
def test_malformed_limit_names_the_file(
    tmp_path: Path, relpath: str, text: str, message: str
) -> None:
    _tree(tmp_path)
    path = write_file(tmp_path / relpath, text)
    with pytest.raises(ParseError) as err:
        read_limits(tmp_path, tmp_path)
    assert str(err.value) == f"{path}:1: {message}"
