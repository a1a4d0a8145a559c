"""collect.procs: parsers on fixture /proc trees, races and EACCES, the scan of the real /proc."""

from __future__ import annotations

import contextlib
import mmap
import os
import stat
import threading
from pathlib import Path

import pytest
from conftest import Spawn, unique_name

from ipctop.collect import procfs, procs
from ipctop.collect.procfs import FdUse, MapUse, mask_names, signal_name
from ipctop.collect.procs import scan
from ipctop.errors import ParseError

BTIME = 1700000000
CLK_TCK = os.sysconf("SC_CLK_TCK")


def status_text(
    *, name: str = "worker", ppid: int = 1, uid: int = 0, euid: int | None = None,
    sigpnd: int = 0, shdpnd: int = 0, sigblk: int = 0, sigign: int = 0, sigcgt: int = 0,
    kthread: int = 0,
) -> str:
    """/proc/PID/status as fs/proc/array.c writes it (the fields the scan reads, and neighbours)."""
    e = uid if euid is None else euid
    return (
        f"Name:\t{name}\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t1\nNgid:\t0\nPid:\t1\n"
        f"PPid:\t{ppid}\nTracerPid:\t0\nUid:\t{uid}\t{e}\t{e}\t{e}\nGid:\t0\t0\t0\t0\n"
        f"FDSize:\t64\nGroups:\t \nKthread:\t{kthread}\nVmRSS:\t    1780 kB\nThreads:\t1\n"
        f"SigQ:\t0/96365\nSigPnd:\t{sigpnd:016x}\nShdPnd:\t{shdpnd:016x}\n"
        f"SigBlk:\t{sigblk:016x}\nSigIgn:\t{sigign:016x}\nSigCgt:\t{sigcgt:016x}\n"
        f"CapInh:\t0000000000000000\n"
    )


def stat_text(pid: int, comm: str = "worker", state: str = "S", ppid: int = 1,
              starttime: int = 500) -> str:
    rest = " ".join(["0"] * 30)
    return (f"{pid} ({comm}) {state} {ppid} {pid} {pid} 0 -1 4194304 98 0 0 0 0 0 0 0 20 0 1 0 "
            f"{starttime} 3133440 389 {rest}\n")


MAPS = (
    "55d0c0a00000-55d0c0a21000 r-xp 00000000 fd:01 1234                       /usr/bin/worker\n"
    "7f0000000000-7f0000001000 rw-s 00000000 00:01 32790                      "
    "/SYSV0000abcd (deleted)\n"
    "7f0000001000-7f0000002000 r--s 00000000 00:19 777                        /dev/shm/thing\n"
    "7f0000002000-7f0000003000 rw-s 00001000 fd:01 4242                       /srv/data.bin\n"
    "7f0000003000-7f0000004000 rw-s 00000000 00:01 9                      /memfd:buf (deleted)\n"
    "7f0000004000-7f0000005000 rw-s 00000000 00:01 10 \n"
    "7f0000005000-7f0000006000 rw-p 00000000 00:00 0                          [heap]\n"
    "7ffc00000000-7ffc00001000 r--p 00000000 00:00 0                          [vvar]\n"
    "7ffc00001000-7ffc00002000 r--p 00000000 fd:01 55                 /opt/my libs /x.so\n"
    "7ffc00002000-7ffc00003000 r--s 00000000 fd:01 56                 /opt/its s/y.db\n"
)


def make_proc(root: Path, *, btime: int = BTIME) -> Path:
    """An empty fixture /proc with /proc/stat."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "stat").write_text(f"cpu  1 2 3 4\nintr 0\nctxt 5\nbtime {btime}\nprocesses 9\n")
    return root


def make_pid(
    proc: Path, pid: int, *, status: str | None = None, stat: str | None = None,
    cmdline: bytes = b"worker\0--flag\0", ipc_ns: int = 4026531839,
    fds: dict[int, str] | None = None, fdinfo: dict[int, str] | None = None,
    maps: str = MAPS,
) -> Path:
    """A fake /proc/PID: status, stat, cmdline, ns/ipc, fd/ symlinks, fdinfo/ and maps."""
    d = proc / str(pid)
    (d / "ns").mkdir(parents=True)
    (d / "fd").mkdir()
    (d / "fdinfo").mkdir()
    (d / "status").write_text(status if status is not None else status_text())
    (d / "stat").write_text(stat if stat is not None else stat_text(pid))
    (d / "cmdline").write_bytes(cmdline)
    os.symlink(f"ipc:[{ipc_ns}]", d / "ns" / "ipc")
    for fd, target in (fds or {}).items():
        os.symlink(target, d / "fd" / str(fd))
    for fd, text in (fdinfo or {}).items():
        (d / "fdinfo" / str(fd)).write_text(text)
    (d / "maps").write_text(maps)
    return d


def fdinfo(flags: int) -> str:
    return f"pos:\t0\nflags:\t{flags:07o}\nmnt_id:\t15\nino:\t123\n"


# --------------------------------------------------------------------------- signal names


def test_signal_names_follow_kill_l() -> None:
    assert signal_name(1) == "SIGHUP"
    assert signal_name(10) == "SIGUSR1"
    assert signal_name(31) == "SIGSYS"
    assert signal_name(32) == "SIG32"
    assert signal_name(33) == "SIG33"
    assert signal_name(34) == "SIGRTMIN"
    assert signal_name(36) == "SIGRTMIN+2"
    assert signal_name(64) == "SIGRTMIN+30"


def test_mask_names_bit_n_minus_1_is_signal_n() -> None:
    mask = (1 << 9) | (1 << 1) | (1 << 35)  # SIGUSR1 (10), SIGINT (2), signal 36
    assert mask_names(mask) == ("SIGINT", "SIGUSR1", "SIGRTMIN+2")
    assert mask_names(0) == ()


# --------------------------------------------------------------------------- parsers


def test_parse_status_reads_fields_and_combines_pending(tmp_path: Path) -> None:
    text = status_text(name="my worker", ppid=42, uid=1000, euid=0, sigpnd=1 << 9,
                       shdpnd=1 << 14, sigblk=1 << 9, sigign=1, sigcgt=1 << 16)
    info = procfs.parse_status(text.encode(), tmp_path / "status")
    assert (info.name, info.ppid, info.uid) == ("my worker", 42, 0)
    assert mask_names(info.pending) == ("SIGUSR1", "SIGTERM")
    assert mask_names(info.blocked) == ("SIGUSR1",)
    assert mask_names(info.ignored) == ("SIGHUP",)
    assert mask_names(info.caught) == ("SIGCHLD",)
    assert not info.kthread
    spaced = procfs.parse_status(status_text(name=" a b ").encode(), "s")
    assert spaced.name == " a b "


def test_parse_status_bad_mask_names_file_and_line() -> None:
    text = status_text().replace("SigBlk:\t0000000000000000", "SigBlk:\tzz00000000000000")
    with pytest.raises(ParseError) as exc:
        procfs.parse_status(text.encode(), "/proc/77/status")
    line = text.splitlines().index("SigBlk:\tzz00000000000000") + 1
    assert exc.value.path == "/proc/77/status"
    assert exc.value.lineno == line
    assert str(exc.value).startswith(f"/proc/77/status:{line}: bad SigBlk")


def test_parse_status_missing_field() -> None:
    text = "".join(line + "\n" for line in status_text().splitlines() if
                   not line.startswith("PPid:"))
    with pytest.raises(ParseError, match=r"/proc/5/status:\d+: no PPid: line"):
        procfs.parse_status(text.encode(), "/proc/5/status")


def test_parse_status_fast_path_agrees_with_checked_path() -> None:
    """The lean parse of kernel-format status gives what the thorough one does, or steps aside."""
    real = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                real.append(Path(f"/proc/{entry}/status").read_bytes())
    assert real
    for data in real:
        assert procfs.status_fast(data) == procfs._status_checked(data, "x")
        assert procfs.status_fast(data) is not None  # the kernel's own format takes it
    base = status_text(name="a b", ppid=42, uid=1000, euid=7, sigpnd=1 << 9, shdpnd=1 << 14,
                       sigblk=5, sigign=1 << 63, sigcgt=0xABCDEF, kthread=1).encode()
    variants = [
        base, base.replace(b"Kthread:\t1\n", b""), base.replace(b"Kthread:\t1", b"Kthread:\t0"),
        base.replace(b"Name:\ta b", b"Name:a b"), base.replace(b"Name:\ta b", b"Name:\t"),
        base.replace(b"PPid:\t42", b"PPid:\t+42"), base.replace(b"PPid:\t42", b"PPid:\t4_2"),
        base.replace(b"PPid:\t42", b"PPid:\t42 43"), base.replace(b"PPid:\t42", b"PPid:\tx"),
        base.replace(b"Uid:\t1000\t7", b"Uid:\t1000"), base.replace(b"\t7\t7\t7", b"\t0x7"),
        base.replace(b"SigBlk:\t0000000000000005", b"SigBlk:\t0x00000000000005"),
        base.replace(b"SigBlk:\t0000000000000005", b"SigBlk:\t5"),
        base.replace(b"SigBlk:\t0000000000000005", b"SigBlk: 0000000000000005"),
        base.replace(b"SigBlk:\t0000000000000005", b"SigBlk:\t000000000000000g"),
        base.replace(b"SigBlk:\t0000000000000005", b"SigBlk:\t00000000_0000005"),
        base.replace(b"SigBlk:\t0000000000000005", b"SigBlk:\t00000000000000005"),
        base.replace(b"SigBlk:\t0000000000000005\n", b""),
        base.replace(b"Umask:", b"SigIgn:\t0000000000000001\nUmask:"),
        base.replace(b"Umask:", b"PPid:\t9\nUmask:"),
        base.rstrip(b"\n"), base.split(b"CapInh")[0].rstrip(b"\n"),
    ]
    fast_taken = 0
    for data in variants:
        fast = procfs.status_fast(data)
        try:
            checked: object = procfs._status_checked(data, "x")
        except ParseError as err:
            checked = err
        if fast is not None:
            fast_taken += 1
            assert fast == checked, data
        if isinstance(checked, ParseError):
            with pytest.raises(ParseError) as exc:
                procfs.parse_status(data, "x")
            assert str(exc.value) == str(checked)
        else:
            assert procfs.parse_status(data, "x") == checked
    assert fast_taken >= 6


def test_parse_stat_handles_parens_in_comm() -> None:
    state, start = procfs.parse_stat(stat_text(9, comm="a) (b c)", state="T",
                                              starttime=777).encode(), "x")
    assert (state, start) == ("T", 777)
    with pytest.raises(ParseError, match=r"/proc/9/stat:1:"):
        procfs.parse_stat(b"9 (w) S 1 2\n", "/proc/9/stat")


def test_parse_fdinfo_access() -> None:
    assert procfs.parse_fdinfo_access(fdinfo(0o2000000).encode(), "f") == "r"
    assert procfs.parse_fdinfo_access(fdinfo(0o2004001).encode(), "f") == "w"
    assert procfs.parse_fdinfo_access(fdinfo(0o100002).encode(), "f") == "rw"
    with pytest.raises(ParseError, match=r"/proc/3/fdinfo/4:2: bad flags"):
        procfs.parse_fdinfo_access(b"pos:\t0\nflags:\t09x\n", "/proc/3/fdinfo/4")
    with pytest.raises(ParseError, match="no flags"):
        procfs.parse_fdinfo_access(b"pos:\t0\n", "/proc/3/fdinfo/4")


def test_parse_maps_keeps_only_shared_file_lines() -> None:
    maps = procfs.parse_maps(MAPS.encode(), "/proc/7/maps", 7)
    base = 0x7F0000000000
    assert maps == [
        MapUse(7, "/SYSV0000abcd", "rw-s", os.makedev(0, 1), 32790, shmid=32790, deleted=True,
               start=base, end=base + 0x1000),
        MapUse(7, "/dev/shm/thing", "r--s", os.makedev(0, 0x19), 777,
               start=base + 0x1000, end=base + 0x2000),
        MapUse(7, "/srv/data.bin", "rw-s", os.makedev(0xfd, 1), 4242,
               start=base + 0x2000, end=base + 0x3000, offset=0x1000),
        MapUse(7, "/memfd:buf", "rw-s", os.makedev(0, 1), 9, deleted=True,
               start=base + 0x3000, end=base + 0x4000),
        MapUse(7, "/opt/its s/y.db", "r--s", os.makedev(0xfd, 1), 56,
               start=0x7FFC00002000, end=0x7FFC00003000),
    ]
    assert maps[2].range_name == "7f0000002000-7f0000003000"
    assert [m.access for m in maps] == ["rw", "r", "rw", "rw", "r"]


def test_parse_maps_malformed_shared_line_names_line() -> None:
    bad = MAPS.replace("00:19 777", "0019 777")
    with pytest.raises(ParseError) as exc:
        procfs.parse_maps(bad.encode(), "/proc/7/maps", 7)
    assert exc.value.lineno == 3
    assert str(exc.value).startswith("/proc/7/maps:3: unexpected maps line")


def test_ns_inode() -> None:
    assert procfs.ns_inode("ipc:[4026531839]") == 4026531839
    assert procfs.ns_inode("ipc:4026531839") is None


# --------------------------------------------------------------------------- fixture scans


def test_scan_fixture_process(tmp_path: Path) -> None:
    proc = make_proc(tmp_path / "proc")
    make_pid(
        proc, 100,
        status=status_text(name="worker", ppid=1, uid=0, sigpnd=1 << 9, sigblk=1 << 9),
        stat=stat_text(100, state="S", starttime=250 * CLK_TCK),
        ipc_ns=4026531999,
        fds={0: "/dev/null", 3: "pipe:[5443]", 4: "socket:[991]", 5: "/dev/shm/thing",
             6: "anon_inode:[eventfd]", 7: "/var/log/x.log"},
        fdinfo={3: fdinfo(0o1), 5: fdinfo(0o2)},
    )
    os.symlink("100", proc / "self")
    result = scan(proc, live=False)
    p = result.processes[100]
    assert (p.pid, p.ppid, p.comm, p.cmdline, p.user, p.uid, p.state) == (
        100, 1, "worker", "worker --flag", "root", 0, "S")
    assert p.ipc_ns == 4026531999
    assert p.start_time == pytest.approx(BTIME + 250)
    assert p.signals.pending == ("SIGUSR1",)
    assert p.signals.blocked == ("SIGUSR1",)
    assert sorted(result.fds, key=lambda f: f.fd) == [
        FdUse(100, 3, "pipe:[5443]", "w"),
        FdUse(100, 4, "socket:[991]"),
        FdUse(100, 5, "/dev/shm/thing", "rw"),
    ]
    assert [f.inode_ref for f in sorted(result.fds, key=lambda f: f.fd)] == [5443, 991, None]
    assert FdUse(1, 1, "pipe:[x1]").inode_ref is None
    assert [m.path for m in result.maps] == [
        "/SYSV0000abcd", "/dev/shm/thing", "/srv/data.bin", "/memfd:buf", "/opt/its s/y.db"]
    assert result.self_ipc_ns == 4026531999
    assert result.unreadable.count == 0


def test_scan_skips_kernel_threads_fds(tmp_path: Path) -> None:
    proc = make_proc(tmp_path / "proc")
    make_pid(proc, 2, status=status_text(name="kthreadd", ppid=0, kthread=1),
             cmdline=b"", fds={3: "pipe:[1]"}, fdinfo={3: fdinfo(0)})
    result = scan(proc, live=False)
    assert result.processes[2].comm == "kthreadd"
    assert result.processes[2].cmdline == ""
    assert result.fds == () and result.maps == ()


def test_scan_malformed_file_is_counted_not_raised(tmp_path: Path) -> None:
    proc = make_proc(tmp_path / "proc")
    make_pid(proc, 100, fds={3: "pipe:[1]"}, fdinfo={3: fdinfo(0)})
    make_pid(proc, 200, status=status_text().replace("PPid:\t1", "PPid:\tx"))
    make_pid(proc, 300, maps=MAPS.replace("00:19 777", "0019 777"))
    result = scan(proc, live=False)
    assert sorted(result.processes) == [100, 300]
    assert 300 not in {m.pid for m in result.maps}
    assert result.unreadable.count == 2
    assert any(s.startswith(f"{proc}/200/status:7: bad PPid") for s in result.unreadable.sample)
    assert any(s.startswith(f"{proc}/300/maps:3:") for s in result.unreadable.sample)


def test_scan_vanished_process_and_missing_files(tmp_path: Path) -> None:
    proc = make_proc(tmp_path / "proc")
    make_pid(proc, 100, fds={3: "pipe:[1]"}, fdinfo={3: fdinfo(0)})
    (proc / "200").mkdir()  # exited between listdir and the reads: nothing left inside
    d = make_pid(proc, 300, fds={3: "pipe:[2]"}, fdinfo={3: fdinfo(1)})
    (d / "maps").unlink()
    (d / "fdinfo" / "3").unlink()  # closed between readlink and the fdinfo read: not an error
    result = scan(proc, live=False)
    assert sorted(result.processes) == [100, 300]
    # vanished is not unreadable: unreadable means the process exists and refused
    assert result.unreadable.count == 0 and result.unreadable.sample == ()
    assert FdUse(300, 3, "pipe:[2]", None) in result.fds


def test_scan_permission_denied_on_fd_links(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    proc = make_proc(tmp_path / "proc")
    make_pid(proc, 100, fds={3: "pipe:[1]", 4: "pipe:[2]"}, fdinfo={3: fdinfo(0), 4: fdinfo(0)})
    make_pid(proc, 200, fds={3: "pipe:[1]"}, fdinfo={3: fdinfo(1)})
    real_readlink = os.readlink

    def readlink(path: str, *, dir_fd: int | None = None) -> str:
        if _where(path, dir_fd).startswith(f"{proc}/100/fd/"):
            raise PermissionError(13, "Permission denied")
        return real_readlink(path, dir_fd=dir_fd)

    monkeypatch.setattr(os, "readlink", readlink)
    result = scan(proc, live=False)
    assert sorted(result.processes) == [100, 200]
    assert [f.pid for f in result.fds] == [200]
    assert result.unreadable.count == 1
    assert len(result.unreadable.sample) == 1  # one line for the directory, not one per fd
    assert result.unreadable.sample[0].startswith(f"{proc}/100/fd/")
    assert result.unreadable.sample[0].endswith(": Permission denied")


def _where(path: str, dir_fd: int | None) -> str:
    """The full path ``path`` names, relative to directory fd ``dir_fd`` when that is given."""
    return str(path) if dir_fd is None else f"{os.readlink(f'/proc/self/fd/{dir_fd}')}/{path}"


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def test_scan_closes_every_fd_also_on_errors(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Directory fds on /proc, /proc/PID and /proc/PID/fd are closed whatever fails inside."""
    proc = make_proc(tmp_path / "proc")
    make_pid(proc, 100, fds={3: "pipe:[1]", 4: "/dev/shm/x"}, fdinfo={3: fdinfo(0), 4: fdinfo(2)})
    make_pid(proc, 200, fds={3: "pipe:[1]"}, fdinfo={3: fdinfo(1)})
    make_pid(proc, 300, status=status_text().replace("PPid:\t1", "PPid:\tx"))
    (proc / "400").mkdir()
    before = _open_fds()
    scan(proc, live=False)
    assert _open_fds() == before

    real_listdir = os.listdir

    def listdir(path: str = ".") -> list[str]:
        if str(path) == f"{proc}/200/fd":
            raise PermissionError(13, "Permission denied")
        return real_listdir(path)

    monkeypatch.setattr(os, "listdir", listdir)
    result = scan(proc, live=False)
    assert _open_fds() == before
    assert f"{proc}/200/fd: Permission denied" in result.unreadable.sample

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("unexpected")

    monkeypatch.setattr(procs, "parse_maps", boom)
    with pytest.raises(RuntimeError):
        scan(proc, live=False)  # not an OSError: raised, but nothing is left open
    assert _open_fds() == before


def test_scan_real_proc_closes_every_fd() -> None:
    r, w = os.pipe()
    try:
        before = _open_fds()
        scan()
        scan(fdinfo=True, maps_ioctl=False)
        assert _open_fds() == before
    finally:
        os.close(r)
        os.close(w)


def test_scan_fixture_errors_name_full_paths(tmp_path: Path) -> None:
    """Reads go through directory fds, but an error still names /proc/PID/file in full."""
    proc = make_proc(tmp_path / "proc")
    d = make_pid(proc, 100, fds={3: "pipe:[1]"}, fdinfo={3: "pos:\t0\n"})
    (d / "cmdline").unlink()
    (d / "ns" / "ipc").unlink()
    (d / "stat").write_text("100 (w) S 1\n")
    result = scan(proc, live=False)
    assert result.processes[100].ipc_ns is None
    assert result.unreadable.count == 1
    assert list(result.unreadable.sample) == [  # the missing files vanished: not listed
        f"{proc}/100/stat:1: expected 'pid (comm) state ...' with 22+ fields",
        f"{proc}/100/fdinfo/3:1: no flags: line",
    ]
    assert FdUse(100, 3, "pipe:[1]", None) in result.fds


def test_scan_sample_is_bounded(tmp_path: Path) -> None:
    proc = make_proc(tmp_path / "proc")
    for pid in range(100, 125):
        (proc / str(pid)).mkdir()
        (proc / str(pid) / "status").write_text("not a status file\n")
    result = scan(proc, live=False)
    assert result.unreadable.count == 25
    assert len(result.unreadable.sample) == procs.SAMPLE_MAX


def test_scan_missing_btime_leaves_start_time_unknown(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "stat").write_text("cpu 1 2 3\n")
    make_pid(proc, 100)
    result = scan(proc, live=False)
    assert result.processes[100].start_time is None
    assert any("no btime" in s for s in result.unreadable.sample)


# --------------------------------------------------------------------------- the real /proc


def test_scan_real_proc_sees_own_fds(tmp_path: Path) -> None:
    r, w = os.pipe()
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    fr = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    shm_path = f"/dev/shm/{unique_name()}"
    sfd = os.open(shm_path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        result = scan()
        me = os.getpid()
        mine = {f.fd: f for f in result.fds if f.pid == me}
        assert mine[r].target == f"pipe:[{os.fstat(r).st_ino}]" and mine[r].access == "r"
        assert mine[w].access == "w"
        st = os.stat(fifo)
        assert stat.S_ISFIFO(mine[fr].mode or 0)
        assert (mine[fr].dev, mine[fr].ino, mine[fr].access) == (st.st_dev, st.st_ino, "r")
        sst = os.stat(shm_path)
        assert (mine[sfd].dev, mine[sfd].ino, mine[sfd].access) == (sst.st_dev, sst.st_ino, "rw")
        p = result.processes[me]
        assert p.ppid == os.getppid()
        assert p.ipc_ns == procfs.ns_inode(os.readlink("/proc/self/ns/ipc"))
        assert p.ipc_ns == result.self_ipc_ns
        assert p.state == "R"
        assert p.cmdline.split()[0].endswith("python") or "pytest" in p.cmdline
    finally:
        os.close(r)
        os.close(w)
        os.close(fr)
        os.close(sfd)
        os.unlink(shm_path)


def test_scan_real_proc_lists_processes_not_threads() -> None:
    started = threading.Event()
    stop = threading.Event()
    tids: list[int] = []

    def run() -> None:
        tids.append(threading.get_native_id())
        started.set()
        stop.wait()

    t = threading.Thread(target=run)
    t.start()
    try:
        started.wait()
        result = scan()
        assert os.getpid() in result.processes
        assert tids[0] != os.getpid() and tids[0] not in result.processes
    finally:
        stop.set()
        t.join()


def test_scan_real_proc_shared_map_in_child(tmp_path: Path, spawn: Spawn) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"\0" * 8192)

    def body() -> bytes:
        f = os.open(path, os.O_RDONLY)
        m = mmap.mmap(f, 8192, mmap.MAP_SHARED, mmap.PROT_READ)
        os.close(f)
        _keep.append(m)
        return b""

    child = spawn(body)
    st = os.stat(path)
    result = scan()
    maps = [m for m in result.maps if m.pid == child.pid and m.inode == st.st_ino]
    assert len(maps) == 1
    assert (maps[0].path, maps[0].perms, maps[0].dev, maps[0].access) == (
        str(path), "r--s", st.st_dev, "r")


_keep: list[object] = []
"""Objects a forked child must keep alive (it never returns, so this only grows in children)."""


def test_maps_ioctl_agrees_with_maps_text(spawn: Spawn, tmp_path: Path) -> None:
    """PROCMAP_QUERY (when the kernel has it) and the maps text give the same shared maps."""
    path = tmp_path / "f.bin"
    path.write_bytes(b"\0" * 4096)
    memfd = os.memfd_create(unique_name())
    os.ftruncate(memfd, 4096)

    def body() -> bytes:
        f = os.open(path, os.O_RDWR)
        _keep.append(mmap.mmap(f, 4096, mmap.MAP_SHARED))
        _keep.append(mmap.mmap(f, 4096, mmap.MAP_SHARED, mmap.PROT_READ))
        _keep.append(mmap.mmap(memfd, 4096, mmap.MAP_SHARED))
        _keep.append(mmap.mmap(-1, 4096, mmap.MAP_SHARED))  # shared anonymous: /dev/zero
        os.unlink(path)
        return b""

    child = spawn(body)
    os.close(memfd)
    fast = [m for m in scan().maps if m.pid == child.pid]
    text = [m for m in scan(maps_ioctl=False).maps if m.pid == child.pid]
    assert fast == text
    by_path = {(m.path, m.perms, m.deleted) for m in text}
    assert (str(path), "rw-s", True) in by_path
    assert (str(path), "r--s", True) in by_path
    assert ("/dev/zero", "rw-s", True) in by_path
    assert any(m.path.startswith("/memfd:ipctop-test-") and m.deleted for m in text)


def test_maps_query_unsupported_on_plain_files(tmp_path: Path) -> None:
    f = tmp_path / "maps"
    f.write_text(MAPS)
    with pytest.raises(procfs.MapsQuery.Unsupported):
        procfs.MapsQuery().query(str(f), 1)


def test_fd_access_from_link_mode_agrees_with_fdinfo(tmp_path: Path) -> None:
    r, w = os.pipe()
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    rw = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
    path_only = os.open(fifo, os.O_PATH)
    try:
        me = os.getpid()
        by_mode = {f.fd: f for f in scan().fds if f.pid == me}
        by_flags = {f.fd: f for f in scan(fdinfo=True).fds if f.pid == me}
        mine = (r, w, rw)
        assert [by_mode[fd].access for fd in mine] == ["r", "w", "rw"]
        assert [by_flags[fd] for fd in mine] == [by_mode[fd] for fd in mine]
        # O_PATH opens neither reads nor writes; the link mode says so (fdinfo's &3 would say r)
        assert by_mode[path_only].access is None
    finally:
        for fd in (r, w, rw, path_only):
            os.close(fd)


def test_zombie_is_listed_not_unreadable() -> None:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    try:
        # Wait until it is a zombie: poll its state via /proc (no sleep-and-hope, no time bound
        # beyond the exit itself, which is immediate).
        while Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
            os.sched_yield()
        result = scan()
        assert result.processes[pid].state == "Z"
        assert result.processes[pid].ipc_ns is None
        assert not [s for s in result.unreadable.sample if f"/proc/{pid}/" in s]
    finally:
        os.waitpid(pid, 0)


def test_scan_fixture_zombie(tmp_path: Path) -> None:
    proc = make_proc(tmp_path / "proc")
    d = make_pid(proc, 100, stat=stat_text(100, state="Z"), cmdline=b"")
    (d / "maps").unlink()
    (d / "ns" / "ipc").unlink()
    result = scan(proc, live=False)
    assert result.processes[100].state == "Z"
    assert result.unreadable.count == 0
